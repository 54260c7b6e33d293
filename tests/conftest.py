"""Shared fixtures: a fresh, migrated database per test (SQLite file, and PostgreSQL
when ARSHJUL_TEST_PG_URL names a server), an injected clock, and the shipped
Ånge definition and example organisation.

PostgreSQL cases are skipped with a visible reason when no server is configured,
and fail instead when CI=true, so CI cannot go green without running them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cycle.clock import FixedClock
from cycle.database import Database, make_engine
from cycle.schema import upgrade

ROOT = Path(__file__).resolve().parent.parent
ANGE = ROOT / "workflows" / "ange.yaml"
ANGE_ORG = ROOT / "workflows" / "examples" / "ange-org.yaml"
PG_ENV = "ARSHJUL_TEST_PG_URL"
BACKENDS = ["sqlite", "postgres"]


def pg_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL cases must run in CI")
    return None


def settled(path: Path) -> Path:
    """`path`, a closed SQLite file, with its WAL written back and gone: the file alone is the whole database,
    so a byte copy of it is another real SQLite file with the same content."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    left = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f"{path.name}-"))
    assert not left, f"{path} is still open somewhere: {left}"
    return path


def copied(source: Path, target: Path) -> str:
    """A copy of the settled SQLite file `source` at `target`, as a URL."""
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory) -> Path:
    """One SQLite file migrated to the newest revision, made once per session; each test that wants a
    fresh database gets a copy of it (running the migrations again would give the same file)."""
    path = tmp_path_factory.mktemp("migrated") / "arshjul.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return settled(path)


class PgTemplate:
    """One migrated template database per test session; each test gets a copy of it."""

    def __init__(self, url: str):
        self.url = make_url(url)
        self.admin = create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.template = f"arshjul_tpl_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self._execute(f'CREATE DATABASE "{self.template}"')
        engine = create_engine(self.url.set(database=self.template))
        upgrade(engine)
        engine.dispose()

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def fresh(self) -> str:
        name = f"arshjul_t_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in self.created + [self.template]:
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_template():
    url = pg_url()
    if url is None:
        pytest.skip(f"PostgreSQL not configured: set {PG_ENV} to run these cases")
    template = PgTemplate(url)
    yield template
    template.close()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A fresh, migrated, empty database: an SQLite file (a copy of `sqlite_migrated`), or a PostgreSQL
    database (a copy of the session's migrated template)."""
    if request.param == "sqlite":
        return copied(request.getfixturevalue("sqlite_migrated"), tmp_path / "arshjul.db")
    template: PgTemplate = request.getfixturevalue("pg_template")
    url = template.fresh()
    request.addfinalizer(lambda: template.drop(make_url(url).database))
    return url


@pytest.fixture
def clock() -> FixedClock:
    """Monday 2026-11-30 08:00 in Stockholm: the wheel for 2027 is being planned."""
    return FixedClock(dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC))


@pytest.fixture
def db(db_url, clock):
    database = Database(db_url, clock=clock)
    yield database
    database.dispose()


@pytest.fixture
def ange():
    from workflows.loader import load_workflow

    return load_workflow(ANGE)


@pytest.fixture
def ange_org():
    from workflows.loader import load_organisation

    return load_organisation(ANGE_ORG)
