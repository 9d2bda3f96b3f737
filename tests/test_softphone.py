"""The browser softphone: its Access Token (checked with the twilio library's own JWT code),
where an agent takes calls (browser or phone) and the bridge dialing accordingly, and the
simulator ringing a registered softphone's `client:` legs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from conftest import LiveServer, start_caller
from flask import Flask
from flask.testing import FlaskClient
from test_agent_socket import PASSWORD, Console, team  # noqa: F401
from twilio.jwt import JwtDecodeError
from twilio.jwt.access_token import AccessToken

from callcenter.models import Agent
from callcenter.people.agents import AgentError, create_agent, set_call_preferences

API_KEY = "SK" + "a" * 32
API_SECRET = "c" * 32  # an API key's secret: 32 characters
APP_SID = "AP" + "b" * 32
REAL = {
    "simulator": False,
    "twilio_api_url": "https://api.twilio.com",
    "twilio_api_key": API_KEY,
    "twilio_api_secret": API_SECRET,
    "twilio_twiml_app_sid": APP_SID,
}


def add_amy(app: Flask, **options: Any) -> int:
    with app.extensions["callcenter"].database.session() as session:
        return create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                            password=PASSWORD, skills=["support"], **options).id  # fmt: skip


def login(client: FlaskClient, username: str = "amy") -> None:
    answer = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()


# -- the token --------------------------------------------------------------------------------


def test_the_token_names_the_agent_and_grants_incoming_and_the_twiml_app(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(**REAL)
    add_amy(app)
    client = app.test_client()
    assert client.get("/api/voice/token").status_code == 401
    login(client)
    before = int(time.time())
    answer = client.get("/api/voice/token")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert (body["identity"], body["mode"], body["ttl"]) == ("amy", "twilio", 3600)
    assert (body["takes_calls_on"], body["auto_answer"]) == ("browser", False)

    decoded = AccessToken.from_jwt(body["token"], API_SECRET)  # verifies the signature
    payload, headers = decoded.payload, decoded.headers
    settings = app.extensions["callcenter"].settings
    assert headers["cty"] == "twilio-fpa;v=1" and headers["alg"] == "HS256"
    assert (payload["iss"], payload["sub"]) == (API_KEY, settings.twilio_account_sid)
    assert payload["grants"] == {
        "identity": "amy",
        "voice": {"incoming": {"allow": True}, "outgoing": {"application_sid": APP_SID}},
    }
    assert before + 3600 <= payload["exp"] == body["expires_at"] <= int(time.time()) + 3600
    with pytest.raises(JwtDecodeError):
        AccessToken.from_jwt(body["token"], "d" * 32)


def test_no_token_without_the_api_key_settings_when_twilio_is_real(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(**{**REAL, "twilio_api_secret": "", "twilio_twiml_app_sid": ""})
    add_amy(app)
    client = app.test_client()
    login(client)
    answer = client.get("/api/voice/token")
    assert answer.status_code == 503
    error = answer.get_json()["error"]
    assert "TWILIO_API_SECRET, TWILIO_TWIML_APP_SID" in error and "TWILIO_API_KEY" not in error


def test_in_simulator_mode_the_simulators_credentials_sign_the_token(app: Flask) -> None:
    add_amy(app)
    client = app.test_client()
    login(client)
    body = client.get("/api/voice/token").get_json()
    assert body["mode"] == "simulator"
    token = AccessToken.from_jwt(
        body["token"], app.extensions["callcenter"].settings.twilio_auth_token
    )
    assert token.payload["grants"]["identity"] == "amy"
    assert token.payload["grants"]["voice"]["incoming"] == {"allow": True}


# -- where the agent takes calls --------------------------------------------------------------


def test_an_agent_chooses_browser_or_phone_and_phone_needs_a_number(app: Flask) -> None:
    add_amy(app)
    client = app.test_client()
    login(client)
    assert client.get("/api/voice/preferences").get_json() == {
        "takes_calls_on": "browser", "auto_answer": False, "phone": None,
    }  # fmt: skip
    refused = client.patch("/api/voice/preferences", json={"takes_calls_on": "phone"})
    assert refused.status_code == 400
    assert "without a phone number" in refused.get_json()["errors"]["takes_calls_on"]
    bad = client.patch("/api/voice/preferences", json={"takes_calls_on": "pager", "x": 1})
    assert set(bad.get_json()["errors"]) == {"takes_calls_on", "x"}
    changed = client.patch(
        "/api/voice/preferences",
        json={"takes_calls_on": "phone", "phone": "+86 139 1234 5678", "auto_answer": True},
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json() == {
        "takes_calls_on": "phone", "auto_answer": True, "phone": "+8613912345678",
    }  # fmt: skip
    # Removing the phone while calls go to it is refused: calls would go nowhere.
    assert client.patch("/api/voice/preferences", json={"phone": None}).status_code == 400
    with app.extensions["callcenter"].database.session() as session:
        amy = session.query(Agent).filter_by(username="amy").one()
        assert (amy.takes_calls_on, amy.phone, amy.auto_answer) == ("phone", "+8613912345678", True)
        with pytest.raises(AgentError, match="without a phone number"):
            set_call_preferences(amy, clear_phone=True)
        set_call_preferences(amy, takes_calls_on="browser", clear_phone=True)
        assert (amy.takes_calls_on, amy.phone) == ("browser", None)


def test_new_agents_take_calls_on_their_phone_if_they_have_one(app: Flask) -> None:
    with app.extensions["callcenter"].database.session() as session:
        kim = create_agent(session, username="kim", display_name="Kim", agent_number="2001",
                           password=PASSWORD, phone="+8613912345678")  # fmt: skip
        lee = create_agent(session, username="lee", display_name="Lee", agent_number="2002",
                           password=PASSWORD, phone="+8613912345679",
                           takes_calls_on="browser")  # fmt: skip
        assert (kim.takes_calls_on, lee.takes_calls_on) == ("phone", "browser")
        with pytest.raises(AgentError, match="without a phone number"):
            create_agent(session, username="max", display_name="Max", agent_number="2003",
                         password=PASSWORD, takes_calls_on="phone")  # fmt: skip


# -- the bridge -------------------------------------------------------------------------------


def _bridged_to(server: LiveServer, console: Console) -> str | None:
    """A caller reaches amy's queue, she accepts; the address the agent leg was dialed at."""
    board = server.app.extensions["callcenter"].extras["simulator_switchboard"]
    assert console.call("agent:status", {"status": "available"})["ok"]
    caller = start_caller(server.app, server.url, "+8613900139000", ["1", "0"], dial_talk_seconds=1)
    console.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
    assert console.call("call:accept", {"call_sid": caller.call_sid})["ok"]
    console.wait_for("call:connected", timeout=15, call_sid=caller.call_sid)
    dialed = [
        request.get("To") for request in board.requests
        if request.method == "POST" and request.path.endswith("/Calls.json")
    ]  # fmt: skip
    caller.result()
    return dialed[-1] if dialed else None


