"""Initial schema: organisation, cycles, stage and input instances, the append-only log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

GENESIS_HASH = "0" * 64
APPEND_ONLY = "the transition log is append-only"


# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "cycle",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("holidays", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "person",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "transition_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("cycle", sa.String(length=100), nullable=True),
        sa.Column("stage", sa.String(length=120), nullable=True),
        sa.Column("input", sa.String(length=64), nullable=True),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("ref", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("transition_log", schema=None) as batch_op:
        batch_op.create_index("ix_log_actor_at", ["actor", "at"], unique=False)
        batch_op.create_index("ix_log_at", ["at"], unique=False)
        batch_op.create_index("ix_log_cycle_stage", ["cycle", "stage", "seq"], unique=False)

    op.create_table(
        "unit",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_key"],
            ["unit.key"],
        ),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_key", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_key"],
            ["unit.key"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_key", "date", name="uq_meeting"),
    )
    op.create_table(
        "role_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("unit_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"],
            ["person.username"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username", "role", "unit_key", name="uq_role_grant"),
    )
    op.create_table(
        "stage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("definition_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner_unit", sa.String(length=64), nullable=False),
        sa.Column("decided_by_unit", sa.String(length=64), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=True),
        sa.Column("reminders", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_unit"],
            ["unit.key"],
        ),
        sa.ForeignKeyConstraint(
            ["owner_unit"],
            ["unit.key"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cycle_id", "key", name="uq_stage_key"),
    )
    with op.batch_alter_table("stage", schema=None) as batch_op:
        batch_op.create_index("ix_stage_state", ["state"], unique=False)

    op.create_table(
        "input",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("unit_key", sa.String(length=64), nullable=False),
        sa.Column("approved_by_unit", sa.String(length=64), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("reminders", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_unit"],
            ["unit.key"],
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stage.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_key"],
            ["unit.key"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stage_id", "key", "unit_key", name="uq_input_key"),
    )
    with op.batch_alter_table("input", schema=None) as batch_op:
        batch_op.create_index("ix_input_state", ["state"], unique=False)

    op.bulk_insert(
        sa.table("log_head", sa.column("id"), sa.column("seq"), sa.column("hash")),
        [{"id": 1, "seq": 0, "hash": GENESIS_HASH}],
    )
    _refuse_log_changes()


def _refuse_log_changes() -> None:
    """The database itself refuses UPDATE and DELETE on the log, whoever connects."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER transition_log_no_{verb.lower()} BEFORE {verb} ON transition_log "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION arshjul_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER transition_log_append_only BEFORE UPDATE OR DELETE ON transition_log "
        "FOR EACH ROW EXECUTE FUNCTION arshjul_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER transition_log_no_truncate BEFORE TRUNCATE ON transition_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION arshjul_log_append_only()"
    )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS transition_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS transition_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS transition_log_append_only ON transition_log")
        op.execute("DROP TRIGGER IF EXISTS transition_log_no_truncate ON transition_log")
        op.execute("DROP FUNCTION IF EXISTS arshjul_log_append_only()")
    with op.batch_alter_table("input", schema=None) as batch_op:
        batch_op.drop_index("ix_input_state")

    op.drop_table("input")
    with op.batch_alter_table("stage", schema=None) as batch_op:
        batch_op.drop_index("ix_stage_state")

    op.drop_table("stage")
    op.drop_table("role_grant")
    op.drop_table("meeting")
    op.drop_table("unit")
    with op.batch_alter_table("transition_log", schema=None) as batch_op:
        batch_op.drop_index("ix_log_cycle_stage")
        batch_op.drop_index("ix_log_at")
        batch_op.drop_index("ix_log_actor_at")

    op.drop_table("transition_log")
    op.drop_table("person")
    op.drop_table("log_head")
    op.drop_table("cycle")
