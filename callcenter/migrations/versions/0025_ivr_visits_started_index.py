"""IVR stays by call start, on PostgreSQL

PostgreSQL has no skip-scan, so through ``ix_ivr_visits_way_started`` (way first) a day's
IVR report read every way's whole range of the index. ``ix_ivr_visits_started_way`` leads
with the call's start and covers what the report sums, so a short period is one range
scan. SQLite skips through the way-led index by itself and gets none. See
docs/metrics.md ("Report speed").

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

INDEX = "ix_ivr_visits_started_way"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            INDEX,
            "ivr_visits",
            ["call_started_at", "way_id", "first_arrival", "timeouts", "invalid"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="ivr_visits")
