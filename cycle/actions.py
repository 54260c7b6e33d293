"""The use cases that move stages, inputs and deadlines: one function per action.

Each runs in one write transaction: load, check, change, append the log entry,
commit. A refusal raises before the commit, so nothing is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cycle import log, people
from cycle.agenda import remind_from
from cycle.database import Database
from cycle.errors import Refused, WrongState
from cycle.lookups import find_cycle, find_input, find_stage, find_stage_input  # noqa: F401 - documented here too
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
    with db.write() as session:
        person = people.person(session, actor)
        stage = find_stage(session, cycle_id, stage_key)
        before = stage.state
        label = f"stage '{stage.key}' of {cycle_id}"
        fire(STAGE_MACHINE, stage, trigger, Attempt(session, person, comment), label)
        event = log.Event(trigger, cycle=cycle_id, stage=stage.key, from_state=before,
                          to_state=stage.state, comment=comment, ref=ref)  # fmt: skip
        entry = log.append(session, actor, db.clock.now(), event)
        return Done(entry.seq, label, before, stage.state, entry.hash)


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
    with db.write() as session:
        person = people.person(session, actor)
        item = find_stage_input(session, cycle_id, stage_key, input_key, unit)
        before = item.state
        label = f"input '{input_key}' from unit '{unit}' to stage '{stage_key}' of {cycle_id}"
        fire(INPUT_MACHINE, item, trigger, Attempt(session, person, comment), label)
        event = log.Event(trigger, cycle=cycle_id, stage=stage_key, input=input_key, unit=unit,
                          from_state=before, to_state=item.state, comment=comment, ref=ref)  # fmt: skip
        entry = log.append(session, actor, db.clock.now(), event)
        return Done(entry.seq, label, before, item.state, entry.hash)


# --- deadlines -------------------------------------------------------------------


def set_deadline(db: Database, actor: str, cycle_id: str, stage_key: str, deadline: dt.date, reason: str,
                 input_key: str | None = None, unit: str | None = None, ref=None) -> Done:  # fmt: skip
    """Move a stage's or an input's deadline; the owner of the stage decides, with a reason."""
    if not (reason or "").strip():
        raise Refused("moving a deadline needs a reason (-m TEXT)")
    with db.write() as session:
        person = people.person(session, actor)
        stage = find_stage(session, cycle_id, stage_key)
        row = find_input(session, stage, input_key, unit or "") if input_key else stage
        label = f"stage '{stage_key}'"
        if input_key:
            label = f"input '{input_key}' from unit '{unit}' to {label}"
        people.require(person, "owner", stage.owner_unit, f"move the deadline of {label} of {cycle_id}")
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
        return Done(entry.seq, label, before.isoformat(), deadline.isoformat(), entry.hash)


def _require_deadline_movable(row: Stage | InputItem, label: str) -> None:
    finished = (StageState.APPROVED.value, StageState.CLOSED.value, InputState.APPROVED.value)
    if row.state in finished:
        raise WrongState(f"{label} is already {row.state}: its deadline no longer matters")
