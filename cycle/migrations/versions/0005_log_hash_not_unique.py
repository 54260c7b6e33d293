"""The log's hash column loses its UNIQUE index: nothing looks entries up by hash.

The index cost every append a write at a random place in a B-tree as large as the
log, and answered no query; two entries cannot share a hash short of a SHA-256
collision, and `audit verify` checks every hash against its entry and its
successor anyway. On SQLite the constraint is part of the table's definition, so
the table is rebuilt, and the append-only triggers, which go with the old table,
are created again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "the transition log is append-only"  # as in 0001
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}  # names SQLite's unnamed constraint for Alembic


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("transition_log_hash_key", "transition_log", type_="unique")
        return
    with op.batch_alter_table("transition_log", naming_convention=SQLITE_NAMES) as batch_op:
        batch_op.drop_constraint("uq_transition_log_hash", type_="unique")
    _sqlite_append_only()


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name != "sqlite":
        op.create_unique_constraint("transition_log_hash_key", "transition_log", ["hash"])
        return
    with op.batch_alter_table("transition_log", recreate="always") as batch_op:
        batch_op.create_unique_constraint("uq_transition_log_hash", ["hash"])
    _sqlite_append_only()


def _sqlite_append_only() -> None:
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS transition_log_no_{verb.lower()}")
        op.execute(
            f"CREATE TRIGGER transition_log_no_{verb.lower()} BEFORE {verb} ON transition_log "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
