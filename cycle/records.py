"""The stage or input an action moves, as a plain record: loaded and saved in one statement each.

The state machines need a row with a `state` attribute and the guards a few of its
columns; building an ORM object, tracking it and flushing it through the unit of
work costs more than the rest of an action. A record is loaded with the columns
the guards read and saved with a version-checked `UPDATE`, as the ORM's version
counter would, so a concurrent change still loses with "the state has moved".

The same statement reads the acting person's grants and takes the log's chain head
(locked `FOR UPDATE` on PostgreSQL), because every action needs all three: on a
database server each statement is a round trip, and these are two fewer. The save
is handed to `log.append_on` as a `RowMove`, which on PostgreSQL makes the move, the
entry and the head one statement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, Update, bindparam, exists, func, join, literal_column, select, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from cycle import log, lookups, people
from cycle.models import InputItem, LogEntry, LogHead, Person, RoleGrant, Stage
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


@dataclass(frozen=True)
class Loaded:
    """What an action works on: who acts, the row it moves, and the chain head its entry will follow."""

    actor: people.Actor
    record: StageRecord | InputRecord
    head: tuple[int, str]  # (seq, hash)


# Who acts and the chain head, as columns beside the row.
_KNOWN = exists().where(Person.username == bindparam("actor"))
_GRANTED = (
    # The separator as SQL text: given as a string, it would be a bind rendered only at execution.
    select(
        func.aggregate_strings(
            RoleGrant.role + people.ROLE_UNIT + RoleGrant.unit_key, literal_column(f"'{people.GRANT_SEPARATOR}'")
        )
    )  # fmt: skip
    .where(RoleGrant.username == bindparam("actor"))
    .scalar_subquery()
)
_BESIDE = (_KNOWN, _GRANTED, LogHead.seq, LogHead.hash)


def _loading(source, *columns, where) -> Prepared:
    statement = select(*columns, *_BESIDE).select_from(source).join(LogHead, LogHead.id == 1).where(*where)
    return Prepared(statement.with_for_update(of=LogHead))


_STAGE = _loading(Stage, *_STAGE_COLUMNS, _submitter(None, None), where=_AT_STAGE)
_INPUT = _loading(
    join(InputItem, Stage, Stage.id == InputItem.stage_id),
    *_INPUT_COLUMNS, _submitter(InputItem.key, InputItem.unit_key), *_STAGE_COLUMNS,
    where=(*_AT_STAGE, InputItem.key == bindparam("input"), InputItem.unit_key == bindparam("unit")),
)  # fmt: skip


def _moving(model) -> Update:
    return (
        update(model)
        .where(model.id == bindparam("row_id"), model.version == bindparam("seen"))
        .values(state=bindparam("new_state"), version=bindparam("new_version"))
    )


_MOVE = {StageRecord: _moving(Stage), InputRecord: _moving(InputItem)}


def load_stage(connection: Connection, actor: str, cycle_id: str, key: str) -> Loaded:
    row = _STAGE.first(connection, actor=actor, cycle=cycle_id, stage=key)
    if row is None:
        _explain_missing(connection, actor, lambda s: lookups.find_stage(s, cycle_id, key))
    return _loaded(actor, row, _stage(row[:_STAGE_WIDTH], submitted_by=row[_STAGE_WIDTH]))


def load_input(connection: Connection, actor: str, cycle_id: str, stage_key: str, key: str, unit: str) -> Loaded:
    row = _INPUT.first(connection, actor=actor, cycle=cycle_id, stage=stage_key, input=key, unit=unit)
    if row is None:
        _explain_missing(connection, actor, lambda s: lookups.find_stage_input(s, cycle_id, stage_key, key, unit))
    width = len(_INPUT_COLUMNS) + 1  # and the submitter
    return _loaded(actor, row, InputRecord(*row[:width], stage=_stage(row[width : width + _STAGE_WIDTH])))


def _loaded(actor: str, row: tuple, record: StageRecord | InputRecord) -> Loaded:
    known, granted, seq, head_hash = row[-len(_BESIDE) :]
    return Loaded(people.actor_from(actor, bool(known), granted), record, (seq, head_hash))


def move(record: StageRecord | InputRecord, seen_version: int) -> log.RowMove:
    """The version-checked `UPDATE` that stores the record's new state, for the log entry to carry out."""
    record.version = seen_version + 1
    params = {"row_id": record.id, "seen": seen_version, "new_state": record.state, "new_version": record.version}
    return log.RowMove(_MOVE[type(record)], params)


def _stage(columns, submitted_by: str | None = None) -> StageRecord:
    *values, after = columns  # _STAGE_COLUMNS, `after` last
    if isinstance(after, str):  # SQLite keeps JSON as text; PostgreSQL's driver decodes it
        after = json.loads(after)
    return StageRecord(*values, after=list(after or ()), submitted_by=submitted_by)


def _explain_missing(connection: Connection, actor: str, find) -> None:
    """Raise what the ORM lookups say about what does not exist, with their hints; an unknown actor first."""
    people.acting(connection, actor)
    with Session(bind=connection) as session:
        find(session)
    # The row is there, so what the statement's join missed is the chain head.
    raise NoResultFound("the log's chain head row (log_head id 1) is missing")
