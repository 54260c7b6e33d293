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


def test_an_uninitialised_database_is_refused_with_what_to_do(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaMissing) as caught:
        db.require_schema()
    db.dispose()
    assert caught.value.lines() == [
        f"the database {tmp_path / 'empty.db'} has no arshjul schema",
        "run `arshjul init` first",
    ]


def test_init_creates_the_schema_on_a_new_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert schema_revision(engine) is None
    assert upgrade(engine) == (None, SCHEMA_REVISION)
    engine.dispose()
