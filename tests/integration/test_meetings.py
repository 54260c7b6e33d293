"""A load that moves or cancels a meeting a running cycle has a per-meeting stage for: the load
still writes what it always wrote, and tells the admin which stages now wait for a meeting that
is gone, with the `deadline set` that follows the definition's rule for the new meeting."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from cycle import actions, cycles, organisation, status
from cycle.models import LogEntry, Meeting, Stage
from tests.wheel import PEOPLE, UNITS, WHEEL, started
from workflows.definition import MeetingDef, Organisation

FEB_10, APR_14, SEP_22 = dt.date(2027, 2, 10), dt.date(2027, 4, 14), dt.date(2027, 9, 22)


def meetings(*days: dt.date, unit: str = "ks") -> tuple[MeetingDef, ...]:
    return tuple(MeetingDef(unit, day) for day in days)


def load(db, *listed: MeetingDef) -> organisation.Loaded:
    return organisation.load_organisation(db, "admin", Organisation(UNITS, PEOPLE, listed, source="org.yaml"))


def stage(db, key: str, cycle: str = "test-2027") -> Stage:
    with db.read() as s:
        return s.execute(select(Stage).where(Stage.cycle_id == cycle, Stage.key == key)).scalar_one()


def test_a_moved_meeting_names_the_stage_and_the_deadline_set_its_new_date_gives(db):
    cid = started(db)
    loaded = load(db, *meetings(dt.date(2027, 2, 17), APR_14, SEP_22))
    assert loaded.warnings == (
        "stage 'ekrapport@2027-02-10' of test-2027 was planned for a meeting on 2027-02-10 that is no longer in "
        "the organisation; if it moved to 2027-02-17: arshjul deadline set test-2027 ekrapport@2027-02-10 "
        '2027-02-10 -m "KS sammanträder 17 februari i stället för 10 februari"',
    )
    # The load writes what it always wrote: the meetings, one log entry; the stage keeps its deadline.
    assert loaded.meetings == organisation.Count(added=1, removed=1)
    with db.read() as s:
        assert s.execute(select(LogEntry.event).order_by(LogEntry.seq)).scalars().all() == [
            "org_load", "cycle_start", "org_load"]  # fmt: skip
        assert dt.date(2027, 2, 17) in s.execute(select(Meeting.date)).scalars().all()
    assert stage(db, "ekrapport@2027-02-10").deadline == dt.date(2027, 2, 3)
    # The suggested command does what it says, and the next load has nothing more to say.
    actions.set_deadline(db, "anna", cid, "ekrapport@2027-02-10", dt.date(2027, 2, 10), "KS sammanträder 17 februari")
    assert load(db, *meetings(dt.date(2027, 2, 17), APR_14, SEP_22)).warnings == ()


def test_a_meeting_gone_with_no_new_one_within_31_days_may_have_been_cancelled(db):
    started(db)
    loaded = load(db, *meetings(FEB_10, dt.date(2027, 5, 16), SEP_22))  # 32 days after 14 April
    assert loaded.warnings == (
        "stage 'ekrapport@2027-04-14' of test-2027 was planned for a meeting on 2027-04-14 that is no longer in "
        "the organisation, and ks has no new meeting within 31 days of it: if the meeting was cancelled, move the "
        "stage's deadline to the meeting that takes the matter up (arshjul deadline set test-2027 "
        "ekrapport@2027-04-14 DATE -m REASON), or take the stage on to closed as usual",
    )


def test_the_nearest_new_meeting_after_the_old_date_is_suggested_before_an_earlier_one(db):
    started(db)
    loaded = load(db, *meetings(dt.date(2027, 2, 3), dt.date(2027, 3, 3), APR_14, SEP_22))
    (warning,) = loaded.warnings
    assert "if it moved to 2027-03-03: arshjul deadline set test-2027 ekrapport@2027-02-10 2027-02-24 " in warning
    # None after it within 31 days: the nearest before it.
    started(db, 2028)
    loaded = load(db, *meetings(dt.date(2027, 12, 29)), *meetings(dt.date(2028, 1, 26)))
    stray = [w for w in loaded.warnings if "ekrapport@2028-02-09" in w]
    assert stray == [
        "stage 'ekrapport@2028-02-09' of test-2028 was planned for a meeting on 2028-02-09 that is no longer in "
        "the organisation; if it moved to 2028-01-26: arshjul deadline set test-2028 ekrapport@2028-02-09 "
        '2028-01-19 -m "KS sammanträder 26 januari i stället för 9 februari"'
    ]


def test_the_days_before_are_those_cycle_start_used_though_the_deadline_moved_off_a_weekend(db):
    # 8 days before Monday 15 February is a Sunday, so cycle start made it Friday 5 February: 8, 9 or 10
    # days before the meeting would all give that. The other meetings are on Wednesdays, and there only
    # 8 gives the Tuesday they are due; so Wednesday 17 February's report is due Tuesday 9 February.
    wheel = dataclasses.replace(WHEEL, stages=(*WHEEL.stages[:2], dataclasses.replace(
        WHEEL.stages[2], days_before_meeting=8)))  # fmt: skip
    organisation.load_organisation(db, "admin", Organisation(UNITS, PEOPLE, meetings(dt.date(2027, 2, 15), APR_14)))
    cycles.start_cycle(db, "admin", wheel, 2027)
    assert stage(db, "ekrapport@2027-02-15").deadline == dt.date(2027, 2, 5)
    (warning,) = load(db, *meetings(dt.date(2027, 2, 17), APR_14)).warnings
    assert "if it moved to 2027-02-17: arshjul deadline set test-2027 ekrapport@2027-02-15 2027-02-09 -m " in warning


def test_a_deadline_the_owner_moved_before_counts_from_the_one_cycle_start_gave(db):
    cid = started(db)
    actions.set_deadline(db, "anna", cid, "ekrapport@2027-02-10", dt.date(2027, 2, 1), "Tidigare i år")
    (warning,) = load(db, *meetings(dt.date(2027, 2, 17), APR_14, SEP_22)).warnings
    assert "arshjul deadline set test-2027 ekrapport@2027-02-10 2027-02-10 -m " in warning


def test_a_deadline_that_already_fits_the_new_meeting_is_said_to(db):
    cid = started(db)
    actions.set_deadline(db, "anna", cid, "ekrapport@2027-02-10", dt.date(2027, 2, 10), "KS flyttar mötet")
    (warning,) = load(db, *meetings(dt.date(2027, 2, 17), APR_14, SEP_22)).warnings
    assert warning.endswith("; if it moved to 2027-02-17, its deadline 2027-02-10 already fits that meeting")


def test_approved_and_closed_stages_and_dates_still_holding_a_meeting_are_not_named(db):
    cid = started(db)
    for key in ("ekrapport@2027-02-10", "ekrapport@2027-09-22"):
        for who, act in (("anna", actions.open_stage), ("anna", actions.submit_stage), ("per", actions.approve_stage)):
            act(db, who, cid, key)
    actions.close_stage(db, "anna", cid, "ekrapport@2027-02-10")
    # KF meets on 14 April too, so that stage is taken to be for KF's meeting (the row keeps no unit).
    load(db, *meetings(FEB_10, APR_14, SEP_22), *meetings(APR_14, unit="kf"))
    loaded = load(db, *meetings(dt.date(2027, 2, 17), dt.date(2027, 4, 21), dt.date(2027, 9, 29)),
                  *meetings(APR_14, unit="kf"))  # fmt: skip
    assert loaded.meetings == organisation.Count(added=3, removed=3)
    assert loaded.warnings == ()


def test_when_two_organs_move_a_meeting_that_day_the_stage_follows_the_one_its_other_instances_meet_with(db):
    started(db)
    load(db, *meetings(FEB_10, APR_14, SEP_22), *meetings(APR_14, unit="kf"))
    loaded = load(db, *meetings(FEB_10, dt.date(2027, 4, 21), SEP_22), *meetings(dt.date(2027, 4, 15), unit="kf"))
    (warning,) = loaded.warnings
    assert warning.endswith(
        '; if it moved to 2027-04-21: arshjul deadline set test-2027 ekrapport@2027-04-14 2027-04-14 -m "KS '
        'sammanträder 21 april i stället för 14 april"'
    )


def gone(db, cid: str) -> dict[str, bool]:
    """Each stage of the cycle's status: whether it is shown as waiting for a meeting that is gone."""
    return {row["key"]: row["meeting_gone"] for row in status.cycle_status(db, "admin", cid)["stages"]}


