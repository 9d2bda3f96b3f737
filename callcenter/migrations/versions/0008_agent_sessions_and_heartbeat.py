"""agents: session epoch (revocable logins) and console heartbeat

``session_epoch`` is stored in every login session; raising it (logout, password change,
deactivation) ends every session of that agent. ``console_seen_at`` is refreshed while an
agent has a live console on any process; agents without a recent heartbeat are not offered
calls.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("console_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("console_seen_at")
        batch.drop_column("session_epoch")
