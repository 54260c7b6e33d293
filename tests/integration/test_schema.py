"""The schema comes from the shipped Alembic migrations, and they match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cycle.database import SCHEMA_REVISION, Database, make_engine, schema_revision
from cycle.errors import SchemaMissing
from cycle.models import Base
from cycle.schema import head_revision, upgrade


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
