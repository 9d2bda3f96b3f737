"""What the consoles' Socket.IO events accept, over real python-socketio clients: every
client → server event registered on the server validates its payload against its model
(callcenter/web/socket_schemas.py) and answers every payload with an ack; a refused one
changes nothing."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import ROOT, LiveServer
from sqlalchemy import func, select
from test_agent_socket import Console, team  # noqa: F401
from test_console_calls import connected_call

from callcenter.models import Agent, Call, CallEvent
from callcenter.web.agent_events import register_agent_events
from callcenter.web.rooms import AGENT_NS
from callcenter.web.socket_schemas import Payload, handle

NOT_AN_OBJECT = "the payload must be one JSON object"


class Registrations:
    """Stands in for the SocketIO server: what `register_agent_events` registers."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], Any] = {}

    def on_event(self, event: str, handler: Any, namespace: str) -> None:
        self.handlers[namespace, event] = handler


def client_events() -> dict[tuple[str, str], type[Payload]]:
    """(namespace, event) → payload model of every client → server event."""
    registered = Registrations()
    realtime = SimpleNamespace(listeners=[], housekeeping=[])
    register_agent_events(registered, SimpleNamespace(), realtime, None)  # type: ignore[arg-type]
    return {
        key: getattr(handler, "schema", None)
        for key, handler in registered.handlers.items()
        if key[1] not in ("connect", "disconnect")
    }


EVENTS = client_events()


def wrong_values(spec: dict[str, Any]) -> list[Any]:
    """Values a field with this JSON schema must refuse."""
    kinds = [spec, *spec.get("anyOf", [])]
    types = {kind.get("type") for kind in kinds}
    values: list[Any] = [[1], {"a": 1}]
    if "null" not in types:
        values.append(None)
    for kind in kinds:
        if kind.get("type") == "string":
            values += [12345, True, "x" * (kind.get("maxLength", 10_000) + 1)]
            if "enum" in kind or "const" in kind:
                values.append("nonsense")
        elif kind.get("type") == "integer":
            low = kind.get("minimum", 1)  # an id, unless the model says otherwise
            values += ["1", 1.5, True, low - 1, low - 2, 2**63, 2**70]
            if "maximum" in kind:
                values.append(kind["maximum"] + 1)
        elif kind.get("type") == "number":
            values += ["0.5", True]
            values += [kind[k] + d for k, d in (("minimum", -0.5), ("maximum", 0.5)) if k in kind]
        elif kind.get("type") == "boolean":
            values += ["false", "true", 0, 1]
    return values


def bad_payloads(model: type[Payload]) -> list[tuple[str | None, tuple[Any, ...]]]:
    """(the field the error must name, or None for the whole payload; the event's args)."""
    example = model.example
    cases: list[tuple[str | None, tuple[Any, ...]]] = [
        (None, ()), (None, (None,)), (None, ([example],)), (None, ("text",)), (None, (42,)),
        (None, (example, example)), ("unexpected", ({**example, "unexpected": True},)),
    ]  # fmt: skip
    properties = model.model_json_schema()["properties"]
    for name, field in model.model_fields.items():
        if field.is_required():
            cases.append((name, ({k: v for k, v in example.items() if k != name},)))
        for value in wrong_values(properties[name]):
            cases.append((name, ({**example, name: value},)))
    return cases


def agent_row(services: Any, agent_id: int) -> tuple[Any, ...]:
    with services.database.session() as session:
        agent = session.get(Agent, agent_id)
        return agent.status, agent.status_reason, agent.status_since, agent.current_call_sid


def call_events(services: Any) -> int:
    with services.database.session() as session:
        return session.scalar(select(func.count()).select_from(CallEvent)) or 0


def test_every_client_event_on_the_server_has_a_payload_model(live_server: LiveServer) -> None:
    """An event registered without `handle` (or one this file does not test) fails here."""
    server = live_server.app.extensions["callcenter"].extras["socketio"].server
    on_server = {
        (namespace, event): getattr(handler, "schema", None)
        for namespace, handlers in server.handlers.items()
        for event, handler in handlers.items()
        if event not in ("connect", "disconnect")
    }
    assert len(on_server) >= 14
    for key, model in on_server.items():
        assert isinstance(model, type) and issubclass(model, Payload), f"{key} has no model"
    assert on_server == EVENTS
    documented = (ROOT / "docs" / "agent-protocol.md").read_text()
    for _namespace, event in EVENTS:
        assert f"| `{event}` |" in documented, f"{event} is not in docs/agent-protocol.md"
    context = {"dispositions": live_server.app.extensions["callcenter"].settings.dispositions}
    for model in EVENTS.values():
        model.model_validate(model.example, context=context)  # the example is a valid payload


