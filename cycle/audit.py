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
import json
import logging
import os
import re
import reprlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cycle import log, people, segment
from cycle.cycles import fingerprint
from cycle.database import Database, sqlite_path
from cycle.encoding import not_utf8
from cycle.errors import BadInput
from cycle.lookups import row_name
from cycle.models import Cycle, InputItem, InputState, LogEntry, LogHead, Stage, StageState
from cycle.segment import GAP, LINK, Finding, Segment

AUDIT_ROLES = ("auditor", "admin")
logger = logging.getLogger(__name__)
MISSING, PENDING = InputState.MISSING.value, StageState.PENDING.value
# Below this many entries, starting worker processes costs more than it saves.
PARALLEL_FROM = 300_000
PER_WORKER = 150_000
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


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
    """What the log says each row should look like now.

    `states` and `deadlines` hold, per row key (cycle, stage, input, unit), what the
    row was before its first change, that change's seq, and what it was after its last.
    """

    states: dict = field(default_factory=dict)
    deadlines: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)  # same key -> number of changes
    starts: dict = field(default_factory=dict)  # cycle -> (seq, fingerprint)


class _Broken(Exception):
    def __init__(self, seq: int | None, reason: str):
        super().__init__(reason)
        self.seq, self.reason = seq, reason


def verify(db: Database, actor: str, checkpoint: dict | None = None, workers: int | None = None) -> Verdict:
    """Verify the log; `workers` processes share a large log (by default one a core)."""
    with db.read() as session:
        people.require_any_global(people.person(session, actor), AUDIT_ROLES, "verify the log")
        return verify_session(session, checkpoint, workers)


def verify_session(session: Session, checkpoint: dict | None = None, workers: int | None = None) -> Verdict:
    count, head_hash = 0, log.GENESIS_HASH
    try:
        count, head_hash, replay = _check_chain(session, checkpoint, workers)
        _check_head(session, count, head_hash)
        _check_rows(session, replay)
    except _Broken as broken:
        count, head_hash = _as_stored(session)
        return Verdict(False, count, head_hash, broken.seq, broken.reason, checkpoint)
    return Verdict(True, count, head_hash, checkpoint=checkpoint)


def _as_stored(session: Session) -> tuple[int, str]:
    """What an altered log says of itself, since nothing of it is verified: its entries and its head's hash."""
    count = session.execute(select(func.count()).select_from(LogEntry)).scalar_one()
    stored = session.execute(select(LogHead.hash).where(LogHead.id == 1)).scalar()
    return count, stored or log.GENESIS_HASH


def take_checkpoint(db: Database, actor: str) -> dict:
    with db.read() as session:
        people.require_any_global(people.person(session, actor), AUDIT_ROLES, "take a checkpoint")
        seq, head_hash = log.head(session)
        return {"entries": seq, "head_hash": head_hash, "at": log.format_at(db.clock.now())}


def parse_checkpoint(text: str, source: str) -> dict:
    """A checkpoint as `audit checkpoint` writes it: a whole number of entries and a SHA-256 in hex."""
    try:
        data = json.loads(text)
        entries, head_hash = data["entries"], data["head_hash"]
    except (ValueError, KeyError, TypeError) as err:
        raise BadInput(f"{source}: not an arshjul checkpoint (want JSON with entries and head_hash): {err}") from err
    except RecursionError as err:  # the JSON decoder's, on [[[[…
        raise BadInput(f"{source}: not an arshjul checkpoint: it is nested too deeply") from err
    if isinstance(entries, bool) or not isinstance(entries, int) or entries < 0:
        raise BadInput(f"{source}: the checkpoint's entries must be a whole number of entries, not {_shown(entries)}")
    if not isinstance(head_hash, str) or not _SHA256_HEX.fullmatch(head_hash):
        raise BadInput(f"{source}: the checkpoint's head_hash must be 64 hexadecimal digits, not {_shown(head_hash)}")
    at = data.get("at")
    if at is not None and not (isinstance(at, str) and not_utf8(at) is None):
        raise BadInput(f"{source}: the checkpoint's at must be the moment it was taken, not {_shown(at)}")
    return {"entries": entries, "head_hash": head_hash.lower(), "at": at}


def _shown(value) -> str:
    """A value from a file, quoted for a message: short, lone surrogates escaped like every unprintable character."""
    return reprlib.repr(value)


# --- the chain -------------------------------------------------------------------


def _check_chain(session: Session, checkpoint: dict | None, workers: int | None) -> tuple[int, str, _Replay]:
    """Walk the log in stretches (see `cycle.segment`), then join them in order."""
    first, last = session.execute(select(func.min(LogEntry.seq), func.max(LogEntry.seq))).one()
    if first is None:
        return _join([], checkpoint)
    here, *apart = _stretches(first, last, workers or _workers(session, last - first + 1))
    if not apart:
        return _join([segment.walk(session.connection(), *here, checkpoint)], checkpoint)
    # Entries up to `last` are all committed and never change, so workers reading them in
    # their own transactions see what this session sees. This process walks the first
    # stretch meanwhile: the workers wait on their processes, not on the interpreter.
    url = session.get_bind().url.render_as_string(hide_password=False)
    with ThreadPoolExecutor(1) as waiting:
        later = waiting.submit(segment.walk_apart, url, apart, checkpoint)
        walked = segment.walk(session.connection(), *here, checkpoint)
        try:
            rest = later.result()
        except segment.WorkerFailed as failed:
            # Workers need processes and connections of their own; without them the walk is slower, not wrong.
            logger.warning("audit verify: walking the whole log in this process: %s", failed)
            rest = [segment.walk(session.connection(), *stretch, checkpoint) for stretch in apart]
        return _join([walked, *rest], checkpoint)


