"""Socket.IO namespace `/supervisor`, client → server: supervisors step into calls and steer.

`supervisor:monitor`, `supervisor:coach`, `supervisor:barge`, `supervisor:leave`
(`{call_sid}`), `supervisor:agent-status` (`{agent_id, status, reason?}`),
`supervisor:move` (`{call_sid, queue?, priority?}`), `supervisor:take` (`{call_sid}`), and
the wallboard's `supervisor:thresholds` (`{queue, oldest_wait_seconds?, service_level?}`).
Each payload is validated, each is acknowledged `{"ok": true, ...}` or `{"error": "why"}`,
and each (refused ones too) is written to the audit log. Only supervisors and admins
connect to `/supervisor`; every event checks the session again.

The call's agent hears `call:supervisor` (`{call_sid, supervisor, mode}`) on `/agent`.
Server → client `wallboard` is sent by `Realtime.wallboard`; the connect handler is in
agent_events.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

from flask import request
from flask_socketio import SocketIO
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callcenter.calls.records import get_call
from callcenter.calls.routing import Changes, RoutingError, callback_pending, requeue
from callcenter.models import Agent, utcnow
from callcenter.people.agents import AgentError
from callcenter.services import Services
from callcenter.supervision import audit
from callcenter.supervision.steer import move_call, set_agent_status, take_call
from callcenter.supervision.steps import (
    SupervisionError,
    agent_notice,
    left,
    legs_to_release,
    plan_leave,
    plan_step,
    stepped_in,
)
from callcenter.supervision.thresholds import ThresholdError, set_thresholds
from callcenter.telephony.bridge import AgentLeg, BridgeError, CallBridge
from callcenter.web.auth import current_agent
from callcenter.web.realtime import AGENT_NS, SUPERVISOR_NS, Realtime, agent_room

log = logging.getLogger("callcenter.supervisor_events")

CALL_SID = r"^CA[0-9a-fA-F]{32}$"
QUEUE_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CallRef(_Payload):
    call_sid: str = Field(pattern=CALL_SID)


class AgentStatus(_Payload):
    agent_id: int = Field(ge=1)
    status: Literal["available", "away", "offline"]
    reason: str | None = Field(default=None, max_length=120)


class Move(_Payload):
    call_sid: str = Field(pattern=CALL_SID)
    queue: str | None = Field(default=None, pattern=QUEUE_NAME)
    priority: int | Literal["front"] | None = Field(default=None)

    def priority_value(self) -> int | str | None:
        if isinstance(self.priority, int) and not 0 <= self.priority <= 1000:
            raise SupervisionError("priority must be 0 to 1000, or front")
        return self.priority


class Thresholds(_Payload):
    """A queue's alert thresholds; a field sent as null goes back to config.yaml's default,
    a field left out stays as it is."""

    queue: str = Field(pattern=QUEUE_NAME)
    oldest_wait_seconds: int | None = None
    service_level: float | None = None

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set if name != "queue"}


def _problem(exc: ValidationError) -> str:
    """The first validation problem in words: `field: what is wrong`."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "payload"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown field"
    if error["type"] == "missing":
        return f"{where} is missing"
    return f"{where}: {error['msg']}"


