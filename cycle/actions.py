"""The use cases that move stages, inputs and deadlines: one function per action.

Each runs in one write transaction: load, check, change, append the log entry,
commit. A refusal raises before the commit, so nothing is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from cycle import deadlines, log, people, records
from cycle.agenda import remind_from
from cycle.clock import WEEKDAYS, require_planned_year
from cycle.database import Database
from cycle.errors import BadInput, Refused, WrongState
from cycle.lookups import find_cycle, find_input, find_stage, find_stage_input, row_name  # noqa: F401 - documented here too
from cycle.machines import INPUT_MACHINE, STAGE_MACHINE, Attempt, fire
from cycle.models import InputItem, InputState, Stage, StageState


@dataclass(frozen=True)
class Done:
    """What an action changed, for the caller to report."""

    seq: int
    what: str
    from_state: str | None
    to_state: str | None
    hash: str
    notes: tuple[str, ...] = ()  # done, but worth a second look: a deadline on a day off


# --- stage actions ---------------------------------------------------------------


def open_stage(db: Database, actor: str, cycle_id: str, stage_key: str, comment=None, ref=None) -> Done:
    return _stage_action(db, actor, cycle_id, stage_key, "open", comment, ref)


def submit_stage(db: Database, actor: str, cycle_id: str, stage_key: str, comment=None, ref=None) -> Done:
    return _stage_action(db, actor, cycle_id, stage_key, "submit", comment, ref)


def approve_stage(db: Database, actor: str, cycle_id: str, stage_key: str, comment=None, ref=None) -> Done:
    return _stage_action(db, actor, cycle_id, stage_key, "approve", comment, ref)


def return_stage(db: Database, actor: str, cycle_id: str, stage_key: str, comment=None, ref=None) -> Done:
    return _stage_action(db, actor, cycle_id, stage_key, "return", comment, ref)


def close_stage(db: Database, actor: str, cycle_id: str, stage_key: str, comment=None, ref=None) -> Done:
    return _stage_action(db, actor, cycle_id, stage_key, "close", comment, ref)


STAGE_ACTIONS = {
    "open": open_stage, "submit": submit_stage, "approve": approve_stage,
    "return": return_stage, "close": close_stage,
}  # fmt: skip


def _stage_action(db, actor, cycle_id, stage_key, trigger, comment, ref) -> Done:
    label = row_name((cycle_id, stage_key, None, None))
    with db.writing() as connection:
        loaded = records.load_stage(connection, actor, cycle_id, stage_key)
        event = log.Event(trigger, cycle=cycle_id, stage=stage_key, comment=comment, ref=ref)
        return _move(db, connection, STAGE_MACHINE, loaded, comment, label, event)


# --- input actions ---------------------------------------------------------------


def submit_input(db: Database, actor: str, cycle_id: str, stage_key: str, input_key: str, unit: str,
                 comment=None, ref=None) -> Done:  # fmt: skip
    return _input_action(db, actor, (cycle_id, stage_key, input_key, unit), "submit", comment, ref)


def approve_input(db: Database, actor: str, cycle_id: str, stage_key: str, input_key: str, unit: str,
                  comment=None, ref=None) -> Done:  # fmt: skip
    return _input_action(db, actor, (cycle_id, stage_key, input_key, unit), "approve", comment, ref)


def return_input(db: Database, actor: str, cycle_id: str, stage_key: str, input_key: str, unit: str,
                 comment=None, ref=None) -> Done:  # fmt: skip
    return _input_action(db, actor, (cycle_id, stage_key, input_key, unit), "return", comment, ref)


INPUT_ACTIONS = {"submit": submit_input, "approve": approve_input, "return": return_input}


def _input_action(db, actor, where, trigger, comment, ref) -> Done:
    cycle_id, stage_key, input_key, unit = where
    label = row_name(where)
    with db.writing() as connection:
        loaded = records.load_input(connection, actor, cycle_id, stage_key, input_key, unit)
        event = log.Event(trigger, cycle=cycle_id, stage=stage_key, input=input_key, unit=unit,
                          comment=comment, ref=ref)  # fmt: skip
        return _move(db, connection, INPUT_MACHINE, loaded, comment, label, event)


def _move(db, connection, machine, loaded: records.Loaded, comment, label: str, event: log.Event) -> Done:
    """Fire the trigger on the row, store its new state and append the entry: one transaction's work."""
    row, attempt = loaded.record, Attempt(connection, loaded.actor, comment)
    before, version = row.state, row.version
    try:
        fire(machine, row, event.event, attempt, label)
    finally:
        attempt.close()
    entry = log.append_on(connection, loaded.actor.username, db.clock.now(),
                          replace(event, from_state=before, to_state=row.state), head=loaded.head,
                          moving=records.move(row, version))  # fmt: skip
    return Done(entry.seq, label, before, row.state, entry.hash)


# --- deadlines -------------------------------------------------------------------


def set_deadline(db: Database, actor: str, cycle_id: str, stage_key: str, deadline: dt.date, reason: str,
                 input_key: str | None = None, unit: str | None = None, ref=None) -> Done:  # fmt: skip
    """Move a stage's or an input's deadline; the owner of the stage decides, with a reason."""
    if not (reason or "").strip():
        raise Refused("moving a deadline needs a reason (-m TEXT)")
    require_planned_year(deadline, f"invalid deadline {deadline.isoformat()}")
    if (input_key is None) != (unit is None):
        raise BadInput("an input's deadline needs its key and its unit; a stage's deadline neither")
    with db.write() as session:
        person = people.person(session, actor)
        stage = find_stage(session, cycle_id, stage_key)
        row = stage if input_key is None else find_input(session, stage, input_key, unit)
        label = row_name((cycle_id, stage_key, input_key, unit))
        people.require(person, "owner", stage.owner_unit, f"move the deadline of {label}")
        _require_deadline_movable(row, label)
        before = row.deadline
        if before == deadline:
            raise Refused(f"the deadline of {label} is already {deadline.isoformat()}")
        row.deadline = deadline
        if isinstance(row, InputItem):
            row.remind_from = remind_from(deadline, row.reminders)
        event = log.Event(
            "deadline",
            cycle=cycle_id,
            stage=stage_key,
            input=input_key,
            unit=unit,
            from_state=before.isoformat(),
            to_state=deadline.isoformat(),
            comment=reason,
            ref=ref,
        )
        entry = log.append(session, actor, db.clock.now(), event)
        notes = _day_off_notes(find_cycle(session, cycle_id).holidays, deadline)
        return Done(entry.seq, label, before.isoformat(), deadline.isoformat(), entry.hash, notes)


def _day_off_notes(country: str, day: dt.date) -> tuple[str, ...]:
    """A note when `day` is no working day; the owner may mean it (a meeting on a Saturday), so it is kept."""
    calendar = deadlines.working_days(country)
    if calendar.is_working_day(day):
        return ()
    what = calendar.holiday_name(day) or f"a {WEEKDAYS[day.weekday()]}"  # the holiday's own name, else the day
    before = calendar.on_or_before(day).isoformat()
    return (f"{day.isoformat()} is {what}, not a working day (holidays {calendar.country}); the definition's own "
            f"deadlines move to the working day before, {before}",)  # fmt: skip


def _require_deadline_movable(row: Stage | InputItem, label: str) -> None:
    finished = (StageState.APPROVED.value, StageState.CLOSED.value, InputState.APPROVED.value)
    if row.state in finished:
        raise WrongState(f"{label} is already {row.state}: its deadline no longer matters")
