"""Warm transfers (pure domain): an agent offers their call to another agent, who sees what
they would join and accepts (then is dialed in to talk while the caller holds) or
declines; the first agent then hands the call over or cancels. The caller commits.

The consult is kept in the call's `context["consult"]`: `{from, to, status, expires_at}`
with status `offered` or `accepted`; `call.transfer_agent_id` is the consulted agent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.participants import caller_leg, note_leg
from callcenter.calls.records import log_event
from callcenter.calls.routing import Changes, RoutingError, end_consult, hand_off, start_wrapup
from callcenter.config import Settings
from callcenter.messages import N_
from callcenter.models import Agent, Call
from callcenter.people.agents import set_presence

CONSULT_SECONDS = 20  # when the queue has no offer_timeout to go by


def _locked_call(session: Session, call_sid: str) -> Call | None:
    return session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())


def offer_consult(
    session: Session, settings: Settings, agent_id: int, call_sid: str, target_id: int,
    now: datetime,
) -> Changes:  # fmt: skip
    """Offer the agent's call to an available agent; nobody is dialed until they accept."""
    call = _locked_call(session, call_sid)
    if call is None or call.agent_id != agent_id or call.ended_at is not None:
        raise RoutingError(N_("this is not your call"))
    if (call.context or {}).get("consult"):
        raise RoutingError(N_("a consult is already under way on this call"))
    if not (call.context or {}).get("connected"):
        raise RoutingError(N_("the caller is not connected yet: consult once you are talking"))
    target = session.scalar(
        select(Agent).where(Agent.id == target_id, Agent.active.is_(True)).with_for_update()
    )
    if target is None or target_id == agent_id:
        raise RoutingError(N_("no such agent to consult"))
    if target.status != "available":
        raise RoutingError(
            N_("{name} is not available ({status})"), name=target.display_name, status=target.status
        )
    queue = settings.queues.get(call.queue or "")
    expires = now + timedelta(seconds=queue.offer_timeout if queue else CONSULT_SECONDS)
    set_presence(target, "ringing", now, "consult")
    target.current_call_sid = call_sid
    call.transfer_agent_id = target_id
    call.context = {**(call.context or {}), "consult": {
        "from": agent_id, "to": target_id, "status": "offered", "expires_at": expires.isoformat(),
    }}  # fmt: skip
    log_event(session, call_sid, "agent.consult", agent_id=agent_id, to_agent=target_id)
    return Changes(
        agents={target_id}, calls={call_sid}, participants={call_sid},
        consults=[(call_sid, agent_id, target_id, "offered")],
    )  # fmt: skip


def _consult(call: Call | None) -> dict[str, object]:
    return dict((call.context or {}).get("consult") or {}) if call is not None else {}


def accept_consult(session: Session, agent_id: int, call_sid: str, now: datetime) -> Changes:
    """The consulted agent accepts: they are on the call (consulting) and get dialed in."""
    call = _locked_call(session, call_sid)
    consult = _consult(call)
    agent = session.get(Agent, agent_id)
    if (
        call is None or call.ended_at is not None or consult.get("to") != agent_id
        or consult.get("status") != "offered" or agent is None
        or agent.current_call_sid != call_sid or agent.status != "ringing"
    ):  # fmt: skip
        raise RoutingError(N_("this consult is no longer offered to you"))
    if datetime.fromisoformat(str(consult["expires_at"])) <= now:
        raise RoutingError(N_("this consult is no longer offered to you"))
    set_presence(agent, "on-call", now, "consulting")
    call.context = {**(call.context or {}), "consult": {**consult, "status": "accepted"}}
    log_event(session, call_sid, "agent.consult_accepted", agent_id=agent_id)
    return Changes(
        agents={agent_id}, calls={call_sid}, participants={call_sid},
        consults=[(call_sid, int(str(consult["from"])), agent_id, "accepted")],
    )  # fmt: skip


