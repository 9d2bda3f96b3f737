"""The calls waiting in a queue: their order, a caller's place in line and the estimated wait
(pure domain). What the caller hears meanwhile is :mod:`callcenter.ivr.queue_wait`."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, and_, func, or_, select
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


def queue_position(session: Session, call: Call) -> int | None:
    """1-based place of a waiting call; VIPs (higher priority) are ahead of earlier callers."""
    if call.outcome not in WAITING or call.queue is None or call.enqueued_at is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Call)
        .where(
            Call.queue == call.queue,
            Call.outcome.in_(WAITING),
            Call.dequeued_at.is_(None),
            Call.id != call.id,
            or_(
                Call.queue_priority > call.queue_priority,
                and_(
                    Call.queue_priority == call.queue_priority,
                    or_(
                        Call.enqueued_at < call.enqueued_at,
                        and_(Call.enqueued_at == call.enqueued_at, Call.id < call.id),
                    ),
                ),
            ),
        )
    )
    return (ahead or 0) + 1


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


def estimated_wait_seconds(session: Session, settings: Settings, call: Call) -> int | None:
    """Place in line × average handle time ÷ agents logged in with the queue's skills."""
    from callcenter.models import Agent

    position = queue_position(session, call)
    config = settings.queues.get(call.queue or "")
    if position is None or config is None:
        return None
    handle = average_handle_seconds(session, settings, call.queue or "")
    if handle is None:
        return None
    skills = set(config.skills)
    staffed = sum(
        1
        for agent in session.scalars(
            select(Agent).where(
                Agent.active.is_(True), Agent.status.in_(("available", "ringing", "on-call",
                                                          "wrap-up"))
            )
        )
        if skills <= set(agent.skills or [])
    )  # fmt: skip
    if staffed == 0:
        return None
    return int(position * handle / staffed)
