"""Access that ends: logout, a password change and deactivation end every session of the
agent, and their open consoles stop working and are disconnected on every process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import test_agent_socket
import test_agents_auth
from conftest import Clock, LiveServer, serve_app, start_caller
from flask import Flask
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from test_agent_socket import PASSWORD, Console
from test_agents_auth import cli_env, invoke, login

from callcenter.models import Agent, CallEvent

team = test_agent_socket.team  # fixtures
web = test_agents_auth.web
WEB_PASSWORD = test_agents_auth.PASSWORD

# -- sessions (HTTP) ---------------------------------------------------------------------------


def test_logout_ends_every_session_even_a_copied_cookie(web: Flask) -> None:
    laptop, phone = web.test_client(), web.test_client()
    assert login(laptop).status_code == 200
    assert login(phone).status_code == 200
    copied = laptop.get_cookie("session")
    assert copied is not None
    thief = web.test_client()
    thief.set_cookie("session", copied.value)
    assert thief.get("/api/me").status_code == 200

    assert laptop.post("/api/logout", json={}).status_code == 204

    assert thief.get("/api/me").status_code == 401
    assert phone.get("/api/me").status_code == 401  # "log out" means everywhere
    assert login(laptop).status_code == 200  # a new login works as before
    assert laptop.get("/api/me").status_code == 200
    assert thief.get("/api/me").status_code == 401


def test_a_password_change_ends_every_session(web: Flask, database_url: str) -> None:
    client = web.test_client()
    assert login(client).status_code == 200
    new = "a-new-password-1"

    changed = invoke(
        ["agents", "passwd", "alice", "--password-stdin"], cli_env(database_url), new + "\n"
    )

    assert changed.exit_code == 0, changed.output + changed.stderr
    assert client.get("/api/me").status_code == 401
    assert login(client, "alice", WEB_PASSWORD).status_code == 401
    assert login(client, "alice", new).status_code == 200
    refused = invoke(["agents", "passwd", "alice"], cli_env(database_url), "x\n")
    assert refused.exit_code != 0 and "--password-stdin" in refused.stderr
    short = invoke(["agents", "passwd", "alice", "--password-stdin"], cli_env(database_url), "x\n")
    assert short.exit_code != 0
    assert client.get("/api/me").status_code == 200  # a refused change ends nothing


def test_deactivation_ends_every_session(web: Flask, database_url: str) -> None:
    client = web.test_client()
    assert login(client, "sam").status_code == 200

    done = invoke(["agents", "deactivate", "SAM"], cli_env(database_url))

    assert done.exit_code == 0, done.output + done.stderr
    assert client.get("/api/me").status_code == 401
    assert login(client, "sam").status_code == 401
    unknown = invoke(["agents", "deactivate", "nobody"], cli_env(database_url))
    assert unknown.exit_code != 0 and "nobody" in unknown.stderr


# -- open consoles (Socket.IO) -----------------------------------------------------------------


def watch_sign_out(console: Console) -> threading.Event:
    """Set when the console is told its session ended."""
    told = threading.Event()
    console.client.on("session:ended", lambda data=None: told.set(), namespace=console.namespace)
    return told


def refused(console: Console, event: str, data: dict[str, Any]) -> bool:
    """The action was refused: an error answer, or the socket was already disconnected."""
    try:
        answer = console.call(event, data)
    except (socketio.exceptions.SocketIOError, TimeoutError):
        return True
    return "error" in answer


def wait_disconnected(console: Console, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if console.namespace not in console.client.namespaces:
            return True
        time.sleep(0.05)
    return False


def on_a_call(server: LiveServer, console: Console) -> str:
    assert console.call("agent:status", {"status": "available"})["ok"]
    caller = start_caller(server.app, server.url, "+8613900139000", ["1", "0"],
                          dial_talk_seconds=900)  # fmt: skip
    sid = caller.call_sid
    console.wait_for("call:offer", timeout=15, call_sid=sid)
    assert console.call("call:accept", {"call_sid": sid})["ok"]
    console.wait_for("call:connected", timeout=15, call_sid=sid)
    return sid


@pytest.mark.parametrize("revoke", ["deactivate", "passwd"])
def test_a_revoked_socket_can_no_longer_act(
    live_server: LiveServer,
    team: dict[str, int],
    database_url: str,
    revoke: str,
) -> None:
    """The account changes in another process (the command line): the next action is refused."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    realtime = services.extras["realtime"]
    realtime.housekeeping.clear()  # the sweep would disconnect first: test the action's check
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        sid = on_a_call(live_server, amy)
        args = ["agents", revoke, "amy"] + (["--password-stdin"] if revoke == "passwd" else [])
        done = invoke(args, cli_env(database_url), "another-password\n")
        assert done.exit_code == 0, done.stderr

        assert refused(amy, "call:add", {"call_sid": sid, "number": "+447700900123"})
        assert refused(amy, "call:hold", {"call_sid": sid, "hold": True})
        assert refused(amy, "call:wrapup", {"call_sid": sid, "disposition": "resolved"})
        assert wait_disconnected(amy)
        assert len(board.find_conference(sid).connected()) == 2
        assert board.participant(sid, sid).hold is False
        with services.database.session() as session:
            kinds = [e.kind for e in session.scalars(select(CallEvent).where(
                CallEvent.call_sid == sid))]  # fmt: skip
        assert "agent.added_party" not in kinds and "agent.hold" not in kinds
    finally:
        amy.close()


