"""The multi-process deployment of scripts/cluster.sh: nginx with sticky sessions in front of
gunicorn app processes, Redis, PostgreSQL. Calls held by the simulator in app 1 pop on and
are bridged to consoles connected to app 2, the supervisors of one process see the agents of
the other, timed work happens once, and a `kill -9` of one app leaves the rest working.

These tests drive a running cluster (`make test-cluster` starts one, runs them and stops
it); they are skipped unless CALLCENTER_TEST_CLUSTER_URL names it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import func, select, update

from callcenter.config import Settings, load_settings
from callcenter.db import Database
from callcenter.models import Agent, Call, CallEvent
from callcenter.people.agents import create_agent
from callcenter.simulator.leg.call import place_call
from callcenter.simulator.transports import HttpTransport

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_URL = os.environ.get("CALLCENTER_TEST_CLUSTER_URL", "")
APPS = [url for url in os.environ.get("CALLCENTER_TEST_CLUSTER_APPS", "").split(",") if url]
DATABASE_URL = os.environ.get("CALLCENTER_TEST_CLUSTER_DATABASE_URL", "")
PASSWORD = "cluster test password"
PREFIX = "ct-"  # usernames of the agents these tests create
SCRIPT = ROOT / "scripts" / "cluster.sh"

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not (CLUSTER_URL and len(APPS) >= 2 and DATABASE_URL),
        reason="no cluster: `make test-cluster` starts one with scripts/cluster.sh and sets "
        "CALLCENTER_TEST_CLUSTER_URL, _APPS and _DATABASE_URL",
    ),
]


class Console:
    """A logged-in console whose Socket.IO connects to one app process (or nginx)."""

    def __init__(
        self,
        username: str,
        socket_url: str,
        namespace: str = "/agent",
        transports: tuple[str, ...] = ("websocket",),
    ) -> None:
        self.http = requests.Session()
        login = self.http.post(
            f"{CLUSTER_URL}/api/login", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.seen: list[tuple[str, Any]] = []
        self.namespace = namespace
        # The console's page came from nginx's address, whichever process its socket reaches.
        self.client = socketio.Client(
            reconnection=False, websocket_extra_options={"origin": CLUSTER_URL}
        )
        for name in ("agent:state", "call:offer", "call:ended", "call:connected", "agent",
                     "snapshot", "queues"):  # fmt: skip
            self.client.on(name, self._recorder(name), namespace=namespace)
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        headers = {"Cookie": cookie}
        self.client.connect(
            socket_url, namespaces=[namespace], headers=headers,
            transports=list(transports), wait_timeout=10,
        )  # fmt: skip

    def _recorder(self, name: str) -> Any:
        def record(data: Any = None) -> None:
            self.events.put((name, data))
            self.seen.append((name, data))

        return record

    def wait_for(self, name: str, timeout: float = 10.0, **match: Any) -> Any:
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
        return self.client.call(event, data, namespace=self.namespace, timeout=10)

    def available(self) -> None:
        assert self.call("agent:status", {"status": "available"})["ok"]
        self.wait_for("agent:state", status="available")

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()
        self.http.close()


class Phone:
    """A caller on the simulator's browser phone, through nginx (app 1 holds the call)."""

    def __init__(self, caller: str) -> None:
        self.http = requests.Session()
        answer = self.http.post(f"{CLUSTER_URL}/phone/calls", json={"from": caller})
        assert answer.status_code == 201, answer.text
        self.call_sid: str = answer.json()["call_sid"]
        self.lines: list[str] = []
        self.ended = False

    def poll(self) -> None:
        answer = self.http.get(
            f"{CLUSTER_URL}/phone/calls/{self.call_sid}/events", params={"after": len(self.lines)}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        self.lines += [event["line"] for event in body["events"]]
        self.ended = body["ended"]

    def wait_heard(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if any(text in line for line in self.lines):
                return
            assert not self.ended, self.lines
            time.sleep(0.2)
        raise AssertionError(f"the caller did not hear {text!r}: {self.lines}")

    def press(self, keys: str) -> None:
        answer = self.http.post(
            f"{CLUSTER_URL}/phone/calls/{self.call_sid}/keys", json={"keys": keys}
        )
        assert answer.status_code == 202, answer.text

    def to_support_queue(self) -> None:
        self.wait_heard("For English, press 1.")
        self.press("1")
        self.wait_heard("To speak to an agent, press 0.")
        self.press("0")
        self.wait_heard('In queue "support"')

    def hang_up(self) -> None:
        self.poll()
        if not self.ended:
            self.http.post(f"{CLUSTER_URL}/phone/calls/{self.call_sid}/hangup", json={})
        self.http.close()


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    database = Database(DATABASE_URL)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def settings() -> Settings:
    """The cluster's settings, as its processes read them (simulator credentials included)."""
    environ = {"CALLCENTER_PUBLIC_URL": CLUSTER_URL, "CALLCENTER_DATABASE_URL": DATABASE_URL}
    return load_settings(ROOT / "instance" / "cluster" / "config.yaml", environ=environ)


def _retire_test_agents(database: Database) -> None:
    with database.session() as session:
        session.execute(
            update(Agent)
            .where(Agent.username.startswith(PREFIX))
            .values(active=False, status="offline", current_call_sid=None)
        )


@pytest.fixture
def team(database: Database) -> Iterator[dict[str, str]]:
    """Fresh support agents (the cluster's database outlives a test run), retired after."""
    _retire_test_agents(database)
    with database.session() as session:
        # Callers left queued by an earlier run (a simulator restarted under them) are gone.
        session.execute(
            update(Call)
            .where(Call.outcome.in_(["queued", "callback"]), Call.ended_at.is_(None))
            .values(outcome="abandoned", ended_at=func.now())
        )
        run = uuid.uuid4().hex[:6]
        taken = session.scalars(select(Agent.agent_number)).all()
        # Above every number a test run ever took (retired agents keep theirs).
        first = max([int(n) for n in taken if n.isdigit() and int(n) >= 7000] + [7000]) + 1
        names = {}
        for index, role in enumerate(["agent", "agent", "supervisor"]):
            username = f"{PREFIX}{run}-{index}"
            create_agent(
                session, username=username, display_name=f"Test {index}",
                agent_number=str(first + index),
                password=PASSWORD, role=role, skills=["support"], languages=["en", "zh-CN"],
            )  # fmt: skip
            names[["amy", "bob", "lead"][index]] = username
    yield names
    _retire_test_agents(database)


def events_of(database: Database, call_sid: str, kind: str) -> list[CallEvent]:
    with database.session() as session:
        rows = session.scalars(
            select(CallEvent).where(CallEvent.call_sid == call_sid, CallEvent.kind == kind)
        ).all()
        session.expunge_all()
        return list(rows)


def the_call(database: Database, call_sid: str) -> Call:
    with database.session() as session:
        call = session.scalars(select(Call).where(Call.call_sid == call_sid)).one()
        session.expunge(call)
        return call


def agent_id(database: Database, username: str) -> int:
    with database.session() as session:
        return session.scalars(select(Agent.id).where(Agent.username == username)).one()


def test_nginx_spreads_webhooks_and_keeps_a_browser_on_one_process() -> None:
    with requests.Session() as browser:
        browser.get(f"{CLUSTER_URL}/healthz").raise_for_status()
        assert "ccnode" in browser.cookies  # the sticky key, set once
        again = browser.get(f"{CLUSTER_URL}/healthz")
        assert "ccnode" not in again.headers.get("Set-Cookie", "")
    log = ROOT / "instance" / "cluster" / "nginx" / "access.log"
    before = log.read_text().count("\n") if log.exists() else 0
    for _ in range(20):  # no cookie, like Twilio: any process
        requests.get(f"{CLUSTER_URL}/healthz").raise_for_status()
    lines = log.read_text().splitlines()[before:]
    upstreams = {line.split("upstream=")[1].split()[0] for line in lines if "/healthz" in line}
    assert upstreams == {url.removeprefix("http://") for url in APPS}


def test_a_call_on_app_1_pops_and_is_bridged_on_app_2(
    database: Database, team: dict[str, str]
) -> None:
    """The caller's webhooks all hit app 1 (the simulator's process); the agent's console
    is on app 2. The offer, the accept and the bridge cross processes; so do the wrap-up's
    end (once) and the supervisor's view of it."""
    amy = Console(team["amy"], APPS[1])
    lead = Console(team["lead"], APPS[0], namespace="/supervisor")
    phone = Phone("+8613900139011")
    try:
        amy.available()
        phone.to_support_queue()
        offer = amy.wait_for("call:offer", timeout=10, call_sid=phone.call_sid)
        assert offer["caller_number"] == "+8613900139011"
        assert amy.call("call:accept", {"call_sid": phone.call_sid}) == {
            "ok": True, "call_sid": phone.call_sid,
        }  # fmt: skip
        amy.wait_for("call:connected", timeout=15, call_sid=phone.call_sid)
        phone.wait_heard("will help you now.", timeout=15)
        call = the_call(database, phone.call_sid)
        assert (call.outcome, call.agent_id) == ("answered", agent_id(database, team["amy"]))

        # The caller hangs up: wrap-up (30 s in support), then available, exactly once.
        phone.hang_up()
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
        lead.wait_for("agent", timeout=5, username=team["amy"], status="wrap-up")
        amy.wait_for("agent:state", timeout=40, status="available")
        lead.wait_for("agent", timeout=5, username=team["amy"], status="available")
        time.sleep(3)  # every process's dispatcher has had its passes since
        released = [data for name, data in amy.seen
                    if name == "agent:state" and data["status"] == "available"]  # fmt: skip
        assert len(released) == 2  # the first "available", then the end of the wrap-up
        assert len(events_of(database, phone.call_sid, "agent.offered")) == 1
        assert len(events_of(database, phone.call_sid, "agent.accepted")) == 1
    finally:
        phone.hang_up()
        amy.close()
        lead.close()


def test_the_supervisor_on_app_1_sees_an_agent_on_app_2(team: dict[str, str]) -> None:
    lead = Console(team["lead"], APPS[0], namespace="/supervisor")
    bob = Console(team["bob"], APPS[1])
    try:
        bob.available()
        assert lead.wait_for("agent", username=team["bob"], status="available")
        assert bob.call("agent:status", {"status": "away"})["ok"]
        assert lead.wait_for("agent", username=team["bob"], status="away")
    finally:
        bob.close()
        lead.close()


def test_an_offer_nobody_answers_expires_once(
    database: Database, settings: Settings, team: dict[str, str]
) -> None:
    """A `callcenter call`-style caller through nginx (its webhooks spread over the
    processes) asks for a call-back; its offer to the agent on app 2 times out once."""
    bob = Console(team["bob"], APPS[1])
    try:
        with HttpTransport(CLUSTER_URL, public_url=CLUSTER_URL) as transport:
            result = place_call(
                transport, public_url=CLUSTER_URL, account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token, from_="+8613900139012",
                to=settings.main_number, inputs=["1", "0", "*"], hold_seconds=60,
                api_url=settings.twilio_api_url,
            )  # fmt: skip
        assert "call you back" in " ".join(result.heard()), result.heard()
        assert the_call(database, result.call_sid).outcome == "callback"
        bob.available()
        offer = bob.wait_for("call:offer", timeout=10, call_sid=result.call_sid)
        timeout = settings.queues["support"].offer_timeout
        ended = bob.wait_for("call:ended", timeout=timeout + 10, call_sid=result.call_sid)
        assert ended["reason"] == "no answer"
        bob.wait_for("agent:state", timeout=5, status="away")
        time.sleep(3)
        assert len(events_of(database, result.call_sid, "agent.expired")) == 1
        assert len(events_of(database, result.call_sid, "agent.offered")) == 1
        assert offer["call_sid"] == result.call_sid
    finally:
        bob.close()


def _app_pids(app_index: int) -> list[int]:
    master = int((ROOT / "instance" / "cluster" / f"app{app_index}.pid").read_text())
    children = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [master, *map(int, children)]


@pytest.fixture
def restore_cluster() -> Iterator[None]:
    yield
    subprocess.run(["bash", str(SCRIPT), "start"], check=True, capture_output=True, timeout=120)


def test_kill_9_of_an_app_leaves_the_waiting_caller_and_the_consoles_working(
    database: Database, team: dict[str, str], restore_cluster: None
) -> None:
    """App 2 dies (`kill -9`, no goodbye) while a caller waits: the caller keeps waiting on
    app 1 and an agent on app 1 gets the call within 5 s of becoming available; consoles
    through nginx keep working."""
    doomed = Console(team["bob"], APPS[1])
    amy = Console(team["amy"], APPS[0])
    phone = Phone("+8613900139013")
    try:
        assert doomed.call("agent:status", {"status": "away"})["ok"]
        phone.to_support_queue()
        for pid in _app_pids(2):
            os.kill(pid, signal.SIGKILL)
        time.sleep(1)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{APPS[1]}/healthz", timeout=5)

        amy.available()
        amy.wait_for("call:offer", timeout=5, call_sid=phone.call_sid)
        assert amy.call("call:accept", {"call_sid": phone.call_sid})["ok"]
        amy.wait_for("call:connected", timeout=15, call_sid=phone.call_sid)
        phone.wait_heard("will help you now.", timeout=15)

        # Through nginx every page and console still works, whichever process a browser's
        # key hashed to: nginx sends it to a live one (long-polling first, as browsers do).
        for _ in range(6):
            lead = Console(
                team["lead"], CLUSTER_URL, "/supervisor", transports=("polling", "websocket")
            )
            snapshot = lead.wait_for("snapshot", timeout=10)
            assert team["amy"] in [agent["username"] for agent in snapshot["agents"]]
            lead.close()
    finally:
        phone.hang_up()
        amy.close()
        doomed.close()


def test_after_kill_9_the_dead_processs_consoles_get_no_offers(
    team: dict[str, str], restore_cluster: None
) -> None:
    """An agent whose console was on the killed process is not offered the next call: the
    agent on the surviving process gets it within 5 s."""
    ghost = Console(team["bob"], APPS[1])
    amy = Console(team["amy"], APPS[0])
    phone = None
    try:
        ghost.available()  # idle the longest: first in line
        time.sleep(1)
        amy.available()
        for pid in _app_pids(2):
            os.kill(pid, signal.SIGKILL)
        phone = Phone("+8613900139014")
        phone.to_support_queue()
        amy.wait_for("call:offer", timeout=5, call_sid=phone.call_sid)
    finally:
        if phone is not None:
            phone.hang_up()
        amy.close()
        ghost.close()
