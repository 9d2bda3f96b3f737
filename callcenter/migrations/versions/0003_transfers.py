"""agent leg and transfer target on calls

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_leg_sid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("transfer_agent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_calls_transfer_agent_id_agents", "agents", ["transfer_agent_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint("fk_calls_transfer_agent_id_agents", type_="foreignkey")
        batch_op.drop_column("transfer_agent_id")
        batch_op.drop_column("agent_leg_sid")
