"""post-call survey: the caller's answers on the call, and the score as a metrics fact

``calls.csat`` (1–5), ``calls.resolved`` and ``calls.surveyed_at``: what the caller answered
(docs/flows.md#post-call-survey); ``call_handles.csat``: the same score on the handle of the
agent the caller rated, which the queue and agent reports average (docs/metrics.md).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("csat", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resolved", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("surveyed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("call_handles") as batch:
        batch.add_column(sa.Column("csat", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_handles") as batch:
        batch.drop_column("csat")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("surveyed_at")
        batch.drop_column("resolved")
        batch.drop_column("csat")
