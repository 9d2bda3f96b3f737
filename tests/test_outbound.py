"""Calling out: `call:dial` from the console places the agent's leg first, then the
customer's, with our caller ID; the call is recorded, popped, wrapped up, and counted as
outbound. Real Socket.IO clients, the simulator; refusals in plain words."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import LiveServer
from sqlalchemy import select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.calls.outbound import allowed_number
from callcenter.calls.routing import RoutingError
from callcenter.config import OutboundConfig
from callcenter.metrics.facts import QueueEntry
from callcenter.models import Agent, Call, CallRecording, CustomerPhone

WANG = "+8613800138000"  # 王伟 in demo/customers.csv


def wait_until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
    assert check()


def customer_id(server: LiveServer, number: str) -> int:
    with server.app.extensions["callcenter"].database.session() as session:
        return session.scalar(
            select(CustomerPhone.customer_id).where(CustomerPhone.number == number)
        )


def created_calls(server: LiveServer) -> list[Any]:
    board = server.app.extensions["callcenter"].extras["simulator_switchboard"]
    return [
        request for request in board.requests
        if request.method == "POST" and request.path.endswith("/Calls.json")
    ]  # fmt: skip


def recording_status(server: LiveServer, sid: str) -> str | None:
    with server.app.extensions["callcenter"].database.session() as session:
        return session.scalar(select(CallRecording.status).where(CallRecording.call_sid == sid))


def the_call(server: LiveServer, sid: str) -> Call:
    with server.app.extensions["callcenter"].database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == sid))
        session.expunge(call)
        return call


def test_an_outbound_call_to_a_customer_end_to_end(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        answer = amy.call("call:dial", {"customer_id": customer_id(live_server, WANG)})
        assert answer.get("ok"), answer
        sid = answer["call_sid"]

        # The screen-pop: the customer's record, an outbound call, nothing to accept.
        pop = amy.wait_for("call:offer", timeout=10, call_sid=sid)
        assert (pop["kind"], pop["direction"]) == ("outbound", "outbound")
        assert pop["customer"]["name"] == "王伟" and pop["caller_number"] == WANG
        amy.wait_for("agent:state", timeout=10, status="on-call")

        # The agent's leg first, then the customer's, both from our number.
        dialed = created_calls(live_server)
        assert [request.get("To") for request in dialed] == ["client:amy", WANG]
        assert {request.get("From") for request in dialed} == {services.settings.main_number}

        amy.wait_for("call:connected", timeout=20, call_sid=sid)
        conference = board.find_conference(sid)
        wait_until(lambda: len(conference.connected()) == 2)
        wait_until(lambda: recording_status(live_server, sid) in ("in-progress", "completed"))

        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=20, status="wrap-up")
        wrapped = amy.call("call:wrapup", {"call_sid": sid, "disposition": "resolved",
                                           "notes": "told her the repair date"})  # fmt: skip
        assert wrapped.get("ok"), wrapped
        wait_until(lambda: the_call(live_server, sid).ended_at is not None, timeout=60)
        call = the_call(live_server, sid)
        assert (call.direction, call.agent_id, call.disposition) == (
            "outbound", team["amy"], "resolved",
        )  # fmt: skip
        assert call.customer_id == customer_id(live_server, WANG)
        with services.database.session() as session:
            # Never waited in a queue: not offered, answered or abandoned there.
            assert session.scalars(select(QueueEntry).where(QueueEntry.call_sid == sid)).all() == []
        record = amy.http.get(f"{live_server.url}/api/calls/{sid}").json()
        assert record["direction"] == "outbound"
    finally:
        amy.close()


def test_an_outbound_call_whose_agent_never_answers_hangs_up_the_customer(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """Amy dials out but her own phone never answers: the customer, who has nobody to talk
    to, is hung up (not put in a queue), and the call ends as failed."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    board.answer_policy = lambda to: "no-answer" if to == "client:amy" else "answer"
    board.pace = 0.05  # amy's phone rings for its 20 s timeout in one real second
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        answer = amy.call("call:dial", {"number": WANG})
        assert answer.get("ok"), answer
        sid = answer["call_sid"]
        state = amy.wait_for("agent:state", timeout=20, status="away")
        assert state["reason"] == "missed a call"
        wait_until(lambda: the_call(live_server, sid).ended_at is not None)
        call = the_call(live_server, sid)
        assert (call.outcome, call.direction) == ("failed", "outbound")
        customer_leg = (call.context or {}).get("caller_leg")
        assert customer_leg is not None
        wait_until(lambda: board.get_call(customer_leg).status == "completed")
        moved = [r for r in board.requests if "/twilio/transfer" in (r.get("Url") or "")]
        assert moved == []  # never sent to a queue
        with services.database.session() as session:
            assert session.scalars(select(QueueEntry).where(QueueEntry.call_sid == sid)).all() == []
    finally:
        amy.close()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"number": "+447911123456"}, "calls to +44 numbers are not allowed"),
        ({"number": "+19005550100"}, "premium-rate"),
        ({"number": "+8616812345678"}, "premium-rate"),
        ({"number": "13800138000"}, "country code"),
        ({"number": "+86 123"}, "not a valid phone number"),
        ({"customer_id": 999999}, "no such customer"),
        ({"number": WANG, "customer_id": 1}, "call one of number"),
    ],
)
def test_refused_outbound_calls_say_why_and_dial_nobody(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
    payload: dict[str, Any],
    reason: str,
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        answer = amy.call("call:dial", payload)
        assert reason in answer.get("error", ""), answer
        assert created_calls(live_server) == []
        with live_server.app.extensions["callcenter"].database.session() as session:
            assert session.scalars(select(Call)).all() == []
            assert session.get(Agent, team["amy"]).status == "available"
    finally:
        amy.close()


def test_an_agent_not_available_cannot_dial(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "away"})["ok"]
        answer = amy.call("call:dial", {"number": WANG})
        assert answer == {"error": "go available first: you are away"}
        assert created_calls(live_server) == []
    finally:
        amy.close()


def test_the_number_rules() -> None:
    rules = OutboundConfig(allowed_country_codes=["86", "1"], blocked_prefixes=["+86168"])
    assert allowed_number(rules, "0086 138-0013-8000") == WANG
    assert allowed_number(rules, "+1 (415) 555-0100") == "+14155550100"
    for refused in ("+19005550100", "+8616812345678", "+33612345678", "", "+86"):
        with pytest.raises(RoutingError):
            allowed_number(rules, refused)
    with pytest.raises(RoutingError, match="not allowed"):
        allowed_number(OutboundConfig(), WANG)  # no countries configured: no calls out
