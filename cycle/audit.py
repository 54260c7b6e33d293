"""Verifying the transition log, for auditors.

Three checks, each catching what the others cannot:
1. the chain: every entry's hash is recomputed and must match, and each entry
   must carry its predecessor's hash, with sequence numbers without gaps;
   this catches an edited or a removed entry in the middle;
2. the replay: the states, versions and deadlines that the log explains must
   be the ones in the stage and input rows, and each cycle's start fingerprint
   must match its instances; this catches a removed newest entry and a state
   changed behind the log's back;
3. the checkpoint (optional): an entry count and head hash kept outside the
   system must still be part of the chain; this catches a chain rewritten
   wholesale by whoever runs the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from cycle import log, people
from cycle.cycles import fingerprint
from cycle.database import Database
from cycle.errors import BadInput
from cycle.models import Cycle, InputItem, InputState, Stage, StageState

AUDIT_ROLES = ("auditor", "admin")
STATE_EVENTS = frozenset({"open", "submit", "approve", "return", "close"})
MISSING, PENDING = InputState.MISSING.value, StageState.PENDING.value
BATCH = 5000


@dataclass
class Verdict:
    ok: bool
    entries: int
    head_hash: str
    bad_seq: int | None = None
    reason: str | None = None
    checkpoint: dict | None = None

    def as_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head_hash": self.head_hash,
                "bad_seq": self.bad_seq, "reason": self.reason, "checkpoint": self.checkpoint}  # fmt: skip


@dataclass
class _Replay:
    """What the log says each row should look like now."""

    states: dict = field(default_factory=dict)  # (cycle, stage, input, unit) -> state
    changes: dict = field(default_factory=dict)  # same key -> number of changes
    first_deadline: dict = field(default_factory=dict)
    last_deadline: dict = field(default_factory=dict)
    starts: dict = field(default_factory=dict)  # cycle -> (seq, fingerprint)


class _Broken(Exception):
    def __init__(self, seq: int | None, reason: str):
        super().__init__(reason)
        self.seq, self.reason = seq, reason


def verify(db: Database, actor: str, checkpoint: dict | None = None) -> Verdict:
    with db.read() as session:
        people.require_any_global(people.person(session, actor), AUDIT_ROLES, "verify the log")
        return verify_session(session, checkpoint)


def verify_session(session: Session, checkpoint: dict | None = None) -> Verdict:
    replay = _Replay()
    count, head_hash = 0, log.GENESIS_HASH
    try:
        count, head_hash = _check_chain(session, replay, checkpoint)
        _check_head(session, count, head_hash)
        _check_rows(session, replay)
    except _Broken as broken:
        return Verdict(False, count, head_hash, broken.seq, broken.reason, checkpoint)
    return Verdict(True, count, head_hash, checkpoint=checkpoint)


def take_checkpoint(db: Database, actor: str) -> dict:
    with db.read() as session:
        people.require_any_global(people.person(session, actor), AUDIT_ROLES, "take a checkpoint")
        seq, head_hash = log.head(session)
        return {"entries": seq, "head_hash": head_hash, "at": log.format_at(db.clock.now())}


def parse_checkpoint(text: str, source: str) -> dict:
    try:
        data = json.loads(text)
        entries, head_hash = int(data["entries"]), str(data["head_hash"])
    except (ValueError, KeyError, TypeError) as err:
        raise BadInput(f"{source}: not an arshjul checkpoint (want JSON with entries and head_hash): {err}") from err
    return {**data, "entries": entries, "head_hash": head_hash}


# --- the chain -------------------------------------------------------------------


def _check_chain(session: Session, replay: _Replay, checkpoint: dict | None) -> tuple[int, str]:
    """Recompute every hash in order; the hot loop of `audit verify`, kept free of per-row overhead."""
    prev, expected_seq = log.GENESIS_HASH, 1
    sha256, canonical = hashlib.sha256, log.canonical
    stop = checkpoint["entries"] if checkpoint else None
    for row in _log_rows(session):
        seq, prev_hash, digest = row[0], row[13], row[14]  # row: LOG_FIELDS, then hash
        if seq != expected_seq:
            raise _Broken(expected_seq, f"entry {expected_seq} is missing (the next one is {seq})")
        if prev_hash != prev:
            raise _Broken(seq, "its previous hash does not match the entry before it")
        values = list(row[:14])
        values[1] = _at_text(values[1])
        if sha256(canonical(values)).hexdigest() != digest:
            raise _Broken(seq, "its content does not match its hash (the entry was altered)")
        _replay_entry(replay, seq, row[3:7], row[7], row[8], row[9], row[12])  # (cycle, stage, input, unit), event…
        if seq == stop and digest != checkpoint["head_hash"]:
            raise _Broken(seq, "the log no longer extends the checkpoint: its entry here has another hash")
        prev, expected_seq = digest, seq + 1
    count = expected_seq - 1
    if checkpoint and count < checkpoint["entries"]:
        raise _Broken(count + 1, f"the log has {count} entries, fewer than the checkpoint's {checkpoint['entries']}")
    return count, prev


def _log_rows(session: Session) -> Iterator[tuple]:
    """Every entry as a plain tuple (LOG_FIELDS, hash), oldest first, streamed in batches.

    Straight from the DB-API cursor of the session's connection: SQLAlchemy's result
    rows and type conversions would cost more than hashing the entry does. On
    PostgreSQL the cursor is a server-side one, so a million entries are never all in memory.
    """
    connection = session.connection()
    columns = ", ".join(f'"{name}"' for name in (*log.LOG_FIELDS, "hash"))
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        cursor = driver.cursor(name="arshjul_verify")
    else:
        cursor = driver.cursor()
    try:
        cursor.execute(f"SELECT {columns} FROM transition_log ORDER BY seq")
        while rows := cursor.fetchmany(BATCH):
            yield from rows
    finally:
        cursor.close()


def _at_text(at) -> str:
    """`log.format_at` of the stored moment; SQLite hands SQLAlchemy's text `YYYY-MM-DD HH:MM:SS.ffffff`."""
    if isinstance(at, dt.datetime):
        return log.format_at(at)
    text = str(at)
    if len(text) == 26 and text[10] == " ":
        return f"{text[:10]}T{text[11:]}Z"
    try:
        return log.format_at(dt.datetime.fromisoformat(text))
    except ValueError:
        return text  # not a moment at all: the entry's hash cannot match, so it is reported as altered