@pytest.mark.parametrize("key", sorted(EVENTS), ids=lambda key: key[1])
def test_a_malformed_payload_is_refused_and_changes_nothing(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
    key: tuple[str, str],
) -> None:
    namespace, event = key
    model = EVENTS[key]
    assert model is not None, f"{event} is registered without a payload model"
    services = live_server.app.extensions["callcenter"]
    amy = Console(live_server, "amy" if namespace == AGENT_NS else "lead", namespace=namespace)
    try:
        if namespace == AGENT_NS:
            amy.wait_for("agent:state")
            assert amy.call("agent:status", {"status": "available"})["ok"]
        before = agent_row(services, team["amy"]), call_events(services)
        for field, args in bad_payloads(model):
            answer = amy.client.call(event, args, namespace=namespace, timeout=5)
            assert isinstance(answer, dict) and set(answer) == {"error"}, (args, answer)
            if field is None:
                assert answer["error"] == NOT_AN_OBJECT, (args, answer)
            else:
                assert answer["error"].startswith(f"{field}: "), (args, answer)
            assert len(answer["error"]) <= 200, answer
        assert (agent_row(services, team["amy"]), call_events(services)) == before
    finally:
        amy.close()


def test_in_a_call_only_well_formed_actions_act(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """`"false"` does not put the caller on hold, a huge agent id is no overflow, an unknown
    field does not hang up: refused, and the call goes on as it was; real booleans work."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        time.sleep(0.3)
        before = agent_row(services, team["amy"]), call_events(services)
        refused = [
            ("call:hold", {"call_sid": sid, "hold": "false"}, "hold: must be true or false"),
            ("call:hold", {"call_sid": sid, "hold": 0}, "hold: must be true or false"),
            ("call:hold", {"call_sid": sid, "hodl": False}, "hodl: is not a field of this event"),
            ("call:transfer", {"call_sid": sid, "agent": 2**70},
             f"agent: must be at most {2**63 - 1}"),
            ("call:transfer", {"call_sid": sid, "agent": str(team["bob"])},
             "agent: must be an integer"),
            ("call:transfer", {"call_sid": sid, "queue": "support", "agent": team["bob"]},
             "transfer to one of queue, agent or agent_number"),
            ("call:hangup", {"call_sid": sid, "now": True}, "now: is not a field of this event"),
            ("call:add", {"call_sid": sid, "number": 8613912345678}, "number: must be a string"),
            ("call:record", {"call_sid": sid, "action": "stop"},
             "action: must be 'pause' or 'resume'"),
            ("call:consult", {"call_sid": sid, "agent_number": 1025},
             "agent_number: must be a string"),
            ("call:wrapup", {"call_sid": sid, "disposition": "resolved", "notes": "x" * 4001},
             "notes: must be at most 4000 characters"),
        ]  # fmt: skip
        for event, payload, error in refused:
            assert amy.call(event, payload) == {"error": error}, (event, payload)
        time.sleep(0.3)
        assert board.participant(sid, sid).hold is False
        assert len(board.find_conference(sid).connected()) == 2
        assert (agent_row(services, team["amy"]), call_events(services)) == before

        assert amy.call("call:hold", {"call_sid": sid, "hold": True}) == {"ok": True, "hold": True}
        assert board.participant(sid, sid).hold is True
        answer = amy.call("call:hold", {"call_sid": sid, "hold": False})
        assert answer == {"ok": True, "hold": False}
        assert board.participant(sid, sid).hold is False
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
        caller.result()
        with services.database.session() as session:
            kinds = session.scalars(
                select(CallEvent.kind).where(CallEvent.call_sid == sid).order_by(CallEvent.id)
            ).all()
            assert session.scalar(select(Call.ended_at).where(Call.call_sid == sid))
        assert [kind for kind in kinds if kind in ("agent.hold", "agent.resume")] == [
            "agent.hold", "agent.resume",
        ]  # fmt: skip
    finally:
        amy.close()


def test_an_unexpected_failure_is_acknowledged_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registered = Registrations()

    def broken(agent_id: int, payload: Any) -> dict[str, Any]:
        raise RuntimeError("the database went away")

    model = EVENTS[AGENT_NS, "call:hangup"]
    handle(registered, AGENT_NS, "call:hangup", model, broken, actor=lambda: 1)  # type: ignore[arg-type]
    on_event = registered.handlers[AGENT_NS, "call:hangup"]
    with caplog.at_level(logging.ERROR, logger="callcenter.socket_events"):
        assert on_event(model.example) == {"error": "internal error"}
    assert "RuntimeError: the database went away" in caplog.text
    assert on_event() == {"error": NOT_AN_OBJECT}  # no payload: no TypeError either
