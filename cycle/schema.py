"""Creating and upgrading the schema with the Alembic migrations shipped in `cycle/migrations`."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from cycle.database import INSUFFICIENT_PRIVILEGE, describe, require_known, require_lasting, schema_revision
from cycle.errors import Refused

# `init` on several machines at once (an upgrade done everywhere by one script): on PostgreSQL each waits
# for the one before it, inside its own transaction, then finds the schema up to date. On SQLite the
# write lock taken up front (`BEGIN IMMEDIATE`) does the same.
INIT_LOCK = 0x61727368  # "arsh": the advisory lock key of `arshjul init`


def alembic_config():
    from alembic.config import Config  # imported here: only `init` and tests need Alembic

    config = Config()
    config.set_main_option("script_location", "cycle:migrations")
    return config


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the database to the newest revision; returns (before, after).

    A revision this code does not know (a newer arshjul made it) is refused before anything is written."""
    from alembic import command

    require_lasting(engine)
    config = alembic_config()
    try:
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INIT_LOCK})
            before = schema_revision(connection)
            if before is not None:
                require_known(before, describe(engine.url))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            after = schema_revision(connection)
    except DBAPIError as err:
        if getattr(err.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        said = getattr(getattr(err.orig, "diag", None), "message_primary", None) or str(err.orig).strip()
        raise Refused(
            f"the database refused: {said}",
            "run `arshjul init` as the role that owns the schema (docs/deploy.md, sections 3 and 7)",
        ) from err
    return before, after


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    """Every revision the shipped migrations make."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
