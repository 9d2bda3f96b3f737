"""call recordings, playback log, voicemail inbox, knowledge-base lookups

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("article_id", sa.String(length=100), nullable=True),
        sa.Column("query", sa.String(length=200), nullable=True),
        sa.Column("results", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kb_lookups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_lookups_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_lookups_article_id"), ["article_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_lookups_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_lookups_call_sid"), ["call_sid"], unique=False)

    op.create_table(
        "recording_playbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("byte_range", sa.String(length=64), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recording_playbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recording_playbacks_agent_id"), ["agent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recording_playbacks_recording_sid"), ["recording_sid"], unique=False
        )

    op.create_table(
        "call_recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("leg_sid", sa.String(length=64), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_sid"),
    )
    with op.batch_alter_table("call_recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_recordings_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_recordings_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_call_recordings_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_call_recordings_status"), ["status"], unique=False)

    with op.batch_alter_table("recording_downloads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remote_deleted_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("voicemails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("handled_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("callback_call_sid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch_op.create_index(
            batch_op.f("ix_voicemails_assigned_agent_id"), ["assigned_agent_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_voicemails_status"), ["status"], unique=False)
        batch_op.create_foreign_key(
            "fk_voicemails_assigned_agent_id_agents", "agents", ["assigned_agent_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_voicemails_handled_by_id_agents", "agents", ["handled_by_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("voicemails", schema=None) as batch_op:
        batch_op.drop_constraint("fk_voicemails_handled_by_id_agents", type_="foreignkey")
        batch_op.drop_constraint("fk_voicemails_assigned_agent_id_agents", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_voicemails_status"))
        batch_op.drop_index(batch_op.f("ix_voicemails_assigned_agent_id"))
        batch_op.drop_column("notes")
        batch_op.drop_column("callback_call_sid")
        batch_op.drop_column("handled_by_id")
        batch_op.drop_column("handled_at")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assigned_agent_id")

    with op.batch_alter_table("recording_downloads", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
        batch_op.drop_column("remote_deleted_at")

    with op.batch_alter_table("call_recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_recordings_status"))
        batch_op.drop_index(batch_op.f("ix_call_recordings_customer_id"))
        batch_op.drop_index(batch_op.f("ix_call_recordings_call_sid"))
        batch_op.drop_index(batch_op.f("ix_call_recordings_agent_id"))

    op.drop_table("call_recordings")
    with op.batch_alter_table("recording_playbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_playbacks_recording_sid"))
        batch_op.drop_index(batch_op.f("ix_recording_playbacks_agent_id"))

    op.drop_table("recording_playbacks")
    with op.batch_alter_table("kb_lookups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_lookups_call_sid"))
        batch_op.drop_index(batch_op.f("ix_kb_lookups_at"))
        batch_op.drop_index(batch_op.f("ix_kb_lookups_article_id"))
        batch_op.drop_index(batch_op.f("ix_kb_lookups_agent_id"))

    op.drop_table("kb_lookups")
