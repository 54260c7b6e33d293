"""Guarded, persisted transitions per second vs bare single-row INSERT+COMMIT.

Both run on the same database file through engines from `cycle.database.make_engine`
(same pragmas: WAL, synchronous=FULL, busy timeout), one transaction per operation.
Rounds alternate between the two so that a noisy neighbour slows both alike.

A transition is a use case of `cycle.actions`: `input submit` by the unit's contributor,
then `input approve` by an approver of ks (four-eyes: another person); each reads the
person and their grants, the stage and the input, runs the guards (role, stage open,
the latest submit for four-eyes), bumps the version with a check, appends the
hash-chained log entry under the chain-head lock and commits.
"""

from __future__ import annotations

import time

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from bench.common import Databases, Timing, linear_wheel, loaded, unit_key
from cycle import actions
from cycle.cycles import start_cycle

_META = MetaData()
BENCH_ROW = Table("bench_row", _META, Column("id", Integer, primary_key=True), Column("payload", String(200)))


def run(dbs: Databases, rounds: int, per_round: int) -> dict:
    units = rounds * per_round // 2 + 1
    db = loaded(dbs.fresh("transitions"), units)
    cid = start_cycle(db, "admin", linear_wheel(1, 1, units, "tput"), 2027).cycle
    actions.open_stage(db, "owner", cid, "s00")
    _META.create_all(db.engine)
    core = db.engine  # the same engine, the same file and pragmas
    moves = iter(_moves(cid, units))
    trans, commits = Timing(), Timing()
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            action, args = next(moves)
            action(db, *args)
        trans.runs.append(per_round / (time.perf_counter() - start))
        start = time.perf_counter()
        for n in range(per_round):
            with core.begin() as conn:
                conn.execute(insert(BENCH_ROW), {"payload": f"row {n} " + "x" * 56})
        commits.runs.append(per_round / (time.perf_counter() - start))
    return {
        "transition_per_s": round(trans.median, 1),
        "core_commit_per_s": round(commits.median, 1),
        "transition_vs_core_commit": round(trans.median / commits.median, 3),
        "_spread": {"transition_per_s": trans.spread(unit="/s"), "core_commit_per_s": commits.spread(unit="/s")},
    }


def _moves(cid: str, units: int):
    for n in range(units):
        unit = unit_key(n)
        yield actions.submit_input, (f"c{n:03d}", cid, "s00", "in00", unit)
        yield actions.approve_input, ("anna", cid, "s00", "in00", unit)
