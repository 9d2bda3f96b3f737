"""The facts metrics are computed from, written as calls happen (see recorder.py).

Nothing here is a pre-computed total: each row describes one thing that happened (a wait in
a queue, an agent's part in a call, a stretch of time in one status), so a late event
updates its row and every report computed afterwards is exact.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from callcenter.db import Base, tz_datetime

# PostgreSQL only (see IvrVisit): a period's stays in call-start order.
IVR_VISITS_STARTED_INDEX = "ix_ivr_visits_started_way"

# Kinds of queue entry: how the call came to wait in the queue.
ENTRY_KINDS = ("inbound", "transfer", "overflow", "callback")
# Queue facts are grouped in 15-minute UTC buckets (every time zone in use is a whole number
# of quarter hours from UTC, so a bucket never straddles two of the center's intervals).
BUCKET_SECONDS = 900


# Revisions kept in `fact_stamps` under negative "bucket" numbers (a real bucket is never
# negative): changes the wallboard reads besides the queue facts, bumped the same way.
AGENTS_STAMP = -1
"""Any change to an agent's row as the wallboard shows it (:data:`AGENT_BOARD_COLUMNS`),
an agent added or removed."""
HANDLES_STAMP = -2
"""Any change to any :class:`CallHandle` (with or without a queue entry)."""
CARE_STAMP = -3
"""A ticket's status or due time, or a follow-up's status or start, changed (one added
or removed): the wallboard's care counts."""
AGENT_BOARD_COLUMNS = (
    "username", "display_name", "agent_number", "role", "skills", "status", "status_reason",
    "status_since", "current_call_sid", "wrapup_until", "active", "takes_calls_on",
    "softphone_unreachable_since",
)  # fmt: skip
"""The agents' columns the wallboard shows: a change to any of them bumps AGENTS_STAMP
(heartbeats, sign-ins and offer bookkeeping do not)."""


# What this transaction's flushes wrote: (buckets and stamp rows to bump; entry ids of
# handles, whose buckets to bump). Bumped by the recorder's ``before_commit`` listener.
STAMPS_NOTED = "callcenter.metrics.fact_stamps"


def noted_stamps(session: Session) -> tuple[set[int], set[int]]:
    """This transaction's stamps to bump as it commits (see STAMPS_NOTED)."""
    return session.info.setdefault(STAMPS_NOTED, (set(), set()))  # type: ignore[no-any-return]


