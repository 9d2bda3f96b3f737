"""`POST /twilio/client/outgoing`: the TwiML App's Voice URL, where Twilio asks what to do
with a call the browser softphone places (signed like every `/twilio/*` callback, and run
once per delivery: a retry gets the stored answer back).

Twilio posts the softphone's leg (`CallSid`), `From=client:<identity>` and `To=<number>`.
Only a signed-in agent may call out: `<identity>` is the username of an active agent whose
console is open now (its heartbeat is fresh: `people.agents.has_live_console`, the same
test the router uses before offering a call), who is `available`; and only to a number
`outbound` in config.yaml allows (callcenter.calls.outbound). Then the call is placed as
from the console's `call:dial` (the same call record, screen-pop and wrap-up): this leg
joins the call's conference and, once the answer is committed, the customer is dialed into
it. Otherwise the caller hears why, and the call hangs up (never a 5xx).
"""

from __future__ import annotations

import contextlib
import logging

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.outbound import call_out, dial_now
from callcenter.calls.records import get_call, log_event
from callcenter.calls.routing import RoutingError, requeue
from callcenter.ivr.actions import Hangup, JoinConference, Speak
from callcenter.messages import N_
from callcenter.models import Agent, utcnow
from callcenter.people.agents import has_live_console, live_console_cutoff
from callcenter.services import get_services
from callcenter.telephony.bridge import BridgeError
from callcenter.web.bridging import accepted_call, bridge_accepted
from callcenter.web.twilio_hooks import (
    after_commit,
    announce_after_commit,
    check_signature,
    render_twiml,
    twilio_step,
)

log = logging.getLogger("callcenter.twilio")
bp = Blueprint("twilio_client", __name__, url_prefix="/twilio/client")
bp.before_request(check_signature)
IDENTITY_MAX = 64


def _calling_agent(session: Session) -> Agent:
    """The agent behind `From=client:<identity>`, signed in now; RoutingError otherwise."""
    caller = request.form.get("From", "")
    if not caller.startswith("client:") or not caller[7:]:
        raise RoutingError(N_("only an agent's softphone can call out"))
    identity = caller[7:][:IDENTITY_MAX]
    agent = session.scalar(select(Agent).where(Agent.username == identity))
    if agent is None or not agent.active:
        raise RoutingError(N_("this softphone does not belong to an active agent"))
    if not has_live_console(agent, live_console_cutoff(utcnow())):
        raise RoutingError(N_("open the agent console and sign in first"))
    return agent


@bp.post("/outgoing")
@twilio_step
def outgoing(session: Session, leg: str) -> Response:
    """Place the softphone's call, or say why not and hang up."""
    services = get_services()
    settings = services.settings
    now = utcnow()
    try:
        agent = _calling_agent(session)
        changes, call_sid = call_out(session, settings, agent, now,
                                     number=request.form.get("To", "")[:40])  # fmt: skip
        changes.merge(dial_now(session, settings, agent.id, call_sid, now))
    except RoutingError as exc:
        session.rollback()
        log.warning("softphone call %s refused: %s", leg, exc)
        sorry = Speak(f"Sorry, this call cannot be placed: {exc}.", settings.default_language,
                      personal=True)  # fmt: skip
        return render_twiml([sorry, Hangup()])
    call = get_call(session, call_sid)
    assert call is not None
    call.agent_leg_sid = leg
    log_event(session, call_sid, "bridge.agent_answered", leg=leg, softphone=True)
    announce_after_commit(session, changes)
    agent_id = agent.id
    after_commit(session, lambda: _dial_customer(agent_id, call_sid, leg))
    return render_twiml([JoinConference(call_sid, start_on_enter=True, end_on_exit=True,
                                        events=True)])  # fmt: skip


def _dial_customer(agent_id: int, call_sid: str, leg: str) -> None:
    """After the commit: dial the customer into the conference this leg is joining. If the
    telephone service refuses, the call ends (`failed`) and so does the softphone's leg."""
    services = get_services()
    bridge = services.extras["bridge"]
    try:
        bridge_accepted(services, bridge, accepted_call(services, agent_id, call_sid), leg)
    except BridgeError as exc:
        log.warning("softphone call %s: the customer could not be dialed: %s", call_sid, exc)
        with services.database.session() as session:
            changes = requeue(session, call_sid, agent_id, utcnow())
        services.announcer.publish(changes)
        with contextlib.suppress(BridgeError):
            bridge.hang_up(leg)
