"""What a verifier built for speed would cost: the stored-bytes design, measured in parts.

    python bench/verify_design.py [--entries N] [--repeat K]

`audit verify` misses its goal (half of hashlib's speed over the same bytes); see
docs/performance.md. This measures, on this machine and in one run, the parts of the
fastest design we know short of a C extension: each entry's canonical bytes stored in
a column, the other columns generated from them by SQLite (so they cannot disagree),
and every check that can be SQL done in SQLite's C, off Python's interpreter lock:
- `bytes`: read the stored bytes and hashes in order, 20,000 entries a query
  (`group_concat`, so Python gets one string per chunk, not a row per entry);
- `hash`: SHA-256 of each entry and the comparison with the stored hashes, in Python;
- `links`: each entry's previous hash against the hash of the entry before it (SQL join);
- `replay`: each row's states in order, one path string per row (`group_concat` over a
  covering index), checked for continuity in Python;
- `hashlib`: the goal's baseline, hashing the same bytes held in memory;
- `sqlhash`: `bytes` and `hash` in one pass instead: SQLite reads the stored bytes and
  calls hashlib once an entry (`create_function`), and compares the digests itself;
- `sqlcanon`: the content check on today's schema, no stored bytes: SQLite builds each
  entry's canonical bytes from its columns (`json_array`) and calls hashlib for each.
It prints each part's CPU time and the best ratio two cores could give if the parts
ran perfectly in parallel: hashlib / (sum of the parts / 2). Then it runs them together
(`together`: wall time): a forked process reads and hashes the second half of the log
while this one hashes the first, and two threads run the link and replay queries, whose
SQLite work does not hold the interpreter lock; and `together_sqlhash` (wall): `sqlhash`
in this thread while the same two threads run the link and replay queries. The goal is
0.5. Last (`hashlib_x2`, wall), the baseline run in two processes at once, for what a
second core is worth here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import auditlog  # noqa: E402
from bench.common import Databases, Timing  # noqa: E402
from cycle import log  # noqa: E402
from cycle.segment import at_text  # noqa: E402

CHUNK = 20_000
STATE_EVENTS = "event IN ('open', 'submit', 'approve', 'return', 'close')"
# In a row's path "from>to|from>to|…", a change that does not start where the one before it ended.
BROKEN_PATH = re.compile(r">([^|\n]*)\|(?!\1>)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="arshjul-verify-design-") as folder:
        db, _years = auditlog.build(Databases(Path(folder)), args.entries)
        path = db.engine.url.database
        db.dispose()
        blobs = _stored_copy(path)
        parts = _measure(path, blobs, args.repeat)
    _report(parts, len(blobs))
    return 0


def _stored_copy(path: str) -> list[bytes]:
    """The log again as `stored_log`: canonical bytes, hash, and columns generated from the bytes."""
    names = [name for name in log.LOG_FIELDS if name != "seq"]
    generated = ", ".join(
        f"{name} TEXT GENERATED ALWAYS AS (json_extract(body, '$[{log.LOG_FIELDS.index(name)}]')) STORED"
        for name in names
    )
    fields = ", ".join(f'"{name}"' for name in (*log.LOG_FIELDS, "hash"))
    with sqlite3.connect(path) as conn:
        rows = []
        for row in conn.execute(f"SELECT {fields} FROM transition_log ORDER BY seq"):
            values = list(row[:14])
            values[1] = at_text(values[1])
            rows.append((row[0], log.canonical(values).decode(), row[14]))
        conn.execute(f"CREATE TABLE stored_log (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL, "
                     f"{generated})")  # fmt: skip
        conn.executemany("INSERT INTO stored_log (seq, body, hash) VALUES (?, ?, ?)", rows)
        conn.execute("CREATE INDEX stored_subject ON stored_log (cycle, stage, input, unit, seq, event, "
                     "from_state, to_state)")  # fmt: skip
    return [body.encode() for _seq, body, _hash in rows]


def _measure(path: str, blobs: list[bytes], repeat: int) -> dict[str, Timing]:
    names = ("hashlib", "bytes", "hash", "sqlhash", "sqlcanon", "links", "replay", "together", "together_sqlhash",
             "hashlib_x2")  # fmt: skip
    parts = {name: Timing() for name in names}
    conn = sqlite3.connect(path)
    last = len(blobs)
    for _ in range(repeat):
        start = time.perf_counter()
        _together(path, last)
        parts["together"].runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        _together_sqlhash(path)
        parts["together_sqlhash"].runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        _hashlib_twice(blobs)
        parts["hashlib_x2"].runs.append(time.perf_counter() - start)
        parts["hashlib"].runs.append(_cpu(lambda: _hashlib(blobs)))
        chunks: list = []
        parts["bytes"].runs.append(_cpu(lambda chunks=chunks: chunks.extend(_chunks(conn, last))))
        parts["hash"].runs.append(_cpu(lambda chunks=chunks: _hash_chunks(chunks)))
        parts["sqlhash"].runs.append(_cpu(lambda: _sqlhash(conn)))
        parts["sqlcanon"].runs.append(_cpu(lambda: _sqlcanon(conn)))
        parts["links"].runs.append(_cpu(lambda: _links(conn)))
        parts["replay"].runs.append(_cpu(lambda: _replay(conn)))
    conn.close()
    return parts


def _hashlib(blobs: list[bytes]) -> None:
    """The goal's baseline, as `bench/auditlog.py` measures it."""
    sha256 = hashlib.sha256
    for blob in blobs:
        sha256(blob).hexdigest()


