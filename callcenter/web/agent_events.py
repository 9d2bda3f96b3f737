"""Socket.IO namespace `/agent`: the agent console's live channel (see docs/agent-protocol.md).

Server → client: `agent:state`, `call:offer`, `call:connected`, `call:recording`,
`call:ended`.
Client → server (each answered with an ack `{"ok": true, ...}` or `{"error": "..."}`):
`agent:status`, `call:accept`, `call:decline`, `call:wrapup`, and in a call `call:hold`,
`call:hangup`, `call:record` (pause/resume the recording), `call:add`, `call:dial` (an
outbound call, dial_events.py), `softphone:state` (softphone.py), and the transfers
(transfer_events.py): `call:transfer`, the warm transfer `call:consult`,
`call:complete-transfer`, `call:cancel-consult`, and for the consulted agent
`call:consult-accept`, `call:consult-decline`.

Every client event, on `/agent` and `/supervisor`, is registered with `on(namespace, event,
Model, handler)` below (callcenter.web.socket_schemas.handle): its payload is validated
against `Model`, the acting agent is checked (`me()` on `/agent`, `supervisor()` on
`/supervisor`), and `handler(agent_id, payload)` gets the parsed model. The supervisors'
events (supervisor_events.py) get the same `on`. Add new events the same way, with a
model in socket_schemas.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from flask import request
from flask_socketio import SocketIO, join_room
from sqlalchemy import select

from callcenter.calls.participants import caller_leg, note_leg
from callcenter.calls.records import get_call, log_event
from callcenter.calls.recovery import caller_gone
from callcenter.calls.routing import (
    Changes,
    RoutingError,
    accept,
    agent_offline,
    decline,
    requeue,
    wrap_up,
)
from callcenter.ivr.survey import in_survey
from callcenter.media.call_recordings import RecordingError, active_recording, describe, set_paused
from callcenter.messages import N_, Refusal
from callcenter.metrics.recorder import record_hold
from callcenter.models import Agent, CallOffer, utcnow
from callcenter.people.agents import AgentError, mark_consoles_seen, set_presence
from callcenter.screenpop import offer_payload
from callcenter.services import Services
from callcenter.telephony.bridge import BridgeError, CallBridge
from callcenter.web.auth import current_agent
from callcenter.web.boards import queue_summary
from callcenter.web.bridging import accepted_call, bridge_accepted
from callcenter.web.dial_events import register_dial_events
from callcenter.web.i18n import refusal_text
from callcenter.web.realtime import Realtime
from callcenter.web.rooms import AGENT_NS, SUPERVISOR_NS, agent_room
from callcenter.web.session_guard import session_guard
from callcenter.web.socket_schemas import (
    Accept,
    AddParty,
    Decline,
    Hangup,
    Hold,
    Payload,
    Record,
    Status,
    Wrapup,
    handle,
)
from callcenter.web.softphone import clear_softphone_state, register_softphone_events
from callcenter.web.supervisor_events import register_supervisor_events
from callcenter.web.transfer_events import register_transfer_events

log = logging.getLogger("callcenter.agent_events")


class Connections:
    """Open console sockets per agent in this process (several tabs count once)."""

    def __init__(self) -> None:
        self._agents: dict[str, int] = {}
        self._count: Counter[int] = Counter()
        self._lock = threading.Lock()

    def add(self, sid: str, agent_id: int) -> bool:
        """Whether this is the agent's first open socket here."""
        with self._lock:
            self._agents[sid] = agent_id
            self._count[agent_id] += 1
            return self._count[agent_id] == 1

    def remove(self, sid: str) -> tuple[int | None, bool]:
        """(agent_id, was_last_socket)."""
        with self._lock:
            agent_id = self._agents.pop(sid, None)
            if agent_id is None:
                return None, False
            self._count[agent_id] -= 1
            last = self._count[agent_id] <= 0
            if last:
                del self._count[agent_id]
            return agent_id, last

    def agent(self, sid: str) -> int | None:
        with self._lock:
            return self._agents.get(sid)

    def agent_ids(self) -> list[int]:
        """Agents with at least one open console here (for the heartbeat)."""
        with self._lock:
            return list(self._count)

    def sockets(self) -> int:
        """Console sockets open here (an agent's several tabs each count)."""
        with self._lock:
            return len(self._agents)


