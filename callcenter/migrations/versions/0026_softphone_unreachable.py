"""An agent's softphone that cannot ring

``agents.softphone_unreachable_since`` is set while the console of an agent who takes calls
in the browser reports that its softphone cannot register (Twilio unreachable); routing
skips them meanwhile. NULL (every existing agent, every console without a softphone) keeps
them routable. See docs/agent-protocol.md ("The softphone").

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column("softphone_unreachable_since", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("softphone_unreachable_since")
