"""arshjul's benchmarks: each figure beside its baseline, measured in the same run.

    python bench/run.py [--quick] [--json] [--only NAME ...]

`--quick` takes about a minute with smaller sizes (said in the output: "quick": true,
and "sizes"); `--json` prints one JSON object as the last line. The figures run on a
temporary SQLite file, and again on PostgreSQL when ARSHJUL_BENCH_PG_URL names a server
(a database is created there for each benchmark and dropped afterwards).
See docs/performance.md for what the figures mean and what dominates them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench import auditlog, goals, peers, scale, startup, throughput  # noqa: E402
from bench.common import Databases  # noqa: E402

FULL = {"rounds": 7, "per_round": 300, "peers": 9, "starts": 5, "plan": (10_000, 100_000, 300_000),
        "plan_repeat": 5, "log": 1_000_000, "queries": 9, "verify": 3, "startup": 11}  # fmt: skip
QUICK = {"rounds": 5, "per_round": 100, "peers": 5, "starts": 3, "plan": (10_000, 100_000, 300_000),
         "plan_repeat": 3, "log": 100_000, "queries": 5, "verify": 2, "startup": 7}  # fmt: skip
PARTS = ("throughput", "peers", "start", "plan", "log", "startup")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = QUICK if args.quick else FULL
    parts = args.only or PARTS
    began = time.perf_counter()
    result: dict = {"quick": args.quick, "sizes": {**sizes, "plan": list(sizes["plan"])}}
    with tempfile.TemporaryDirectory(prefix="arshjul-bench-") as folder:
        result.update(measure(Path(folder) / "sqlite", None, sizes, parts))
        pg_url = os.environ.get("ARSHJUL_BENCH_PG_URL")
        if pg_url:
            result["postgresql"] = measure(Path(folder) / "pg", pg_url, sizes, [p for p in parts if p != "startup"])
    result["goals"] = goals.judge(result)
    if "postgresql" in result:
        result["postgresql"]["goals"] = goals.judge(result["postgresql"])
    result["seconds"] = round(time.perf_counter() - began, 1)
    report(result)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    return 0


def measure(folder: Path, pg_url: str | None, sizes: dict, parts) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    dbs = Databases(folder, pg_url)
    out: dict = {"backend": dbs.backend, "_spread": {}}
    steps = {
        "throughput": lambda: throughput.run(dbs, sizes["rounds"], sizes["per_round"]),
        "peers": lambda: peers.run(dbs, sizes["peers"]),
        "start": lambda: scale.cycle_start(dbs, sizes["starts"]),
        "plan": lambda: scale.plan(dbs, sizes["plan"], sizes["plan_repeat"]),
        "log": lambda: auditlog.run(dbs, sizes["log"], sizes["queries"], sizes["verify"]),
        "startup": lambda: startup.run(folder, sizes["startup"]),
    }
    try:
        for name in parts:
            began = time.perf_counter()
            if name == "peers" and not peers.available():
                print("[peers] skipped: SpiffWorkflow is not installed (pip install -r bench/requirements.txt)",
                      file=sys.stderr)  # fmt: skip
                continue
            figures = steps[name]()
            out["_spread"].update(figures.pop("_spread", {}))
            out.update(figures)
            print(f"[{dbs.backend}] {name}: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    finally:
        dbs.close()
    return out


def report(result: dict) -> None:
    """The figures for people: value, spread and the goal each one answers."""
    sections = [("sqlite", result)] + ([("postgresql", result["postgresql"])] if "postgresql" in result else [])
    for name, figures in sections:
        print(f"\n== {name}{' (quick sizes)' if result['quick'] else ''}")
        for key, value in figures.items():
            if key.startswith("_") or isinstance(value, dict | list) or key in ("backend", "quick", "seconds"):
                continue
            spread = figures.get("_spread", {}).get(key, "")
            print(f"  {key:28s} {value!s:>12}  {spread}")
        for key, verdict in figures.get("goals", {}).items():
            print(f"  goal {key:23s} {'pass' if verdict['pass'] else 'MISS'}  ({verdict['value']} {verdict['goal']})")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    return parser


if __name__ == "__main__":
    sys.exit(main())
