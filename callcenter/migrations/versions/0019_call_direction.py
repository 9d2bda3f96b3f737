"""calls.direction: inbound (a caller dialed us) or outbound (we dialed: an agent's
outbound call or a call-back to a voicemail or a follow-up). See docs/metrics.md.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(
            sa.Column("direction", sa.String(8), nullable=False, server_default="inbound")
        )
    # Call-backs to a voicemail or a follow-up were new calls we dialed.
    op.execute(
        "UPDATE calls SET direction = 'outbound' WHERE call_sid IN "
        "(SELECT callback_call_sid FROM voicemails WHERE callback_call_sid IS NOT NULL) "
        "OR call_sid IN "
        "(SELECT callback_call_sid FROM followups WHERE callback_call_sid IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("direction")
