"""Socket.IO namespace `/supervisor`, client → server: supervisors step into calls and steer.

`supervisor:monitor`, `supervisor:coach`, `supervisor:barge`, `supervisor:leave`
(`{call_sid}`), `supervisor:agent-status` (`{agent_id, status, reason?}`),
`supervisor:move` (`{call_sid, queue?, priority?}`), `supervisor:take` (`{call_sid}`), and
the wallboard's `supervisor:thresholds` (`{queue, oldest_wait_seconds?, service_level?}`).
Each is registered like every client event, with the `on` of agent_events.py
(socket_schemas.handle: the payload validated against its model in socket_schemas.py, the
supervisor checked, always acknowledged `{"ok": true, ...}` or `{"error": "why"}`); each
action, refused ones too, is written to the audit log by :func:`audited`. A payload that is
not well formed is refused before any action, and is not audited.

The call's agent hears `call:supervisor` (`{call_sid, supervisor, mode}`) on `/agent`.
Server → client `wallboard` is sent by `Realtime.wallboard`; the connect handler is in
agent_events.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import SocketIO

from callcenter.calls.records import get_call
from callcenter.calls.routing import Changes, requeue
from callcenter.messages import N_, Refusal
from callcenter.models import Agent, utcnow
from callcenter.services import Services
from callcenter.supervision import audit
from callcenter.supervision.steer import move_call, set_agent_status, take_call
from callcenter.supervision.steps import (
    agent_notice,
    left,
    legs_to_release,
    plan_leave,
    plan_step,
    stepped_in,
)
from callcenter.supervision.thresholds import set_thresholds
from callcenter.telephony.bridge import BridgeError, CallBridge
from callcenter.web.bridging import accepted_call, agent_leg, bridge_accepted
from callcenter.web.i18n import refusal_text
from callcenter.web.realtime import Realtime
from callcenter.web.rooms import AGENT_NS, SUPERVISOR_NS, agent_room
from callcenter.web.socket_schemas import (
    REFUSALS,
    AgentStatus,
    Barge,
    Coach,
    Leave,
    Monitor,
    Move,
    Payload,
    Take,
    Thresholds,
)

log = logging.getLogger("callcenter.supervisor_events")

Action = Callable[[int, Any], dict[str, Any]]
Register = Callable[[str, str, type[Payload], Action], None]


def register_supervisor_events(
    on: Register, socketio: SocketIO, services: Services, realtime: Realtime, bridge: CallBridge
) -> None:
    """Attach the supervisors' actions on `/supervisor` through `on` (agent_events.py's
    registration), and hang up the supervisors' legs of calls that end."""
    stepping = threading.Lock()  # one step into a call at a time: never two legs for one
    ended_calls: set[str] = set()
    ended_lock = threading.Lock()

    def commit_and_publish(step: Callable[[Any], Changes]) -> Changes:
        with services.database.session() as session:
            changes = step(session)
        # The board is marked changed (pages see it within a second); a change to calls or
        # agents wakes the dispatcher.
        realtime.publish(changes)
        realtime.touch()
        return changes

    def audited(event: str, action: Action) -> Action:
        """`action`, its result written to the audit log: `ok`, or why it was refused."""

        def run(actor_id: int, payload: Any) -> dict[str, Any]:
            try:
                answer = {"ok": True, **action(actor_id, payload)}
                result = "ok"
            except REFUSALS as exc:
                answer = {"error": refusal_text(exc)}
                result = str(exc)  # the audit log keeps the English
            except BridgeError as exc:
                failure = Refusal(
                    N_("the telephone service did not do it: {reason}"), reason=str(exc)
                )
                answer = {"error": refusal_text(failure)}
                result = str(failure)  # the audit log keeps the English
            except Exception:
                write(actor_id, event, payload, {}, "internal error")
                raise  # the helper logs it and acks "internal error"
            write(actor_id, event, payload, answer, result)
            return answer

        return run

    def write(actor_id: int, event: str, payload: Any, answer: dict[str, Any], result: str) -> None:
        with services.database.session() as session:
            actor = session.get(Agent, actor_id)
            if actor is None:
                return
            details = payload.model_dump(exclude={"call_sid", "agent_id"})
            audit.record(
                session, actor, event.replace(":", "."), utcnow(),
                agent_id=getattr(payload, "agent_id", None) or answer.get("agent_id"),
                call_sid=getattr(payload, "call_sid", None), result=result, **details,
            )  # fmt: skip

    def notify_agent(
        supervisor_id: int, call_sid: str, mode: str | None, previous: str | None
    ) -> int | None:
        """Tell the call's agent of the step when they are to know (see `agent_notice`)."""
        with services.database.session() as session:
            supervisor = session.get(Agent, supervisor_id)
            call = get_call(session, call_sid)
            if supervisor is None or call is None or call.agent_id is None:
                return None
            announce = services.settings.supervision.announce_monitor
            notice = agent_notice(supervisor, call, mode, previous, announce)
            agent_id = call.agent_id
        if notice is not None:
            socketio.emit("call:supervisor", notice, to=agent_room(agent_id), namespace=AGENT_NS)
        return agent_id

    def step_into(mode: str) -> Callable[[int, Any], dict[str, Any]]:
        def act(actor_id: int, payload: Monitor | Coach | Barge) -> dict[str, Any]:
            with stepping:
                with services.database.session() as session:
                    supervisor = session.get(Agent, actor_id)
                    step = plan_step(session, supervisor, payload.call_sid, mode)
                    address = agent_leg(supervisor)
                if step.leg is None:
                    leg = bridge.supervise(step.call_sid, address, mode, step.agent_leg)
                else:
                    bridge.change_supervision(step.call_sid, step.leg, mode, step.agent_leg)
                    leg = step.leg
                commit_and_publish(
                    lambda session: stepped_in(
                        session, session.get(Agent, actor_id), step, leg, utcnow()
                    )
                )
            notify_agent(actor_id, step.call_sid, mode, step.previous)
            return {"call_sid": step.call_sid, "mode": mode, "leg": leg,
                    "agent_id": step.agent_id}  # fmt: skip

        return act

    def leave(actor_id: int, payload: Leave) -> dict[str, Any]:
        with stepping:
            with services.database.session() as session:
                leg, mode = plan_leave(session, session.get(Agent, actor_id), payload.call_sid)
            try:
                bridge.hang_up(leg)
            except BridgeError as exc:
                if not exc.call_gone:
                    raise
            commit_and_publish(lambda session: left(session, payload.call_sid, leg, "left",
                                                    ended=True))  # fmt: skip
        agent_id = notify_agent(actor_id, payload.call_sid, None, mode)
        return {"call_sid": payload.call_sid, "agent_id": agent_id}

    def agent_status(actor_id: int, payload: AgentStatus) -> dict[str, Any]:
        def change(session: Any) -> Changes:
            actor = session.get(Agent, actor_id)
            return set_agent_status(
                session, actor, payload.agent_id, payload.status, payload.reason, utcnow()
            )

        commit_and_publish(change)
        return {"agent_id": payload.agent_id, "status": payload.status}

    def move(actor_id: int, payload: Move) -> dict[str, Any]:
        before: dict[str, str | None] = {}

        def moved(session: Any) -> Changes:
            actor = session.get(Agent, actor_id)
            call = get_call(session, payload.call_sid)
            before["queue"] = call.queue if call is not None else None
            return move_call(session, services.settings, actor, payload.call_sid, utcnow(),
                             queue=payload.queue, priority=payload.priority)  # fmt: skip

        commit_and_publish(moved)
        with services.database.session() as session:
            call = get_call(session, payload.call_sid)
            assert call is not None
            answer = {"call_sid": call.call_sid, "queue": call.queue,
                      "priority": call.queue_priority}  # fmt: skip
            on_the_line = call.outcome == "queued" and call.dequeued_at is None
            caller_leg = (call.context or {}).get("caller_leg")
            queue, language = call.queue or "", call.language
        if on_the_line and queue != before.get("queue"):
            # After the commit: the caller hears the new queue's hold treatment now, not
            # the old queue's until they leave it.
            try:
                bridge.rejoin_queue(payload.call_sid, queue, language, caller_leg)
            except BridgeError as exc:
                log.warning("moved %s, but could not redirect its caller: %s",
                            payload.call_sid, exc)  # fmt: skip
        return answer

    def take(actor_id: int, payload: Take) -> dict[str, Any]:
        call_sid = payload.call_sid
        commit_and_publish(
            lambda session: take_call(session, session.get(Agent, actor_id), call_sid, utcnow())
        )
        taken = accepted_call(services, actor_id, call_sid)
        try:
            leg = bridge_accepted(services, bridge, taken)
        except BridgeError:
            commit_and_publish(lambda session: requeue(session, call_sid, actor_id, utcnow()))
            raise
        return {"call_sid": call_sid, "leg": leg, "agent_id": actor_id}

    def thresholds(actor_id: int, payload: Thresholds) -> dict[str, Any]:
        with services.database.session() as session:
            result = set_thresholds(
                session, services.settings, payload.queue, utcnow(), by=actor_id,
                **payload.values(),
            )  # fmt: skip
        realtime.touch()  # every page shows the new thresholds within the second
        return {"queue": payload.queue, "thresholds": result}

    def on_disconnect(reason: Any = None) -> None:
        realtime.supervisor_left(request.sid)  # type: ignore[attr-defined]

    socketio.on_event("disconnect", on_disconnect, namespace=SUPERVISOR_NS)
    actions: list[tuple[str, type[Payload], Action]] = [
        ("supervisor:monitor", Monitor, step_into("monitor")),
        ("supervisor:coach", Coach, step_into("coach")),
        ("supervisor:barge", Barge, step_into("barge")),
        ("supervisor:leave", Leave, leave),
        ("supervisor:agent-status", AgentStatus, agent_status),
        ("supervisor:move", Move, move),
        ("supervisor:take", Take, take),
        ("supervisor:thresholds", Thresholds, thresholds),
    ]
    for event, model, action in actions:
        on(SUPERVISOR_NS, event, model, audited(event, action))

    # -- calls that end: their supervisors' legs are hung up (by the dispatcher loop) ------

    def note_ended(changes: Changes) -> None:
        # No wake-up of its own: a call that ends is announced with `calls` changed, which
        # wakes the dispatcher; a leg joining or leaving leaves nothing to hang up.
        if changes.participants:
            with ended_lock:
                ended_calls.update(changes.participants)

    def release_legs() -> None:
        with ended_lock:
            pending = sorted(ended_calls)
            ended_calls.clear()
        for call_sid in pending:
            with services.database.read_session() as session:
                legs = legs_to_release(session, call_sid)
            for leg in legs:
                try:
                    bridge.hang_up(leg)
                except BridgeError as exc:
                    if not exc.call_gone:  # try again on the next pass
                        with ended_lock:
                            ended_calls.add(call_sid)
                        continue
                commit_and_publish(
                    lambda session, leg=leg, sid=call_sid: left(
                        session, sid, leg, "call ended", ended=True
                    )
                )

    realtime.listeners.append(note_ended)
    realtime.housekeeping.append(release_legs)
