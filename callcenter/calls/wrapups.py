"""Wrap-up: an agent off a call wraps it up (timed per queue), then is available again.

Pure domain, like :mod:`callcenter.calls.routing`: functions change rows, the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.changes import Changes, RoutingError
from callcenter.calls.records import log_event
from callcenter.config import Settings
from callcenter.messages import N_
from callcenter.models import Agent, Call
from callcenter.people.agents import has_live_console, live_console_cutoff, set_presence


def agent_left(session: Session, settings: Settings, call: Call, now: datetime) -> Changes:
    """The call's agent is off the call (it ended, or they hung up while the caller stays
    for the survey): they go to wrap-up, once."""
    changes = Changes()
    if call.agent_id is None:
        return changes
    agent = session.get(Agent, call.agent_id)
    if agent is None or agent.current_call_sid != call.call_sid or agent.status != "on-call":
        return changes
    changes.ended.append((agent.id, call.call_sid))
    start_wrapup(settings, agent, call, now)
    changes.agents.add(agent.id)
    return changes


def start_wrapup(settings: Settings, agent: Agent, call: Call, now: datetime) -> None:
    """The agent is done talking on `call`: wrap-up for the queue's time, or available
    (offline without a live console)."""
    queue = settings.queues.get(call.queue or "")
    seconds = queue.wrapup_seconds if queue else 0
    if seconds:
        set_presence(agent, "wrap-up", now)
        agent.current_call_sid = call.call_sid
        agent.wrapup_until = now + timedelta(seconds=seconds)
    else:
        live = has_live_console(agent, live_console_cutoff(now))
        set_presence(agent, "available" if live else "offline", now)


def wrap_up(
    session: Session,
    settings: Settings,
    agent_id: int,
    call_sid: str,
    disposition: str,
    notes: str,
    now: datetime,
) -> Changes:
    """Save the agent's disposition and notes for their part of the call; they are available.

    The call's own disposition is its current agent's; an agent who handed the call on
    (transfer) wraps up their part too, kept with every part in the call's `wrapups`.
    """
    if disposition not in settings.dispositions:
        raise RoutingError(N_("unknown disposition {disposition}"), disposition=repr(disposition))
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    context = dict(call.context or {}) if call is not None else {}
    owner = call is not None and call.agent_id == agent_id
    if call is None or not (owner or agent_id in context.get("former_agents", [])):
        raise RoutingError(N_("this is not your call"))
    wrapups = list(context.get("wrapups", []))
    if not owner and any(part.get("agent_id") == agent_id for part in wrapups):
        raise RoutingError(N_("you have already wrapped up this call"))
    agent = session.get(Agent, agent_id)
    if (
        owner
        and agent is not None
        and agent.status == "on-call"
        and (agent.current_call_sid == call_sid)
    ):
        raise RoutingError(N_("the call is still going on: wrap up when it has ended"))
    notes = notes.strip()[:4000]
    if owner:
        call.disposition = disposition
        call.wrapup_notes = notes
        call.wrapped_up_at = now
    wrapups.append({"agent_id": agent_id, "agent": agent.username if agent else None,
                    "disposition": disposition, "notes": notes, "at": now.isoformat()})  # fmt: skip
    call.context = {**context, "wrapups": wrapups}
    log_event(session, call_sid, "agent.wrapup", disposition=disposition, agent_id=agent_id,
              part="owner" if owner else "transferred")  # fmt: skip
    changes = Changes(calls={call_sid})
    if agent is not None and agent.current_call_sid == call_sid and agent.status != "on-call":
        set_presence(agent, "available", now)
        changes.agents.add(agent.id)
    return changes


def hand_off(call: Call, agent_id: int) -> None:
    """`agent_id` leaves the call to someone else: they may still wrap up their part."""
    context = dict(call.context or {})
    former = list(context.get("former_agents", []))
    if agent_id not in former:
        former.append(agent_id)
    call.context = {**context, "former_agents": former}


def release_wrapups(session: Session, now: datetime) -> Changes:
    """Agents whose wrap-up time is over become available, or offline without a live
    console (it closed, or its process died, during the call or the wrap-up)."""
    changes = Changes()
    cutoff = live_console_cutoff(now)
    for agent in session.scalars(
        select(Agent).where(Agent.status == "wrap-up", Agent.wrapup_until <= now)
    ).all():
        set_presence(agent, "available" if has_live_console(agent, cutoff) else "offline", now)
        changes.agents.add(agent.id)
    return changes
