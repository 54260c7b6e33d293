"""Migration 0003 gives the inputs of an existing database their first reminder day."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import inspect, text

from cycle.agenda import remind_from
from cycle.database import make_engine
from cycle.schema import alembic_config, upgrade

ROWS = [  # (id, deadline, reminders as stored)
    (1, "2027-03-31", '{"before_days": [30, 7], "on_deadline": true}'),
    (2, "2027-03-31", "{}"),
    (3, "2027-03-31", '{"before_days": []}'),
]


def migrate(engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_existing_inputs_get_their_first_reminder_day(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO unit (key, name) VALUES ('ks', 'KS')"))
        cycle = "INSERT INTO cycle VALUES ('w-2027', 'w', 2027, 'W', 'Europe/Stockholm', 'SE', '2026-01-01')"
        conn.execute(text(cycle))
        conn.execute(text("INSERT INTO stage (id, cycle_id, key, definition_key, name, position, state, version, "
                          "owner_unit, decided_by_unit, after, deadline, reminders) VALUES (1, 'w-2027', 's', 's', "
                          "'S', 0, 'open', 2, 'ks', 'ks', '[]', '2027-04-30', '{}')"))  # fmt: skip
        for row_id, deadline, reminders in ROWS:
            conn.execute(text("INSERT INTO input (id, stage_id, key, name, position, unit_key, approved_by_unit, "
                              "required, state, version, deadline, reminders) VALUES (:id, 1, :key, 'I', 0, 'ks', "
                              "'ks', 1, 'missing', 1, :deadline, :reminders)"),
                         {"id": row_id, "key": f"i{row_id}", "deadline": deadline, "reminders": reminders})  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        found = dict(conn.execute(text("SELECT id, remind_from FROM input ORDER BY id")).all())
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("input")}
        nullable = {c["name"]: c["nullable"] for c in inspect(conn).get_columns("input")}["remind_from"]
    engine.dispose()
    deadline = dt.date(2027, 3, 31)
    assert found == {1: "2027-03-01", 2: "2027-03-17", 3: "2027-03-31"}
    assert found[2] == remind_from(deadline, {}).isoformat()  # the code and the migration agree
    assert "ix_input_state_remind" in indexes and "ix_input_state" not in indexes and not nullable
