"""Creating and upgrading the schema with the Alembic migrations shipped in `cycle/migrations`."""

from __future__ import annotations

from sqlalchemy import Engine

from cycle.database import schema_revision


def alembic_config():
    from alembic.config import Config  # imported here: only `init` and tests need Alembic

    config = Config()
    config.set_main_option("script_location", "cycle:migrations")
    return config


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the database to the newest revision; returns (before, after)."""
    from alembic import command

    before = schema_revision(engine)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, schema_revision(engine)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