def register_agent_events(
    socketio: SocketIO, services: Services, realtime: Realtime, bridge: CallBridge
) -> Connections:
    """Attach the `/agent` and `/supervisor` handlers for one app."""
    connections = Connections()
    realtime.consoles = connections.agent_ids

    def me() -> int:
        """The acting agent; every action passes here, so it re-checks the session.

        An agent deactivated, logged out (anywhere), or whose password changed since this
        socket connected is refused and disconnected.
        """
        sid = request.sid  # type: ignore[attr-defined]
        agent_id = connections.agent(sid)
        if agent_id is None:
            raise RoutingError(N_("not connected"))
        agent = current_agent()
        if agent is None or agent.id != agent_id:
            guard = session_guard(services)
            if guard is not None:
                guard.drop(sid, AGENT_NS)
            raise RoutingError(N_("signed out: log in again"))
        return agent_id

    def supervisor() -> int:
        """The acting supervisor of a `/supervisor` event, the session re-checked: one
        signed out is refused and disconnected; one no longer a supervisor is refused."""
        agent = current_agent()
        if agent is None:
            guard = session_guard(services)
            if guard is not None:
                guard.drop(request.sid, SUPERVISOR_NS)  # type: ignore[attr-defined]
            raise RoutingError(N_("signed out: log in again"))
        if not agent.is_supervisor:
            raise RoutingError(N_("supervisor login required"))
        return agent.id

    def on(namespace: str, event: str, model: type[Payload], handler: Any) -> None:
        """Register a client event: validated, its actor checked, always acknowledged."""
        actor = me if namespace == AGENT_NS else supervisor
        handle(socketio, namespace, event, model, handler, actor=actor, context=payload_context)

    def payload_context() -> dict[str, Any]:
        return {"dispositions": services.settings.dispositions}

    def commit_and_publish(step: Any) -> Any:
        with services.database.session() as session:
            result = step(session)
        changes = result if isinstance(result, Changes) else Changes()
        realtime.publish(changes)  # a change to calls or agents wakes the dispatcher
        realtime.touch()
        return result

    def on_connect(auth: Any = None) -> None:
        agent = current_agent()
        if agent is None:
            raise ConnectionRefusedError("login required")
        first = connections.add(request.sid, agent.id)  # type: ignore[attr-defined]
        join_room(agent_room(agent.id))
        if first and agent.softphone_unreachable_since is not None:
            # Left by a console gone with its process: this console's softphone reports anew.
            with services.database.session() as session:
                clear_softphone_state(session, agent.id)
            agent.softphone_unreachable_since = None  # detached: what agent:state says
        socketio.emit("agent:state", agent.public(), to=request.sid, namespace=AGENT_NS)  # type: ignore[attr-defined]
        # A console that reconnects while ringing gets its offer again.
        with services.database.session() as session:
            mark_consoles_seen(session, [agent.id], utcnow())  # routable from now on
            offer = session.scalar(
                select(CallOffer).where(
                    CallOffer.agent_id == agent.id, CallOffer.status == "offered"
                )
            )
            call = get_call(session, offer.call_sid) if offer else None
            if call is not None:
                payload = offer_payload(session, services.settings, call, utcnow(), agent)
                socketio.emit("call:offer", payload, to=request.sid, namespace=AGENT_NS)  # type: ignore[attr-defined]
            # The Queues card is filled at once, not at the next change.
            queues = queue_summary(session, services)
        socketio.emit("queues", queues, to=request.sid, namespace=AGENT_NS)  # type: ignore[attr-defined]

    def on_disconnect(reason: Any = None) -> None:
        agent_id, last = connections.remove(request.sid)  # type: ignore[attr-defined]
        if agent_id is None or not last:
            return

        def leave(session: Any) -> Changes:
            agent = session.get(Agent, agent_id)
            if agent is None:
                return Changes()
            agent.console_seen_at = None  # a wrap-up under way then ends offline
            clear_softphone_state(session, agent_id)  # the next console reports afresh
            return agent_offline(session, agent, utcnow())

        commit_and_publish(leave)

    def on_status(agent_id: int, data: Status) -> dict[str, Any]:
        status, reason = data.status, data.reason

        def change(session: Any) -> Changes:
            agent = session.get(Agent, agent_id)
            if agent.status in ("ringing", "on-call") and status != "offline":
                raise RoutingError(N_("cannot change status while {status}"), status=agent.status)
            if agent.status == "ringing":
                return agent_offline(session, agent, utcnow())
            set_presence(agent, status, utcnow(), reason)
            return Changes(agents={agent_id})

        try:
            commit_and_publish(change)
        except (RoutingError, AgentError) as exc:
            return {"error": refusal_text(exc)}
        return {"ok": True, "status": status}

    def on_accept(agent_id: int, data: Accept) -> dict[str, Any]:
        call_sid = data.call_sid
        try:
            commit_and_publish(lambda session: accept(session, agent_id, call_sid, utcnow()))
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        return bridge_taken(agent_id, call_sid)

    def bridge_taken(agent_id: int, call_sid: str) -> dict[str, Any]:
        """Bridge a call `agent_id` has just taken (accepted, or dialed with `call:dial`);
        when Twilio refuses, undo the take (`requeue`) and say why."""
        taken = accepted_call(services, agent_id, call_sid)
        try:
            bridge_accepted(services, bridge, taken)
        except BridgeError as exc:
            if exc.call_gone and not taken.callback_number:
                # The caller hung up and we never heard: end the call, do not offer it again.
                commit_and_publish(
                    lambda session: caller_gone(
                        session, services.settings, call_sid, agent_id, utcnow()
                    )
                )
                socketio.emit("call:ended", {"call_sid": call_sid, "reason": "caller left"},
                              to=agent_room(agent_id), namespace=AGENT_NS)  # fmt: skip
                return {"error": refusal_text(N_("the caller has already hung up"))}
            commit_and_publish(lambda session: requeue(session, call_sid, agent_id, utcnow()))
            socketio.emit("call:ended", {"call_sid": call_sid, "reason": "bridge failed"},
                          to=agent_room(agent_id), namespace=AGENT_NS)  # fmt: skip
            return {
                "error": refusal_text(
                    Refusal(N_("could not connect the call: {reason}"), reason=str(exc))
                )
            }
        return {"ok": True, "call_sid": call_sid}

    def my_call(agent_id: int, call_sid: str) -> Any:
        """The call this agent is on now (detached)."""
        with services.database.read_session() as session:
            call = get_call(session, call_sid)
            if (
                call is None
                or call.agent_id != agent_id
                or call.ended_at is not None
                or in_survey(call)  # the agent hung up, the caller is rating the call
            ):
                raise RoutingError(N_("you are not on this call"))
            session.expunge(call)
        return call

    def on_hold(agent_id: int, data: Hold) -> dict[str, Any]:
        held = data.hold
        try:
            call = my_call(agent_id, data.call_sid)
            if not (call.context or {}).get("connected"):
                raise RoutingError(
                    N_("the caller is not connected yet: hold works once you are talking")
                )
            bridge.hold(call.call_sid, held, caller_leg(call))
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        except BridgeError as exc:
            if held:
                failure = Refusal(N_("could not put the caller on hold: {reason}"), reason=str(exc))
            else:
                failure = Refusal(
                    N_("could not take the caller off hold: {reason}"), reason=str(exc)
                )
            return {"error": refusal_text(failure)}

        def noted(session: Any) -> Changes:
            live = get_call(session, call.call_sid)
            note_leg(live, caller_leg(live), state="on hold" if held else "connected")
            log_event(session, call.call_sid, "agent.hold" if held else "agent.resume")
            record_hold(session, call.call_sid, held, utcnow())
            return Changes(participants={call.call_sid})

        commit_and_publish(noted)
        return {"ok": True, "hold": held}

    def on_record(agent_id: int, data: Record) -> dict[str, Any]:
        """Pause or resume the call's recording (`{"call_sid", "action": "pause"|"resume"}`)."""
        try:
            call = my_call(agent_id, data.call_sid)
            paused = data.action == "pause"
            with services.database.session() as session:
                recording = active_recording(session, call.call_sid)
                if recording is None or recording.recording_sid is None:
                    raise RecordingError(N_("this call is not being recorded"))
                if (recording.status == "paused") == paused:
                    raise RecordingError(
                        N_("the recording is already {status}"), status=recording.status
                    )
                leg, recording_sid = recording.leg_sid, recording.recording_sid
            bridge.pause_recording(leg, recording_sid, paused)
            with services.database.session() as session:
                state = describe(set_paused(session, call.call_sid, paused, agent_id, utcnow()))
        except (RoutingError, RecordingError) as exc:
            return {"error": refusal_text(exc)}
        except BridgeError as exc:
            return {
                "error": refusal_text(
                    Refusal(N_("the recording could not be changed: {reason}"), reason=str(exc))
                )
            }
        socketio.emit("call:recording", {"call_sid": call.call_sid, **state},
                      to=agent_room(agent_id), namespace=AGENT_NS)  # fmt: skip
        return {"ok": True, **state}

    def consulting_leg(agent_id: int, call_sid: str) -> str | None:
        """The leg of this agent when they are the consulted agent on the call."""
        with services.database.session() as session:
            call = get_call(session, call_sid)
            context = (call.context or {}) if call is not None else {}
            consult = context.get("consult") or {}
            if consult.get("to") == agent_id and consult.get("status") == "accepted":
                return context.get("consult_leg")
        return None

    def on_hangup(agent_id: int, data: Hangup) -> dict[str, Any]:
        try:
            leg = consulting_leg(agent_id, data.call_sid)  # a consulted agent leaves: it ends
            if leg is None:
                call = my_call(agent_id, data.call_sid)
                leg = call.agent_leg_sid or call.call_sid
            bridge.hang_up(leg)
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        except BridgeError as exc:
            return {
                "error": refusal_text(Refusal(N_("could not hang up: {reason}"), reason=str(exc)))
            }
        return {"ok": True}

    def on_add(agent_id: int, data: AddParty) -> dict[str, Any]:
        number = data.number  # already in E.164
        try:
            call = my_call(agent_id, data.call_sid)
            party = bridge.add_party(call.call_sid, number)
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        except BridgeError as exc:
            return {
                "error": refusal_text(
                    Refusal(
                        N_("could not add {number} to the call: {reason}"),
                        reason=str(exc),
                        number=number,
                    )
                )
            }

        def added(session: Any) -> Changes:
            live = get_call(session, call.call_sid)
            note_leg(live, party, role="party", number=number, state="connecting")
            log_event(session, call.call_sid, "agent.added_party", number=number, leg=party)
            return Changes(participants={call.call_sid})

        commit_and_publish(added)
        return {"ok": True, "call_sid": party}

    def on_decline(agent_id: int, data: Decline) -> dict[str, Any]:
        try:
            commit_and_publish(lambda session: decline(session, agent_id, data.call_sid, utcnow()))
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        return {"ok": True}

    def on_wrapup(agent_id: int, data: Wrapup) -> dict[str, Any]:
        try:
            commit_and_publish(
                lambda session: wrap_up(
                    session,
                    services.settings,
                    agent_id,
                    data.call_sid,
                    data.disposition,
                    data.notes,
                    utcnow(),
                )
            )
        except RoutingError as exc:
            return {"error": refusal_text(exc)}
        return {"ok": True}

    def on_supervisor_connect(auth: Any = None) -> None:
        agent = current_agent()
        if agent is None or agent.role not in ("supervisor", "admin"):
            raise ConnectionRefusedError("supervisor login required")
        join_room(agent_room(agent.id))  # so that ending the agent's sessions reaches it
        with services.database.session() as session:
            agents = [a.public() for a in session.scalars(select(Agent).order_by(Agent.id))]
            queues = queue_summary(session, services)
        socketio.emit("snapshot", {"agents": agents, "queues": queues}, to=request.sid,  # type: ignore[attr-defined]
                      namespace=SUPERVISOR_NS)  # fmt: skip
        realtime.supervisor_connected(request.sid)  # type: ignore[attr-defined]

    socketio.on_event("connect", on_connect, namespace=AGENT_NS)
    socketio.on_event("disconnect", on_disconnect, namespace=AGENT_NS)
    on(AGENT_NS, "agent:status", Status, on_status)
    on(AGENT_NS, "call:accept", Accept, on_accept)
    on(AGENT_NS, "call:decline", Decline, on_decline)
    on(AGENT_NS, "call:wrapup", Wrapup, on_wrapup)
    on(AGENT_NS, "call:hold", Hold, on_hold)
    on(AGENT_NS, "call:hangup", Hangup, on_hangup)
    on(AGENT_NS, "call:record", Record, on_record)
    on(AGENT_NS, "call:add", AddParty, on_add)
    register_transfer_events(on, socketio, services, bridge, commit_and_publish, my_call)
    register_dial_events(on, services, commit_and_publish, bridge_taken)
    register_softphone_events(on, commit_and_publish)
    socketio.on_event("connect", on_supervisor_connect, namespace=SUPERVISOR_NS)
    register_supervisor_events(on, socketio, services, realtime, bridge)
    return connections
