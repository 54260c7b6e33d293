"""The schema comes from the shipped Alembic migrations, and they match the models."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from cycle.database import SCHEMA_REVISION, Database, make_engine, schema_revision
from cycle.errors import BadInput, SchemaMissing
from cycle.models import Base
from cycle.schema import head_revision, upgrade
from tests.cli.conftest import arshjul_command, clean_env


def test_the_code_expects_the_newest_shipped_migration():
    assert SCHEMA_REVISION == head_revision()


def test_the_migrations_build_exactly_the_models(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrading_twice_changes_nothing(db):
    before, after = upgrade(db.engine)
    assert before == after == SCHEMA_REVISION


def refusal(url: str) -> list[str]:
    db = Database(url)
    with pytest.raises(SchemaMissing) as caught:
        db.require_schema()
    db.dispose()
    return caught.value.lines()


def test_a_missing_database_file_is_refused_and_not_created(tmp_path):
    path = tmp_path / "missing.db"
    assert refusal(f"sqlite:///{path}") == [f"the database {path} does not exist", "run `arshjul init` to create it"]
    assert not path.exists()


def test_an_uninitialised_database_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    assert refusal(f"sqlite:///{path}") == [f"the database {path} has no arshjul schema", "run `arshjul init` first"]


def test_init_creates_the_schema_on_a_new_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert schema_revision(engine) is None
    assert upgrade(engine) == (None, SCHEMA_REVISION)
    engine.dispose()


def set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_init_refuses_a_schema_a_newer_arshjul_made_and_writes_nothing(db_url):
    set_revision(db_url, "0099")
    engine = make_engine(db_url)
    with pytest.raises(BadInput) as caught:
        upgrade(engine)
    assert caught.value.exit_code == 2
    assert "schema revision 0099, newer than this arshjul" in caught.value.message
    assert "upgrade arshjul" in caught.value.hint
    assert schema_revision(engine) == "0099"
    engine.dispose()


def test_commands_on_a_newer_schema_say_to_upgrade_arshjul_not_to_run_init(db_url):
    set_revision(db_url, "0099")
    db = Database(db_url)
    with pytest.raises(BadInput) as caught:
        db.require_schema()
    db.dispose()
    assert "newer than this arshjul" in caught.value.message
    assert "arshjul init" not in " ".join(caught.value.lines())


def test_init_on_several_machines_at_once_creates_the_schema_once_and_fails_none(pg_template):
    name = f"arshjul_t_{uuid.uuid4().hex[:12]}"
    pg_template._execute(f'CREATE DATABASE "{name}"')
    url = pg_template.url.set(database=name).render_as_string(hide_password=False)
    try:
        procs = [subprocess.Popen([*arshjul_command(), "--db", url, "init"], env=clean_env(), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]  # fmt: skip
        said = [(proc.wait(timeout=120), proc.communicate()[1]) for proc in procs]
    finally:
        pg_template.drop(name)
    assert [code for code, _ in said] == [0] * 4, said
    told = sorted(err.partition(": ")[2] for _, err in said)
    assert told == ["created the schema (revision 0005)\n"] + ["schema already at revision 0005, nothing to do\n"] * 3


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused_with_why_not_told_to_run_init(url):
    db = Database(url)
    with pytest.raises(BadInput) as caught:
        db.require_schema()
    with pytest.raises(BadInput) as init:
        upgrade(db.engine)
    db.dispose()
    for refusal in (caught.value, init.value):
        assert refusal.exit_code == 2
        assert "in memory" in refusal.message and "arshjul init" not in " ".join(refusal.lines())
        assert "sqlite:///" in refusal.hint
