"""The stage or input an action moves, as a plain record: loaded and saved in one statement each.

The state machines need a row with a `state` attribute and the guards a few of its
columns; building an ORM object, tracking it and flushing it through the unit of
work costs more than the rest of an action. A record is loaded with the columns
the guards read and saved with a version-checked `UPDATE`, as the ORM's version
counter would, so a concurrent change still loses with "the state has moved".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from cycle import lookups
from cycle.errors import StaleState
from cycle.models import InputItem, LogEntry, Stage
from cycle.prepared import Prepared


@dataclass
class StageRecord:
    id: int
    cycle_id: str
    key: str
    state: str
    version: int
    owner_unit: str
    decided_by_unit: str
    after: list[str]
    submitted_by: str | None = None  # the actor of the stage's newest `submit` entry, for four-eyes


@dataclass
class InputRecord:
    id: int
    key: str
    unit_key: str
    approved_by_unit: str
    state: str
    version: int
    submitted_by: str | None  # the actor of the input's newest `submit` entry, for four-eyes
    stage: StageRecord


_STAGE_COLUMNS = (Stage.id, Stage.cycle_id, Stage.key, Stage.state, Stage.version, Stage.owner_unit,
                  Stage.decided_by_unit, Stage.after)  # fmt: skip
_INPUT_COLUMNS = (InputItem.id, InputItem.key, InputItem.unit_key, InputItem.approved_by_unit, InputItem.state,
                  InputItem.version)  # fmt: skip
_STAGE_WIDTH = len(_STAGE_COLUMNS)
_AT_STAGE = (Stage.cycle_id == bindparam("cycle"), Stage.key == bindparam("stage"))


def _submitter(input_key, unit_key):
    """Who made the row's newest `submit` entry: read with the row, one lookup in `ix_log_subject`."""
    about = (LogEntry.input.is_(None), LogEntry.unit.is_(None)) if input_key is None else (
        LogEntry.input == input_key, LogEntry.unit == unit_key)  # fmt: skip
    newest = select(LogEntry.actor).where(
        LogEntry.cycle == Stage.cycle_id, LogEntry.stage == Stage.key, *about, LogEntry.event == "submit"
    )
    return newest.order_by(LogEntry.seq.desc()).limit(1).scalar_subquery()


_STAGE = Prepared(select(*_STAGE_COLUMNS, _submitter(None, None)).where(*_AT_STAGE))
_INPUT = Prepared(
    select(*_INPUT_COLUMNS, _submitter(InputItem.key, InputItem.unit_key), *_STAGE_COLUMNS)
    .join(Stage, Stage.id == InputItem.stage_id)
    .where(*_AT_STAGE, InputItem.key == bindparam("input"), InputItem.unit_key == bindparam("unit"))
)


def _move(model) -> Prepared:
    return Prepared(
        update(model)
        .where(model.id == bindparam("row_id"), model.version == bindparam("seen"))
        .values(state=bindparam("new_state"), version=bindparam("new_version"))
    )


_MOVE = {StageRecord: _move(Stage), InputRecord: _move(InputItem)}


def load_stage(connection: Connection, cycle_id: str, key: str) -> StageRecord:
    row = _STAGE.first(connection, cycle=cycle_id, stage=key)
    if row is None:
        _explain_missing(connection, lambda s: lookups.find_stage(s, cycle_id, key))
    return _stage(row[:_STAGE_WIDTH], submitted_by=row[_STAGE_WIDTH])


def load_input(connection: Connection, cycle_id: str, stage_key: str, key: str, unit: str) -> InputRecord:
    row = _INPUT.first(connection, cycle=cycle_id, stage=stage_key, input=key, unit=unit)
    if row is None:
        _explain_missing(connection, lambda s: lookups.find_stage_input(s, cycle_id, stage_key, key, unit))
    width = len(_INPUT_COLUMNS) + 1  # and the submitter
    return InputRecord(*row[:width], stage=_stage(row[width:]))


def save(connection: Connection, record: StageRecord | InputRecord, seen_version: int) -> None:
    """Store the record's new state, if its row is still at the version it was loaded with."""
    record.version = seen_version + 1
    moved = _MOVE[type(record)].rowcount(
        connection, row_id=record.id, seen=seen_version, new_state=record.state, new_version=record.version
    )
    if moved != 1:
        raise StaleState.moved()


def _stage(columns, submitted_by: str | None = None) -> StageRecord:
    *values, after = columns  # _STAGE_COLUMNS, `after` last
    if isinstance(after, str):  # SQLite keeps JSON as text; PostgreSQL's driver decodes it
        after = json.loads(after)
    return StageRecord(*values, after=list(after or ()), submitted_by=submitted_by)


def _explain_missing(connection: Connection, find) -> None:
    """Raise what the ORM lookups say about what does not exist, with their hints."""
    with Session(bind=connection) as session:
        find(session)
    raise AssertionError("the lookups found a row the prepared statement did not")
