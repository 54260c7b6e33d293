"""The log is indexed by what an entry is about, so the four-eyes check stays one lookup.

Every approve and return asks who submitted the row last. With entries indexed by
(cycle, stage, seq) that meant walking back through the stage's entries until the
row's newest `submit`: on a stage with thousands of inputs, submitted weeks before
they are decided, thousands of entries per decision. Indexed by (cycle, stage,
input, unit, seq) it is one lookup. The new index serves every query the old one
did (its first two columns are the old one's), so it replaces it and a transition
still writes as many index entries as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_log_subject", "transition_log", ["cycle", "stage", "input", "unit", "seq"], unique=False)
    op.drop_index("ix_log_cycle_stage", table_name="transition_log")


def downgrade() -> None:
    """Downgrade schema."""
    op.create_index("ix_log_cycle_stage", "transition_log", ["cycle", "stage", "seq"], unique=False)
    op.drop_index("ix_log_subject", table_name="transition_log")
