"""What every benchmark shares: timing with spread, temporary databases, a large organisation.

Each figure is the median of several runs; `Timing` keeps every run so the spread
(min and max) is printed beside it. Databases are fresh SQLite files in a temporary
folder (or fresh PostgreSQL databases when `ARSHJUL_BENCH_PG_URL` is set), migrated
with the shipped Alembic migrations, so the benchmark measures the schema users get.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cycle.clock import FixedClock
from cycle.database import Database, make_engine
from cycle.organisation import load_organisation
from cycle.schema import upgrade
from workflows.definition import (
    DeadlineRule,
    InputDef,
    Organisation,
    PersonDef,
    ReminderPolicy,
    RoleDef,
    StageDef,
    UnitDef,
    Workflow,
)

NOW = dt.datetime(2027, 2, 1, 8, 0, tzinfo=dt.UTC)
YEAR = 2027


@dataclass
class Timing:
    """Several runs of one measurement, in seconds."""

    runs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def spread(self, scale: float = 1.0, unit: str = "") -> str:
        return f"min {min(self.runs) * scale:.3g}{unit}, max {max(self.runs) * scale:.3g}{unit}, n={len(self.runs)}"


def timed(fn: Callable[[], object], repeat: int, timing: Timing | None = None) -> Timing:
    timing = timing or Timing()
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        timing.runs.append(time.perf_counter() - start)
    return timing


class Databases:
    """Fresh, migrated databases: SQLite files in `folder`, or PostgreSQL databases on a server."""

    def __init__(self, folder, pg_url: str | None = None):
        self.folder, self.pg_url = folder, pg_url
        self.made: list[Database] = []
        self._pg_names: list[str] = []

    @property
    def backend(self) -> str:
        return "postgresql" if self.pg_url else "sqlite"

    def url(self, name: str) -> str:
        if not self.pg_url:
            return f"sqlite:///{self.folder / (name + '.db')}"
        from sqlalchemy import make_url, text

        base = make_url(self.pg_url)
        db_name = f"arshjul_bench_{name}_{uuid.uuid4().hex[:8]}"
        admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        admin.dispose()
        self._pg_names.append(db_name)
        return base.set(database=db_name).render_as_string(hide_password=False)

    def fresh(self, name: str, clock=None) -> Database:
        db = Database(self.url(name), clock=clock or FixedClock(NOW))
        upgrade(db.engine)
        self.made.append(db)
        return db

    def close(self) -> None:
        for db in self.made:
            db.dispose()
        if self.pg_url and self._pg_names:
            from sqlalchemy import make_url, text

            admin = make_engine(make_url(self.pg_url).set(database="postgres").render_as_string(hide_password=False))
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for name in self._pg_names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


# --- an organisation and wheels of any size ----------------------------------------


def unit_key(n: int) -> str:
    return f"u{n:03d}"


def organisation(units: int) -> Organisation:
    """`ks` decides; every unit has one contributor (c000…); two approvers and an owner in ks."""
    unit_defs = (UnitDef("ks", "Kommunstyrelsen"),) + tuple(
        UnitDef(unit_key(n), f"Enhet {n}", "ks") for n in range(units)
    )
    people = [
        PersonDef("admin", "Ada Admin", "admin@example.se", roles=(RoleDef("admin"), RoleDef("auditor"))),
        PersonDef("owner", "Olle Ägare", "owner@example.se", roles=(RoleDef("owner", "ks"),)),
        PersonDef("anna", "Anna Åberg", "anna@example.se", roles=(RoleDef("approver", "ks"),)),
        PersonDef("per", "Per Persson", "per@example.se", roles=(RoleDef("approver", "ks"),)),
    ]
    people += [
        PersonDef(f"c{n:03d}", f"Bidrag {n}", f"c{n:03d}@example.se", roles=(RoleDef("contributor", unit_key(n)),))
        for n in range(units)
    ]
    return Organisation(unit_defs, tuple(people), (), source="bench")


def linear_wheel(stages: int, inputs_per_stage: int = 0, units: int = 0, wid: str = "bench", *,
                 chained: bool = True, first_month: int = 1) -> Workflow:  # fmt: skip
    """`stages` stages, one after the other unless not `chained`; each with `inputs_per_stage`
    inputs from `units` units; deadlines on the 10th of months from `first_month` on."""
    defs = []
    for s in range(stages):
        inputs = tuple(
            InputDef(f"in{i:02d}", f"Underlag {i}", tuple(unit_key(n) for n in range(units)), "ks")
            for i in range(inputs_per_stage)
        )
        after = (f"s{s - 1:02d}",) if s and chained else ()
        deadline = DeadlineRule(0, first_month + s * (12 - first_month) // stages, 10)
        defs.append(StageDef(f"s{s:02d}", f"Steg {s}", "ks", "ks", deadline, after=after, inputs=inputs))
    return Workflow(wid, "Benchhjul", "Europe/Stockholm", "SE", ReminderPolicy(), tuple(defs), source="bench")


def loaded(db: Database, units: int) -> Database:
    load_organisation(db, "admin", organisation(units))
    return db
