"""CLI fixtures: the installed `arshjul` in a subprocess, click's CliRunner in-process,
and SQLite files already holding the Ånge organisation and its 2027 cycle.

Both runners fail a test on any traceback in stderr: a traceback is a bug.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import arshjul
from cycle import cycles, organisation
from cycle.clock import FixedClock
from cycle.database import Database
from tests.conftest import ANGE, ANGE_ORG, copied, settled
from tests.integration.conftest import smtp_sink  # noqa: F401 - the real SMTP server fixture, shared

CYCLE = "ange-2027"
STAGE = "omvarldsanalys"
INPUT = "verksamhetsanalys"
# Monday 2026-02-02 09:00 in Stockholm: the 2027 analysis is under way, nothing overdue.
MONDAY = dt.datetime(2026, 2, 2, 8, 0, tzinfo=dt.UTC)


@dataclass
class Ran:
    """What one command did: its exit code and both streams, as text."""

    code: int
    stdout: str
    stderr: str

    def __post_init__(self):
        assert "Traceback" not in self.stderr, self.stderr
        assert "Traceback" not in self.stdout, self.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's arshjul settings or colour choices."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSHJUL_") and k != "NO_COLOR"}
    env.update(extra)
    return env


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def empty_url(tmp_path, sqlite_migrated) -> str:
    """A migrated database with nobody in it."""
    return copied(sqlite_migrated, tmp_path / "empty.db")


@pytest.fixture(scope="session")
def started_file(tmp_path_factory, sqlite_migrated) -> Path:
    """The SQLite file behind `url`, made once per session (the clock is fixed, so every build is the same)."""
    from workflows.loader import load_organisation, load_workflow

    path = tmp_path_factory.mktemp("started") / "arshjul.db"
    db = Database(copied(sqlite_migrated, path), clock=FixedClock(MONDAY))
    organisation.load_organisation(db, "nils", load_organisation(ANGE_ORG))
    cycles.start_cycle(db, "nils", load_workflow(ANGE), 2027)
    db.dispose()
    return settled(path)


@pytest.fixture
def url(tmp_path, started_file) -> str:
    """The Ånge organisation and cycle ange-2027, started on MONDAY; nothing moved yet (a copy of one file)."""
    return copied(started_file, tmp_path / "arshjul.db")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY + dt.timedelta(hours=1))


@pytest.fixture
def cli(url, clock):
    """Run a command in-process on `url` as a user: cli("--as", "oskar", "status", ...)."""
    runner = CliRunner(env=clean_env())

    def invoke(*args: str, db: str | None = None, env: dict | None = None) -> Ran:
        result = runner.invoke(arshjul, ["--db", db or url, *args], env=env, obj={"clock": clock})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr)

    return invoke


@functools.cache
def arshjul_command() -> list[str]:
    """The installed console script; it must be there (pip install -e .).

    The one pip installed for the interpreter running the tests (in sysconfig's scripts folder) comes
    before anything else on PATH: a version manager's shim there (pyenv's) runs that same script, but
    only after ~0.1 s of its own for every command."""
    for script in (Path(sysconfig.get_path("scripts")) / "arshjul", Path(sys.executable).with_name("arshjul")):
        if script.exists():
            return [str(script)]
    found = shutil.which("arshjul")
    assert found, "the arshjul command is not installed: pip install -e ."
    return [found]


def run_arshjul(*args: str, cwd: Path, env: dict | None = None) -> Ran:
    """The installed `arshjul` in a subprocess, in `cwd`, with a clean environment."""
    proc = subprocess.run(
        [*arshjul_command(), *args], capture_output=True, cwd=cwd, timeout=120, env=clean_env(**(env or {})),
    )  # fmt: skip
    return Ran(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


@pytest.fixture
def run(tmp_path):
    """Run the installed `arshjul` in a subprocess, in tmp_path, with a clean environment."""

    def call(*args: str, env: dict | None = None, cwd: Path | None = None) -> Ran:
        return run_arshjul(*args, cwd=cwd or tmp_path, env=env)

    return call