def test_the_bridge_dials_the_browser_or_the_phone_as_the_agent_chose(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        amy = session.get(Agent, team["amy"])
        set_call_preferences(amy, takes_calls_on="phone", phone="+8613912345678")
    amy_console = Console(live_server, "amy")
    try:
        amy_console.wait_for("agent:state")
        assert _bridged_to(live_server, amy_console) == "+8613912345678"
    finally:
        amy_console.close()
    with services.database.session() as session:
        amy = session.get(Agent, team["amy"])
        amy.status, amy.current_call_sid, amy.wrapup_until = "offline", None, None
        set_call_preferences(amy, takes_calls_on="browser")  # her phone number stays
    amy_console = Console(live_server, "amy")
    try:
        amy_console.wait_for("agent:state")
        assert _bridged_to(live_server, amy_console) == "client:amy"
    finally:
        amy_console.close()


# -- the simulator's softphones ---------------------------------------------------------------


@pytest.fixture
def softphone_server(live_server: LiveServer) -> Iterator[LiveServer]:
    live_server.app.config["SIMULATOR_PHONE_PACE"] = 0.05
    yield live_server


def _token(server: LiveServer, http: requests.Session, username: str = "amy") -> dict[str, str]:
    login = http.post(f"{server.url}/api/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200
    token = http.get(f"{server.url}/api/voice/token").json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _dial(server: LiveServer, to: str, timeout: float = 5) -> str:
    board = server.app.extensions["callcenter"].extras["simulator_switchboard"]
    twiml = '<Response><Pause length="600"/></Response>'
    return board.place_outbound(
        to, "+864008001234", twiml=twiml, events=("completed",), timeout=timeout
    )


def _wait(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_registered_softphone_rings_answers_mutes_sends_digits_and_hangs_up(
    softphone_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    server = softphone_server
    base = f"{server.url}/phone/client"
    board = server.app.extensions["callcenter"].extras["simulator_switchboard"]
    with requests.Session() as http, requests.Session() as bob_http:
        auth = _token(server, http)
        assert http.get(f"{base}/incoming").status_code == 401
        assert (
            http.get(f"{base}/incoming", headers={"Authorization": "Bearer x.y.z"}).status_code
            == 401
        )
        assert http.get(f"{base}/incoming", headers=auth).json() == {"identity": "amy", "calls": []}
        sid = _dial(server, "client:amy", timeout=30)  # rings long enough for bob's login below
        ringing = _wait(lambda: http.get(f"{base}/incoming", headers=auth).json()["calls"])
        assert ringing == [{"call_sid": sid, "from": "+864008001234", "to": "client:amy"}]
        # Bob's token cannot touch amy's call.
        bob = _token(server, bob_http, "bob")
        assert bob_http.post(f"{base}/calls/{sid}/answer", json={}, headers=bob).status_code == 404

        assert http.post(f"{base}/calls/{sid}/answer", json={}, headers=auth).status_code == 202
        _wait(
            lambda: http.get(f"{base}/calls/{sid}", headers=auth).json()["status"] == "in-progress"
        )
        muted = http.post(f"{base}/calls/{sid}/mute", json={"muted": True}, headers=auth)
        assert muted.json()["muted"] is True
        assert (
            http.post(f"{base}/calls/{sid}/keys", json={"keys": "12#"}, headers=auth).status_code
            == 202
        )
        assert (
            http.post(f"{base}/calls/{sid}/keys", json={"keys": "x"}, headers=auth).status_code
            == 400
        )
        assert http.post(f"{base}/calls/{sid}/hangup", json={}, headers=auth).status_code == 202
        state = _wait(
            lambda: (s := http.get(f"{base}/calls/{sid}", headers=auth).json())["ended"] and s
        )
        assert state["status"] == "completed"
        assert board.get_call(sid).status == "completed"


def test_a_softphone_that_went_away_lets_its_calls_ring_out(
    softphone_server: LiveServer,
    team: dict[str, int],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from callcenter.simulator import phones

    server = softphone_server
    board = server.app.extensions["callcenter"].extras["simulator_switchboard"]
    # Never registered: the simulator answers for the console (as before softphones).
    answered = _dial(server, "client:bob")
    _wait(lambda: board.get_call(answered).status == "in-progress")
    with requests.Session() as http:
        auth = _token(server, http)
        assert http.get(f"{server.url}/phone/client/incoming", headers=auth).status_code == 200
    monkeypatch.setattr(phones, "PRESENT_SECONDS", 0.0)  # the page went away
    time.sleep(0.05)
    sid = _dial(server, "client:amy", timeout=2)
    result = board.wait(sid, timeout=30)
    assert result is not None and result.status == "no-answer"


def test_agents_add_says_where_the_agent_takes_calls(database_url: str) -> None:
    from test_agents_auth import ALICE, agents_in, cli_env, invoke

    env = cli_env(database_url)
    refused = invoke([*ALICE, "--take-calls-on", "phone", "--password-stdin"], env,
                     input=PASSWORD + "\n")  # fmt: skip
    assert refused.exit_code != 0 and "without a phone number" in refused.output + refused.stderr
    added = invoke(
        [*ALICE, "--phone", "+8613912345678", "--take-calls-on", "browser", "--auto-answer",
         "--password-stdin"], env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output + added.stderr
    alice = agents_in(database_url)["alice"]
    assert (alice.takes_calls_on, alice.auto_answer, alice.phone) == (
        "browser", True, "+8613912345678",
    )  # fmt: skip
