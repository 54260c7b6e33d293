"""The agenda's read side: what is open, who holds the roles, few queries whatever the size."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event

from cycle import actions, agenda
from cycle.cycles import start_cycle
from tests.integration.conftest import ADMIN, local


def statements(db, since, until) -> tuple[agenda.Agenda, int]:
    seen = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.read() as session:
            found = agenda.read(session, since, until)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return found, len(seen)


def test_the_open_work_is_read_in_a_fixed_number_of_queries(wheel, clock, ange):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", "ange-2027", "omvarldsanalys")
    actions.submit_input(wheel, "sara", "ange-2027", "omvarldsanalys", "verksamhetsanalys", "bou")
    window = (clock.now() - dt.timedelta(days=4), clock.now())
    small, few = statements(wheel, *window)

    start_cycle(wheel, ADMIN, ange, 2028)
    actions.open_stage(wheel, "karin", "ange-2028", "omvarldsanalys")
    actions.submit_input(wheel, "johanna", "ange-2028", "omvarldsanalys", "verksamhetsanalys", "soc")
    large, more = statements(wheel, *window)

    assert len(large.work) == 2 * len(small.work) == 2 * (4 + 1)  # four inputs and the stage, per cycle
    assert more == few == 6  # inputs, stages, submitters, events, holders, units
    assert {w.submitted_by for w in large.work if w.state == "submitted"} == {"sara", "johanna"}
    assert [e.event for e in large.events] == ["open", "open"]
    assert large.units["soc"] == "Socialtjänst"
    assert [p.username for p in large.holders[("owner", "ks")]] == ["karin", "maria", "oskar"]


def test_pending_and_finished_work_is_not_read(wheel, clock):
    with wheel.read() as session:
        assert agenda.read(session, clock.now() - dt.timedelta(days=4), clock.now()).work == ()


def test_events_outside_the_window_or_whose_work_moved_on_are_left_out(wheel, clock):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", "ange-2027", "omvarldsanalys")
    with wheel.read() as session:
        later = agenda.read(session, local("2026-01-20T09:00"), local("2026-01-24T09:00"))
        now = agenda.read(session, local("2026-01-10T09:00"), local("2026-01-12T09:00"))
    assert later.events == () and len(now.events) == 1 and len(now.events[0].work) == 4


def test_a_returned_input_is_read_with_its_latest_return_long_after_the_notice_window(wheel, clock):
    c, s, i = "ange-2027", "omvarldsanalys", "verksamhetsanalys"
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", c, s)
    actions.submit_input(wheel, "johanna", c, s, i, "soc")
    actions.return_input(wheel, "lars", c, s, i, "soc", comment="Första")
    clock.set(local("2026-01-13T09:00"))
    actions.submit_input(wheel, "johanna", c, s, i, "soc")
    actions.return_input(wheel, "eva", c, s, i, "soc", comment="Lägg till elevprognosen")
    actions.submit_input(wheel, "sara", c, s, i, "bou")
    actions.return_input(wheel, "lars", c, s, i, "bou", comment="Komplettera")
    actions.submit_input(wheel, "sara", c, s, i, "bou")  # handed in again: no longer returned
    with wheel.read() as session:
        found = agenda.read(session, local("2026-02-02T07:00"), local("2026-02-06T07:00"))
    by_unit = {w.unit: w for w in found.work if w.is_input}
    soc = by_unit["soc"]
    assert (soc.state, soc.returned_by, soc.return_comment) == ("returned", "eva", "Lägg till elevprognosen")
    assert soc.returned_at == local("2026-01-13T09:00")
    assert found.events == ()
    assert [(w.returned_at, w.returned_by, w.return_comment) for u, w in sorted(by_unit.items()) if u != "soc"] == [
        (None, None, None)
    ] * 3


def handed_in_and_approved(db, c: str, s: str) -> None:
    """Every unit's input to `s` submitted by its contributor and approved by lars."""
    for unit, contributor in (("bou", "sara"), ("soc", "johanna"), ("sbf", "james"), ("kultur", "linnea")):
        actions.submit_input(db, contributor, c, s, "verksamhetsanalys", unit)
        actions.approve_input(db, "lars", c, s, "verksamhetsanalys", unit)


def test_a_returned_stage_is_read_with_its_latest_return_and_an_unreturned_one_with_none(wheel, clock):
    c, s = "ange-2027", "omvarldsanalys"
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "oskar", c, s)
    handed_in_and_approved(wheel, c, s)
    actions.submit_stage(wheel, "oskar", c, s)
    actions.return_stage(wheel, "lars", c, s, comment="Första")
    clock.set(local("2026-01-13T09:00"))
    actions.submit_stage(wheel, "oskar", c, s)
    actions.return_stage(wheel, "eva", c, s, comment="Skatteprognosen\nSe bilaga")
    with wheel.read() as session:
        found = agenda.read(session, local("2026-02-02T07:00"), local("2026-02-06T07:00"))
    (back,) = [w for w in found.work if w.stage == s and not w.is_input]
    assert (back.state, back.returned_by, back.return_comment) == ("open", "eva", "Skatteprognosen\nSe bilaga")
    assert back.returned_at == local("2026-01-13T09:00") and found.events == ()

    clock.set(local("2026-02-02T09:00"))
    actions.submit_stage(wheel, "oskar", c, s)  # handed in again: waits for a decision, no longer returned
    with wheel.read() as session:
        found = agenda.read(session, local("2026-02-02T07:00"), local("2026-02-06T07:00"))
    (again,) = [w for w in found.work if w.stage == s and not w.is_input]
    assert (again.state, again.returned_at, again.returned_by, again.return_comment) == ("submitted", None, None, None)


def test_a_stage_open_for_the_first_time_is_read_without_a_return(wheel, clock):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "oskar", "ange-2027", "omvarldsanalys")
    with wheel.read() as session:
        found = agenda.read(session, local("2026-02-02T07:00"), local("2026-02-06T07:00"))
    assert [(w.returned_at, w.returned_by, w.return_comment) for w in found.work] == [(None, None, None)] * 5
