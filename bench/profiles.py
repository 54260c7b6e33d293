"""Profiles of the benchmarks' workloads, for docs/performance.md: what dominates each figure.

    python bench/profiles.py transition|spiff|start|plan|verify [--top N]

Builds the same data as `bench/run.py --quick` on a temporary SQLite file, then runs
the measured operation under cProfile and prints the functions with the most time of
their own and the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import auditlog, peers, scale  # noqa: E402
from bench.common import NOW, Databases, linear_wheel, loaded, unit_key  # noqa: E402
from cycle import actions  # noqa: E402
from cycle.audit import verify  # noqa: E402
from cycle.cycles import start_cycle  # noqa: E402
from notifications.service import plan_reminders  # noqa: E402


def transition(dbs: Databases):
    db = loaded(dbs.fresh("profile"), 600)
    cid = start_cycle(db, "admin", linear_wheel(1, 1, 600, "tput"), 2027).cycle
    actions.open_stage(db, "owner", cid, "s00")

    def run():
        for n in range(600):
            actions.submit_input(db, f"c{n:03d}", cid, "s00", "in00", unit_key(n))
            actions.approve_input(db, "anna", cid, "s00", "in00", unit_key(n))

    return run


def spiff(dbs: Databases):
    return lambda: peers.run(dbs, 20)


def start(dbs: Databases):
    db = loaded(dbs.fresh("profile"), scale.UNITS)
    wheel = linear_wheel(4, 5, scale.UNITS, "start")
    return lambda: [start_cycle(db, "admin", wheel, year) for year in range(2027, 2032)]


def plan(dbs: Databases):
    db = loaded(dbs.fresh("plan"), scale.UNITS)
    scale._add_inputs(db, scale._open_stages(db, 10), 0, 300_000)
    return lambda: [plan_reminders(db, "admin", NOW) for _ in range(5)]


def verify_log(dbs: Databases):
    db, _years = auditlog.build(dbs, 200_000)
    return lambda: verify(db, "admin")


WORKLOADS = {"transition": transition, "spiff": spiff, "start": start, "plan": plan, "verify": verify_log}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arshjul-profile-") as folder:
        dbs = Databases(Path(folder))
        run = WORKLOADS[args.workload](dbs)
        profiler = cProfile.Profile()
        profiler.runcall(run)
        dbs.close()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
