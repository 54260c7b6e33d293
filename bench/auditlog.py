"""A log of a million entries: the auditors' queries, and `audit verify`.

The log is real: cycles are started through `cycle.cycles.start_cycle` (one a year,
20 units × 10 stages × 10 inputs), and their histories are generated as chained
entries (`cycle.log.entry_hash`) and bulk-inserted: every stage opened, each input
submitted and returned five times, then submitted and approved, every stage submitted,
approved and closed. The stage and input rows are then set to the states and versions
that history explains, so `audit verify` passes on it, as it would on a real database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import time

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, select, update

from bench.common import Databases, Timing, linear_wheel, loaded, unit_key
from cycle import log
from cycle.audit import verify
from cycle.clock import FixedClock
from cycle.cycles import start_cycle
from cycle.database import Database
from cycle.models import InputItem, LogHead, Stage

UNITS, STAGES, INPUTS, ROUNDS = 20, 10, 10, 5
PER_CYCLE = 1 + STAGES * (4 + INPUTS * UNITS * (2 * ROUNDS + 2))
FIRST_YEAR = 1990
CHUNK = 50_000


def build(dbs: Databases, entries: int):
    """A database whose log holds about `entries` entries; returns it with the years it spans."""
    db = loaded(dbs.fresh("log"), UNITS)
    wheel = linear_wheel(STAGES, INPUTS, UNITS, "ange", chained=False)
    years = list(range(FIRST_YEAR, FIRST_YEAR + max(1, round(entries / PER_CYCLE))))
    for year in years:
        db.clock = FixedClock(dt.datetime(year - 1, 9, 1, 7, tzinfo=dt.UTC))
        cid = start_cycle(db, "admin", wheel, year).cycle
        _append_history(db, cid, year)
    return db, years


def _append_history(db, cid: str, year: int) -> None:
    with db.write() as session:
        seq, prev = log.head(session)
        events = list(_history(cid))
        start = dt.datetime(year - 1, 9, 1, 8)
        step = dt.timedelta(days=300) / len(events)
        sqlite = db.engine.dialect.name == "sqlite"
        rows = []
        for n, (actor, stage, item, unit, event, before, after) in enumerate(events, start=seq + 1):
            at = start + step * (n - seq)
            values = [n, log.format_at(at), actor, cid, stage, item, unit, event, before, after, None, None, None, prev]
            prev = log.entry_hash(values)
            values[1] = at.isoformat(" ", "microseconds") if sqlite else at  # as SQLAlchemy stores it
            values.append(prev)
            rows.append(values)
        _bulk_insert(session, rows)
        session.execute(update(LogHead).where(LogHead.id == 1).values(seq=seq + len(rows), hash=prev))
        stage_ids = select(Stage.id).where(Stage.cycle_id == cid).scalar_subquery()
        session.execute(update(Stage).where(Stage.cycle_id == cid).values(state="closed", version=5))
        session.execute(update(InputItem).where(InputItem.stage_id.in_(stage_ids))
                        .values(state="approved", version=2 * ROUNDS + 3))  # fmt: skip


def _bulk_insert(session, rows: list[list]) -> None:
    """executemany on the DB-API cursor of the session's connection: no per-row Python work."""
    dbapi = session.connection().connection.driver_connection
    mark = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"
    columns = ", ".join(f'"{name}"' for name in (*log.LOG_FIELDS, "hash"))
    sql = f"INSERT INTO transition_log ({columns}) VALUES ({', '.join([mark] * 15)})"
    cursor = dbapi.cursor()
    sqlite = mark == "?"
    if sqlite:  # the random-order UNIQUE index on hash wants its pages cached while it grows
        cursor.execute("PRAGMA cache_size = -262144")
    for first in range(0, len(rows), CHUNK):
        cursor.executemany(sql, rows[first : first + CHUNK])
    if sqlite:
        cursor.execute("PRAGMA cache_size = -2000")  # SQLite's default again, for the measurements
    cursor.close()


