"""Inputs know the first day a reminder of theirs can be due, so planning reads only those.

`input.remind_from` is the deadline less the longest lead time of the row's reminder
policy (`before_days`); every other slot (the deadline, overdue, escalation) falls on or
after the deadline. The index on (state, remind_from) replaces the one on state alone,
which it serves as well.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_BEFORE_DAYS = (14, 7, 1)  # workflows.definition.ReminderPolicy, as of this revision
INPUT = sa.table("input", sa.column("id", sa.Integer), sa.column("deadline", sa.Date),
                 sa.column("reminders", sa.JSON), sa.column("remind_from", sa.Date))  # fmt: skip


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("input", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remind_from", sa.Date(), nullable=True))
    _fill()
    with op.batch_alter_table("input", schema=None) as batch_op:
        batch_op.alter_column("remind_from", existing_type=sa.Date(), nullable=False)
        batch_op.drop_index("ix_input_state")
        batch_op.create_index("ix_input_state_remind", ["state", "remind_from"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("input", schema=None) as batch_op:
        batch_op.drop_index("ix_input_state_remind")
        batch_op.create_index("ix_input_state", ["state"], unique=False)
        batch_op.drop_column("remind_from")


def _fill() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(INPUT.c.id, INPUT.c.deadline, INPUT.c.reminders)).all()
    values = [{"row_id": r.id, "remind_from": _remind_from(r.deadline, r.reminders)} for r in rows]
    if values:
        where = INPUT.c.id == sa.bindparam("row_id")
        bind.execute(INPUT.update().where(where).values(remind_from=sa.bindparam("remind_from")), values)


def _remind_from(deadline: dt.date, reminders: dict | None) -> dt.date:
    lead = (reminders or {}).get("before_days", DEFAULT_BEFORE_DAYS)
    return deadline - dt.timedelta(days=max((*lead, 0)))
