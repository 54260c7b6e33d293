"""Migrations 0004 and 0005: the log indexed by subject (which the four-eyes lookup uses), no hash index."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from cycle import records
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
    statement = records._INPUT.statement.compile(engine)
    params = statement.construct_params({"actor": "a", "cycle": "c", "stage": "s", "input": "i", "unit": "u"})
    args = tuple(params[name] for name in statement.positiontup)
    with engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", args))
    engine.dispose()
    assert "ix_log_subject (cycle=? AND stage=? AND input=? AND unit=?)" in plan, plan


def test_an_existing_log_keeps_its_entries_and_stays_append_only_without_the_hash_index(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0004")
    entry = ("INSERT INTO transition_log (seq, at, actor, event, prev_hash, hash) "
             "VALUES (1, '2027-01-01 08:00:00.000000', 'anna', 'note', '0', 'h1')")  # fmt: skip
    with engine.begin() as conn:
        conn.exec_driver_sql(entry)
    upgrade(engine)
    with engine.connect() as conn:
        unique = inspect(conn).get_unique_constraints("transition_log")
        rows = conn.exec_driver_sql("SELECT seq, actor, hash FROM transition_log").all()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE transition_log SET actor = 'mallory'")
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM transition_log")
    engine.dispose()
    assert unique == []
    assert rows == [(1, "anna", "h1")]
