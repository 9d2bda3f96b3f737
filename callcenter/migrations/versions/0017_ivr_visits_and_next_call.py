"""IVR path facts; each call's next call from the same number


``ivr_visits``: one stay of a call at one IVR node (first arrival or not, timeouts, refused
answers, the step that took the caller on and where to; whether it is the call's latest).
Filled from the call event log's IVR steps for the calls already there.
``calls.next_call_at``: when the next inbound call from the same number started (first-call
resolution), filled for the calls already there. See docs/metrics.md.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    visits = op.create_table(
        "ivr_visits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("call_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_arrival", sa.Boolean(), nullable=False),
        sa.Column("last_kind", sa.String(40), nullable=True),
        sa.Column("last_via", sa.String(16), nullable=True),
        sa.Column("last_digit", sa.String(1), nullable=True),
        sa.Column("last_found", sa.Boolean(), nullable=True),
        sa.Column("before_kind", sa.String(40), nullable=True),
        sa.Column("to_flow", sa.String(64), nullable=True),
        sa.Column("to_node", sa.String(64), nullable=True),
        sa.Column("timeouts", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_ivr_visits_call_sid", "ivr_visits", ["call_sid"])
    op.create_index("ix_ivr_visits_call_started_at", "ivr_visits", ["call_started_at"])
    _fill_from_the_log(visits)
    op.add_column("calls", sa.Column("next_call_at", sa.DateTime(timezone=True), nullable=True))
    calls = sa.table(
        "calls", sa.column("caller_number"), sa.column("started_at"),
        sa.column("context", sa.JSON()), sa.column("next_call_at"),
    )  # fmt: skip
    later = calls.alias("later")
    op.get_bind().execute(
        calls.update()
        .where(calls.c.caller_number.is_not(None))
        .values(
            next_call_at=sa.select(sa.func.min(later.c.started_at))
            .where(
                later.c.caller_number == calls.c.caller_number,
                later.c.started_at > calls.c.started_at,
                later.c.context["callback"].as_string().is_(None),  # our call-backs: not
            )
            .scalar_subquery()
        )
    )


def _fill_from_the_log(visits: sa.Table) -> None:
    """The stays of the calls already logged, from their IVR step events in order: the
    columns of the table as created here (later revisions fill their own), through the
    model's typed columns."""
    from callcenter.db import tz_datetime
    from callcenter.metrics.facts import IvrVisit
    from callcenter.metrics.ivr_paths import STEP_KINDS, visits_of

    bind = op.get_bind()
    events = sa.table(
        "call_events", sa.column("id"), sa.column("call_sid"), sa.column("at", tz_datetime()),
        sa.column("kind"), sa.column("flow"), sa.column("node"), sa.column("input"),
        sa.column("detail", sa.JSON()),
    )  # fmt: skip
    calls = sa.table("calls", sa.column("call_sid"), sa.column("started_at", tz_datetime()))
    columns = [c.key for c in visits.columns if c.key != "id"]
    query = (
        sa.select(events, calls.c.started_at)
        .join(calls, calls.c.call_sid == events.c.call_sid)
        .where(events.c.kind.in_(STEP_KINDS))
        .order_by(events.c.call_sid, events.c.id)
    )
    batch: list[dict[str, object]] = []
    call: list[dict[str, object]] = []

    def close() -> None:
        if call:
            for visit in visits_of(call, call[0]["started_at"]):  # type: ignore[arg-type]
                batch.append({key: getattr(visit, key) for key in columns})
            call.clear()
        if len(batch) >= 5000:
            flush()

    def flush() -> None:
        if batch:
            bind.execute(sa.insert(IvrVisit.__table__), batch)
            batch.clear()

    for row in bind.execute(query).mappings():
        if call and call[0]["call_sid"] != row["call_sid"]:
            close()
        call.append(dict(row))
    close()
    flush()


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("next_call_at")
    op.drop_table("ivr_visits")
