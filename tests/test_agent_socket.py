"""The agent console's Socket.IO channel, with real python-socketio clients against a live
server: login, presence, the screen-pop before anyone is connected, accept, wrap-up."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio
from conftest import ROOT, LiveServer, TwilioWebhooks, start_caller
from sqlalchemy import select

from callcenter.models import Agent, Call, CallEvent
from callcenter.people.agents import create_agent
from callcenter.people.customers import import_customers_csv

PASSWORD = "correct horse battery"


class Console:
    """An agent's browser: a logged-in HTTP session and a Socket.IO client on /agent."""

    def __init__(self, server: LiveServer, username: str, namespace: str = "/agent") -> None:
        self.http = requests.Session()
        login = self.http.post(
            f"{server.url}/api/login", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.namespace = namespace
        for name in ("agent:state", "call:offer", "call:ended", "call:connected", "queues",
                     "snapshot", "agent", "call:consult"):  # fmt: skip
            self.client.on(name, self._recorder(name), namespace=namespace)
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        self.client.connect(
            server.url, namespaces=[namespace], headers={"Cookie": cookie},
            transports=["polling", "websocket"], wait_timeout=5,
        )  # fmt: skip

    def _recorder(self, name: str) -> Any:
        return lambda data=None: self.events.put((name, data))

    def wait_for(self, name: str, timeout: float = 5.0, **match: Any) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event, data = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event == name and all(data.get(k) == v for k, v in match.items()):
                return data
        raise AssertionError(f"no {name} {match or ''} within {timeout}s")

    def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.client.call(event, data, namespace=self.namespace, timeout=5)

    def close(self) -> None:
        self.client.disconnect()
        self.http.close()


@pytest.fixture
def team(live_server: LiveServer) -> Iterator[dict[str, int]]:
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        import_customers_csv(session, ROOT / "demo" / "customers.csv")
        # Agents never speak to the outside: the simulator answers their legs, or the
        # softphone of their browser console does by itself (auto-answer).
        ids = {
            name: create_agent(
                session, username=name, display_name=name.title(), agent_number=number,
                password=PASSWORD, role=role, skills=skills, languages=["en", "zh-CN"],
                auto_answer=True,
            ).id
            for name, number, role, skills in [
                ("amy", "1024", "agent", ["support", "repairs"]),
                ("bob", "1025", "agent", ["support"]),
                ("lead", "1030", "supervisor", ["support"]),
            ]
        }  # fmt: skip
    live_server.app.extensions["callcenter"].extras["realtime"].start()
    yield ids


def enqueue_caller(server: LiveServer, sid: str, caller: str = "+8613900139000") -> None:
    """A caller presses through to the support queue via signed webhooks."""
    hooks = TwilioWebhooks(requests_client(server), public_url=server.url)
    params = {
        "AccountSid": "AC" + "1" * 32, "CallSid": sid, "From": caller, "To": "+864008001234",
        "CallStatus": "in-progress", "Direction": "inbound",
    }  # fmt: skip
    assert hooks.post("/twilio/voice", params).status_code == 200
    gather = {"flow": "main", "node": "choose_language", "attempt": 1, "seq": 1}
    assert hooks.post("/twilio/gather", {**params, "Digits": "1"}, query=gather).status_code == 200
    step = {"flow": "main", "node": "order_number", "attempt": 1, "seq": 3}
    menu = {"flow": "main", "node": "main_menu", "attempt": 1, "seq": 2}
    assert hooks.post("/twilio/gather", {**params, "Digits": "2"}, query=menu).status_code == 200
    answer = hooks.post("/twilio/gather", {**params, "Digits": "12345678"}, query=step)
    assert b"<Enqueue" in answer.data


class requests_client:
    def __init__(self, server: LiveServer) -> None:
        self.server = server

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> Any:
        with requests.Session() as http:
            response = http.post(self.server.url + path, data=data, headers=headers)
        response.data = response.content  # type: ignore[attr-defined]
        return response


def test_socket_refuses_without_login(live_server: LiveServer) -> None:
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server.url, namespaces=["/agent"], transports=["websocket"],
                       wait_timeout=5)  # fmt: skip
    client.disconnect()