def test_status_shows_each_unfinished_stage_whose_meeting_is_gone_while_no_meeting_is_left_on_its_date(db):
    cid = started(db)
    assert set(gone(db, cid).values()) == {False}
    actions.open_stage(db, "anna", cid, "ekrapport@2027-02-10")
    actions.submit_stage(db, "anna", cid, "ekrapport@2027-02-10")  # submitted: still unfinished
    for who, act in (("anna", actions.open_stage), ("anna", actions.submit_stage), ("per", actions.approve_stage)):
        act(db, who, cid, "ekrapport@2027-09-22")  # approved: its meeting is of no more concern
    load(db, *meetings(dt.date(2027, 2, 17), dt.date(2027, 9, 29)))  # all three KS meetings of 2027 gone
    assert gone(db, cid) == {"analys": False, "budget": False, "ekrapport@2027-02-10": True,
                             "ekrapport@2027-04-14": True, "ekrapport@2027-09-22": False}  # fmt: skip
    # Matched by date as the load's warning is: KF meeting on 14 April is taken to be that stage's meeting.
    load(db, *meetings(dt.date(2027, 2, 17), dt.date(2027, 9, 29)), *meetings(APR_14, unit="kf"))
    assert gone(db, cid)["ekrapport@2027-04-14"] is False
    # Moving the deadline to the new meeting does not bring the old one back: the stage is still shown.
    actions.return_stage(db, "per", cid, "ekrapport@2027-02-10", comment="Mötet flyttas")  # open again
    actions.set_deadline(db, "anna", cid, "ekrapport@2027-02-10", dt.date(2027, 2, 10), "KS sammanträder 17 februari")
    assert gone(db, cid)["ekrapport@2027-02-10"] is True