def decline_consult(session: Session, agent_id: int, call_sid: str, now: datetime) -> Changes:
    """The consulted agent says no: they stay available, the first agent keeps the call."""
    call = _locked_call(session, call_sid)
    consult = _consult(call)
    if call is None or consult.get("to") != agent_id or consult.get("status") != "offered":
        raise RoutingError(N_("this consult is no longer offered to you"))
    return end_consult(session, call, "declined", now)


def consult_joined(call: Call, leg: str) -> Changes:
    """The consulted agent's leg was dialed into the conference (the caller now holds)."""
    consult = _consult(call)
    if consult.get("status") != "accepted":
        raise RoutingError(N_("the consult was cancelled"))
    call.context = {**(call.context or {}), "consult_leg": leg}
    note_leg(call, leg, role="agent", agent_id=int(str(consult["to"])), state="connecting")
    note_leg(call, caller_leg(call), state="on hold")
    return Changes(participants={call.call_sid})


def expire_consults(session: Session, now: datetime) -> Changes:
    """Consults nobody accepted in time (or whose agent went away) end: `no answer`."""
    changes = Changes()
    pending = session.scalars(
        select(Call).where(Call.transfer_agent_id.is_not(None), Call.ended_at.is_(None))
    ).all()
    for call in pending:
        consult = _consult(call)
        if consult.get("status") != "offered":
            continue
        target = session.get(Agent, call.transfer_agent_id)
        gone = (
            target is None
            or target.status != "ringing"
            or target.current_call_sid != (call.call_sid)
        )
        if gone or datetime.fromisoformat(str(consult["expires_at"])) <= now:
            changes.merge(end_consult(session, call, "no answer", now))
    return changes


def complete_transfer(
    session: Session, settings: Settings, agent_id: int, call_sid: str, now: datetime
) -> Changes:
    """Warm transfer, done: the consulted agent owns the call; the first one wraps up."""
    call = _locked_call(session, call_sid)
    consult = _consult(call)
    if call is None or call.agent_id != agent_id or call.transfer_agent_id is None:
        raise RoutingError(N_("no transfer in progress on this call"))
    target_id = call.transfer_agent_id
    target = session.get(Agent, target_id)
    leg = (call.context or {}).get("consult_leg")
    if consult.get("status") != "accepted" or not leg:
        name = target.display_name if target else "the other agent"
        raise RoutingError(N_("{name} has not joined the call yet"), name=name)
    changes = Changes(
        agents={agent_id, target_id}, calls={call_sid}, participants={call_sid},
        consults=[(call_sid, agent_id, target_id, "completed")],
    )  # fmt: skip
    first = session.get(Agent, agent_id)
    if first is not None:
        start_wrapup(settings, first, call, now)
    if target is not None:
        set_presence(target, "on-call", now)
        target.current_call_sid = call_sid
    if call.agent_leg_sid:
        note_leg(call, call.agent_leg_sid, role="agent", agent_id=agent_id)
    note_leg(call, caller_leg(call), state="connected")
    hand_off(call, agent_id)
    context = dict(call.context or {})
    context.pop("consult", None)
    context.pop("consult_leg", None)
    call.context = context
    call.agent_id = target_id
    call.agent_leg_sid = leg
    call.transfer_agent_id = None
    log_event(session, call_sid, "agent.transfer_completed", agent_id=agent_id, to_agent=target_id)
    return changes


def cancel_consult(
    session: Session, agent_id: int, call_sid: str, now: datetime, status: str = "cancelled"
) -> Changes:
    """The first agent keeps the call; the consulted agent is available again."""
    call = _locked_call(session, call_sid)
    if call is None or call.agent_id != agent_id or not _consult(call):
        raise RoutingError(N_("no transfer in progress on this call"))
    if status == "cancelled":
        note_leg(call, caller_leg(call), state="connected")
    return end_consult(session, call, status, now)
