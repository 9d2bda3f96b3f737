"""Fact stamps: a revision per 15-minute bucket of the queue facts

``fact_stamps``: per 15-minute UTC bucket (seconds since 1970 ÷ 900 of a queue entry's
``entered_at``), how many committed transactions changed that bucket's queue entries or
their agents' handles. The wallboard reads the day's stamps (one short range of the
primary key) and recomputes only the buckets whose revision moved. See docs/metrics.md.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fact_stamps",
        sa.Column("bucket", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("revision", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fact_stamps")
