"""Recovering from signals that never arrived (pure domain: takes a session, never commits).

Two kinds of ghosts: agents whose console died without closing (a crashed process, a
killed browser) still look available, and callers whose hang-up callback was lost (the
server was down, the database unwritable) still look queued. The first are found by their
console heartbeat (`agents.console_seen_at`), the second by asking Twilio's REST API.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from callcenter.calls.records import FINAL_STATUSES, log_event, record_status
from callcenter.calls.routing import Changes, agent_offline, call_finished, requeue
from callcenter.config import Settings
from callcenter.models import Agent, Call
from callcenter.people.agents import live_console_cutoff

# Statuses in which an agent without a live console is taken out of routing at once.
SILENT_TO_OFFLINE = ("available", "ringing", "away")


def drop_silent_consoles(session: Session, now: datetime) -> Changes:
    """Agents whose console heartbeat went stale are treated as if they closed it: an offer
    to them moves on (`agent left`) and an available, ringing or away agent goes offline.
    Agents on a call or in wrap-up keep their status (wrap-up then ends offline)."""
    cutoff = live_console_cutoff(now)
    changes = Changes()
    for agent in session.scalars(
        select(Agent)
        .where(
            Agent.status.in_(SILENT_TO_OFFLINE),
            or_(Agent.console_seen_at.is_(None), Agent.console_seen_at < cutoff),
        )
        .order_by(Agent.id)
    ).all():
        changes.merge(agent_offline(session, agent, now))
    return changes


def overdue_waiting_calls(
    session: Session, settings: Settings, now: datetime, limit: int = 50
) -> list[str]:
    """SIDs of callers still waiting on the line past their queue's `max_wait` (their
    hold loop would have let them go by then: probably a lost hang-up), oldest first."""
    overdue = [
        and_(Call.queue == name, Call.enqueued_at < now - timedelta(seconds=queue.max_wait))
        for name, queue in settings.queues.items()
    ]
    if not overdue:
        return []
    return list(
        session.scalars(
            select(Call.call_sid)
            .where(
                Call.outcome == "queued",
                Call.dequeued_at.is_(None),
                Call.ended_at.is_(None),
                or_(*overdue),
            )
            .order_by(Call.enqueued_at, Call.id)
            .limit(limit)
        )
    )


def end_lost_call(
    session: Session,
    settings: Settings,
    call_sid: str,
    status: str,
    duration: int | None,
    now: datetime,
) -> Changes:
    """Twilio says a waiting caller's call is over (`status`, final): record it as its
    status callback would have (the caller abandoned), and withdraw any offer of it."""
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    if call is None or call.outcome != "queued" or call.ended_at is not None:
        return Changes()  # ended or taken meanwhile
    if status not in FINAL_STATUSES:
        raise ValueError(f"not a final call status: {status!r}")
    log_event(session, call_sid, "call.lost_hangup", status=status, queue=call.queue)
    record_status(session, call, status, duration, now)
    return call_finished(session, settings, call, now).merge(Changes(calls={call_sid}))


def caller_gone(
    session: Session, settings: Settings, call_sid: str, agent_id: int, now: datetime
) -> Changes:
    """An accepted call could not be bridged because the caller's call is over (Twilio:
    "call is not in-progress", or unknown): end it instead of putting it back in line.
    The agent, who never talked to them, is available again."""
    changes = requeue(session, call_sid, agent_id, now)
    return changes.merge(end_lost_call(session, settings, call_sid, "completed", None, now))