def test_offer_accept_and_wrap_up(live_server: LiveServer, team: dict[str, int]) -> None:
    realtime = live_server.app.extensions["callcenter"].extras["realtime"]
    amy = Console(live_server, "amy")
    try:
        state = amy.wait_for("agent:state")
        assert state["status"] == "offline" and state["number"] == "1024"
        assert amy.call("agent:status", {"status": "available"}) == {
            "ok": True, "status": "available",
        }  # fmt: skip
        amy.wait_for("agent:state", status="available")

        sid = "CA" + "5" * 32
        enqueue_caller(live_server, sid)
        realtime.run_once()
        offer = amy.wait_for("call:offer", call_sid=sid)
        assert offer["caller_number"] == "+8613900139000"
        assert offer["customer"] is None  # an unknown caller
        assert offer["ivr"]["inputs"] == {"order_number": "12345678"}
        assert [step["node"] for step in offer["ivr"]["path"]][:3] == [
            "identify", "choose_language", "greet",
        ]  # fmt: skip
        order = {"flow": "main", "node": "order_number", "label": "Order number",
                 "input": "12345678"}  # fmt: skip
        assert order in offer["ivr"]["path"]
        assert offer["queue"]["name"] == "support"
        amy.wait_for("agent:state", status="ringing")

        # Twilio's REST API cannot be reached (nothing listens on port 9): a failure that
        # may pass, so the caller goes back to the queue.
        services = live_server.app.extensions["callcenter"]
        services.extras["bridge"].client.api.base_url = "http://127.0.0.1:9/simulator"
        answer = amy.call("call:accept", {"call_sid": sid})
        assert "could not connect the call" in answer["error"]
        assert amy.wait_for("call:ended", call_sid=sid)["reason"] == "bridge failed"
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == sid))
            assert (call.outcome, call.agent_id) == ("queued", None)
    finally:
        amy.close()


def test_a_whole_call_through_the_simulator(live_server: LiveServer, team: dict[str, int]) -> None:
    """IVR → queue → screen-pop → accept → agent number announced → conference → wrap-up."""
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000",
                              ["1", "2", "12345678#"])  # fmt: skip
        offer = amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
        assert offer["ivr"]["inputs"] == {"order_number": "12345678"}
        assert amy.call("call:accept", {"call_sid": caller.call_sid}) == {
            "ok": True, "call_sid": caller.call_sid,
        }  # fmt: skip
        amy.wait_for("call:connected", timeout=15, call_sid=caller.call_sid)
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
        result = caller.result()
        heard = result.heard()
        assert "Agent 1 0 2 4 will help you now." in heard
        assert heard.index("Agent 1 0 2 4 will help you now.") > heard.index(
            "Thank you. An agent will help you with order 1 2 3 4 5 6 7 8."
        )
        assert any(event.kind == "conference" for event in result.events) or any(
            "conference" in event.text.lower() for event in result.events
        )
        assert amy.call(
            "call:wrapup", {"call_sid": caller.call_sid, "disposition": "resolved", "notes": "ok"}
        ) == {"ok": True}
        amy.wait_for("agent:state", status="available")
        services = live_server.app.extensions["callcenter"]
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == caller.call_sid))
            agent = session.scalar(select(Agent).where(Agent.username == "amy"))
            assert (call.agent_id, call.outcome, call.disposition) == (
                agent.id, "answered", "resolved",
            )  # fmt: skip
            assert call.queue_wait_seconds is not None and call.ended_at is not None
    finally:
        amy.close()


