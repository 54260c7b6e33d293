"""The transition log: appending hash-chained entries and querying them.

Each entry's hash is SHA-256 over a canonical serialisation of its fields and the
previous entry's hash. Appends lock the single chain-head row, so concurrent
writers queue there and never fork the chain; the lock is held only from the
append to the commit of the transaction that made the change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import json.encoder
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Update, bindparam, exists, func, literal_column, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from cycle.errors import StaleState
from cycle.models import LogEntry, LogHead
from cycle.prepared import Prepared

GENESIS_HASH = "0" * 64
LOG_FIELDS = (
    "seq", "at", "actor", "cycle", "stage", "input", "unit", "event",
    "from_state", "to_state", "comment", "ref", "detail", "prev_hash",
)  # fmt: skip
LOG_COLUMNS = [getattr(LogEntry, name) for name in LOG_FIELDS] + [LogEntry.hash]


def format_at(at: dt.datetime) -> str:
    """UTC, microseconds, `Z`: one spelling, so the hash never depends on the driver."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _compact_json():
    """json.dumps(values, ensure_ascii=False, separators=(",", ":")) as one reusable function.

    json.dumps builds an encoder, and the encoder its C scanner, on every call: more than
    hashing an entry costs, and `audit verify` canonicalises every entry of the log.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return encoder.encode
    scan = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(scan(value, 0))


_dumps = _compact_json()


def canonical(values: Iterable) -> bytes:
    """The bytes that are hashed: a compact JSON array in LOG_FIELDS order."""
    return _dumps(list(values)).encode("utf-8")


def entry_hash(values: Iterable) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def row_values(row) -> list:
    """LOG_FIELDS values of a stored row (ORM object or Core row), `at` in canonical form."""
    values = [getattr(row, name) for name in LOG_FIELDS]
    values[1] = format_at(values[1])
    return values


@dataclass(frozen=True)
class Event:
    """What happened, before it gets its place in the chain."""

    event: str
    cycle: str | None = None
    stage: str | None = None
    input: str | None = None
    unit: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    comment: str | None = None
    ref: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Appended:
    """Where an entry landed in the chain."""

    seq: int
    hash: str


_HEAD = LogHead.__table__
_ENTRIES = LogEntry.__table__
_READ_HEAD = Prepared(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update())
_APPEND = Prepared(_ENTRIES.insert())
_MOVE_HEAD = Prepared(
    _HEAD.update().where(_HEAD.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
# PostgreSQL does both in one statement, so one round trip to the server instead of two.
_NEW_ENTRY = _ENTRIES.insert().returning(_ENTRIES.c.seq, _ENTRIES.c.hash).cte("entry")
_APPEND_AND_MOVE_HEAD = Prepared(
    _HEAD.update().where(_HEAD.c.id == 1).values(seq=_NEW_ENTRY.c.seq, hash=_NEW_ENTRY.c.hash)
)


@dataclass(frozen=True)
class RowMove:
    """The version-checked `UPDATE` of the row an entry records, with its parameters.

    It must change exactly one row; none means someone else moved it first.
    """

    statement: Update
    params: dict


_ALONE: dict[Update, Prepared] = {}
_WITH_ENTRY: dict[Update, Prepared] = {}


def _with_entry(move: Update) -> Prepared:
    """PostgreSQL: move the row and, only if it moved, insert the entry and move the head; one statement."""
    moved = move.returning(literal_column("1").label("moved")).cte("moved")
    fields = list(_ENTRIES.c)
    values = select(*(bindparam(column.name, type_=column.type) for column in fields)).where(exists(select(moved)))
    entry = (
        _ENTRIES.insert()
        .from_select([column.name for column in fields], values)
        .returning(_ENTRIES.c.seq, _ENTRIES.c.hash)
        .cte("entry")
    )
    return Prepared(_HEAD.update().where(_HEAD.c.id == 1).values(seq=entry.c.seq, hash=entry.c.hash))


def append(session: Session, actor: str, at: dt.datetime, event: Event) -> Appended:
    """Chain one entry onto the log inside the session's transaction, after its own changes."""
    session.flush()
    return append_on(session.connection(), actor, at, event)