def _hashlib_twice(blobs: list[bytes]) -> None:
    """The baseline in two processes at once: how much a second core adds on this machine."""
    child = os.fork()
    if child == 0:
        _hashlib(blobs)
        os._exit(0)
    _hashlib(blobs)
    assert os.waitpid(child, 0)[1] == 0


def _together(path: str, last: int) -> None:
    """All the parts at once, on every core: the wall time a verifier of this design would take."""
    half = last // 2
    child = os.fork()  # before any thread, so that the child inherits no lock a thread holds
    if child == 0:
        with sqlite3.connect(path) as conn:
            _hash_chunks(_chunks(conn, last, half + 1))
        os._exit(0)
    threads = [threading.Thread(target=lambda query=query: query(sqlite3.connect(path))) for query in (_links, _replay)]
    for thread in threads:
        thread.start()
    with sqlite3.connect(path) as conn:
        for chunk in _chunks(conn, half):
            _hash_chunks([chunk])
    for thread in threads:
        thread.join()
    assert os.waitpid(child, 0)[1] == 0


def _together_sqlhash(path: str) -> None:
    """`sqlhash` here while threads run the link and replay queries."""
    threads = [threading.Thread(target=lambda query=query: query(sqlite3.connect(path))) for query in (_links, _replay)]
    for thread in threads:
        thread.start()
    with sqlite3.connect(path) as conn:
        _sqlhash(conn)
    for thread in threads:
        thread.join()


def _with_sha256(conn: sqlite3.Connection) -> sqlite3.Connection:
    sha256 = hashlib.sha256
    conn.create_function("sha256_hex", 1, lambda body: sha256(body).hexdigest(), deterministic=True)
    return conn


def _sqlhash(conn: sqlite3.Connection) -> None:
    sql = "SELECT count(*) FROM stored_log WHERE sha256_hex(CAST(body AS BLOB)) != hash"
    assert _with_sha256(conn).execute(sql).fetchone()[0] == 0


def _sqlcanon(conn: sqlite3.Connection) -> None:
    """The canonical bytes built by SQLite from today's columns: `at` respelled, every value as JSON.

    SQLAlchemy stores a whole second without its fraction: `YYYY-MM-DD HH:MM:SS`.
    """
    at = "substr(at, 1, 10) || 'T' || substr(at, 12, 8) || '.' || substr(substr(at, 21) || '000000', 1, 6) || 'Z'"
    fields = ", ".join(at if name == "at" else f'"{name}"' for name in log.LOG_FIELDS)
    sql = f"SELECT count(*) FROM transition_log WHERE sha256_hex(CAST(json_array({fields}) AS BLOB)) != hash"
    assert _with_sha256(conn).execute(sql).fetchone()[0] == 0


def _cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def _chunks(conn: sqlite3.Connection, last: int, first: int = 1):
    sql = ("SELECT group_concat(body, char(10)), group_concat(hash, '') "
           "FROM (SELECT body, hash FROM stored_log WHERE seq BETWEEN ? AND ? ORDER BY seq)")  # fmt: skip
    for lo in range(first, last + 1, CHUNK):
        yield conn.execute(sql, (lo, min(lo + CHUNK - 1, last))).fetchone()


def _hash_chunks(chunks: list[tuple]) -> None:
    sha256 = hashlib.sha256
    for bodies, hashes in chunks:
        digests = "".join([sha256(body).hexdigest() for body in bodies.encode().split(b"\n")])
        assert digests == hashes


def _links(conn: sqlite3.Connection) -> None:
    sql = "SELECT count(*) FROM stored_log a JOIN stored_log b ON b.seq = a.seq + 1 WHERE b.prev_hash != a.hash"
    assert conn.execute(sql).fetchone()[0] == 0


def _replay(conn: sqlite3.Connection) -> None:
    """One row in all: each row of the result would take the interpreter lock back from the hashing."""
    paths = (f"SELECT group_concat(from_state || '>' || to_state, '|') AS path FROM stored_log "
             f"INDEXED BY stored_subject WHERE {STATE_EVENTS} GROUP BY cycle, stage, input, unit")  # fmt: skip
    (joined,) = conn.execute(f"SELECT group_concat(path, char(10)) FROM ({paths})").fetchone()
    assert not BROKEN_PATH.search(joined)


def _report(parts: dict[str, Timing], entries: int) -> None:
    baseline = parts["hashlib"].median
    total = sum(parts[name].median for name in ("bytes", "hash", "links", "replay"))
    print(f"{entries:,} entries; seconds (CPU; wall for together), median (min-max) of {len(parts['hashlib'].runs)}:")
    for name, timing in parts.items():
        print(f"  {name:8} {timing.median:.3f} ({min(timing.runs):.3f}-{max(timing.runs):.3f})")
    print(f"  the parts' CPU {total:.3f}: at best, on two cores, {baseline / (total / 2):.2f} of hashlib (goal 0.5)")
    print(f"  together, measured: {baseline / parts['together'].median:.2f} of hashlib")
    scaling = 2 * baseline / parts["hashlib_x2"].median
    print(f"  (two processes hashing at once do the work of {scaling:.2f} processes here)")


if __name__ == "__main__":
    sys.exit(main())
