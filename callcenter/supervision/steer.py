"""A supervisor steers the floor: sets an agent's status, moves a waiting caller to another
queue or to the front, takes a waiting call themselves (pure domain; the caller commits).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.calls.queues import WAITING
from callcenter.calls.records import log_event
from callcenter.calls.routing import (
    Changes,
    accept,
    agent_offline,
    withdraw_agent_offers,
    withdraw_call_offers,
)
from callcenter.config import Settings
from callcenter.messages import N_
from callcenter.models import Agent, Call, CallOffer
from callcenter.people.agents import CHOOSABLE, set_presence
from callcenter.supervision.steps import SupervisionError, call_over, require_supervisor

FRONT = "front"
TAKE_SECONDS = 30  # the supervisor's own offer, accepted at once


def set_agent_status(
    session: Session, actor: Agent, agent_id: int, status: str, reason: str | None, now: datetime
) -> Changes:
    """Set an agent `available`, `away` (with a reason) or `offline` (a console left open).

    An offer ringing at the agent is withdrawn and the call moves on; an agent on a call
    keeps it (their status follows the call).
    """
    require_supervisor(actor)
    if status not in CHOOSABLE:
        raise SupervisionError(N_("status must be one of {choices}"), choices=", ".join(CHOOSABLE))
    agent = session.scalar(select(Agent).where(Agent.id == agent_id).with_for_update())
    if agent is None or not agent.active:
        raise SupervisionError(N_("no such agent"))
    if agent.status == "on-call":
        raise SupervisionError(
            N_("{name} is on a call: their status follows it"), name=agent.display_name
        )
    if status == "offline":
        changes = agent_offline(session, agent, now)
        if agent.status != "offline":  # in wrap-up: that ends too
            set_presence(agent, "offline", now)
    else:
        changes = withdraw_agent_offers(session, agent, "status set by a supervisor", now, status)
        note = (reason or "").strip() or None
        set_presence(agent, status, now, note if status == "away" else None)
    changes.agents.add(agent.id)
    return changes


def _waiting_call(session: Session, call_sid: str) -> Call:
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    if call is None:
        raise SupervisionError(N_("no such call"))
    if call_over(call):
        raise SupervisionError(N_("the call has ended"))
    if call.outcome not in WAITING or call.dequeued_at is not None or call.agent_id is not None:
        raise SupervisionError(N_("the caller is not waiting in a queue"))
    return call


def move_call(
    session: Session,
    settings: Settings,
    actor: Agent,
    call_sid: str,
    now: datetime,
    *,
    queue: str | None = None,
    priority: int | str | None = None,
) -> Changes:
    """Move a waiting caller to another queue and/or give them a priority (`"front"`: ahead
    of everyone waiting there). They keep their place in time (`enqueued_at`), so their
    wait so far counts in the reports; an offer ringing for them is withdrawn so that the
    call is offered again as it now stands."""
    require_supervisor(actor)
    if queue is None and priority is None:
        raise SupervisionError(N_("give a queue, a priority, or both"))
    if queue is not None and queue not in settings.queues:
        raise SupervisionError(N_("no queue named {queue}"), queue=repr(queue))
    call = _waiting_call(session, call_sid)
    before = {"queue": call.queue, "priority": call.queue_priority}
    if queue is not None:
        call.queue = queue
    if priority == FRONT:
        top = session.scalar(
            select(func.max(Call.queue_priority)).where(
                Call.queue == call.queue, Call.outcome.in_(WAITING), Call.dequeued_at.is_(None),
                Call.ended_at.is_(None), Call.id != call.id,
            )
        )  # fmt: skip
        if top is not None and top >= call.queue_priority:
            call.queue_priority = top + 1
    elif isinstance(priority, int):
        call.queue_priority = priority
    changes = withdraw_call_offers(session, call_sid, "moved by a supervisor", now)
    changes.calls.add(call_sid)
    log_event(session, call_sid, "supervisor.moved", supervisor=actor.username,
              queue=call.queue, priority=call.queue_priority, before=before)  # fmt: skip
    return changes


def take_call(session: Session, actor: Agent, call_sid: str, now: datetime) -> Changes:
    """The supervisor takes a waiting call as an agent accepts an offer: the same accept
    (other offers withdrawn, the caller's wait closed, the supervisor on the call)."""
    require_supervisor(actor)
    supervisor = session.scalar(select(Agent).where(Agent.id == actor.id).with_for_update())
    assert supervisor is not None
    if supervisor.status in ("ringing", "on-call"):
        raise SupervisionError(N_("you are {status}: finish that first"), status=supervisor.status)
    _waiting_call(session, call_sid)
    session.add(
        CallOffer(
            call_sid=call_sid,
            agent_id=supervisor.id,
            status="offered",
            offered_at=now,
            expires_at=now + timedelta(seconds=TAKE_SECONDS),
            reason="taken by a supervisor",
        )
    )
    supervisor.current_call_sid = call_sid  # their part in the call starts from the accept
    session.flush()
    changes = accept(session, supervisor.id, call_sid, now)
    log_event(session, call_sid, "supervisor.took", supervisor=supervisor.username)
    return changes