def test_logout_disconnects_the_agents_consoles(
    live_server: LiveServer,
    team: dict[str, int],
) -> None:
    amy = Console(live_server, "amy")
    lead = Console(live_server, "lead", namespace="/supervisor")
    try:
        told, lead_told = watch_sign_out(amy), watch_sign_out(lead)
        amy.wait_for("agent:state")
        lead.wait_for("snapshot")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        for username in ("amy", "lead"):
            other = requests.Session()  # another browser of the same person logs out
            assert other.post(f"{live_server.url}/api/login",
                              json={"username": username, "password": PASSWORD}).ok  # fmt: skip
            assert other.post(f"{live_server.url}/api/logout", json={}).status_code == 204
        assert told.wait(5) and lead_told.wait(5)
        assert wait_disconnected(amy) and wait_disconnected(lead)
        assert amy.http.get(f"{live_server.url}/api/me").status_code == 401
        deadline = time.monotonic() + 5
        status = None
        while time.monotonic() < deadline and status != "offline":
            with live_server.app.extensions["callcenter"].database.session() as session:
                status = session.get(Agent, team["amy"]).status
            time.sleep(0.05)
        assert status == "offline"  # disconnected consoles take the agent out of routing
    finally:
        amy.close()
        lead.close()


@contextmanager
def another_process(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[LiveServer]:
    """A second app on the same database and secret key, serving on its own port."""
    with serve_app(tmp_path, database_url, clock, start_realtime=True) as second:
        yield second


def test_logout_and_deactivation_elsewhere_disconnect_consoles_on_every_process(
    live_server: LiveServer,
    team: dict[str, int],
    tmp_path: Path,
    database_url: str,
    clock: Clock,
) -> None:
    with another_process(tmp_path, database_url, clock) as second:
        amy = Console(second, "amy")
        lead = Console(second, "lead", namespace="/supervisor")
        try:
            told = watch_sign_out(amy)
            amy.wait_for("agent:state")
            lead.wait_for("snapshot")
            other = requests.Session()  # logs out on the first process
            assert other.post(f"{live_server.url}/api/login",
                              json={"username": "amy", "password": PASSWORD}).ok  # fmt: skip
            assert other.post(f"{live_server.url}/api/logout", json={}).status_code == 204
            assert wait_disconnected(amy, timeout=5)
            assert told.is_set()

            done = invoke(["agents", "deactivate", "lead"], cli_env(database_url))
            assert done.exit_code == 0, done.stderr
            assert wait_disconnected(lead, timeout=5)
        finally:
            amy.close()
            lead.close()


def test_a_session_older_than_session_hours_is_disconnected(
    live_server: LiveServer,
    team: dict[str, int],
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        guard = live_server.app.extensions["callcenter"].extras["session_guard"]
        assert guard.sweep(force=True) == 0
        guard.clock = lambda: time.time() + 12 * 3600 + 120
        assert guard.sweep(force=True) == 1
        assert wait_disconnected(amy)
    finally:
        amy.close()


def test_the_console_says_signed_out_and_goes_to_the_login_page(
    browser: Browser, live_server: LiveServer, team: dict[str, int]
) -> None:
    page = browser.new_page()
    page.goto(f"{live_server.url}/login?next=/agent")
    page.fill("input[name=username]", "amy")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#connection")).to_have_text("Connected")
    other = requests.Session()  # amy logs out on another device
    assert other.post(f"{live_server.url}/api/login",
                      json={"username": "amy", "password": PASSWORD}).ok  # fmt: skip
    assert other.post(f"{live_server.url}/api/logout", json={}).status_code == 204

    expect(page.locator("#connection")).to_have_text("You were signed out")
    expect(page).to_have_url(f"{live_server.url}/login?next=%2Fagent")