def _history(cid: str):
    """(actor, stage, input, unit, event, from, to) of a whole year, in order."""
    for s in range(STAGES):
        stage = f"s{s:02d}"
        yield "owner", stage, None, None, "open", "pending", "open"
        for r in range(ROUNDS + 1):
            for i in range(INPUTS):
                for u in range(UNITS):
                    before = "returned" if r else "missing"
                    yield f"c{u:03d}", stage, f"in{i:02d}", unit_key(u), "submit", before, "submitted"
            last = r == ROUNDS
            for i in range(INPUTS):
                for u in range(UNITS):
                    judge = "anna" if u % 2 else "per"
                    event, after = ("approve", "approved") if last else ("return", "returned")
                    yield judge, stage, f"in{i:02d}", unit_key(u), event, "submitted", after
        yield "owner", stage, None, None, "submit", "open", "submitted"
        yield "anna", stage, None, None, "approve", "submitted", "approved"
        yield "owner", stage, None, None, "close", "approved", "closed"


# --- the measurements --------------------------------------------------------------


def run(dbs: Databases, entries: int, queries: int, verifies: int) -> dict:
    began = time.perf_counter()
    db, years = build(dbs, entries)
    built = time.perf_counter() - began
    with db.read() as session:
        count = log.head(session)[0]
    ours, raw = Timing(), Timing()
    cases = _cases(years)
    for _ in range(queries):
        ours.runs.append(_timed(lambda: _through_cycle(db, cases)))
        raw.runs.append(_timed(lambda: _by_hand(db, cases)))
    verified, hashed, size = _verify(db, verifies)
    floors = _floors(db, verifies)
    return {
        "log_entries": count,
        "log_build_s": round(built, 1),
        "log_query_ms": round(ours.median * 1000, 2),
        "_log_query_raw_ms": round(raw.median * 1000, 2),
        "log_query_vs_raw": round(ours.median / raw.median, 2),
        "verify_mb_per_s": round(size / verified.median / 1e6, 2),
        "_verify_s": round(verified.median, 2),
        "_hashlib_mb_per_s": round(size / hashed.median / 1e6, 1),
        "verify_vs_hashlib": round(hashed.median / verified.median, 3),
        "verify_floor_columns_vs_hashlib": round(hashed.median / floors["columns"].median, 3),
        "verify_floor_bytes_vs_hashlib": round(hashed.median / floors["stored"].median, 3),
        "verify_floor_bytes_2proc_vs_hashlib": round(hashed.median / floors["stored_2"].median, 3),
        "_spread": {
            "log_query_ms": ours.spread(1000, " ms"), "_log_query_raw_ms": raw.spread(1000, " ms"),
            "verify_mb_per_s": verified.spread(unit=" s (verify)"), "_hashlib_mb_per_s": hashed.spread(unit=" s"),
            "verify_floor_columns_vs_hashlib": floors["columns"].spread(unit=" s"),
            "verify_floor_bytes_vs_hashlib": floors["stored"].spread(unit=" s"),
            "verify_floor_bytes_2proc_vs_hashlib": floors["stored_2"].spread(unit=" s"),
        },
    }  # fmt: skip


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cases(years: list[int]) -> dict:
    """An actor's month, the newest 50 of a cycle, a year's counts by event: mid-history."""
    year = years[len(years) // 2]
    return {
        "actor": ("c007", dt.date(year - 1, 11, 1), dt.date(year - 1, 11, 30)),
        "cycle": (f"ange-{year}", 50),
        "year": (dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31)),
    }


def _through_cycle(db, cases: dict) -> list:
    actor, since, until = cases["actor"]
    cycle, limit = cases["cycle"]
    with db.read() as session:
        found = [
            log.query(session, log.LogFilter(actor=actor, since=since, until=until)),
            log.query(session, log.LogFilter(cycle=cycle, limit=limit)),
            log.count_by_event(session, *cases["year"]),
        ]
    assert 50 <= len(found[0]) <= 200 and len(found[1]) == limit and found[2], [len(f) for f in found]
    return found


def _by_hand(db, cases: dict) -> list:
    """The same three queries as SQL text on the DB-API connection, rows as the driver gives them."""
    sqlite = db.engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    columns = ", ".join(f'"{name}"' for name in (*log.LOG_FIELDS, "hash"))
    actor, since, until = cases["actor"]
    cycle, limit = cases["cycle"]
    first, last = cases["year"]

    def moment(day: dt.date) -> object:
        at = dt.datetime.combine(day, dt.time())
        return at.isoformat(" ", "microseconds") if sqlite else at

    with db.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute(f"SELECT {columns} FROM transition_log WHERE actor = {mark} AND at >= {mark} AND at < {mark} "
                       "ORDER BY seq", (actor, moment(since), moment(until + dt.timedelta(days=1))))  # fmt: skip
        found = [cursor.fetchall()]
        cursor.execute(f"SELECT {columns} FROM transition_log WHERE cycle = {mark} ORDER BY seq DESC LIMIT {mark}",
                       (cycle, limit))  # fmt: skip
        found.append(cursor.fetchall()[::-1])
        year = (moment(first), moment(last + dt.timedelta(days=1)))
        cursor.execute(f"SELECT event, count(*) FROM transition_log WHERE at >= {mark} AND at < {mark} "
                       "GROUP BY event ORDER BY event", year)  # fmt: skip
        found.append(dict(cursor.fetchall()))
        cursor.close()
    return found


