"""Wall time of fresh `arshjul` processes vs the imports they cannot avoid.

`arshjul --help` against `python -c "import click"`, and `arshjul status` on a small
database (the Ånge wheel of `arshjul demo`) against `python -c "import sqlalchemy.orm"`.
The runs alternate between each command and its baseline. The project's modules are
compiled to bytecode first, as `pip install` does; the environment (including
PYTHONDONTWRITEBYTECODE, if set) is otherwise the caller's.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Timing

ROOT = Path(__file__).resolve().parent.parent


def run(folder: Path, repeat: int) -> dict:
    compileall.compile_dir(ROOT / "cycle", quiet=1)
    compileall.compile_dir(ROOT / "workflows", quiet=1)
    compileall.compile_dir(ROOT / "notifications", quiet=1)
    compileall.compile_file(ROOT / "cli.py", quiet=1)
    arshjul = _arshjul_command()
    env = {**os.environ, "ARSHJUL_DB": _demo_database(folder, arshjul), "NO_COLOR": "1"}
    pairs = {
        "help": (arshjul + ["--help"], [sys.executable, "-c", "import click"]),
        "status": (arshjul + ["--as", "lars", "status", "ange-2027"], [sys.executable, "-c", "import sqlalchemy.orm"]),
    }
    out: dict = {"_spread": {}}
    for name, (command, baseline) in pairs.items():
        ours, base = Timing(), Timing()
        for _ in range(repeat):
            ours.runs.append(_wall(command, env))
            base.runs.append(_wall(baseline, env))
        out[f"{name}_ms"] = round(ours.median * 1000, 1)
        out[f"_{name}_baseline_ms"] = round(base.median * 1000, 1)
        out["_spread"][f"{name}_ms"] = ours.spread(1000, " ms")
        out["_spread"][f"{name}_baseline_ms"] = base.spread(1000, " ms")
        # The median of each pair's ratio: a burst of load from elsewhere that slows both runs of
        # a pair cancels out, where it could shift one median against the other.
        out[RATIOS[name]] = round(statistics.median(o / b for o, b in zip(ours.runs, base.runs, strict=True)), 2)
    return out


RATIOS = {"help": "help_vs_click", "status": "status_vs_orm_import"}


def _arshjul_command() -> list[str]:
    """The `arshjul` installed for this interpreter (a venv's, even when it is not activated), as users run it.

    One found elsewhere on PATH would run under another interpreter, with other site-packages,
    and measure that installation instead of this one against this interpreter's imports.
    """
    beside = Path(sys.executable).parent / "arshjul"
    if beside.exists():
        return [str(beside)]
    return [sys.executable, str(ROOT / "cli.py")]


def _wall(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _demo_database(folder: Path, arshjul: list[str]) -> str:
    """The database `arshjul demo` leaves: the Ånge wheel after a week of work."""
    where = folder / "demo"
    subprocess.run(arshjul + ["demo", "--dir", str(where)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    return f"sqlite:///{where / 'arshjul.db'}"
