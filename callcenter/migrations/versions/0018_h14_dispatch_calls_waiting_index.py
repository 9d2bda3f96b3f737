"""calls by outcome: the dispatcher asks on every pass whether any caller waits

Revision ID: 0018_h14_dispatch
Revises: 0017
"""

from __future__ import annotations

from alembic import op

revision = "0018_h14_dispatch"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_waiting", "calls", ["outcome", "dequeued_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_waiting", "calls")
