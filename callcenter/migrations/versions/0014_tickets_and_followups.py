"""tickets (history, linked calls) and follow-ups of abandoned callers

``tickets``: complaints and work orders with a promised deadline; ``ticket_events``: every
change, note and reassignment; ``ticket_calls``: the calls about a ticket.
``followups``: callers we owe a call (one open per number); ``followup_events``: the
abandoned or cut-off calls and unhandled voicemails behind them. See docs/care.md.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=True),
        sa.Column("priority", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("caller_number", sa.String(32), nullable=True),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("dedupe_key", sa.String(120), nullable=True, unique=True),
        _when("created_at", False),
        _when("updated_at", False),
        _when("due_at", False),
        _when("resolved_at"),
        _when("closed_at"),
        _when("due_soon_sent_at"),
        _when("overdue_sent_at"),
    )
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.create_index("ix_tickets_customer_id", "tickets", ["customer_id"])
    op.create_index("ix_tickets_caller_number", "tickets", ["caller_number"])
    op.create_index("ix_tickets_owner_id", "tickets", ["owner_id"])
    op.create_index("ix_tickets_due_at", "tickets", ["due_at"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "ticket_id",
            sa.Integer(),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _when("at", False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("old_value", sa.String(200), nullable=True),
        sa.Column("new_value", sa.String(200), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])
    op.create_table(
        "ticket_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "ticket_id",
            sa.Integer(),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("call_sid", sa.String(64), nullable=False),
        _when("linked_at", False),
        sa.Column("linked_by_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.UniqueConstraint("ticket_id", "call_sid"),
    )
    op.create_index("ix_ticket_calls_call_sid", "ticket_calls", ["call_sid"])
    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("open_key", sa.String(32), nullable=True, unique=True),
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("language", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _when("created_at", False),
        _when("last_at", False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("assigned_agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        _when("assigned_at"),
        sa.Column("callback_call_sid", sa.String(64), nullable=True),
        _when("done_at"),
        sa.Column("done_by_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("sms_status", sa.String(16), nullable=True),
        sa.Column("sms_sid", sa.String(64), nullable=True),
        _when("sms_at"),
    )
    op.create_index("ix_followups_number", "followups", ["number"])
    op.create_index("ix_followups_customer_id", "followups", ["customer_id"])
    op.create_index("ix_followups_status", "followups", ["status"])
    op.create_index("ix_followups_created_at", "followups", ["created_at"])
    op.create_index("ix_followups_assigned_agent_id", "followups", ["assigned_agent_id"])
    op.create_index("ix_followups_sms_status", "followups", ["sms_status"])
    op.create_table(
        "followup_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "followup_id",
            sa.Integer(),
            sa.ForeignKey("followups.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("waited_seconds", sa.Integer(), nullable=True),
        sa.Column("voicemail_id", sa.Integer(), sa.ForeignKey("voicemails.id"), nullable=True),
        _when("at", False),
        sa.UniqueConstraint("reason", "call_sid"),
    )
    op.create_index("ix_followup_events_followup_id", "followup_events", ["followup_id"])
    op.create_index("ix_followup_events_voicemail_id", "followup_events", ["voicemail_id"])


def downgrade() -> None:
    op.drop_table("followup_events")
    op.drop_table("followups")
    op.drop_table("ticket_calls")
    op.drop_table("ticket_events")
    op.drop_table("tickets")
