"""The calls waiting in a queue: their order, a caller's place in line and the estimated wait
(pure domain). What the caller hears meanwhile is :mod:`callcenter.ivr.queue_wait`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from time import monotonic
from typing import Any, Protocol

from sqlalchemy import Row, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Call

# A caller waiting on the line, or one who asked to be called back (keeping their place).
WAITING = ("queued", "callback")
RECENT_CALLS_FOR_AHT = 20


def waiting_calls(queues: Iterable[str]) -> Select[tuple[Call]]:
    """Calls waiting in these queues, in the order they are served: priority, then time
    waited (one order across queues)."""
    return (
        select(Call)
        .where(Call.queue.in_(list(queues)), Call.outcome.in_(WAITING), Call.dequeued_at.is_(None))
        .order_by(Call.queue_priority.desc(), Call.enqueued_at, Call.id)
    )


def waiting_in_queue(queue: str) -> Select[tuple[Call]]:
    """Calls waiting in one queue, in the order they are served."""
    return waiting_calls([queue])


class InLine(Protocol):
    """What a caller's place in line is counted from: a :class:`Call`, or the row
    :func:`waiting_caller` reads."""

    @property
    def id(self) -> int: ...
    @property
    def queue(self) -> str | None: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def queue_priority(self) -> int: ...
    @property
    def enqueued_at(self) -> datetime | None: ...


_CALLS = Call.__table__
_WAITING_CALLER = select(
    *(_CALLS.c[name] for name in ("id", "queue", "outcome", "queue_priority", "enqueued_at",
                                  "caller_kind", "caller_number", "context"))
).where(_CALLS.c.call_sid == bindparam("sid"))  # fmt: skip


def waiting_caller(session: Session, call_sid: str) -> Row[Any] | None:
    """The columns of a call its wait loop reads (:class:`InLine`, and what
    `callbacks.can_call_back` looks at), as a row: the loop is fetched every few seconds
    for every waiting caller, and needs no ORM object of the call."""
    return session.connection().execute(_WAITING_CALLER, {"sid": call_sid}).first()


def queue_position(session: Session, call: InLine) -> int | None:
    """1-based place of a waiting call; VIPs (higher priority) are ahead of earlier callers."""
    if call.outcome not in WAITING or call.queue is None or call.enqueued_at is None:
        return None
    session.flush()  # as the ORM's autoflush would: this transaction's changes count
    ahead = (
        session.connection()
        .execute(
            _CALLERS_AHEAD,
            {
                "queue": call.queue,
                "id": call.id,
                "priority": call.queue_priority,
                "enqueued": call.enqueued_at,
            },
        )
        .scalar()
    )
    return (ahead or 0) + 1


# Built once: every waiting caller's wait loop counts the callers ahead of them.
_CALLERS_AHEAD = (
    select(func.count())
    .select_from(Call)
    .where(
        Call.queue == bindparam("queue"),
        Call.outcome.in_(WAITING),
        Call.dequeued_at.is_(None),
        Call.id != bindparam("id"),
        or_(
            Call.queue_priority > bindparam("priority"),
            and_(
                Call.queue_priority == bindparam("priority"),
                or_(
                    Call.enqueued_at < bindparam("enqueued"),
                    and_(
                        Call.enqueued_at == bindparam("enqueued"),
                        Call.id < bindparam("id"),
                    ),
                ),
            ),
        ),
    )
)


def average_handle_seconds(session: Session, settings: Settings, queue: str) -> float | None:
    """Mean talk time of the queue's recent answered calls plus its wrap-up time."""
    recent = session.execute(
        select(Call.answered_at, Call.ended_at)
        .where(Call.queue == queue, Call.answered_at.is_not(None), Call.ended_at.is_not(None))
        .order_by(Call.ended_at.desc())
        .limit(RECENT_CALLS_FOR_AHT)
    ).all()
    if not recent:
        return None
    talk = sum((ended - answered).total_seconds() for answered, ended in recent) / len(recent)
    config = settings.queues.get(queue)
    return talk + (config.wrapup_seconds if config else 0)


STAFFED = ("available", "ringing", "on-call", "wrap-up")
ESTIMATE_REUSE_SECONDS = 5.0
"""How long one queue's pace (handle time, agents staffed) is reused by the wait loop."""


def queue_pace(session: Session, settings: Settings, queue: str) -> tuple[float, int] | None:
    """(average handle seconds, agents staffed with the queue's skills) of a queue; None
    when either is unknown or zero (no estimate can be given). An agent whose browser
    softphone cannot ring (`Agent.can_ring`) is not offered calls and is not counted."""
    from callcenter.models import Agent

    config = settings.queues.get(queue)
    if config is None:
        return None
    handle = average_handle_seconds(session, settings, queue)
    if handle is None:
        return None
    skills = set(config.skills)
    staffed = sum(
        1
        for agent_skills in session.scalars(
            select(Agent.skills).where(
                Agent.active.is_(True), Agent.status.in_(STAFFED), Agent.can_ring
            )
        )
        if skills <= set(agent_skills or [])
    )
    return (handle, staffed) if staffed else None


def estimated_wait_seconds(
    session: Session, settings: Settings, call: Call, position: int | None = None
) -> int | None:
    """Place in line × average handle time ÷ agents staffed with the queue's skills who
    can be offered calls (`position`: the call's place, when the caller has it already)."""
    position = position if position is not None else queue_position(session, call)
    if position is None:
        return None
    pace = queue_pace(session, settings, call.queue or "")
    return None if pace is None else int(position * pace[0] / pace[1])


class WaitEstimates:
    """The wait loop's estimates: each queue's pace read at most once per
    `ESTIMATE_REUSE_SECONDS` (every waiting caller fetches the loop; the pace is the same
    for all of them), the caller's place always read fresh."""

    def __init__(
        self, reuse_seconds: float = ESTIMATE_REUSE_SECONDS, clock: Callable[[], float] = monotonic
    ) -> None:
        self.reuse_seconds = reuse_seconds
        self.clock = clock
        self._paces: dict[str, tuple[float, tuple[float, int] | None]] = {}

    def seconds(
        self, session: Session, settings: Settings, call: InLine, position: int
    ) -> int | None:
        """:func:`estimated_wait_seconds` of a waiting call at `position`."""
        queue = call.queue or ""
        now = self.clock()
        read_at, pace = self._paces.get(queue, (float("-inf"), None))
        if now - read_at >= self.reuse_seconds:
            pace = queue_pace(session, settings, queue)
            self._paces[queue] = (now, pace)
        return None if pace is None else int(position * pace[0] / pace[1])
