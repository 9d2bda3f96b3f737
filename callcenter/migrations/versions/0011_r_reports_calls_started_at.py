"""calls by start time: the IVR report takes the calls started in its period

Revision ID: 0011_r
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011_r"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_started_at", "calls", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_started_at", "calls")
