"""Where each agent takes calls (the browser softphone or their phone) and auto-answer

``agents.takes_calls_on``: "browser" or "phone"; agents who have a phone number take calls
on it, as before this revision (the bridge dialled an agent's phone when they had one).
``agents.auto_answer``: the softphone answers the bridge's ring by itself.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column("takes_calls_on", sa.String(16), nullable=False, server_default="browser")
        )
        batch.add_column(
            sa.Column("auto_answer", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    agents = sa.table("agents", sa.column("phone"), sa.column("takes_calls_on"))
    op.execute(agents.update().where(agents.c.phone.is_not(None)).values(takes_calls_on="phone"))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("auto_answer")
        batch.drop_column("takes_calls_on")
