"""Migration 0004 indexes the log by subject, and the four-eyes lookup uses that index."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from cycle import log
from cycle.database import make_engine
from cycle.schema import alembic_config, upgrade


def migrate(engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def log_indexes(engine) -> set[str]:
    with engine.connect() as conn:
        return {ix["name"] for ix in inspect(conn).get_indexes("transition_log")}


def test_an_existing_database_gets_the_subject_index_in_place_of_the_stage_index(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0003")
    assert "ix_log_cycle_stage" in log_indexes(engine)
    upgrade(engine)
    found = log_indexes(engine)
    engine.dispose()
    assert "ix_log_subject" in found
    assert "ix_log_cycle_stage" not in found


def test_who_submitted_an_input_is_one_index_lookup_not_a_walk_through_the_stage(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(engine)
    statement = log._NEWEST_ACTOR[True].statement.compile(engine)
    with engine.connect() as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", ("submit", "c", "s", "i", "u", 1, 0)
            )
        )
    engine.dispose()
    assert "ix_log_subject" in plan, plan
    assert "(cycle=? AND stage=? AND input=? AND unit=?)" in plan, plan
