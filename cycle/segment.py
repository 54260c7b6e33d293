"""A stretch of the transition log, checked on its own.

`audit verify` cuts a large log into consecutive stretches of sequence numbers and
checks each in a process of its own, so that verification uses every core. A walk
recomputes each entry's hash and replays the entries in order. What it cannot know,
the state a row was in before the stretch began, it records as the first state it met
there; `cycle.audit` holds that against the stretches before it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Connection

from cycle import log
from cycle.database import Database
from cycle.lookups import row_name

STATE_EVENTS = frozenset({"open", "submit", "approve", "return", "close"})
BATCH = 5000

# The checks of one entry, in the order they run: where two fail at the same
# sequence number, the earlier check's finding is the one reported.
GAP, LINK, CONTENT, REPLAY, CHECKPOINT = range(5)


@dataclass(frozen=True, order=True)
class Finding:
    """Why the log fails verification, and at which entry."""

    seq: int | None
    check: int
    reason: str = field(compare=False)


@dataclass
class Segment:
    """What one stretch of the log says, for joining it to the stretches around it.

    `states` and `deadlines` map a row's key (cycle, stage, input, unit) to
    [what the row was before its first change here, that change's seq, what the row was after its last].
    """

    first_seq: int | None = None
    first_prev_hash: str | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    finding: Finding | None = None
    states: dict = field(default_factory=dict)
    deadlines: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)
    starts: dict = field(default_factory=dict)  # cycle -> (seq, fingerprint)


class WorkerFailed(RuntimeError):
    """A process checking a stretch of the log ended without an answer."""


def walk(connection: Connection, first: int, last: int, checkpoint: dict | None = None) -> Segment:
    """Check the entries with `first <= seq <= last` in order; stop at the first finding."""
    return _walk(_rows(connection, first, last), checkpoint)


def walk_apart(url: str, stretches: list[tuple[int, int]], checkpoint: dict | None) -> list[Segment]:
    """Each stretch walked at once in a Python process of its own, reading through its own connection.

    The workers are fresh interpreters (`python -m cycle.segment`), not forks: a forked
    child would inherit SQLite's record of this process's locks on the very file it reads,
    and multiprocessing's spawn would run the caller's main script again in every worker.
    The task, URL and password included, goes through a pipe, never the command line.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}

    def run(stretch: tuple[int, int]) -> Segment:
        task = pickle.dumps((url, *stretch, checkpoint))
        # -P: the worker imports this arshjul, never a `cycle` folder in the current directory.
        try:
            done = subprocess.run([sys.executable, "-P", "-m", "cycle.segment"], input=task, capture_output=True,
                                  env=env)  # fmt: skip
        except OSError as err:
            raise WorkerFailed(f"the worker checking entries {stretch[0]}-{stretch[1]} did not start: {err}") from err
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
            raise WorkerFailed(f"the worker checking entries {stretch[0]}-{stretch[1]} failed: {said[-1]}")
        return pickle.loads(done.stdout)  # noqa: S301 - our own child's answer

    with ThreadPoolExecutor(len(stretches)) as threads:
        return list(threads.map(run, stretches))


def _work() -> None:
    """A worker: read the task from stdin, walk the stretch, answer on stdout."""
    url, first, last, checkpoint = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our parent
    db = Database(url)
    try:
        with db.read() as session:
            found = walk(session.connection(), first, last, checkpoint)
    finally:
        db.dispose()
    sys.stdout.buffer.write(pickle.dumps(found))


