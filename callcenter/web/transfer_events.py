"""Transfers on `/agent`: the agent moves their caller to a queue or another agent.

Cold, `call:transfer` (`{call_sid, queue | agent | agent_number}`): the caller is moved at
once (checked first without committing, then redirected, then recorded, so a failed
redirect leaves the caller with their agent). Warm, in steps: `call:consult` offers the
call to another agent (who gets `call:consult`), who answers `call:consult-accept` (dialed
in, the caller holds) or `call:consult-decline`; then the first agent hands the caller
over (`call:complete-transfer`) or takes them back (`call:cancel-consult`). Each is acked
`{ok: true, ...}` or `{error}` (see docs/agent-protocol.md), and registered through the
`on` of agent_events.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from flask_socketio import SocketIO
from sqlalchemy import select

from callcenter.calls.consults import (
    accept_consult,
    cancel_consult,
    complete_transfer,
    consult_joined,
    decline_consult,
    offer_consult,
)
from callcenter.calls.participants import caller_leg
from callcenter.calls.records import get_call
from callcenter.calls.routing import Changes, RoutingError, end_consult, transfer
from callcenter.messages import N_, Refusal
from callcenter.models import Agent, Call, utcnow
from callcenter.screenpop import consult_payload
from callcenter.services import Services
from callcenter.telephony.bridge import BridgeError, CallBridge
from callcenter.web.bridging import agent_leg
from callcenter.web.i18n import refusal_text
from callcenter.web.rooms import AGENT_NS, agent_room
from callcenter.web.socket_schemas import (
    CancelConsult,
    CompleteTransfer,
    Consult,
    ConsultAccept,
    ConsultDecline,
    Transfer,
)


def register_transfer_events(
    on: Callable[..., None],
    socketio: SocketIO,
    services: Services,
    bridge: CallBridge,
    commit_and_publish: Callable[[Any], Any],
    my_call: Callable[[int, str], Call],
) -> None:
    """Attach the cold and warm transfers through `on` (agent_events.py's), with its
    `commit_and_publish` and `my_call` (the call the agent is on now, else RoutingError)."""

    def on_transfer(agent_id: int, data: Transfer) -> dict[str, Any]:
        try:
            call = my_call(agent_id, data.call_sid)
            to_agent = data.agent
            if data.agent_number is not None:
                to_agent = agent_by_number(data.agent_number)

            def move(session: Any) -> Changes:
                return transfer(
                    session, services.settings, agent_id, call.call_sid, utcnow(),
                    queue=data.queue, to_agent=to_agent,
                )  # fmt: skip

            # Check first without committing, move the caller, then record it: a failed
            # redirect leaves the caller with their agent and the records as they were.
            session = services.database.sessions()
            try:
                move(session)
                target_queue = get_call(session, call.call_sid).queue or ""
            finally:
                session.rollback()
                session.close()
            bridge.to_queue(call.call_sid, target_queue, call.language, caller_leg(call))
            commit_and_publish(move)
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        except BridgeError as exc:
            return {
                "error": refusal_text(
                    Refusal(N_("the caller could not be moved: {reason}"), reason=str(exc))
                )
            }
        return {"ok": True, "queue": target_queue}

    def agent_by_number(number: str) -> int:
        with services.database.session() as session:
            found = session.scalar(select(Agent.id).where(Agent.agent_number == number))
        if found is None:
            raise RoutingError(N_("no agent with number {number}"), number=number)
        return found

    def on_consult(agent_id: int, data: Consult) -> dict[str, Any]:
        """Warm transfer, step one: offer the call to another agent (nobody is dialed yet)."""
        try:
            call = my_call(agent_id, data.call_sid)
            target_id = agent_by_number(data.agent_number)
            commit_and_publish(
                lambda session: offer_consult(
                    session, services.settings, agent_id, call.call_sid, target_id, utcnow()
                )
            )
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        with services.database.session() as session:
            live = get_call(session, call.call_sid)
            target = session.get(Agent, target_id)
            payload = consult_payload(
                session, services.settings, live, target, utcnow(), services.flows.flows
            )
        socketio.emit("call:consult", payload, to=agent_room(target_id), namespace=AGENT_NS)
        return {"ok": True, "agent": target_id, "expires_at": payload["expires_at"]}

    def on_consult_accept(agent_id: int, data: ConsultAccept) -> dict[str, Any]:
        """The consulted agent accepts: they are dialed into the call, the caller holds."""
        call_sid = data.call_sid
        try:
            commit_and_publish(
                lambda session: accept_consult(session, agent_id, call_sid, utcnow())
            )
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        with services.database.session() as session:
            agent = session.get(Agent, agent_id)
            leg = agent_leg(agent)
            held = caller_leg(get_call(session, call_sid))

        def failed(session: Any) -> Changes:
            return end_consult(session, get_call(session, call_sid), "failed", utcnow())

        try:
            consult_leg = bridge.consult(call_sid, leg, held)
        except BridgeError as exc:
            commit_and_publish(failed)
            return {
                "error": refusal_text(
                    Refusal(N_("could not connect you to the call: {reason}"), reason=str(exc))
                )
            }
        try:
            commit_and_publish(
                lambda session: consult_joined(get_call(session, call_sid), consult_leg)
            )
        except RoutingError as exc:  # cancelled meanwhile
            with contextlib.suppress(BridgeError):
                bridge.hang_up(consult_leg)
            return {"error": refusal_text(exc)}
        return {"ok": True, "call_sid": call_sid}

    def on_consult_decline(agent_id: int, data: ConsultDecline) -> dict[str, Any]:
        try:
            commit_and_publish(
                lambda session: decline_consult(session, agent_id, data.call_sid, utcnow())
            )
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        return {"ok": True}

    def on_complete_transfer(agent_id: int, data: CompleteTransfer) -> dict[str, Any]:
        """Warm transfer, step two: hand the caller over and leave."""
        try:
            call = my_call(agent_id, data.call_sid)

            def hand_over(session: Any) -> Changes:
                return complete_transfer(
                    session, services.settings, agent_id, call.call_sid, utcnow()
                )

            # Check first without committing, then move the legs, then record it.
            session = services.database.sessions()
            try:
                hand_over(session)
            finally:
                session.rollback()
                session.close()
            consult_leg = (call.context or {}).get("consult_leg")
            bridge.hand_over(call.call_sid, call.agent_leg_sid, consult_leg, caller_leg(call))
            commit_and_publish(hand_over)
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        except BridgeError as exc:
            return {
                "error": refusal_text(
                    Refusal(N_("could not hand the call over: {reason}"), reason=str(exc))
                )
            }
        return {"ok": True}

    def on_cancel_consult(agent_id: int, data: CancelConsult) -> dict[str, Any]:
        try:
            call = my_call(agent_id, data.call_sid)
            consult_leg = (call.context or {}).get("consult_leg")
            commit_and_publish(
                lambda session: cancel_consult(session, agent_id, call.call_sid, utcnow())
            )
            if consult_leg:  # the other agent was in: they leave, the caller comes back
                bridge.hang_up(consult_leg)
                bridge.hold(call.call_sid, False, caller_leg(call))
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        except BridgeError as exc:
            return {
                "error": refusal_text(
                    Refusal(N_("could not end the consult: {reason}"), reason=str(exc))
                )
            }
        return {"ok": True}

    on(AGENT_NS, "call:transfer", Transfer, on_transfer)
    on(AGENT_NS, "call:consult", Consult, on_consult)
    on(AGENT_NS, "call:complete-transfer", CompleteTransfer, on_complete_transfer)
    on(AGENT_NS, "call:cancel-consult", CancelConsult, on_cancel_consult)
    on(AGENT_NS, "call:consult-accept", ConsultAccept, on_consult_accept)
    on(AGENT_NS, "call:consult-decline", ConsultDecline, on_consult_decline)
