"""Bridging a call an agent (or a supervisor) has just taken: one short read, the REST
requests, and the legs recorded on the call. Used by `call:accept` and `supervisor:take`."""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.calls.records import get_call
from callcenter.calls.routing import callback_pending
from callcenter.models import Agent
from callcenter.services import Services
from callcenter.telephony.bridge import AgentLeg, CallBridge


@dataclass(frozen=True)
class AcceptedCall:
    """What bridging a taken call needs, read in one short session."""

    call_sid: str
    agent_id: int
    agent: AgentLeg
    language: str
    callback_number: str | None
    """A call-back whose customer is still to be dialed (agent first, then the customer)."""
    caller_leg: str | None
    """The caller's own leg when it is not the call itself (a transferred call-back)."""


def agent_leg(agent: Agent) -> AgentLeg:
    """Where the bridge dials `agent`: their phone if they take calls on it, else the
    console's softphone (`client:<username>`)."""
    phone = agent.phone if agent.takes_calls_on == "phone" else None
    return AgentLeg(agent.username, agent.agent_number, phone)


def accepted_call(services: Services, agent_id: int, call_sid: str) -> AcceptedCall:
    """Read what bridging `call_sid` to `agent_id` needs."""
    with services.database.read_session() as session:
        agent = session.get(Agent, agent_id)
        assert agent is not None
        call = get_call(session, call_sid)
        return AcceptedCall(
            call_sid=call_sid,
            agent_id=agent_id,
            agent=agent_leg(agent),
            language=call.language if call else services.settings.default_language,
            # Only a call-back not yet dialed dials the customer; once they are on the line
            # (a transferred call-back) their leg is bridged like any caller's.
            callback_number=call.caller_number if call and callback_pending(call) else None,
            caller_leg=(call.context or {}).get("caller_leg") if call else None,
        )


def bridge_accepted(
    services: Services,
    bridge: CallBridge,
    taken: AcceptedCall,
    agent_leg_sid: str | None = None,
) -> str:
    """Dial the agent into the call (a pending call-back: the agent, then the customer) and
    record the legs on the call; returns the agent's leg, raises BridgeError when Twilio
    refuses. `agent_leg_sid`: the agent's leg is already up (their softphone placed the call,
    callcenter.web.client_hooks), only the customer is dialed."""
    caller_leg = None
    if taken.callback_number and agent_leg_sid:
        caller_leg = bridge.dial_customer(
            taken.call_sid, taken.callback_number, taken.agent, taken.language
        )
        leg = agent_leg_sid
    elif taken.callback_number:
        caller_leg, leg = bridge.call_back(
            taken.call_sid, taken.callback_number, taken.agent, taken.language
        )
    else:
        leg = bridge.connect(taken.call_sid, taken.agent, taken.language, taken.caller_leg)
    with services.database.session() as session:
        call = get_call(session, taken.call_sid)
        if call is not None and call.agent_id == taken.agent_id:
            call.agent_leg_sid = leg
            if caller_leg:
                call.context = {**(call.context or {}), "caller_leg": caller_leg}
    return leg