def _walk(rows: Iterator[tuple], checkpoint: dict | None) -> Segment:
    """The hot loop of `audit verify`, kept free of per-entry overhead."""
    segment = Segment()
    states, deadlines, changes = segment.states, segment.deadlines, segment.changes
    sha256, canonical = hashlib.sha256, log.canonical
    stop, stop_hash = (checkpoint["entries"], checkpoint["head_hash"]) if checkpoint else (None, None)
    prev = expected = None
    for row in rows:  # LOG_FIELDS, then hash
        seq, prev_hash, digest = row[0], row[13], row[14]
        if expected is None:
            segment.first_seq, segment.first_prev_hash = seq, prev_hash
        elif seq != expected:
            segment.finding = Finding(expected, GAP, f"entry {expected} is missing (the next one is {seq})")
            return segment
        elif prev_hash != prev:
            segment.finding = Finding(seq, LINK, "its previous hash does not match the entry before it")
            return segment
        values = list(row[:14])
        values[1] = at_text(values[1])
        if sha256(canonical(values)).hexdigest() != digest:
            segment.finding = Finding(seq, CONTENT, "its content does not match its hash (the entry was altered)")
            return segment
        event, key = row[7], row[3:7]
        if event in STATE_EVENTS:
            segment.finding = _follow(states, key, seq, row[8], row[9], state_moved)
        elif event == "deadline":
            segment.finding = _follow(deadlines, key, seq, row[8], row[9], deadline_moved)
        else:
            if event == "cycle_start":
                segment.starts[key[0]] = (seq, json.loads(row[12] or "{}").get("fingerprint"))
            key = None  # changes no stage or input row
        if segment.finding:
            return segment
        if key is not None:
            changes[key] = changes.get(key, 0) + 1
        if seq == stop and digest != stop_hash:
            reason = "the log no longer extends the checkpoint: its entry here has another hash"
            segment.finding = Finding(seq, CHECKPOINT, reason)
            return segment
        prev, expected = digest, seq + 1
        segment.last_seq, segment.last_hash = seq, digest
    return segment


def _follow(spans: dict, key: tuple, seq: int, before, after, moved) -> Finding | None:
    span = spans.get(key)
    if span is None:
        spans[key] = [before, seq, after]
        return None
    if span[2] != before:
        return Finding(seq, REPLAY, moved(key, before, span[2]))
    span[2] = after
    return None


def state_moved(key: tuple, before, was) -> str:
    return f"it moves {row_name(key)} from '{before}' but the log left it '{was}' (an entry before it is missing)"


def deadline_moved(key: tuple, _before, _was) -> str:
    return f"it moves the deadline of {row_name(key)} from a date the log never gave it"


def follows(spans: dict, later: dict, initial, moved) -> Finding | None:
    """Carry a later segment's spans onto `spans`; the first change that does not follow is the finding."""
    found = None
    for key, (before, seq, after) in later.items():
        was = spans[key][2] if key in spans else initial(key, before)
        if was != before and (found is None or seq < found.seq):
            found = Finding(seq, REPLAY, moved(key, before, was))
        if key in spans:
            spans[key][2] = after
        else:
            spans[key] = [before, seq, after]
    return found


def _rows(connection: Connection, first: int, last: int) -> Iterator[tuple]:
    """The entries as plain tuples (LOG_FIELDS, hash), oldest first, streamed in batches.

    Straight from the DB-API cursor: SQLAlchemy's result rows and type conversions
    would cost more than hashing the entry does. On PostgreSQL the cursor is a
    server-side one, so a million entries are never all in memory.
    """
    columns = ", ".join(f'"{name}"' for name in (*log.LOG_FIELDS, "hash"))
    driver = connection.connection.driver_connection
    postgresql = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name="arshjul_verify") if postgresql else driver.cursor()
    mark = "%s" if postgresql else "?"
    try:
        cursor.execute(f"SELECT {columns} FROM transition_log WHERE seq BETWEEN {mark} AND {mark} ORDER BY seq",
                       (first, last))  # fmt: skip
        while rows := cursor.fetchmany(BATCH):
            yield from rows
    finally:
        cursor.close()


def at_text(at) -> str:
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


if __name__ == "__main__":  # the answer must name `cycle.segment.Segment`, not `__main__.Segment`
    from cycle.segment import _work as work

    work()
