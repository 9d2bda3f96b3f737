"""`POST /twilio/client/outgoing`, the softphone's calls out: signed, only a signed-in
agent's identity, only numbers `outbound` allows; refusals are spoken, never a 5xx. Then the
same call as `call:dial` places, through the simulator."""

from __future__ import annotations

import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from conftest import ACCOUNT_SID, LiveServer, TwilioWebhooks, call_params
from flask import Flask
from sqlalchemy import select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.models import Agent, Call, utcnow
from callcenter.people.agents import create_agent

WANG = "+8613800138000"
LEG = "CA" + "c" * 32


@pytest.fixture
def amy(app: Flask) -> int:
    """An agent signed in now: console open (fresh heartbeat), available."""
    with app.extensions["callcenter"].database.session() as session:
        agent = create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                             password="pw-123456789", skills=["support"])  # fmt: skip
        agent.status = "available"
        agent.console_seen_at = utcnow()
        return agent.id


def outgoing(twilio: TwilioWebhooks, from_: str, to: str = WANG) -> Any:
    return twilio.post("/twilio/client/outgoing", call_params(LEG, from_=from_, to=to))


def refused(answer: Any, app: Flask) -> str:
    """The spoken refusal: a <Say> then <Hangup>, and no call placed."""
    assert answer.status_code == 200, answer.data
    document = ET.fromstring(answer.data)
    assert [child.tag for child in document] == ["Say", "Hangup"]
    with app.extensions["callcenter"].database.session() as session:
        assert session.scalars(select(Call)).all() == []
    return document[0].text or ""


def change(app: Flask, agent_id: int, **fields: Any) -> None:
    with app.extensions["callcenter"].database.session() as session:
        agent = session.get(Agent, agent_id)
        for name, value in fields.items():
            setattr(agent, name, value)


def test_unsigned_or_forged_requests_are_refused(
    app: Flask, twilio: TwilioWebhooks, amy: int
) -> None:
    params = call_params(LEG, from_="client:amy", to=WANG)
    assert twilio.client.post("/twilio/client/outgoing", data=params).status_code == 403
    forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    answer = twilio.client.post("/twilio/client/outgoing", data=params, headers=forged)
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("from_", "to", "reason"),
    [
        ("+8613900139000", WANG, "only an agent's softphone can call out"),
        ("client:", WANG, "only an agent's softphone can call out"),
        ("client:nobody", WANG, "does not belong to an active agent"),
        ("client:amy", "+447911123456", "calls to +44 numbers are not allowed"),
        ("client:amy", "+19005550100", "premium-rate"),
        ("client:amy", "", "enter a number"),
        ("client:amy", "138 0013 8000", "enter the number with its country code"),
    ],
)
def test_who_and_where_a_softphone_may_not_call(
    app: Flask, twilio: TwilioWebhooks, amy: int, from_: str, to: str, reason: str
) -> None:
    assert reason in refused(outgoing(twilio, from_, to), app)


def test_an_inactive_agent_or_one_without_a_console_or_busy_may_not_call(
    app: Flask, twilio: TwilioWebhooks, amy: int
) -> None:
    change(app, amy, active=False)
    assert "active agent" in refused(outgoing(twilio, "client:amy"), app)
    change(app, amy, active=True, console_seen_at=None)
    assert "open the agent console" in refused(
        twilio.post("/twilio/client/outgoing", call_params("CA" + "d" * 32, from_="client:amy",
                                                           to=WANG)), app)  # fmt: skip
    change(app, amy, console_seen_at=utcnow(), status="away")
    assert "go available first" in refused(
        twilio.post("/twilio/client/outgoing", call_params("CA" + "e" * 32, from_="client:amy",
                                                           to=WANG)), app)  # fmt: skip


def place_softphone_call(server: LiveServer, identity: str, to: str) -> threading.Thread:
    """The softphone's call as Twilio plays it: its leg asks the TwiML App's Voice URL."""
    from callcenter.simulator.leg.call import place_call
    from callcenter.simulator.transports import WsgiTransport

    services = server.app.extensions["callcenter"]

    def run() -> None:
        place_call(
            WsgiTransport(server.app, public_url=server.url), public_url=server.url,
            account_sid=ACCOUNT_SID, auth_token=services.settings.twilio_auth_token,
            from_=f"client:{identity}", to=to, api_url=server.url + "/simulator",
            switchboard=services.extras["simulator_switchboard"],
            call_sid="CA" + uuid.uuid4().hex, voice_path="/twilio/client/outgoing",
            status_callback_url=None, pace=0.02, dial_talk_seconds=300, hold_seconds=900,
        )  # fmt: skip

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_softphone_call_out_is_placed_popped_and_wrapped_up(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        place_softphone_call(live_server, "amy", WANG)
        pop = amy.wait_for("call:offer", timeout=15)
        assert (pop["kind"], pop["customer"]["name"]) == ("outbound", "王伟")
        sid = pop["call_sid"]
        amy.wait_for("call:connected", timeout=20, call_sid=sid)
        dialed = [request.get("To") for request in board.requests
                  if request.method == "POST" and request.path.endswith("/Calls.json")]  # fmt: skip
        assert dialed == [WANG]  # the softphone's own leg is the agent's: only the customer
        amy.wait_for("agent:state", timeout=60, status="wrap-up")
        assert amy.call("call:wrapup", {"call_sid": sid, "disposition": "resolved"})["ok"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with services.database.session() as session:
                call = session.scalar(select(Call).where(Call.call_sid == sid))
                if call.ended_at is not None and call.disposition:
                    break
            time.sleep(0.1)
        assert (call.direction, call.agent_id, call.disposition) == (
            "outbound", team["amy"], "resolved",
        )  # fmt: skip
        assert call.agent_leg_sid and call.context["caller_leg"]
    finally:
        amy.close()