def bucket_number(moment: datetime) -> int:
    """The 15-minute UTC bucket of an aware moment (seconds since 1970 ÷ 900)."""
    return int(moment.timestamp() // BUCKET_SECONDS)


class QueueEntry(Base):
    """One wait of a call in one queue: entered, and how it ended.

    ``kind`` is ``inbound`` (from the IVR), ``transfer`` (an agent sent the caller back to
    a queue), ``overflow`` (moved here after another queue's maximum wait) or ``callback``
    (a call-back to a caller who left a voicemail or is on the follow-up list, placed in a
    queue for an agent).
    ``outcome`` is the call's outcome when the wait ended (``answered``, ``abandoned``,
    ``overflow``, ``moved``); None while waiting (or waiting to be called back).
    """

    __tablename__ = "queue_entries"
    __table_args__ = (Index("ix_queue_entries_entered_at_queue", "entered_at", "queue"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    entered_at: Mapped[datetime] = mapped_column(tz_datetime())
    left_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    outcome: Mapped[str | None] = mapped_column(String(20))
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    callback_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    voicemail: Mapped[bool] = mapped_column(Boolean, default=False)


class CallHandle(Base):
    """One agent's part in one call: from taking it (accept, or a warm transfer received)
    to the end of their talk, with their hold and wrap-up time.

    ``talk_seconds`` (connected and not on hold) is set when the talk ends; hold and
    wrap-up accumulate as they happen. ``voided``: the bridge to the agent failed and the
    caller went back to the queue (the agent never talked to them).
    """

    __tablename__ = "call_handles"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("queue_entries.id"), index=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(tz_datetime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    hold_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    hold_started_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    wrapup_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    transferred_out: Mapped[bool] = mapped_column(Boolean, default=False)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    csat: Mapped[int | None] = mapped_column(Integer)
    """The post-call survey score (1–5) of the call, on the handle of the agent who had it
    last (the one the caller rated); None on every other handle."""


class AgentStatusSpan(Base):
    """A finished stretch of time an agent spent in one status (the current one is on the
    agent's row: ``status``, ``status_since``)."""

    __tablename__ = "agent_status_spans"
    __table_args__ = (Index("ix_agent_status_spans_ended_at_agent", "ended_at", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(120))
    call_sid: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(tz_datetime())
    ended_at: Mapped[datetime] = mapped_column(tz_datetime())
    seconds: Mapped[float] = mapped_column(Float)


class IvrWay(Base):
    """One way a stay at an IVR node can be counted: the node (``flow``, ``node``) and, once
    the caller moved on, the step that took them (``step_kind``; ``via`` and ``digit`` for
    an answer, ``found`` for a look-up, ``before_kind`` for retries exhausted) and where to
    (``to_flow``, ``to_node``); all of these None while the caller has not moved on. One row
    per distinct such tuple (``key`` spells it), added as stays are written, so the IVR
    report groups the stays by a small integer (:attr:`IvrVisit.way_id`)."""

    __tablename__ = "ivr_ways"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(600), unique=True)
    flow: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    step_kind: Mapped[str | None] = mapped_column(String(40))
    via: Mapped[str | None] = mapped_column(String(16))
    digit: Mapped[str | None] = mapped_column(String(1))
    found: Mapped[bool | None] = mapped_column(Boolean)
    before_kind: Mapped[str | None] = mapped_column(String(40))
    to_flow: Mapped[str | None] = mapped_column(String(64))
    to_node: Mapped[str | None] = mapped_column(String(64))


class IvrVisit(Base):
    """One stay of a call at one IVR node: arrived (or, rarely, answered there without
    arriving: a late answer to an earlier prompt), what the caller did there, and where
    they went next. Written from the IVR's step events as they are logged
    (:mod:`callcenter.metrics.ivr_paths`).

    ``first_arrival``: the call's first arrival at this node (``reached`` counts these).
    ``last_kind``, ``last_via``, ``last_digit``, ``last_found`` and ``before_kind``: the
    latest step event of the stay (its kind; how an answer came, its first character;
    whether a look-up found the caller) and the kind of the one before it — when the caller
    moves on (``to_flow``, ``to_node`` set), they say by which exit.
    ``timeouts``: attempts with no answer; ``invalid``: answers that did not move the
    caller on. ``is_current``: the call's latest stay (where it is, or where its IVR ended).
    ``call_started_at`` is the call's start: reports take the calls started in a period.
    ``way_id``: the stay's :class:`IvrWay` (its node, and how it was left), kept up to date
    as its steps are written; the covering indexes let the report sum a period's stays per
    way, and find each call's latest stay, without reading the rows.
    """

    __tablename__ = "ivr_visits"
    __table_args__ = (
        # The report's sums per way over a period, read in way order (nothing to sort): per
        # way, the period's range (SQLite's skip-scan once ANALYZE has seen the ways; before
        # that, the whole index).
        Index(
            "ix_ivr_visits_way_started",
            *("way_id", "call_started_at", "first_arrival", "timeouts", "invalid"),
        ),
        # A call's stays, and its latest stay's way (where its IVR path stopped).
        Index("ix_ivr_visits_call_current", "call_sid", "is_current", "way_id"),
        # PostgreSQL has no skip-scan: through the index above, a short period reads every
        # way's whole range. Led by the call's start, a day or a week is one range scan of
        # this one (then summed per way); the month still reads the one above in way order.
        Index(
            IVR_VISITS_STARTED_INDEX,
            *("call_started_at", "way_id", "first_arrival", "timeouts", "invalid"),
            info={"only": "postgresql"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    call_started_at: Mapped[datetime] = mapped_column(tz_datetime())
    flow: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(tz_datetime())
    first_arrival: Mapped[bool] = mapped_column(Boolean, default=False)
    last_kind: Mapped[str | None] = mapped_column(String(40))
    last_via: Mapped[str | None] = mapped_column(String(16))
    last_digit: Mapped[str | None] = mapped_column(String(1))
    last_found: Mapped[bool | None] = mapped_column(Boolean)
    before_kind: Mapped[str | None] = mapped_column(String(40))
    to_flow: Mapped[str | None] = mapped_column(String(64))
    to_node: Mapped[str | None] = mapped_column(String(64))
    timeouts: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    way_id: Mapped[int] = mapped_column(ForeignKey("ivr_ways.id"))


class FactStamp(Base):
    """How many committed transactions changed the queue facts of one 15-minute UTC bucket
    (the bucket of a queue entry's ``entered_at``; a handle counts in its entry's bucket).

    Bumped by every transaction that writes a :class:`QueueEntry` or :class:`CallHandle`
    (the recorder's ``before_commit`` listener), in the same transaction: a reader that
    finds a bucket's revision unchanged knows that bucket's figures are unchanged, whichever
    process wrote. The wallboard keeps today's figures per bucket on that basis.
    Two rows are not buckets: :data:`AGENTS_STAMP` and :data:`HANDLES_STAMP`, bumped
    likewise by every transaction that changes what the board shows of agents, or any
    handle, so the board reads the agents' rows and their day only when they changed."""

    __tablename__ = "fact_stamps"

    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(Integer, default=0)