def register_supervisor_events(
    socketio: SocketIO, services: Services, realtime: Realtime, bridge: CallBridge
) -> None:
    """Attach the supervisors' actions on `/supervisor`, and hang up the supervisors' legs
    of calls that end."""
    database = services.database
    stepping = threading.Lock()  # one step into a call at a time: never two legs for one
    ended_calls: set[str] = set()
    ended_lock = threading.Lock()

    def commit_and_publish(step: Callable[[Any], Changes]) -> Changes:
        with database.session() as session:
            changes = step(session)
        realtime.publish(changes)
        realtime.kick()
        return changes

    def acting() -> tuple[int, str]:
        """(id, username) of the supervisor sending this event (the session re-checked)."""
        agent = current_agent()
        if agent is None or not agent.is_supervisor:
            raise SupervisionError("supervisor login required")
        return agent.id, agent.username

    def handler(
        event: str, model: type[_Payload], action: Callable[[int, Any], dict[str, Any]]
    ) -> Callable[..., dict[str, Any]]:
        def run(data: Any = None) -> dict[str, Any]:
            if not isinstance(data, dict):
                return {"error": "the payload must be an object"}
            try:
                payload = model.model_validate(data)
            except ValidationError as exc:
                return {"error": _problem(exc)}
            try:
                actor_id, _username = acting()
            except SupervisionError as exc:
                return {"error": str(exc)}
            try:
                answer = {"ok": True, **action(actor_id, payload)}
                result = "ok"
            except (SupervisionError, RoutingError, AgentError, ThresholdError) as exc:
                answer = {"error": str(exc)}
                result = str(exc)
            except BridgeError as exc:
                answer = {"error": f"the telephone service did not do it: {exc}"}
                result = answer["error"]
            with database.session() as session:
                actor = session.get(Agent, actor_id)
                if actor is not None:
                    details = payload.model_dump(exclude={"call_sid", "agent_id"})
                    audit.record(
                        session, actor, event.replace(":", "."), utcnow(),
                        agent_id=getattr(payload, "agent_id", None) or answer.get("agent_id"),
                        call_sid=getattr(payload, "call_sid", None), result=result, **details,
                    )  # fmt: skip
            return answer

        return run

    def notify_agent(
        supervisor_id: int, call_sid: str, mode: str | None, previous: str | None
    ) -> int | None:
        """Tell the call's agent of the step when they are to know (see `agent_notice`)."""
        with database.session() as session:
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
        def act(actor_id: int, payload: CallRef) -> dict[str, Any]:
            with stepping:
                with database.session() as session:
                    supervisor = session.get(Agent, actor_id)
                    step = plan_step(session, supervisor, payload.call_sid, mode)
                    address = AgentLeg(
                        supervisor.username, supervisor.agent_number, supervisor.phone
                    )
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

    def leave(actor_id: int, payload: CallRef) -> dict[str, Any]:
        with stepping:
            with database.session() as session:
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
        priority = payload.priority_value()

        def moved(session: Any) -> Changes:
            actor = session.get(Agent, actor_id)
            return move_call(session, services.settings, actor, payload.call_sid, utcnow(),
                             queue=payload.queue, priority=priority)  # fmt: skip

        commit_and_publish(moved)
        with database.session() as session:
            call = get_call(session, payload.call_sid)
            assert call is not None
            return {"call_sid": call.call_sid, "queue": call.queue, "priority": call.queue_priority}

    def take(actor_id: int, payload: CallRef) -> dict[str, Any]:
        call_sid = payload.call_sid
        commit_and_publish(
            lambda session: take_call(session, session.get(Agent, actor_id), call_sid, utcnow())
        )
        with database.session() as session:
            supervisor = session.get(Agent, actor_id)
            call = get_call(session, call_sid)
            assert supervisor is not None and call is not None
            address = AgentLeg(supervisor.username, supervisor.agent_number, supervisor.phone)
            language = call.language
            callback_number = call.caller_number if callback_pending(call) else None
            live_leg = (call.context or {}).get("caller_leg")
        try:
            caller_leg = None
            if callback_number:
                caller_leg, leg = bridge.call_back(call_sid, callback_number, address, language)
            else:
                leg = bridge.connect(call_sid, address, language, live_leg)
        except BridgeError:
            commit_and_publish(lambda session: requeue(session, call_sid, actor_id, utcnow()))
            raise
        with database.session() as session:
            call = get_call(session, call_sid)
            if call is not None and call.agent_id == actor_id:
                call.agent_leg_sid = leg
                if caller_leg:
                    call.context = {**(call.context or {}), "caller_leg": caller_leg}
        return {"call_sid": call_sid, "leg": leg, "agent_id": actor_id}

    def thresholds(actor_id: int, payload: Thresholds) -> dict[str, Any]:
        with database.session() as session:
            result = set_thresholds(
                session, services.settings, payload.queue, utcnow(), by=actor_id,
                **payload.values(),
            )  # fmt: skip
        realtime.kick()  # every page shows the new thresholds within the second
        return {"queue": payload.queue, "thresholds": result}

    def on_disconnect(reason: Any = None) -> None:
        realtime.supervisor_left(request.sid)  # type: ignore[attr-defined]

    events: dict[str, tuple[type[_Payload], Callable[[int, Any], dict[str, Any]]]] = {
        "supervisor:monitor": (CallRef, step_into("monitor")),
        "supervisor:coach": (CallRef, step_into("coach")),
        "supervisor:barge": (CallRef, step_into("barge")),
        "supervisor:leave": (CallRef, leave),
        "supervisor:agent-status": (AgentStatus, agent_status),
        "supervisor:move": (Move, move),
        "supervisor:take": (CallRef, take),
        "supervisor:thresholds": (Thresholds, thresholds),
    }
    socketio.on_event("disconnect", on_disconnect, namespace=SUPERVISOR_NS)
    for event, (model, action) in events.items():
        socketio.on_event(event, handler(event, model, action), namespace=SUPERVISOR_NS)

    # -- calls that end: their supervisors' legs are hung up (by the dispatcher loop) ------

    def note_ended(changes: Changes) -> None:
        if changes.participants:
            with ended_lock:
                ended_calls.update(changes.participants)
            realtime.kick()

    def release_legs() -> None:
        with ended_lock:
            pending = sorted(ended_calls)
            ended_calls.clear()
        for call_sid in pending:
            with database.session() as session:
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
