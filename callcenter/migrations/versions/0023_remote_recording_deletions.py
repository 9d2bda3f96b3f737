"""Twilio's copies of erased recordings: one deletion job per recording

``remote_recording_deletions``: a recording of a person erased on request that must be
deleted from Twilio too; the download worker retries it with backoff until Twilio says it
is gone (docs/customers.md#erasure-on-request).

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remote_recording_deletions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recording_sid", sa.String(64), nullable=False, unique=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_remote_recording_deletions_call_sid", "remote_recording_deletions", ["call_sid"]
    )
    op.create_index(
        "ix_remote_recording_deletions_status", "remote_recording_deletions", ["status"]
    )
    op.create_index(
        "ix_remote_recording_deletions_next_attempt_at",
        "remote_recording_deletions",
        ["next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("remote_recording_deletions")