def _check_head(session: Session, count: int, head_hash: str) -> None:
    seq, stored = log.head(session)
    if seq != count:
        raise _Broken(count + 1 if seq > count else seq, f"the chain head says {seq} entries, the log has {count}")
    if stored != head_hash:
        raise _Broken(seq, "the chain head's hash is not the newest entry's hash")


# --- the replay ------------------------------------------------------------------


def _replay_entry(replay: _Replay, seq: int, key: tuple, event: str, before, after, detail) -> None:
    if event in STATE_EVENTS:
        initial = MISSING if key[2] else PENDING
        was = replay.states.get(key, initial)
        if was != before:
            missing = "(an entry before it is missing)"
            raise _Broken(seq, f"it starts from '{before}' but the log left that row '{was}' {missing}")
        replay.states[key] = after
    elif event == "deadline":
        replay.first_deadline.setdefault(key, before)
        if replay.last_deadline.get(key, before) != before:
            raise _Broken(seq, "it moves a deadline from a date the log never gave it")
        replay.last_deadline[key] = after
    else:
        if event == "cycle_start":
            replay.starts[key[0]] = (seq, json.loads(detail or "{}").get("fingerprint"))
        return
    replay.changes[key] = replay.changes.get(key, 0) + 1


def _check_rows(session: Session, replay: _Replay) -> None:
    by_cycle: dict[str, list[tuple]] = {}
    seen: set[tuple] = set()
    for key, state, version, deadline in _current_rows(session):
        seen.add(key)
        _compare_row(key, state, version, deadline, replay)
        first = replay.first_deadline.get(key, deadline.isoformat())
        by_cycle.setdefault(key[0], []).append((key[1], key[2], key[3], first))
    for cycle_id in session.execute(select(Cycle.id)).scalars():
        _compare_fingerprint(cycle_id, by_cycle.get(cycle_id, []), replay)
    unexplained = set(replay.changes) - seen
    if unexplained:
        raise _Broken(None, f"the log names rows that no longer exist: {_name(sorted(unexplained, key=str)[0])}")


def _current_rows(session: Session):
    stages = select(Stage.cycle_id, Stage.key, Stage.state, Stage.version, Stage.deadline)
    for r in session.execute(stages):
        yield (r.cycle_id, r.key, None, None), r.state, r.version, r.deadline
    inputs = select(Stage.cycle_id, Stage.key, InputItem.key.label("input"), InputItem.unit_key,
                    InputItem.state, InputItem.version, InputItem.deadline).join(Stage)  # fmt: skip
    for r in session.execute(inputs):
        yield (r.cycle_id, r.key, r.input, r.unit_key), r.state, r.version, r.deadline


def _compare_row(key: tuple, state: str, version: int, deadline: dt.date, replay: _Replay) -> None:
    initial = InputState.MISSING.value if key[2] else StageState.PENDING.value
    expected = replay.states.get(key, initial)
    if state != expected:
        raise _Broken(None, f"{_name(key)} is '{state}' but the log explains '{expected}'")
    if version != 1 + replay.changes.get(key, 0):
        raise _Broken(
            None, f"{_name(key)} was changed {version - 1} time(s), the log records {replay.changes.get(key, 0)}"
        )
    last = replay.last_deadline.get(key)
    if last is not None and deadline.isoformat() != last:
        raise _Broken(None, f"{_name(key)} is due {deadline.isoformat()} but the log last set {last}")


def _compare_fingerprint(cycle_id: str, instances: list[tuple], replay: _Replay) -> None:
    start = replay.starts.get(cycle_id)
    if start is None:
        raise _Broken(None, f"cycle {cycle_id} has no cycle_start entry in the log")
    if fingerprint(instances) != start[1]:
        raise _Broken(
            start[0], f"the stages, inputs or first deadlines of cycle {cycle_id} are not those it started with"
        )


def _name(key: tuple) -> str:
    cycle_id, stage, item, unit = key
    if item:
        return f"input '{item}' from unit '{unit}' to stage '{stage}' of {cycle_id}"
    return f"stage '{stage}' of {cycle_id}"
