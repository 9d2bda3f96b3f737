"""IVR ways: the stays of the IVR path facts keyed by a small integer

``ivr_ways``: one row per distinct way a stay counts in the IVR report (its node and, once
the caller moved on, the step that took them and where to); ``ivr_visits.way_id`` points
each stay at its way; covering indexes (way, call start, arrivals, attempts; and call,
latest stay, way) let the report sum a period's stays per way and find where each call's
path stopped without reading the rows. Filled here for the stays already there, with the
grouping the report used until now. See docs/metrics.md.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ways = op.create_table(
        "ivr_ways",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(600), nullable=False, unique=True),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("step_kind", sa.String(40), nullable=True),
        sa.Column("via", sa.String(16), nullable=True),
        sa.Column("digit", sa.String(1), nullable=True),
        sa.Column("found", sa.Boolean(), nullable=True),
        sa.Column("before_kind", sa.String(40), nullable=True),
        sa.Column("to_flow", sa.String(64), nullable=True),
        sa.Column("to_node", sa.String(64), nullable=True),
    )
    op.add_column("ivr_visits", sa.Column("way_id", sa.Integer(), nullable=True))
    _fill_ways(ways)
    with op.batch_alter_table("ivr_visits") as batch:
        batch.alter_column("way_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_ivr_visits_way_id_ivr_ways", "ivr_ways", ["way_id"], ["id"])
    op.create_index(
        "ix_ivr_visits_way_started",
        "ivr_visits",
        ["way_id", "call_started_at", "first_arrival", "timeouts", "invalid"],
    )
    # Replaced by the two above (a period's stays are read through the first).
    op.drop_index("ix_ivr_visits_call_started_at", table_name="ivr_visits")
    op.drop_index("ix_ivr_visits_call_sid", table_name="ivr_visits")
    op.create_index(
        "ix_ivr_visits_call_current", "ivr_visits", ["call_sid", "is_current", "way_id"]
    )


def _fill_ways(ways: sa.Table) -> None:
    """The ways of the stays already there (each stay's node and how it was left, as the
    report grouped them), then each stay pointed at its way in one statement."""
    from callcenter.metrics.ivr_paths import WAY_FIELDS, way_key

    visits = sa.table(
        "ivr_visits", *(sa.column(name) for name in (
            "way_id", "flow", "node", "last_kind", "last_via", "last_digit", "last_found",
            "before_kind", "to_flow", "to_node",
        ))
    )  # fmt: skip
    c = visits.c
    moved = c.to_node.is_not(None)
    normalized = [
        c.flow,
        c.node,
        sa.case((moved, c.last_kind)),
        sa.case((sa.and_(moved, c.last_kind == "ivr.input"), c.last_via)),
        sa.case((sa.and_(moved, c.last_kind == "ivr.input"), c.last_digit)),
        sa.case((sa.and_(moved, c.last_kind == "ivr.lookup"), c.last_found)),
        sa.case((sa.and_(moved, c.last_kind == "ivr.retries_exhausted"), c.before_kind)),
        c.to_flow,
        c.to_node,
    ]
    bind = op.get_bind()
    rows = []
    for values in bind.execute(sa.select(*normalized).distinct()):
        way = list(values)
        way[5] = None if way[5] is None else bool(way[5])  # SQLite reads a boolean as 0/1
        rows.append({"key": way_key(way), **dict(zip(WAY_FIELDS, way, strict=True))})
    if rows:
        bind.execute(sa.insert(ways), rows)
    bind.execute(
        visits.update().values(
            way_id=sa.select(ways.c.id)
            .where(
                *(
                    getattr(ways.c, name).is_not_distinct_from(value)
                    for name, value in zip(WAY_FIELDS, normalized, strict=True)
                )
            )
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    op.drop_index("ix_ivr_visits_call_current", table_name="ivr_visits")
    op.create_index("ix_ivr_visits_call_sid", "ivr_visits", ["call_sid"])
    op.create_index("ix_ivr_visits_call_started_at", "ivr_visits", ["call_started_at"])
    op.drop_index("ix_ivr_visits_way_started", table_name="ivr_visits")
    with op.batch_alter_table("ivr_visits") as batch:
        batch.drop_constraint("fk_ivr_visits_way_id_ivr_ways", type_="foreignkey")
        batch.drop_column("way_id")
    op.drop_table("ivr_ways")