def _workers(session: Session, entries: int) -> int:
    url = session.get_bind().url
    in_memory = url.get_backend_name() == "sqlite" and sqlite_path(url) is None
    if entries < PARALLEL_FROM or in_memory:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, entries // PER_WORKER))


def _stretches(first: int, last: int, parts: int) -> list[tuple[int, int]]:
    size = -(-(last - first + 1) // max(1, parts))
    return [(lo, min(lo + size - 1, last)) for lo in range(first, last + 1, size)]


def _join(parts: list[Segment], checkpoint: dict | None) -> tuple[int, str, _Replay]:
    """The stretches as one log: each must continue the one before; the earliest finding is reported."""
    replay = _Replay()
    expected, prev = 1, log.GENESIS_HASH
    for part in parts:
        if part.first_seq is None:
            continue  # a stretch of sequence numbers with no entries left in it
        findings = [part.finding] if part.finding else []
        if part.first_seq != expected:
            findings.append(Finding(expected, GAP, f"entry {expected} is missing (the next one is {part.first_seq})"))
        elif part.first_prev_hash != prev:
            findings.append(Finding(part.first_seq, LINK, "its previous hash does not match the entry before it"))
        findings += _carry(replay, part)
        if findings:
            first = min(findings)
            raise _Broken(first.seq, first.reason)
        expected, prev = part.last_seq + 1, part.last_hash
    count = expected - 1
    if checkpoint and count < checkpoint["entries"]:
        raise _Broken(count + 1, f"the log has {count} entries, fewer than the checkpoint's {checkpoint['entries']}")
    return count, prev, replay


def _carry(replay: _Replay, part: Segment) -> list[Finding]:
    found = [
        segment.follows(replay.states, part.states, _initial_state, segment.state_moved),
        segment.follows(replay.deadlines, part.deadlines, lambda _key, before: before, segment.deadline_moved),
    ]
    for key, changes in part.changes.items():
        replay.changes[key] = replay.changes.get(key, 0) + changes
    replay.starts.update(part.starts)
    return [finding for finding in found if finding]


def _initial_state(key: tuple, _before) -> str:
    return MISSING if key[2] else PENDING


def _check_head(session: Session, count: int, head_hash: str) -> None:
    seq, stored = log.head(session)
    if seq != count:
        raise _Broken(count + 1 if seq > count else seq, f"the chain head says {seq} entries, the log has {count}")
    if stored != head_hash:
        raise _Broken(seq, "the chain head's hash is not the newest entry's hash")


# --- the rows --------------------------------------------------------------------


def _check_rows(session: Session, replay: _Replay) -> None:
    cycle_ids = list(session.execute(select(Cycle.id)).scalars())
    for cycle_id in cycle_ids:  # first: a cycle the log never started explains all its rows' findings
        if cycle_id not in replay.starts:
            raise _Broken(None, f"cycle {cycle_id} has no cycle_start entry in the log")
    by_cycle: dict[str, list[tuple]] = {}
    seen: set[tuple] = set()
    for key, state, version, deadline in _current_rows(session):
        seen.add(key)
        _compare_row(key, state, version, deadline, replay)
        first = replay.deadlines[key][0] if key in replay.deadlines else deadline.isoformat()
        by_cycle.setdefault(key[0], []).append((key[1], key[2], key[3], first))
    for cycle_id in cycle_ids:
        _compare_fingerprint(cycle_id, by_cycle.get(cycle_id, []), replay)
    unexplained = set(replay.changes) - seen
    if unexplained:
        raise _Broken(None, f"the log names rows that no longer exist: {row_name(sorted(unexplained, key=str)[0])}")


def _current_rows(session: Session):
    stages = select(Stage.cycle_id, Stage.key, Stage.state, Stage.version, Stage.deadline)
    for r in session.execute(stages):
        yield (r.cycle_id, r.key, None, None), r.state, r.version, r.deadline
    inputs = select(Stage.cycle_id, Stage.key, InputItem.key.label("input"), InputItem.unit_key,
                    InputItem.state, InputItem.version, InputItem.deadline).join(Stage)  # fmt: skip
    for r in session.execute(inputs):
        yield (r.cycle_id, r.key, r.input, r.unit_key), r.state, r.version, r.deadline


def _compare_row(key: tuple, state: str, version: int, deadline: dt.date, replay: _Replay) -> None:
    expected = replay.states[key][2] if key in replay.states else _initial_state(key, None)
    if state != expected:
        raise _Broken(None, f"{row_name(key)} is '{state}' but the log explains '{expected}'")
    changes = replay.changes.get(key, 0)
    if version != 1 + changes:
        raise _Broken(None, f"{row_name(key)} has version {version}, but the log's {changes} change(s) to it "
                            f"explain version {1 + changes}")  # fmt: skip
    last = replay.deadlines[key][2] if key in replay.deadlines else None
    if last is not None and deadline.isoformat() != last:
        raise _Broken(None, f"{row_name(key)} is due {deadline.isoformat()} but the log last set {last}")


def _compare_fingerprint(cycle_id: str, instances: list[tuple], replay: _Replay) -> None:
    start = replay.starts[cycle_id]
    if fingerprint(instances) != start[1]:  # the rows changed, not entry start[0]: its hash still holds
        raise _Broken(
            None,
            f"the stages, inputs or first deadlines of cycle {cycle_id} are not those its cycle_start entry "
            f"(#{start[0]}) recorded",
        )
