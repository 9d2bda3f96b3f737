"""agents and offers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:45:34.755387
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("agent_number", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=120), nullable=True),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_offer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wrapup_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_call_sid", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agent_number"),
        sa.UniqueConstraint("username"),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agents_status"), ["status"], unique=False)

    op.create_table(
        "call_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("call_offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_offers_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_offers_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_offers_status"), ["status"], unique=False)

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disposition", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("wrapup_notes", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("wrapped_up_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_calls_agent_id"), ["agent_id"], unique=False)
        batch_op.create_foreign_key("fk_calls_agent_id_agents", "agents", ["agent_id"], ["id"])

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_manager_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_customers_account_manager_id"), ["account_manager_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_customers_account_manager_id_agents",
            "agents",
            ["account_manager_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_customers_account_manager_id_agents", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_customers_account_manager_id"))
        batch_op.drop_column("account_manager_id")

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint("fk_calls_agent_id_agents", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_calls_agent_id"))
        batch_op.drop_column("wrapped_up_at")
        batch_op.drop_column("wrapup_notes")
        batch_op.drop_column("disposition")
        batch_op.drop_column("answered_at")
        batch_op.drop_column("agent_id")

    with op.batch_alter_table("call_offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_offers_status"))
        batch_op.drop_index(batch_op.f("ix_call_offers_call_sid"))
        batch_op.drop_index(batch_op.f("ix_call_offers_agent_id"))

    op.drop_table("call_offers")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_status"))

    op.drop_table("agents")