def test_decline_moves_the_call_to_the_next_agent(
    live_server: LiveServer, team: dict[str, int]
) -> None:
    realtime = live_server.app.extensions["callcenter"].extras["realtime"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (bob, amy):  # bob becomes available first: idle longest
            console.wait_for("agent:state")
            assert console.call("agent:status", {"status": "available"})["ok"]
        sid = "CA" + "6" * 32
        enqueue_caller(live_server, sid)
        realtime.run_once()
        bob.wait_for("call:offer", call_sid=sid)
        assert bob.call("call:decline", {"call_sid": sid}) == {"ok": True}
        assert bob.wait_for("call:ended", call_sid=sid)["reason"] == "declined"
        bob.wait_for("agent:state", status="away")
        realtime.run_once()
        assert amy.wait_for("call:offer", call_sid=sid)["call_sid"] == sid
        # Closing amy's console while ringing takes her out and withdraws the offer.
        amy.close()
        time.sleep(0.3)
        services = live_server.app.extensions["callcenter"]
        with services.database.session() as session:
            agent = session.scalar(select(Agent).where(Agent.username == "amy"))
            assert agent.status == "offline"
    finally:
        bob.close()


def test_supervisor_sees_snapshot_and_agents_cannot(
    live_server: LiveServer, team: dict[str, int]
) -> None:
    lead = Console(live_server, "lead", namespace="/supervisor")
    try:
        snapshot = lead.wait_for("snapshot")
        assert {a["username"] for a in snapshot["agents"]} == {"amy", "bob", "lead"}
        assert {q["name"] for q in snapshot["queues"]} == {"support", "repairs", "vip"}
        assert all("password" not in str(a) for a in snapshot["agents"])
    finally:
        lead.close()
    with pytest.raises((socketio.exceptions.ConnectionError, AssertionError)):
        Console(live_server, "amy", namespace="/supervisor")


def test_hold_add_a_party_transfer_and_hang_up(
    live_server: LiveServer, team: dict[str, int]
) -> None:
    """In the call: hold and resume, add a third party, cold transfer to another agent."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000",
                              ["1", "0"], dial_talk_seconds=900)  # fmt: skip
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        amy.wait_for("call:connected", timeout=15, call_sid=sid)

        assert bob.call("call:hold", {"call_sid": sid}) == {"error": "you are not on this call"}
        assert amy.call("call:hold", {"call_sid": sid, "hold": True}) == {"ok": True, "hold": True}
        assert board.participant(sid, sid).hold is True
        assert amy.call("call:hold", {"call_sid": sid, "hold": False})["ok"]
        assert board.participant(sid, sid).hold is False

        assert "error" in amy.call("call:add", {"call_sid": sid, "number": "12"})
        added = amy.call("call:add", {"call_sid": sid, "number": "+8613912345678"})
        assert added["ok"] is True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(board.find_conference(sid).connected()) < 3:
            time.sleep(0.05)
        assert len(board.find_conference(sid).connected()) == 3

        # Cold transfer to bob: amy wraps up, bob is offered the caller first.
        assert bob.call("agent:status", {"status": "available"})["ok"]
        assert amy.call("call:transfer", {"call_sid": sid, "agent": team["bob"]}) == {
            "ok": True, "queue": "support",
        }  # fmt: skip
        amy.wait_for("agent:state", timeout=10, status="wrap-up")
        bob.wait_for("call:offer", timeout=15, call_sid=sid)
        assert bob.call("call:accept", {"call_sid": sid})["ok"]
        bob.wait_for("call:connected", timeout=15, call_sid=sid)
        assert bob.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        bob.wait_for("agent:state", timeout=15, status="wrap-up")

        result = caller.result()
        # The caller was moved to the transfer TwiML, then to bob (whose number they heard).
        urls = [exchange.url for exchange in result.exchanges]
        transferred = next(i for i, url in enumerate(urls) if "/twilio/transfer?" in url)
        assert any("agent=1025" in url for url in urls[transferred:])
        # Bob hung up first: the caller heard the survey after him (and did not answer).
        heard = result.heard()
        assert heard[-5] == "Agent 1 0 2 5 will help you now."
        assert heard[-1] == services.settings.messages.survey_thanks["en"]
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == sid))
            assert call.agent_id == team["bob"] and call.ended_at is not None
            kinds = [
                event.kind for event in session.scalars(
                    select(CallEvent).where(CallEvent.call_sid == sid).order_by(CallEvent.id)
                ) if event.kind.startswith("agent.")
            ]  # fmt: skip
        assert kinds[:2] == ["agent.offered", "agent.accepted"]
        for kind in ("agent.hold", "agent.resume", "agent.added_party", "agent.transferred"):
            assert kind in kinds
        assert kinds[-2:] == ["agent.offered", "agent.accepted"]
    finally:
        amy.close()
        bob.close()


def test_warm_transfer_consult_then_hand_over(
    live_server: LiveServer, team: dict[str, int]
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000",
                              ["1", "0"], dial_talk_seconds=900)  # fmt: skip
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        amy.wait_for("call:connected", timeout=15, call_sid=sid)

        assert "error" in amy.call("call:consult", {"call_sid": sid, "agent_number": "1025"})
        assert bob.call("agent:status", {"status": "available"})["ok"]
        consult = amy.call("call:consult", {"call_sid": sid, "agent_number": "1025"})
        assert consult["ok"] is True and consult["agent"] == team["bob"]
        assert bob.wait_for("call:consult", call_sid=sid)["caller_number"] == "+8613900139000"
        assert bob.call("call:consult-accept", {"call_sid": sid})["ok"]
        bob.wait_for("agent:state", status="on-call")
        assert board.participant(sid, sid).hold is True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(board.find_conference(sid).connected()) < 3:
            time.sleep(0.05)
        assert len(board.find_conference(sid).connected()) == 3

        assert amy.call("call:complete-transfer", {"call_sid": sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=10, status="wrap-up")
        conference = board.find_conference(sid)
        assert conference.status == "in-progress" and board.participant(sid, sid).hold is False
        # bob now owns the call: he hangs up and wraps up.
        assert bob.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        bob.wait_for("agent:state", timeout=15, status="wrap-up")
        caller.result()
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == sid))
            assert call.agent_id == team["bob"] and call.ended_at is not None
    finally:
        amy.close()
        bob.close()


def test_agent_who_never_picks_up_frees_the_caller(
    live_server: LiveServer, team: dict[str, int]
) -> None:
    """Amy accepts but her phone never answers: the caller goes back and Bob gets it."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    board.answer_policy = lambda to: "no-answer" if to == "client:amy" else "answer"
    board.pace = 0.05  # amy's phone rings for its 20 s timeout in one real second
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"])
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert bob.call("agent:status", {"status": "available"})["ok"]
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        state = amy.wait_for("agent:state", timeout=20, status="away")
        assert state["reason"] == "missed a call"
        bob.wait_for("call:offer", timeout=20, call_sid=sid)
        assert bob.call("call:accept", {"call_sid": sid})["ok"]
        bob.wait_for("call:connected", timeout=15, call_sid=sid)
        assert caller.result().heard()[-1] == "Agent 1 0 2 5 will help you now."
    finally:
        amy.close()
        bob.close()
