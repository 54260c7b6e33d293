"""A digest that waited for the relay says what is true when it goes out, not when it was enqueued.

The relay is a closed port on loopback, then a real aiosmtpd server on the same port; the
clock is moved by hand; meanwhile people act through `cycle.actions`.
"""

from __future__ import annotations

import email.policy

import pytest
from sqlalchemy import select

from cycle import actions
from cycle.models import OutboxMessage
from notifications import outbox, service
from notifications.delivery import deliver
from notifications.mail import compose
from notifications.service import list_reminders, send_reminders
from notifications.transport import SmtpTransport, sender_from
from tests.integration.conftest import ADMIN, Sink, free_port, local, serving

C, S, INPUT = "ange-2027", "omvarldsanalys", "verksamhetsanalys"  # the inputs are due Friday 2026-02-13
LARS = "lars.engstrom@example.se"  # an approver of ks, which decides the inputs


@pytest.fixture
def submitted(wheel, clock):
    """Friday a week before the deadline: bou and soc have handed in, for ks's approvers to decide."""
    clock.set(local("2026-02-02T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    clock.set(local("2026-02-06T09:00"))
    actions.submit_input(wheel, "sara", C, S, INPUT, "bou")
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")
    clock.set(local("2026-02-06T09:05"))
    return wheel


@pytest.fixture
def relay():
    """A port nobody listens on yet: `serving(Sink(port=relay.port))` brings the relay up."""
    transport = SmtpTransport("127.0.0.1", free_port(), sender_from("Årshjulet <arshjul@ange.example>"), timeout=2)
    yield transport
    transport.close()


def row_of(db, person: str) -> dict:
    (row,) = [r for r in list_reminders(db, ADMIN) if r["to"] == person]
    return row


def test_a_digest_sent_after_an_outage_leaves_out_what_was_approved_and_counts_the_days_from_then(
    submitted, clock, relay
):
    assert send_reminders(submitted, ADMIN, None, relay)["relay_down"]
    enqueued = row_of(submitted, "lars")
    assert (enqueued["items"], enqueued["subject"]) == (
        2,
        "Årshjulet: Nulägeskoll och omvärldsanalys: "
        "Verksamhetens nulägeskoll och omvärldsanalys (7 dagar kvar) och 1 till",
    )

    clock.set(local("2026-02-09T10:00"))  # Monday: eva decides bou's analysis while the relay is still down
    actions.approve_input(submitted, "eva", C, S, INPUT, "bou")
    assert deliver(submitted, relay)["retrying"] > 0

    clock.set(local("2026-02-10T09:05"))  # Tuesday: the relay is back, and answers 451 once
    with serving(Sink(port=relay.port, script={LARS: ["451 4.3.0 Try again later"]})) as sink:
        deliver(submitted, relay)
        clock.advance(outbox.FIRST_RETRY)
        deliver(submitted, relay)
        relay.close()
    (mail,) = [r for r in sink.received if r.to == LARS]
    text = mail.text()
    assert "En sak i årshjulet väntar på dig" in text
    assert f"arshjul input approve {C} {S} {INPUT} --unit soc" in text
    assert "--unit bou" not in text and "--unit bou" not in mail.html()
    assert "13 februari 2026 (3 dagar kvar)" in text and "7 dagar kvar" not in text
    assert (
        str(mail.message["Subject"])
        == "Årshjulet: Nulägeskoll och omvärldsanalys: Verksamhetens nulägeskoll och omvärldsanalys (3 dagar kvar)"
    )
    assert str(mail.message["Message-ID"]) == enqueued["message_id"]  # the same digest, re-rendered and retried
    assert row_of(submitted, "lars")["subject"] == str(mail.message["Subject"])  # the outbox keeps what went out


JAMES = "james.whitfield@example.se"  # the contributor of sbf, who reads English


def test_a_delayed_digest_says_its_reminder_was_planned_for_an_earlier_slot_not_that_the_slot_is_now(
    submitted, clock, relay
):
    assert send_reminders(submitted, ADMIN, None, relay)["relay_down"]  # Friday, 7 days before the deadline
    enqueued = {r["to"]: r for r in list_reminders(submitted, ADMIN)}

    clock.set(local("2026-02-10T09:05"))  # Tuesday: the relay is back, 3 days before the deadline
    with serving(Sink(port=relay.port)) as sink:
        deliver(submitted, relay)
        relay.close()
    by_to = {r.to: r for r in sink.received}

    lars = by_to[LARS]
    assert "13 februari 2026 (3 dagar kvar)" in lars.text()
    late = "planerad till 7 dagar före tidsgränsen 13 februari 2026, men skickas först nu"
    assert lars.text().count(f"Varför nu:  {late}") == 2  # both of his items
    assert "Varför nu:  7 dagar före" not in lars.text()
    assert lars.html().count(f'<th align="left">Varför nu</th><td>{late}</td>') == 2
    assert str(lars.message["Message-ID"]) == enqueued["lars"]["message_id"]

    james = by_to[JAMES]
    assert "13 February 2026 (3 days left)" in james.text()
    late = "planned for 7 days before the deadline 13 February 2026, but only sent now"
    assert f"Why now:    {late}" in james.text() and "Why now:    7 days before" not in james.text()
    assert f'<th align="left">Why now</th><td>{late}</td>' in james.html()
    assert str(james.message["Message-ID"]) == enqueued["james"]["message_id"]


def test_an_overdue_digest_says_how_late_it_is_on_the_day_it_goes_out(submitted, clock, relay):
    clock.set(local("2026-02-12T09:05"))  # one day before the deadline
    send_reminders(submitted, ADMIN, None, relay)
    clock.set(local("2026-02-16T09:05"))  # Monday after the deadline
    with serving(Sink(port=relay.port)) as sink:
        deliver(submitted, relay)
        relay.close()
    (mail,) = [r for r in sink.received if r.to == LARS]
    assert "13 februari 2026 (3 dagar försenad)" in mail.text() and "dag kvar" not in mail.text()


def test_a_digest_whose_every_item_was_done_meanwhile_is_withdrawn_not_sent(submitted, clock, relay):
    send_reminders(submitted, ADMIN, None, relay)
    clock.set(local("2026-02-09T10:00"))
    actions.approve_input(submitted, "eva", C, S, INPUT, "bou")
    actions.approve_input(submitted, "eva", C, S, INPUT, "soc")

    clock.set(local("2026-02-10T09:05"))
    with serving(Sink(port=relay.port)) as sink:
        counts = send_reminders(submitted, ADMIN, None, relay)
        relay.close()
    assert not [r for r in sink.received if r.to in (LARS, "eva.holmgren@example.se")]
    assert counts["withdrawn"] == 2 and counts["failed"] == 0  # lars's digest and eva's
    assert "; messages: 0 retrying, 0 failed, 2 withdrawn" in service.summary(counts)
    failed = {r["to"]: r for r in list_reminders(submitted, ADMIN, status="failed")}
    assert set(failed) == {"lars", "eva"}
    assert failed["lars"]["last_error"] == (
        "withdrawn before sending: nothing in it waits for lars any more "
        "(its 2 items were done meanwhile, or given a new deadline)"
    )
    assert failed["lars"]["attempts"] == 0  # never tried


def test_a_summary_without_withdrawals_does_not_mention_them(submitted, smtp, smtp_sink):
    counts = send_reminders(submitted, ADMIN, None, smtp)
    assert "withdrawn" not in counts and "withdrawn" not in service.summary(counts)


def test_a_digest_sent_at_once_is_byte_for_byte_what_was_rendered_when_it_was_enqueued(
    submitted, clock, smtp, smtp_sink
):
    with submitted.write() as session:
        outbox.enqueue(session, service.due_now(session, clock.now()), clock.now(), smtp.sender)
    with submitted.read() as session:
        rendered = {
            row.email: compose(outbox.letter(row), smtp.sender).as_bytes(policy=email.policy.SMTP)
            for row in session.execute(select(OutboxMessage)).scalars()
        }
    assert deliver(submitted, smtp)["messages"] == len(rendered)
    received = {r.to: r.raw for r in smtp_sink.take()}
    assert received.keys() == rendered.keys()
    for to, raw in received.items():
        assert wire(raw) == wire(rendered[to]), to


def wire(raw: bytes) -> bytes:
    """The message as sent, but for its MIME boundary, which is drawn at random each time a message is built."""
    boundary = email.message_from_bytes(raw, policy=email.policy.SMTP).get_boundary().encode()
    return raw.replace(boundary, b"BOUNDARY").replace(b"\r\n", b"\n")


def test_a_return_notice_goes_out_only_while_the_input_is_still_returned(wheel, clock, relay):
    clock.set(local("2026-02-09T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    for person, unit in (("sara", "bou"), ("johanna", "soc")):
        actions.submit_input(wheel, person, C, S, INPUT, unit)
        actions.return_input(wheel, "lars", C, S, INPUT, unit, comment="Siffrorna saknas.")
    send_reminders(wheel, ADMIN, None, relay)
    clock.set(local("2026-02-11T10:00"))  # johanna hands in again while the relay is down; sara does not
    actions.submit_input(wheel, "johanna", C, S, INPUT, "soc")

    clock.set(local("2026-02-13T18:00"))  # the return is older than what planning reads of the log now
    with serving(Sink(port=relay.port)) as sink:
        deliver(wheel, relay)
        relay.close()
    by_person = {r.to.split(".")[0]: r for r in sink.received}
    assert "johanna" not in by_person
    assert "returnerades 9 februari 2026 av lars" in by_person["sara"].text()
    assert "13 februari 2026 (sista dagen idag)" in by_person["sara"].text()
    assert row_of(wheel, "johanna")["last_error"].startswith(outbox.WITHDRAWN)


SARA = "sara.lund@example.se"  # a contributor of bou
BEFORE_1, ON_DEADLINE = "1 dag före tidsgränsen 13 februari 2026", "tidsgränsen är 13 februari 2026"


@pytest.fixture
def opened(wheel, clock):
    clock.set(local("2026-02-02T09:00"))
    actions.open_stage(wheel, "karin", C, S)
    return wheel


def rows_of(db, person: str) -> list[dict]:
    return [r for r in list_reminders(db, ADMIN) if r["to"] == person]


def test_a_reminder_whose_later_slot_was_enqueued_during_the_outage_goes_out_once_as_the_later_slot(
    opened, clock, relay
):
    clock.set(local("2026-02-12T09:05"))  # the day before the deadline, and the relay is down
    assert send_reminders(opened, ADMIN, None, relay)["relay_down"]
    clock.set(local("2026-02-13T09:05"))  # the deadline: still down, and the deadline's reminder is enqueued too
    assert send_reminders(opened, ADMIN, None, relay)["relay_down"]
    older, newer = rows_of(opened, "sara")
    assert older["created_at"] < newer["created_at"] and older["items"] == newer["items"] == 1

    clock.set(local("2026-02-13T10:30"))  # the relay is back, and both have waited long enough to be tried
    with serving(Sink(port=relay.port)) as sink:
        deliver(opened, relay)
        relay.close()
    (mail,) = [r for r in sink.received if r.to == SARA]
    assert f"arshjul input submit {C} {S} {INPUT} --unit bou" in mail.text()
    assert f"Varför nu:  {ON_DEADLINE}" in mail.text() and BEFORE_1 not in mail.text()
    assert str(mail.message["Message-ID"]) == newer["message_id"]
    listed = {r["id"]: r for r in rows_of(opened, "sara")}
    assert listed[newer["id"]]["status"] == "sent"
    assert listed[older["id"]]["status"] == "failed" and listed[older["id"]]["attempts"] == 0
    assert listed[older["id"]]["last_error"] == "withdrawn before sending: superseded by a newer reminder to sara"


def test_an_older_reminder_is_withdrawn_even_when_the_newer_one_went_out_first(opened, clock, relay):
    clock.set(local("2026-02-12T09:05"))
    send_reminders(opened, ADMIN, None, relay)
    clock.set(local("2026-02-13T09:00"))  # tried once more in vain: now it waits an hour, till 10:00
    deliver(opened, relay)
    clock.set(local("2026-02-13T09:05"))
    send_reminders(opened, ADMIN, None, relay)
    older, newer = rows_of(opened, "sara")

    with serving(Sink(port=relay.port)) as sink:
        clock.set(local("2026-02-13T09:30"))  # the relay is back: the newer one's time has come, not the older's
        deliver(opened, relay)
        assert {r["id"]: r["status"] for r in rows_of(opened, "sara")} == {older["id"]: "pending", newer["id"]: "sent"}
        clock.set(local("2026-02-13T10:00"))
        assert deliver(opened, relay)["withdrawn"] >= 1
        relay.close()
    (mail,) = [r for r in sink.received if r.to == SARA]
    assert ON_DEADLINE in mail.text()
    assert rows_of(opened, "sara")[0]["last_error"] == (
        "withdrawn before sending: superseded by a newer reminder to sara"
    )


def test_an_older_digest_goes_out_with_what_no_newer_reminder_carries(opened, clock, relay):
    clock.set(local("2026-02-10T09:00"))
    actions.submit_input(opened, "sara", C, S, INPUT, "bou")
    clock.set(local("2026-02-12T08:00"))
    actions.return_input(opened, "lars", C, S, INPUT, "bou", comment="Siffrorna saknas.")
    clock.set(local("2026-02-12T09:05"))  # sara is told of the return, and reminded to submit again
    send_reminders(opened, ADMIN, None, relay)
    clock.set(local("2026-02-13T09:05"))  # the deadline's reminder to submit is enqueued on its own
    send_reminders(opened, ADMIN, None, relay)
    older, newer = rows_of(opened, "sara")
    assert (older["items"], newer["items"]) == (2, 1)

    clock.set(local("2026-02-13T10:30"))  # the relay is back, and both have waited long enough to be tried
    with serving(Sink(port=relay.port)) as sink:
        deliver(opened, relay)
        relay.close()
    by_id = {str(r.message["Message-ID"]): r for r in sink.received if r.to == SARA}
    assert by_id.keys() == {older["message_id"], newer["message_id"]}
    told = by_id[older["message_id"]].text()
    assert "En sak i årshjulet väntar på dig" in told
    assert "returnerades 12 februari 2026 av lars" in told and "Siffrorna saknas." in told
    assert "Varför nu:  1 dag" not in told and ON_DEADLINE not in told
    reminded = by_id[newer["message_id"]].text()
    assert f"Varför nu:  returnerades 12 februari 2026 av lars; {ON_DEADLINE}" in reminded  # still returned
    assert "Kommentar:  Siffrorna saknas." in reminded
    assert [r["status"] for r in rows_of(opened, "sara")] == ["sent", "sent"]


def test_a_reminder_that_waited_out_a_return_of_its_input_goes_out_saying_it_was_returned(opened, clock, relay):
    clock.set(local("2026-02-06T07:05"))  # 7 days before: sara is to hand in bou's input, and the relay is down
    assert send_reminders(opened, ADMIN, None, relay)["relay_down"]
    clock.set(local("2026-02-06T09:00"))  # she hands it in and lars returns it, while the relay is still down
    actions.submit_input(opened, "sara", C, S, INPUT, "bou")
    actions.return_input(opened, "lars", C, S, INPUT, "bou", comment="Lägg till <elevprognosen>")

    clock.set(local("2026-02-09T10:00"))  # the relay is back; nothing new was planned meanwhile
    with serving(Sink(port=relay.port)) as sink:
        deliver(opened, relay)
        relay.close()
    (mail,) = [r for r in sink.received if r.to == SARA]
    text = mail.text()
    assert "En sak i årshjulet väntar på dig" in text and "etappen" not in text  # the return is the news now
    assert "   Att göra:   det har returnerats: rätta och lämna in igen\n" in text
    assert "   Varför nu:  returnerades 6 februari 2026 av lars; " in text
    assert "   Kommentar:  Lägg till <elevprognosen>\n" in text
    assert "<td>Lägg till &lt;elevprognosen&gt;</td>" in mail.html()