def _verify(db, repeat: int) -> tuple[Timing, Timing, int]:
    """`audit verify` through the use case, and SHA-256 of each entry's canonical bytes, precomputed."""
    verified = Timing()
    for _ in range(repeat):
        start = time.perf_counter()
        verdict = verify(db, "admin")
        verified.runs.append(time.perf_counter() - start)
        assert verdict.ok, verdict
    with db.read() as session:
        blobs = [log.canonical(log.row_values(row)) for row in session.execute(select(*log.LOG_COLUMNS))]
    sha256, hashed = hashlib.sha256, Timing()
    for _ in range(repeat):
        start = time.perf_counter()
        for blob in blobs:
            sha256(blob).hexdigest()
        hashed.runs.append(time.perf_counter() - start)
    return verified, hashed, sum(map(len, blobs))


def _floors(db, repeat: int) -> dict[str, Timing]:
    """What any verifier in one Python process must at least spend, on this database.

    `columns`: read every entry's stored fields in order through the DB-API cursor, as
    `audit verify` does, and hash bytes already canonical (no canonical JSON, no replay).
    `stored`: the same if each entry's canonical bytes were stored in one column of their
    own (a copy is made for this), read back in order and hashed: the least reading there can be.
    `stored_2`: that, split between two worker processes (started inside the timing), each
    reading and hashing half of the entries: what parallel verification could reach at best.
    """
    columns, stored, stored_2 = Timing(), Timing(), Timing()
    columns_sql = f"SELECT {', '.join(f'{chr(34)}{n}{chr(34)}' for n in (*log.LOG_FIELDS, 'hash'))} FROM transition_log"
    with db.read() as session:
        blobs = [log.canonical(log.row_values(row)) for row in session.execute(select(*log.LOG_COLUMNS))]
    bytes_table = Table("bench_canonical", MetaData(), Column("seq", Integer, primary_key=True),
                        Column("body", LargeBinary), Column("hash", String(64)))  # fmt: skip
    bytes_table.create(db.engine)
    with db.engine.begin() as conn:
        conn.execute(bytes_table.insert(), [{"seq": n, "body": b, "hash": ""} for n, b in enumerate(blobs, 1)])
    sha256 = hashlib.sha256
    for _ in range(repeat):
        columns.runs.append(_timed(lambda: _read_and_hash(db, f"{columns_sql} ORDER BY seq", blobs, sha256)))
        stored.runs.append(_timed(lambda: _read_and_hash(db, "SELECT body, hash FROM bench_canonical ORDER BY seq",
                                                         None, sha256)))  # fmt: skip
        stored_2.runs.append(_timed(lambda: _read_and_hash_in_two(db, len(blobs))))
    bytes_table.drop(db.engine)
    return {"columns": columns, "stored": stored, "stored_2": stored_2}


def _read_and_hash_in_two(db, count: int) -> None:
    url = db.engine.url.render_as_string(hide_password=False)
    halves = [(url, 1, count // 2 + 1), (url, count // 2 + 1, count + 1)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert sum(pool.map(_read_and_hash_range, halves)) == count


def _read_and_hash_range(task: tuple[str, int, int]) -> int:
    url, first, end = task
    db = Database(url)
    mark = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT body, hash FROM bench_canonical WHERE seq >= {mark} AND seq < {mark} ORDER BY seq"
    try:
        return _read_and_hash(db, sql, None, hashlib.sha256, (first, end))
    finally:
        db.dispose()


def _read_and_hash(db, sql: str, blobs: list[bytes] | None, sha256, params: tuple = ()) -> int:
    """Read the rows of `sql` in order; hash each row's first column, or the entry's precomputed `blobs`."""
    with db.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute(sql, params)
        n = 0
        while rows := cursor.fetchmany(5000):
            for row in rows:
                sha256(bytes(row[0]) if blobs is None else blobs[n]).hexdigest()
                n += 1
        cursor.close()
    return n
