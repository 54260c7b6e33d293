"""Reminders end to end: the Ånge wheel, a real SMTP server, the clock moved by hand.

Each step sets the clock to a Stockholm moment, runs `send_reminders` and reads back
what the SMTP server received: one digest per recipient, each carrying the items of
the outbox row its Message-ID names.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from cycle import actions
from cycle.clock import parse_date
from cycle.models import OutboxItem, OutboxMessage
from cycle.organisation import load_organisation
from notifications.service import list_reminders, plan_reminders, send_reminders
from tests.integration.conftest import ADMIN, local

C, S, INPUT = "ange-2027", "omvarldsanalys", "verksamhetsanalys"
CONTRIBUTORS = {"bou": "sara", "soc": "johanna", "sbf": "james", "kultur": "linnea"}
OWNERS = ("karin", "maria", "oskar")


def digests(db, sink) -> dict[str, list[str]]:
    """username -> the items (`kind slot what`) of the one message that person received."""
    found: dict[str, list[str]] = {}
    for received in sink.take():
        with db.read() as session:
            row = session.execute(
                select(OutboxMessage).where(OutboxMessage.message_id == str(received.message["Message-ID"]))
            ).scalar_one()
            items = session.execute(select(OutboxItem).where(OutboxItem.outbox_id == row.id)).scalars().all()
        assert received.to == row.email
        assert row.recipient not in found, f"{row.recipient} got more than one message in one run"
        found[row.recipient] = sorted(f"{i.kind} {i.slot} {i.item_key.split('/', 1)[1]}" for i in items)
    return found


def step(db, clock, smtp, sink, when: str) -> dict[str, list[str]]:
    clock.set(local(when))
    send_reminders(db, ADMIN, None, smtp)
    return digests(db, sink)


def to_all(units, line: str) -> dict[str, list[str]]:
    return {CONTRIBUTORS[u]: [line.format(unit=u)] for u in units}


def test_who_gets_what_and_when_across_a_stage(wheel, clock, smtp, smtp_sink):
    db, run = wheel, (lambda when: step(wheel, clock, smtp, smtp_sink, when))
    assert run("2026-01-09T09:00") == {}  # nothing is open yet

    clock.set(local("2026-01-12T09:00"))
    opened = actions.open_stage(db, "karin", C, S).seq
    assert run("2026-01-12T09:05") == to_all(CONTRIBUTORS, f"opened event-{opened} {S}@{{unit}}")

    # Input deadline Friday 2026-02-13 (Y-1-02-15 is a Sunday); before_days [28, 7, 1].
    assert run("2026-01-16T06:59") == {}  # a slot is due from 07:00 local time
    assert run("2026-01-16T07:00") == to_all(CONTRIBUTORS, f"submit before-28 {S}/{INPUT}@{{unit}}")
    assert run("2026-01-16T12:00") == {}  # never twice

    clock.set(local("2026-02-01T10:00"))
    actions.submit_input(db, "sara", C, S, INPUT, "bou")
    assert run("2026-02-01T10:05") == {a: [f"decide before-28 {S}/{INPUT}@bou"] for a in ("eva", "lars")}
    clock.set(local("2026-02-03T10:00"))
    actions.approve_input(db, "lars", C, S, INPUT, "bou")

    assert run("2026-02-06T07:00") == to_all(("soc", "sbf", "kultur"), f"submit before-7 {S}/{INPUT}@{{unit}}")

    clock.set(local("2026-02-10T10:00"))
    actions.submit_input(db, "johanna", C, S, INPUT, "soc")
    clock.set(local("2026-02-11T10:00"))
    returned = actions.return_input(db, "eva", C, S, INPUT, "soc", comment="Siffrorna för hemtjänsten saknas").seq
    assert run("2026-02-11T10:05") == {"johanna": [f"returned event-{returned} {S}/{INPUT}@soc"]}

    assert run("2026-02-12T07:00") == to_all(("soc", "sbf", "kultur"), f"submit before-1 {S}/{INPUT}@{{unit}}")
    deadline_day = run("2026-02-13T07:00")
    assert deadline_day == {
        **to_all(("soc", "sbf", "kultur"), f"submit deadline {S}/{INPUT}@{{unit}}"),
        **{o: [f"finish before-28 {S}"] for o in OWNERS},  # the stage itself is due 2026-03-13
    }
    clock.set(local("2026-02-13T10:00"))
    actions.submit_input(db, "james", C, S, INPUT, "sbf")

    late = [f"escalation overdue-3 {S}/{INPUT}@{u}" for u in ("kultur", "sbf", "soc")]
    assert run("2026-02-16T07:00") == {
        **to_all(("soc", "kultur"), f"submit overdue-3 {S}/{INPUT}@{{unit}}"),
        **{a: [f"decide overdue-3 {S}/{INPUT}@sbf"] for a in ("eva", "lars")},
        **{o: late for o in OWNERS},
    }

    # Down for nine days: overdue-6 and -9 are skipped, only the latest slot goes out.
    late = [f"escalation overdue-12 {S}/{INPUT}@{u}" for u in ("kultur", "sbf", "soc")]
    assert run("2026-02-25T07:30") == {
        **to_all(("soc", "kultur"), f"submit overdue-12 {S}/{INPUT}@{{unit}}"),
        **{a: [f"decide overdue-12 {S}/{INPUT}@sbf"] for a in ("eva", "lars")},
        **{o: late for o in OWNERS},
    }

    # A moved deadline starts a fresh series for that input, and its escalation stops.
    clock.set(local("2026-02-25T09:00"))
    actions.set_deadline(db, "karin", C, S, parse_date("2026-03-02"), "Sjukdom", input_key=INPUT, unit="soc")
    assert run("2026-02-25T09:05") == {"johanna": [f"submit before-7 {S}/{INPUT}@soc"]}
    later = run("2026-02-28T07:00")  # the others' series go on: overdue-15
    assert "johanna" not in later and later["linnea"] == [f"submit overdue-15 {S}/{INPUT}@kultur"]
    assert later["karin"] == [f"escalation overdue-15 {S}/{INPUT}@{u}" for u in ("kultur", "sbf")]
    assert run("2026-03-01T07:00") == {"johanna": [f"submit before-1 {S}/{INPUT}@soc"]}


def test_each_person_reads_their_digest_in_their_language(wheel, clock, smtp, smtp_sink):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-01-16T07:00"))
    send_reminders(wheel, ADMIN, None, smtp)
    by_person = {r.to.split(".")[0]: r for r in smtp_sink.take()}
    assert sorted(by_person) == ["james", "johanna", "linnea", "sara"]

    james, sara = by_person["james"], by_person["sara"]
    assert james.message["Subject"].startswith("Planning wheel: Nulägeskoll och omvärldsanalys")
    assert "28 days before the deadline 13 February 2026" in james.text()
    # The opening notice and the reminder to submit the stage's input are one item, saying both.
    assert "One item in the planning wheel is waiting for you" in james.text()
    assert "Why now:    the stage was opened on 12 January 2026 by karin; 28 days before the deadline" in james.text()
    assert sara.message["Subject"].startswith("Årshjulet: Nulägeskoll och omvärldsanalys")
    assert "28 dagar före tidsgränsen 13 februari 2026" in sara.text()
    assert "etappen öppnades 12 januari 2026 av karin" in sara.text()
    assert f"arshjul input submit {C} {S} {INPUT} --unit bou" in sara.text()
    assert "28 dagar före tidsgränsen 13 februari 2026" in sara.html()
    assert str(sara.message["To"]) == "Sara Lund <sara.lund@example.se>"
    assert sara.mail_from == "arshjul@ange.example"


def test_a_returned_input_tells_its_contributor_why(wheel, clock, smtp, smtp_sink):
    clock.set(local("2026-02-10T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")
    actions.return_input(wheel, "lars", C, S, INPUT, "soc", comment="Siffrorna saknas.\nSe bilaga <2>.")
    send_reminders(wheel, ADMIN, None, smtp)
    johanna = next(r for r in smtp_sink.take() if r.to.startswith("johanna"))
    assert "returnerades 10 februari 2026 av lars" in johanna.text()
    assert "Siffrorna saknas.\n               Se bilaga <2>." in johanna.text()
    assert "Se bilaga &lt;2&gt;." in johanna.html()


@pytest.mark.parametrize("when", ["2026-01-12T09:30", "2026-02-16T07:00", "2026-02-25T08:00"])
def test_plan_shows_exactly_what_send_then_delivers(wheel, clock, smtp, smtp_sink, when):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-02-01T10:00"))
    actions.submit_input(wheel, "sara", C, S, INPUT, "bou")
    clock.set(local(when))

    planned = plan_reminders(wheel, ADMIN, clock.now())
    assert planned, "a busy moment of the wheel"
    assert all(set(row) >= {"to", "cycle", "stage", "input", "unit", "kind", "deadline", "reason"} for row in planned)
    counts = send_reminders(wheel, ADMIN, clock.now(), smtp)
    received = digests(wheel, smtp_sink)

    expected: dict[str, list[str]] = {}
    for row in planned:
        what = f"{row['stage']}/{row['input']}@{row['unit']}" if row["input"] else f"{row['stage']}"
        if row["kind"] == "opened":
            what = f"{row['stage']}@{row['unit']}"
        expected.setdefault(row["to"], []).append(f"{row['kind']} {row['slot']} {what}")
    assert received == {to: sorted(items) for to, items in expected.items()}
    assert counts == {"enqueued": len(planned), "sent": len(planned), "failed": 0, "retrying": 0,
                      "messages": len(expected), "enqueued_messages": len(expected), "refused": 0}  # fmt: skip
    assert plan_reminders(wheel, ADMIN, clock.now()) == []


def test_plan_rows_say_why_in_one_line(wheel, clock):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    planned = plan_reminders(wheel, ADMIN, local("2026-02-06T07:00"))
    sara = [row for row in planned if row["to"] == "sara"]
    assert sara == [{
        "to": "sara", "cycle": C, "stage": S, "input": INPUT, "unit": "bou", "kind": "submit",
        "deadline": "2026-02-13", "reason": "7 days before the deadline 2026-02-13", "slot": "before-7",
        "email": "sara.lund@example.se", "locale": "sv", "command": f"arshjul input submit {C} {S} {INPUT} --unit bou",
    }]  # fmt: skip


def test_repeated_sends_and_a_second_node_deliver_each_reminder_once(wheel, clock, smtp, smtp_sink, db_url):
    from cycle.database import Database

    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-01-16T08:00"))
    other = Database(db_url, clock=clock)  # another process on the same database
    try:
        first = send_reminders(wheel, ADMIN, None, smtp)
        again = send_reminders(other, ADMIN, None, smtp)
        assert send_reminders(wheel, ADMIN, None, smtp)["enqueued"] == 0
    finally:
        other.dispose()
    assert first["messages"] == 4 and again == {
        "enqueued": 0,
        "sent": 0,
        "failed": 0,
        "retrying": 0,
        "messages": 0,
        "enqueued_messages": 0,
        "refused": 0,
    }
    assert len(smtp_sink.take()) == 4
    assert [row["status"] for row in list_reminders(wheel, ADMIN)] == ["sent"] * 4


def test_a_reminder_of_work_that_began_waiting_after_its_slot_says_what_happened_not_that_it_was_held_up(
    wheel, clock, smtp, smtp_sink
):
    clock.set(local("2026-02-02T09:00"))  # after the inputs' 28-days-before slot (2026-01-16)
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-02-03T10:00"))
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")
    clock.set(local("2026-02-03T10:05"))
    send_reminders(wheel, ADMIN, None, smtp)
    by_to = {r.to.split("@")[0]: r for r in smtp_sink.take()}
    sara = by_to["sara.lund"].text()  # her input is missing since the stage opened: told with the notice of it
    assert "Varför nu:  etappen öppnades 2 februari 2026 av karin\n" in sara and "först nu" not in sara
    lars = by_to["lars.engstrom"].text()  # soc's input waits for ks's approvers since it was handed in
    assert "Varför nu:  lämnades in 3 februari 2026\n" in lars and "först nu" not in lars
    james = by_to["james.whitfield"]  # reads English
    assert "Why now:    the stage was opened on 2 February 2026 by karin\n" in james.text()
    assert '<th align="left">Why now</th><td>the stage was opened on 2 February 2026 by karin</td>' in james.html()

    clock.set(local("2026-02-06T07:05"))  # sara is reminded 7 days before, as planned
    send_reminders(wheel, ADMIN, None, smtp)
    smtp_sink.take()
    clock.set(local("2026-02-09T10:00"))  # then her deadline moves a week later, past its new 7-days-before slot
    actions.set_deadline(wheel, "karin", C, S, parse_date("2026-02-20"), "Skolans lov", input_key=INPUT, unit="bou")
    clock.set(local("2026-02-09T10:05"))
    send_reminders(wheel, ADMIN, None, smtp)
    (moved,) = [r for r in smtp_sink.take() if r.to == "sara.lund@example.se"]
    assert "20 februari 2026 (11 dagar kvar)" in moved.text()
    assert "Varför nu:  tidsgränsen flyttades till 20 februari 2026 den 9 februari 2026\n" in moved.text()
    assert "först nu" not in moved.text() and "först nu" not in moved.html()

    clock.set(local("2026-02-13T07:05"))  # the new series goes on as planned
    send_reminders(wheel, ADMIN, None, smtp)
    (planned,) = [r for r in smtp_sink.take() if r.to == "sara.lund@example.se"]
    assert "Varför nu:  7 dagar före tidsgränsen 20 februari 2026\n" in planned.text()


def test_a_reminder_held_up_after_the_work_began_waiting_still_says_it_is_late(wheel, clock, smtp, smtp_sink):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-01-18T09:00"))  # the scheduler was down over the 28-days-before slot (2026-01-16)
    send_reminders(wheel, ADMIN, None, smtp)
    (sara,) = [r for r in smtp_sink.take() if r.to == "sara.lund@example.se"]
    assert "Varför nu:  planerad till 28 dagar före tidsgränsen 13 februari 2026, men skickas först nu\n" in sara.text()


def test_a_notice_told_with_its_reminder_counts_as_the_one_item_its_reader_gets(wheel, clock, smtp, smtp_sink):
    clock.set(local("2026-02-02T09:00"))  # after the inputs' 28-days-before slot: notice and reminder at once
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-02-02T09:05"))
    assert len(plan_reminders(wheel, ADMIN, None)) == 8  # an `opened` and a `submit` row for each contributor
    counts = send_reminders(wheel, ADMIN, None, smtp)
    received = smtp_sink.take()
    assert len(received) == 4
    assert all(r.text().count("Kommando:") + r.text().count("Command:") == 1 for r in received)
    assert (counts["enqueued"], counts["sent"], counts["messages"], counts["enqueued_messages"]) == (4, 4, 4, 4)


def test_an_input_returned_twice_lately_is_one_item_with_the_newest_return(wheel, clock, smtp, smtp_sink):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-01-12T09:05"))
    send_reminders(wheel, ADMIN, None, smtp)  # the opening notices
    smtp_sink.take()
    clock.set(local("2026-01-13T10:00"))
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")
    actions.return_input(wheel, "lars", C, S, INPUT, "soc", comment="Siffrorna för hemtjänsten saknas")
    clock.set(local("2026-01-13T14:00"))
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")
    clock.set(local("2026-01-14T09:00"))
    actions.return_input(wheel, "eva", C, S, INPUT, "soc", comment="Hemtjänsten är med, men inte LSS")

    clock.set(local("2026-01-14T09:05"))
    planned = [row for row in plan_reminders(wheel, ADMIN, None) if row["to"] == "johanna"]
    assert [(row["kind"], row["reason"]) for row in planned] == [("returned", "returned again on 2026-01-14 by eva")]
    counts = send_reminders(wheel, ADMIN, None, smtp)
    (johanna,) = smtp_sink.take()
    text = johanna.text()
    assert "En sak i årshjulet väntar på dig:" in text and text.count("Kommando:") == 1
    assert "Varför nu:  returnerades igen 14 januari 2026 av eva\n" in text
    assert "Hemtjänsten är med, men inte LSS" in text and "Siffrorna för hemtjänsten saknas" not in text
    assert "returnerades igen 14 januari 2026 av eva" in johanna.html()
    assert (counts["enqueued"], counts["sent"]) == (1, 1)

    # Friday 2026-02-06, the 7-days-before slot: the reminder to submit tells with the newest return,
    # and nothing else of that input, when both returns are in the window.
    clock.set(local("2026-02-04T10:00"))
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")
    actions.return_input(wheel, "lars", C, S, INPUT, "soc", comment="Första")
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")
    clock.set(local("2026-02-05T10:00"))
    actions.return_input(wheel, "eva", C, S, INPUT, "soc", comment="Andra")
    clock.set(local("2026-02-06T07:00"))
    send_reminders(wheel, ADMIN, None, smtp)
    (johanna,) = [r for r in smtp_sink.take() if r.to.startswith("johanna")]
    text = johanna.text()
    assert "En sak i årshjulet väntar på dig:" in text and text.count("Kommando:") == 1
    assert "Varför nu:  returnerades igen 5 februari 2026 av eva; 7 dagar före tidsgränsen 13 februari 2026\n" in text
    assert "Andra" in text and "Första" not in text


def test_an_escalation_of_an_input_handed_in_on_time_says_it_waits_for_approval_not_that_it_is_late(
    wheel, clock, smtp, smtp_sink
):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-02-01T10:00"))  # bou hands its input in on time; nobody decides it
    actions.submit_input(wheel, "sara", C, S, INPUT, "bou")
    clock.set(local("2026-02-16T07:00"))  # 3 days after the inputs' deadline (2026-02-13)
    send_reminders(wheel, ADMIN, None, smtp)
    karin = next(r for r in smtp_sink.take() if r.to.startswith("karin"))
    text, html = karin.text(), karin.html()
    waiting = "underlaget från Barn och utbildning är inlämnat men inte godkänt, och tidsgränsen har passerat"
    waiting += "; du äger etappen"
    assert f"   Att göra:   {waiting}\n" in text and f"<td>{waiting}</td>" in html
    assert "Barn och utbildning är försenat" not in text
    assert "   Att göra:   underlaget från Socialtjänst är försenat; du äger etappen\n" in text  # still missing


def entry_of(text: str, unit: str) -> str:
    """The item of a text digest about `unit`'s input (its unit's name), from its number to its command."""
    (found,) = [block for block in text.split("\n\n") if f"   Enhet:      {unit}\n" in block
                or f"   Unit:       {unit}\n" in block]  # fmt: skip
    return found


RETURNED = "Lägg till <elevprognosen> & LSS\nSe bilaga 2."


def test_a_reminder_days_after_a_return_says_who_returned_the_input_when_and_why(wheel, clock, smtp, smtp_sink):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-01-20T10:00"))
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")
    actions.return_input(wheel, "lars", C, S, INPUT, "soc", comment=RETURNED)
    actions.submit_input(wheel, "james", C, S, INPUT, "sbf")
    actions.return_input(wheel, "eva", C, S, INPUT, "sbf", comment="Add the population forecast")
    clock.set(local("2026-01-20T10:05"))
    send_reminders(wheel, ADMIN, None, smtp)  # the notices of the returns, long before the reminders below
    smtp_sink.take()

    for when, sv, en in [
        ("2026-02-06T07:00", "7 dagar före tidsgränsen", "7 days before the deadline"),
        ("2026-02-13T07:00", "tidsgränsen är", "the deadline is"),
        ("2026-02-16T07:00", "3 dagar efter tidsgränsen", "3 days after the deadline"),
    ]:
        sv, en = f"{sv} 13 februari 2026", f"{en} 13 February 2026"
        clock.set(local(when))
        planned = {row["to"]: row["reason"] for row in plan_reminders(wheel, ADMIN, None) if row["kind"] == "submit"}
        assert planned["johanna"].endswith(f'; returned on 2026-01-20 by lars: "{RETURNED}"')
        assert planned["sara"] == planned["sara"].split(";")[0]  # missing, not returned: as before
        send_reminders(wheel, ADMIN, None, smtp)
        by_to = {r.to.split("@")[0]: r for r in smtp_sink.take()}

        johanna = by_to["johanna.nilsson"]
        assert "   Att göra:   det har returnerats: rätta och lämna in igen\n" in johanna.text()
        assert f"   Varför nu:  returnerades 20 januari 2026 av lars; {sv}\n" in johanna.text()
        assert "   Kommentar:  Lägg till <elevprognosen> & LSS\n               Se bilaga 2.\n" in johanna.text()
        html = johanna.html()
        assert f"<td>returnerades 20 januari 2026 av lars; {sv}</td>" in html
        assert "<td>Lägg till &lt;elevprognosen&gt; &amp; LSS<br>\nSe bilaga 2.</td>" in html
        assert "<elevprognosen>" not in html

        james = by_to["james.whitfield"]  # reads English
        assert "   To do:      it was returned: correct it and submit again\n" in james.text()
        assert f"   Why now:    returned on 20 January 2026 by eva; {en}\n" in james.text()
        assert "   Comment:    Add the population forecast\n" in james.text()
        assert f"<td>returned on 20 January 2026 by eva; {en}</td>" in james.html()
        assert "<td>Add the population forecast</td>" in james.html()

        sara = by_to["sara.lund"].text()  # her input is missing: her reminder reads as it always did
        assert f"   Att göra:   lämna in underlaget för Barn och utbildning\n   Varför nu:  {sv}\n" in sara
        assert "returnerades" not in sara and "Kommentar" not in sara

    karin = by_to["karin.lindqvist"]  # 3 days overdue: the stage's owner is told, and why it is still not done
    soc = entry_of(karin.text(), "Socialtjänst")
    assert "   Att göra:   underlaget från Socialtjänst är försenat; du äger etappen\n" in soc
    assert "   Varför nu:  returnerades 20 januari 2026 av lars; 3 dagar efter tidsgränsen 13 februari 2026\n" in soc
    assert "   Kommentar:  Lägg till <elevprognosen> & LSS\n" in soc
    assert "Lägg till &lt;elevprognosen&gt; &amp; LSS" in karin.html()
    kultur = entry_of(karin.text(), "Kultur och fritid")  # missing: as before
    assert "   Varför nu:  3 dagar efter tidsgränsen 13 februari 2026\n" in kultur and "Kommentar" not in kultur


STAGE_RETURNED = "Lägg till <skatteprognosen> & SKR\nSe bilaga 2."


def test_a_reminder_to_finish_a_returned_stage_says_who_returned_it_when_and_why(
    wheel, clock, smtp, smtp_sink, ange_org
):
    # oskar reads English (one more load of the organisation); karin and maria Swedish
    english = [dataclasses.replace(p, locale="en") if p.username == "oskar" else p for p in ange_org.people]
    load_organisation(wheel, ADMIN, dataclasses.replace(ange_org, people=tuple(english)))
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "oskar", C, S)
    for unit, contributor in CONTRIBUTORS.items():
        actions.submit_input(wheel, contributor, C, S, INPUT, unit)
        actions.approve_input(wheel, "eva", C, S, INPUT, unit)
    clock.set(local("2026-01-20T10:00"))
    actions.submit_stage(wheel, "oskar", C, S)
    actions.return_stage(wheel, "lars", C, S, comment=STAGE_RETURNED)
    clock.set(local("2026-01-20T10:05"))
    send_reminders(wheel, ADMIN, None, smtp)  # the notice of the return, to the stage's owners
    notices = {r.to.split(".")[0]: r for r in smtp_sink.take()}
    assert sorted(notices) == ["karin", "maria", "oskar"]
    told = notices["karin"].text()
    assert "   Att göra:   det har returnerats: rätta och lämna in igen\n" in told
    assert "   Varför nu:  returnerades 20 januari 2026 av lars\n" in told
    assert "   Kommentar:  Lägg till <skatteprognosen> & SKR\n               Se bilaga 2.\n" in told
    assert "<td>Lägg till &lt;skatteprognosen&gt; &amp; SKR<br>\nSe bilaga 2.</td>" in notices["karin"].html()
    assert "returnerades" not in notices["karin"].message["Subject"]  # the subject names the stage, as always

    # The stage's deadline is Friday 2026-03-13: its owners are reminded 28 and 7 days before, weeks after the return.
    for when, sv, en, reason in [
        ("2026-02-13T07:00", "28 dagar före tidsgränsen", "28 days before the deadline", "28 days before"),
        ("2026-03-06T07:00", "7 dagar före tidsgränsen", "7 days before the deadline", "7 days before"),
    ]:
        sv, en = f"{sv} 13 mars 2026", f"{en} 13 March 2026"
        reason = f'{reason} the deadline 2026-03-13; returned on 2026-01-20 by lars: "{STAGE_RETURNED}"'
        clock.set(local(when))
        planned = {row["to"]: row["reason"] for row in plan_reminders(wheel, ADMIN, None) if row["kind"] == "finish"}
        assert planned == {"karin": reason, "maria": reason, "oskar": reason}
        send_reminders(wheel, ADMIN, None, smtp)
        by_to = {r.to.split(".")[0]: r for r in smtp_sink.take()}
        assert sorted(by_to) == ["karin", "maria", "oskar"]

        karin = by_to["karin"]
        assert "   Att göra:   det har returnerats: rätta och lämna in igen\n" in karin.text()
        assert f"   Varför nu:  returnerades 20 januari 2026 av lars; {sv}\n" in karin.text()
        assert "   Kommentar:  Lägg till <skatteprognosen> & SKR\n               Se bilaga 2.\n" in karin.text()
        assert "   Kommando:   arshjul stage submit ange-2027 omvarldsanalys\n" in karin.text()
        assert "skicka in etappen när underlagen är godkända" not in karin.text()
        html = karin.html()
        assert f"<td>returnerades 20 januari 2026 av lars; {sv}</td>" in html
        assert "<td>Lägg till &lt;skatteprognosen&gt; &amp; SKR<br>\nSe bilaga 2.</td>" in html
        assert "<skatteprognosen>" not in html

        oskar = by_to["oskar"]
        assert "   To do:      it was returned: correct it and submit again\n" in oskar.text()
        assert f"   Why now:    returned on 20 January 2026 by lars; {en}\n" in oskar.text()
        assert "   Comment:    Lägg till <skatteprognosen> & SKR\n               Se bilaga 2.\n" in oskar.text()
        assert f"<td>returned on 20 January 2026 by lars; {en}</td>" in oskar.html()
        assert "<td>Lägg till &lt;skatteprognosen&gt; &amp; SKR<br>\nSe bilaga 2.</td>" in oskar.html()

    # Submitted again: the approvers are asked to decide, and nothing is said of the return any more.
    clock.set(local("2026-03-10T10:00"))
    actions.submit_stage(wheel, "oskar", C, S)
    clock.set(local("2026-03-12T07:00"))
    send_reminders(wheel, ADMIN, None, smtp)
    by_to = {r.to.split(".")[0]: r for r in smtp_sink.take()}
    assert sorted(by_to) == ["eva", "lars"]
    decide = by_to["lars"].text()
    assert "   Att göra:   godkänn eller returnera det som lämnats in\n" in decide
    assert "   Varför nu:  1 dag före tidsgränsen 13 mars 2026\n" in decide
    assert "returnerades" not in decide and "Kommentar" not in decide
