"""The reminder planner: pure, so every rule is checked on hand-made rows and moments."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from cycle.agenda import Agenda, Happened, Recipient, Work
from cycle.clock import parse_moment
from notifications.planner import escalation_slot, latest_slot, plan, policy, reached_day

D = dt.date(2027, 3, 31)  # a Wednesday
POLICY = {"before_days": [14, 7, 1], "on_deadline": True, "overdue_every_days": 3, "escalate_after_days": 3}
PEOPLE = {
    ("contributor", "soc"): (Recipient("johanna", "Johanna Nilsson", "johanna@example.se", "sv"),),
    ("approver", "ks"): (Recipient("eva", "Eva Holmgren", "eva@example.se", "sv"),
                         Recipient("lars", "Lars Engström", "lars@example.se", "sv")),
    ("approver", "kf"): (Recipient("bengt", "Bengt Wikström", "bengt@example.se", "sv"),),
    ("owner", "ks"): (Recipient("karin", "Karin Lindqvist", "karin@example.se", "sv"),),
}  # fmt: skip
UNITS = {"soc": "Socialtjänst", "ks": "Kommunstyrelsen", "kf": "Kommunfullmäktige"}


def at(text: str) -> dt.datetime:
    return parse_moment(text, "Europe/Stockholm")


def stage(state: str = "open", **changes) -> Work:
    work = Work(cycle="ange-2027", cycle_name="Årshjul", timezone="Europe/Stockholm", stage="tertialrapport",
                stage_name="Tertialrapport per 30 april", stage_state=state, owner_unit="ks", decided_by_unit="kf",
                state=state, deadline=D, reminders=POLICY)  # fmt: skip
    return dataclasses.replace(work, **changes)


def item(state: str = "missing", **changes) -> Work:
    work = dataclasses.replace(stage(), state=state, input="ekonomi", input_name="Ekonomiskt utfall", unit="soc",
                               approved_by_unit="ks")  # fmt: skip
    return dataclasses.replace(work, **changes)


def planned(*work: Work, moment: str = "2027-03-24T07:00", events=()) -> list[tuple]:
    agenda = Agenda(tuple(work), tuple(events), PEOPLE, UNITS)
    return [(d.to.username, d.kind, d.slot, d.item_key) for d in plan(agenda, at(moment))]


# --- slots -------------------------------------------------------------------------


@pytest.mark.parametrize("day, slot", [
    ("2027-03-16", None), ("2027-03-17", "before-14"), ("2027-03-23", "before-14"), ("2027-03-24", "before-7"),
    ("2027-03-30", "before-1"), ("2027-03-31", "deadline"), ("2027-04-02", "deadline"), ("2027-04-03", "overdue-3"),
    ("2027-04-05", "overdue-3"), ("2027-04-06", "overdue-6"), ("2027-06-30", "overdue-90"),
])  # fmt: skip
def test_the_latest_due_slot_of_a_series(day, slot):
    found = latest_slot(D, policy(POLICY), dt.date.fromisoformat(day))
    assert (found and found.name) == slot


def test_without_overdue_repeats_the_deadline_stays_the_last_slot():
    rules = policy({**POLICY, "overdue_every_days": None, "on_deadline": False})
    assert latest_slot(D, rules, D + dt.timedelta(days=40)).name == "before-1"


def test_escalation_starts_after_its_days_and_follows_the_overdue_rhythm():
    rules = policy(POLICY)
    assert escalation_slot(D, rules, D + dt.timedelta(days=2)) is None
    assert [escalation_slot(D, rules, D + dt.timedelta(days=n)).name for n in (3, 5, 6, 10)] == [
        "overdue-3", "overdue-3", "overdue-6", "overdue-9"]  # fmt: skip
    assert escalation_slot(D, policy({**POLICY, "escalate_after_days": None}), D + dt.timedelta(days=9)) is None


@pytest.mark.parametrize("moment, day", [
    ("2027-03-24T06:59", "2027-03-23"), ("2027-03-24T07:00", "2027-03-24"),
    ("2027-03-28T07:00", "2027-03-28"),  # the spring change: 07:00 local is 05:00 UTC that day
    ("2027-10-31T06:59", "2027-10-30"), ("2027-12-31T23:59", "2027-12-31"),
])  # fmt: skip
def test_a_slot_is_due_from_seven_local_time(moment, day):
    assert reached_day(at(moment), "Europe/Stockholm") == dt.date.fromisoformat(day)


def test_the_local_day_decides_not_the_utc_day():
    # 2027-03-24 06:30 UTC is 07:30 in Stockholm: due there, not yet in New York.
    moment = dt.datetime(2027, 3, 24, 6, 30, tzinfo=dt.UTC)
    assert reached_day(moment, "Europe/Stockholm") == dt.date(2027, 3, 24)
    assert reached_day(moment, "America/New_York") == dt.date(2027, 3, 23)


# --- who ---------------------------------------------------------------------------


def test_contributors_are_reminded_of_missing_and_returned_inputs_of_an_open_stage():
    for state in ("missing", "returned"):
        assert planned(item(state)) == [
            ("johanna", "submit", "before-7", "submit:ange-2027/tertialrapport/ekonomi@soc")]  # fmt: skip
    assert planned(item("missing", stage_state="pending")) == []


def test_approvers_but_not_the_submitter_are_reminded_of_a_submitted_input():
    deciders = [("eva", "decide", "before-7"), ("lars", "decide", "before-7")]
    assert [p[:3] for p in planned(item("submitted"))] == deciders
    assert [p[0] for p in planned(item("submitted", submitted_by="lars"))] == ["eva"]


def test_owners_of_an_open_stage_and_deciders_of_a_submitted_one():
    assert planned(stage("open")) == [("karin", "finish", "before-7", "finish:ange-2027/tertialrapport")]
    assert planned(stage("submitted")) == [("bengt", "decide", "before-7", "decide:ange-2027/tertialrapport")]
    assert planned(stage("submitted", submitted_by="bengt")) == []


def test_finished_or_pending_work_and_auditors_get_nothing():
    finished = [item("approved"), stage("pending"), stage("approved"), stage("closed")]
    assert planned(*finished, moment="2027-04-30T08:00") == []
    assert planned(item("missing", unit="rev")) == []  # only an auditor there: nobody to remind


def test_an_overdue_input_is_escalated_to_the_stages_owners():
    assert planned(item("missing"), moment="2027-04-03T08:00") == [
        ("johanna", "submit", "overdue-3", "submit:ange-2027/tertialrapport/ekonomi@soc"),
        ("karin", "escalation", "overdue-3", "escalation:ange-2027/tertialrapport/ekonomi@soc"),
    ]


def test_per_item_policy_overrides_are_honoured():
    short = item("missing", reminders={**POLICY, "before_days": [2]})
    assert planned(short, moment="2027-03-24T08:00") == []
    assert planned(short, moment="2027-03-29T08:00")[0][2] == "before-2"


def test_a_moved_deadline_is_a_new_key():
    moved = item("missing", deadline=D + dt.timedelta(days=7))
    agenda = Agenda((item("missing"), moved), (), PEOPLE, UNITS)
    keys = {(d.slot, d.key_date) for d in plan(agenda, at("2027-03-31T08:00"))}
    assert keys == {("deadline", D), ("before-7", D + dt.timedelta(days=7))}


def test_reasons_are_one_line_and_say_why():
    agenda = Agenda((item("missing"),), (), PEOPLE, UNITS)
    reasons = [d.reason for d in plan(agenda, at("2027-03-30T08:00"))]
    assert reasons == ["1 day before the deadline 2027-03-31"]


def test_events_tell_contributors_the_stage_opened_and_what_was_returned():
    opened = Happened(41, at("2027-03-01T09:00"), "karin", "open", None, (item("missing"),))
    returned = Happened(42, at("2027-03-02T09:00"), "eva", "return", "Fel i tabell 3", (item("returned"),))
    agenda = Agenda((), (opened, returned), PEOPLE, UNITS)
    found = plan(agenda, at("2027-03-02T10:00"))
    assert [(d.to.username, d.kind, d.slot, d.item_key, d.key_date.isoformat()) for d in found] == [
        ("johanna", "opened", "event-41", "opened:ange-2027/tertialrapport@soc", "2027-03-01"),
        ("johanna", "returned", "event-42", "returned:ange-2027/tertialrapport/ekonomi@soc", "2027-03-02"),
    ]
    assert found[1].comment == "Fel i tabell 3" and found[0].inputs == ("Ekonomiskt utfall",)
    assert found[1].command == "arshjul input submit ange-2027 tertialrapport ekonomi --unit soc"


def test_a_returned_stage_tells_its_owners_with_the_comment():
    returned = Happened(43, at("2027-03-25T09:00"), "bengt", "return", "Komplettera prognosen", (stage("open"),))
    found = plan(Agenda((), (returned,), PEOPLE, UNITS), at("2027-03-25T10:00"))
    assert [(d.to.username, d.kind, d.slot, d.item_key, d.command) for d in found] == [
        (
            "karin",
            "returned",
            "event-43",
            "returned:ange-2027/tertialrapport",
            "arshjul stage submit ange-2027 tertialrapport",
        )
    ]
    assert found[0].comment == "Komplettera prognosen" and found[0].reason == "returned on 2027-03-25 by bengt"


def test_an_owner_whose_own_turn_it_is_gets_the_reminder_to_act_not_an_escalation_of_the_same_input():
    both = Recipient("karin", "Karin Lindqvist", "karin@example.se", "sv")
    people = {**PEOPLE, ("approver", "ks"): (both, *PEOPLE[("approver", "ks")]), ("contributor", "soc"): (both,)}
    people[("owner", "ks")] = (both, Recipient("oskar", "Oskar Berg", "oskar@example.se", "en"))

    def planned_for(work: Work) -> list[tuple]:
        found = plan(Agenda((work,), (), people, UNITS), at("2027-04-03T08:00"))
        return [(d.to.username, d.kind) for d in found]

    # karin approves for ks and owns the stage: told once, to decide; oskar is told as the owner
    assert planned_for(item("submitted")) == [("eva", "decide"), ("karin", "decide"), ("lars", "decide"),
                                              ("oskar", "escalation")]  # fmt: skip
    assert planned_for(item("missing")) == [("karin", "submit"), ("oskar", "escalation")]
    # she submitted it herself, so may not decide it (four eyes): the escalation is hers to hear
    assert ("karin", "escalation") in planned_for(item("submitted", submitted_by="karin"))


def test_a_reminder_of_a_returned_input_says_who_returned_it_when_and_why():
    # returned late on 20 March UTC, which is 21 March in Stockholm
    comment = "Fel i tabell 3\nSe bilaga"
    back = item("returned", returned_at=dt.datetime(2027, 3, 20, 23, 30, tzinfo=dt.UTC), returned_by="eva",
                return_comment=comment)  # fmt: skip
    told = ("2027-03-21", "eva", comment)
    (due,) = plan(Agenda((back,), (), PEOPLE, UNITS), at("2027-03-24T07:00"))
    assert (due.to.username, due.kind, due.returned_on, due.returned_by, due.comment) == ("johanna", "submit", *told)
    assert due.reason == f'7 days before the deadline 2027-03-31; returned on 2027-03-21 by eva: "{comment}"'
    found = plan(Agenda((back,), (), PEOPLE, UNITS), at("2027-04-03T08:00"))
    assert [(d.to.username, d.kind, d.returned_on, d.returned_by, d.comment) for d in found] == [
        ("johanna", "submit", *told), ("karin", "escalation", *told)]  # fmt: skip
    assert found[1].reason == ("3 days after the deadline 2027-03-31, still returned: the stage's owners are told; "
                               f'returned on 2027-03-21 by eva: "{comment}"')  # fmt: skip
    # what is not returned says nothing of a return
    missing = plan(Agenda((item("missing"),), (), PEOPLE, UNITS), at("2027-03-24T07:00"))
    assert [(d.returned_on, d.returned_by, d.comment, d.reason) for d in missing] == [
        (None, None, None, "7 days before the deadline 2027-03-31")]  # fmt: skip


def test_a_reminder_to_finish_a_returned_stage_says_who_returned_it_when_and_why():
    # kf's bengt returned the stage late on 20 March UTC, which is 21 March in Stockholm; it is open again
    comment = "Komplettera prognosen\nSe bilaga"
    back = stage("open", returned_at=dt.datetime(2027, 3, 20, 23, 30, tzinfo=dt.UTC), returned_by="bengt",
                 return_comment=comment)  # fmt: skip
    (due,) = plan(Agenda((back,), (), PEOPLE, UNITS), at("2027-03-24T07:00"))
    assert (due.to.username, due.kind, due.returned_on, due.returned_by, due.comment) == (
        "karin", "finish", "2027-03-21", "bengt", comment)  # fmt: skip
    assert due.reason == f'7 days before the deadline 2027-03-31; returned on 2027-03-21 by bengt: "{comment}"'
    assert due.command == "arshjul stage submit ange-2027 tertialrapport"
    # the notice of the return is the return itself, as for an input
    event = Happened(43, back.returned_at, "bengt", "return", comment, (back,))
    notice = [d for d in plan(Agenda((back,), (event,), PEOPLE, UNITS), at("2027-03-21T10:00")) if d.kind == "returned"]
    assert [(d.returned_on, d.returned_by, d.comment, d.reason) for d in notice] == [
        (None, None, comment, "returned on 2027-03-21 by bengt")]  # fmt: skip
    # a stage that was never returned says nothing of a return
    assert [(d.returned_on, d.returned_by, d.comment, d.reason) for d in plan(
        Agenda((stage("open"),), (), PEOPLE, UNITS), at("2027-03-24T07:00"))] == [
        (None, None, None, "7 days before the deadline 2027-03-31")]  # fmt: skip