def append_on(connection: Connection, actor: str, at: dt.datetime, event: Event,
              head: tuple[int, str] | None = None, moving: RowMove | None = None) -> Appended:  # fmt: skip
    """Chain one entry onto the log inside the connection's transaction.

    Reading the head locks it (`FOR UPDATE` on PostgreSQL; SQLite's write transaction
    already holds the database), so appends queue there and the chain never forks.
    A caller that has already read and locked the head in this transaction passes it.
    `moving` is the change the entry records: made first, and on PostgreSQL in the same
    statement, so a state change and its entry cost one round trip. If the row has moved
    meanwhile, `StaleState` is raised and nothing is written.
    """
    head = head or _READ_HEAD.first(connection)
    if head is None:  # only a damaged database lacks it: `arshjul init` writes it
        raise NoResultFound("the log's chain head row (log_head id 1) is missing")
    seq, prev_hash = head
    values = {
        "seq": seq + 1, "at": at.astimezone(dt.UTC).replace(tzinfo=None), "actor": actor, "cycle": event.cycle,
        "stage": event.stage, "input": event.input, "unit": event.unit, "event": event.event,
        "from_state": event.from_state, "to_state": event.to_state, "comment": event.comment, "ref": event.ref,
        "detail": event.detail, "prev_hash": prev_hash,
    }  # fmt: skip
    canonical_values = [values[name] for name in LOG_FIELDS]
    canonical_values[1] = format_at(values["at"])
    values["hash"] = entry_hash(canonical_values)
    postgresql = connection.dialect.name == "postgresql"
    if moving and postgresql:
        combined = _prepared(_WITH_ENTRY, moving.statement, _with_entry)
        _require_moved(combined.rowcount(connection, **values, **moving.params))
        return Appended(values["seq"], values["hash"])
    if moving:
        _require_moved(_prepared(_ALONE, moving.statement, Prepared).rowcount(connection, **moving.params))
    if postgresql:
        _APPEND_AND_MOVE_HEAD.rowcount(connection, **values)
    else:
        _APPEND.rowcount(connection, **values)
        _MOVE_HEAD.rowcount(connection, new_seq=values["seq"], new_hash=values["hash"])
    return Appended(values["seq"], values["hash"])


def _prepared(cache: dict, statement: Update, build) -> Prepared:
    found = cache.get(statement)
    if found is None:
        found = cache[statement] = build(statement)
    return found


def _require_moved(rows: int) -> None:
    if rows != 1:
        raise StaleState.moved()


def detail_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def as_dict(row) -> dict:
    """The contract's JSON shape of one entry."""
    data = {name: getattr(row, name) for name in LOG_FIELDS if name != "detail"}
    data["at"] = format_at(row.at)
    data["hash"] = row.hash
    detail = row.detail
    data["detail"] = json.loads(detail) if detail else None
    return data


@dataclass(frozen=True)
class LogFilter:
    cycle: str | None = None
    stage: str | None = None
    input: str | None = None
    unit: str | None = None
    actor: str | None = None
    event: str | None = None
    since: dt.date | None = None  # inclusive, UTC date
    until: dt.date | None = None  # inclusive, UTC date
    limit: int | None = None  # the newest N, still printed oldest first


def query(session: Session, flt: LogFilter) -> list:
    """Entries matching every given filter, oldest first."""
    stmt = select(*LOG_COLUMNS)
    for name in ("cycle", "stage", "input", "unit", "actor", "event"):
        value = getattr(flt, name)
        if value is not None:
            stmt = stmt.where(getattr(LogEntry, name) == value)
    if flt.since is not None:
        stmt = stmt.where(LogEntry.at >= dt.datetime.combine(flt.since, dt.time()))
    if flt.until is not None:
        stmt = stmt.where(LogEntry.at < dt.datetime.combine(flt.until + dt.timedelta(days=1), dt.time()))
    if flt.limit is not None:
        newest = session.execute(stmt.order_by(LogEntry.seq.desc()).limit(flt.limit)).all()
        return newest[::-1]
    return session.execute(stmt.order_by(LogEntry.seq)).all()


def count_by_event(session: Session, since: dt.date, until: dt.date) -> dict[str, int]:
    start = dt.datetime.combine(since, dt.time())
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time())
    stmt = (
        select(LogEntry.event, func.count())
        .where(LogEntry.at >= start, LogEntry.at < end)
        .group_by(LogEntry.event)
        .order_by(LogEntry.event)
    )
    return dict(session.execute(stmt).all())


def head(session: Session) -> tuple[int, str]:
    row = session.execute(select(LogHead.seq, LogHead.hash).where(LogHead.id == 1)).one()
    return row.seq, row.hash
