"""metrics facts: queue entries, agents' parts in calls, agent status spans

``queue_entries``: one wait of a call in one queue (entered, how and when it ended).
``call_handles``: one agent's part in one call (talk, hold, wrap-up; transferred, voided).
``agent_status_spans``: each finished stretch of time an agent spent in one status.
See docs/metrics.md.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("callback_requested", sa.Boolean(), nullable=False),
        sa.Column("voicemail", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_queue_entries_call_sid", "queue_entries", ["call_sid"])
    op.create_index("ix_queue_entries_entered_at_queue", "queue_entries", ["entered_at", "queue"])
    op.create_table(
        "call_handles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("queue_entries.id"), nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("hold_seconds", sa.Float(), nullable=False),
        sa.Column("hold_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wrapup_seconds", sa.Float(), nullable=False),
        sa.Column("transferred_out", sa.Boolean(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_call_handles_call_sid", "call_handles", ["call_sid"])
    op.create_index("ix_call_handles_agent_id", "call_handles", ["agent_id"])
    op.create_index("ix_call_handles_entry_id", "call_handles", ["entry_id"])
    op.create_index("ix_call_handles_started_at", "call_handles", ["started_at"])
    op.create_table(
        "agent_status_spans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(120), nullable=True),
        sa.Column("call_sid", sa.String(64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
    )
    op.create_index("ix_agent_status_spans_agent_id", "agent_status_spans", ["agent_id"])
    op.create_index(
        "ix_agent_status_spans_ended_at_agent", "agent_status_spans", ["ended_at", "agent_id"]
    )

    # Agent reports count offers by when they were made.
    op.create_index("ix_call_offers_offered_at", "call_offers", ["offered_at"])


def downgrade() -> None:
    op.drop_index("ix_call_offers_offered_at", "call_offers")
    op.drop_table("agent_status_spans")
    op.drop_table("call_handles")
    op.drop_table("queue_entries")
