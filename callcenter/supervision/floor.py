"""The calls a supervisor can act on now: callers waiting in a queue, and calls with an
agent, each with the supervisors on it (pure domain)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from callcenter.calls.queues import WAITING
from callcenter.config import Settings
from callcenter.models import Agent, Call
from callcenter.supervision.steps import supervisor_legs

LIMIT = 200


def _name(session: Session, agent_id: Any) -> dict[str, Any] | None:
    agent = session.get(Agent, agent_id) if isinstance(agent_id, int) else None
    return {"id": agent.id, "name": agent.display_name} if agent is not None else None


def live_calls(session: Session, settings: Settings) -> dict[str, Any]:
    """`{calls: [...], queues: [...]}`: each call `{call_sid, state (waiting|ringing|
    talking), queue, priority, caller, customer, agent, since, supervisors: [{id, name,
    mode}]}`, waiting callers first in the order they are served; the queues to move to."""
    waiting = and_(Call.outcome.in_(WAITING), Call.dequeued_at.is_(None))
    rows = session.scalars(
        select(Call)
        .where(Call.ended_at.is_(None), or_(waiting, Call.agent_id.is_not(None)))
        .order_by(Call.agent_id.is_not(None), Call.queue_priority.desc(), Call.enqueued_at)
        .limit(LIMIT)
    ).all()
    calls = []
    for call in rows:
        talking = call.agent_id is not None
        connected = bool((call.context or {}).get("connected"))
        since = call.answered_at if talking else (call.enqueued_at or call.started_at)
        supervisors = [
            {**(_name(session, entry.get("agent_id")) or {}), "mode": entry.get("mode")}
            for entry in supervisor_legs(call).values()
        ]
        calls.append(
            {
                "call_sid": call.call_sid,
                "state": ("talking" if connected else "ringing") if talking else "waiting",
                "queue": call.queue,
                "priority": call.queue_priority,
                "caller": call.caller_number or call.from_number,
                "customer": call.customer.name if call.customer else None,
                "agent": _name(session, call.agent_id),
                "since": since.isoformat() if since else None,
                "supervisors": supervisors,
            }
        )
    queues = [{"name": name, "display_name": q.display_name} for name, q in settings.queues.items()]
    return {"calls": calls, "queues": queues}
