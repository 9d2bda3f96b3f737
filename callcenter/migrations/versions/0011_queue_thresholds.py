"""wallboard: per-queue alert thresholds; an index for the live calls

``queue_thresholds``: a queue's oldest-wait and service-level thresholds as a supervisor
set them on the wallboard. ``ix_calls_ended_at``: the wallboard reads the calls not yet
ended on every update.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_thresholds",
        sa.Column("queue", sa.String(64), primary_key=True),
        sa.Column("oldest_wait_seconds", sa.Integer(), nullable=True),
        sa.Column("service_level", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_by_id",
            sa.Integer(),
            sa.ForeignKey("agents.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.create_index("ix_calls_ended_at", "calls", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_ended_at", table_name="calls")
    op.drop_table("queue_thresholds")
