"""The wallboard over real Socket.IO clients against a live server: several supervisors get
the full board on connect and the same updates within a second of a webhook-driven change;
thresholds set by one reach all; agents cannot see the board or set anything."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
import socketio
from conftest import LiveServer, start_caller
from test_agent_socket import PASSWORD, Console, team  # noqa: F401
from test_console_calls import connected_call
from test_queue_boards import CONVERGED, queued_call

from callcenter.models import Agent
from callcenter.people.agents import create_agent
from callcenter.supervision.thresholds import thresholds


def queue_of(board: dict[str, Any], name: str) -> dict[str, Any]:
    return {q["name"]: q for q in board["queues"]}[name]


class WallboardPage:
    """A supervisor's wallboard page: logged in, connected to /supervisor, keeping the
    board as the page does (the full board, then updates merged in)."""

    def __init__(self, server: LiveServer, username: str) -> None:
        self.http = requests.Session()
        login = self.http.post(
            f"{server.url}/api/login", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        self.board: dict[str, Any] = {}
        self.fulls = 0
        self.updates = 0
        self.changed = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("wallboard", self._on_board, namespace="/supervisor")
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        self.client.connect(
            server.url, namespaces=["/supervisor"], headers={"Cookie": cookie},
            transports=["polling", "websocket"], wait_timeout=5,
        )  # fmt: skip

    def _on_board(self, data: dict[str, Any]) -> None:
        with self.changed:
            if data["full"]:
                self.board = {**data, "agents": {a["id"]: a for a in data["agents"]},
                              "calls": {c["call_sid"]: c for c in data["calls"]}}  # fmt: skip
                self.fulls += 1
            else:
                self.updates += 1
                for key, value in data.items():
                    if key in ("agents", "calls"):
                        field = "id" if key == "agents" else "call_sid"
                        self.board[key].update({row[field]: row for row in value})
                    elif key.endswith("_removed"):
                        for gone in value:
                            self.board[key.removesuffix("_removed")].pop(gone, None)
                    else:
                        self.board[key] = value
            self.changed.notify_all()

    def queue(self, name: str) -> dict[str, Any]:
        return {q["name"]: q for q in self.board["queues"]}[name]

    def until(self, check: Any, timeout: float = CONVERGED) -> float:
        """Wait until `check(board)` holds; returns when (time.monotonic())."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                try:
                    if self.board and check(self.board):
                        return time.monotonic()
                except KeyError:
                    pass
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the board never showed it within {timeout}s")
                self.changed.wait(left)

    def call(self, event: str, data: Any) -> Any:
        return self.client.call(event, data, namespace="/supervisor", timeout=5)

    def close(self) -> None:
        self.client.disconnect()
        self.http.close()


@pytest.fixture
def supervisors(live_server: LiveServer, team: dict[str, int]) -> list[str]:  # noqa: F811
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        for n in (2, 3):
            create_agent(session, username=f"lead{n}", display_name=f"Lead {n}",
                         agent_number=f"103{n}", password=PASSWORD, role="supervisor",
                         skills=[], languages=["en"])  # fmt: skip
    return ["lead", "lead2", "lead3"]


def test_several_supervisors_follow_a_caller_within_a_second(
    live_server: LiveServer, supervisors: list[str]
) -> None:
    pages = [WallboardPage(live_server, name) for name in supervisors]
    services = live_server.app.extensions["callcenter"]
    try:
        for page in pages:
            page.until(lambda b: b["full"] and queue_of(b, "vip")["waiting"] == 0)
            assert {a["username"] for a in page.board["agents"].values()} >= {"amy", "bob"}
        # 王伟 (VIP) presses 1: nobody is free, he waits in the VIP queue.
        caller = start_caller(live_server.app, live_server.url, "+8613800138000", ["1"])
        call = queued_call(live_server, caller.call_sid)
        queued_at = time.monotonic()
        seen = [
            page.until(
                lambda b: (
                    b["calls"][caller.call_sid]["state"] == "waiting"
                    and queue_of(b, "vip")["waiting"] == 1
                )
            )
            for page in pages
        ]
        assert max(seen) - queued_at < CONVERGED
        for page in pages:
            row = page.board["calls"][caller.call_sid]
            assert (row["queue"], row["since"]) == ("vip", call.enqueued_at.isoformat())
            assert row["customer"] == "王伟" and row["tier"] == "vip"
            assert page.queue("vip")["oldest_since"] == call.enqueued_at.isoformat()

        services.extras["bridge"].hang_up(caller.call_sid)  # the caller gives up
        caller.result()
        hung_up = time.monotonic()
        gone = [page.until(lambda b: caller.call_sid not in b["calls"]) for page in pages]
        assert max(gone) - hung_up < CONVERGED
        for page in pages:
            page.until(lambda b: queue_of(b, "vip")["waiting"] == 0)
            assert page.fulls == 1  # one full board on connect, then updates only
    finally:
        for page in pages:
            page.close()


def test_an_agent_status_change_reaches_every_supervisor(
    live_server: LiveServer,
    supervisors: list[str],
    team: dict[str, int],  # noqa: F811
) -> None:
    pages = [WallboardPage(live_server, name) for name in supervisors]
    amy = Console(live_server, "amy")
    try:
        for page in pages:
            page.until(lambda b: b["agents"][team["amy"]]["status"] in ("offline", "available"))
        assert amy.call("agent:status", {"status": "away", "reason": "lunch"})["ok"]
        changed = time.monotonic()
        for page in pages:
            page.until(lambda b: b["agents"][team["amy"]]["status"] == "away")
            assert page.board["agents"][team["amy"]]["reason"] == "lunch"
            page.until(lambda b: queue_of(b, "support")["agents"]["away"] == 1)
        assert time.monotonic() - changed < CONVERGED
    finally:
        amy.close()
        for page in pages:
            page.close()


def test_thresholds_set_by_one_supervisor_reach_all_and_persist(
    live_server: LiveServer, supervisors: list[str]
) -> None:
    services = live_server.app.extensions["callcenter"]
    pages = [WallboardPage(live_server, name) for name in supervisors[:2]]
    try:
        for page in pages:
            page.until(lambda b: queue_of(b, "support")["thresholds"]["oldest_wait_seconds"] == 60)
        answer = pages[0].call("supervisor:thresholds",
                               {"queue": "support", "oldest_wait_seconds": 45,
                                "service_level": 0.9})  # fmt: skip
        assert answer == {"ok": True, "queue": "support", "thresholds": {
            "oldest_wait_seconds": 45, "service_level": 0.9,
            "custom": ["oldest_wait_seconds", "service_level"]}}  # fmt: skip
        for page in pages:
            page.until(lambda b: queue_of(b, "support")["thresholds"]["service_level"] == 0.9)
        assert pages[1].call("supervisor:thresholds", {"queue": "nope", "service_level": 1}) == {
            "error": "unknown queue"
        }
        bad = pages[1].call("supervisor:thresholds", {"queue": "vip", "service_level": 7})
        assert "error" in bad
        assert pages[1].call("supervisor:thresholds", ["support"]) == {
            "error": "the payload must be one JSON object"
        }
    finally:
        for page in pages:
            page.close()
    with services.database.session() as session:  # kept, for every page opened later
        assert thresholds(session, services.settings)["support"]["oldest_wait_seconds"] == 45
    later = WallboardPage(live_server, "lead3")
    try:
        later.until(lambda b: queue_of(b, "support")["thresholds"]["oldest_wait_seconds"] == 45)
    finally:
        later.close()


def test_agents_cannot_see_the_board_or_set_thresholds(
    live_server: LiveServer,
    supervisors: list[str],
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    with pytest.raises(socketio.exceptions.ConnectionError):
        WallboardPage(live_server, "amy")
    page = WallboardPage(live_server, "lead2")
    try:
        page.until(lambda b: b["full"])
        with services.database.session() as session:  # lead2 is made an agent meanwhile
            session.get(Agent, page.board["agents"] and _id(session, "lead2")).role = "agent"
        answer = page.call("supervisor:thresholds", {"queue": "vip", "service_level": 0.1})
        assert answer == {"error": "supervisor login required"}
    finally:
        page.close()
    with services.database.session() as session:
        assert thresholds(session, services.settings)["vip"]["service_level"] == 0.8


def _id(session: Any, username: str) -> int:
    from sqlalchemy import select

    return session.scalar(select(Agent.id).where(Agent.username == username))


def test_a_supervisor_stepping_in_and_out_shows_within_a_second(
    live_server: LiveServer,
    supervisors: list[str],
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(live_server, "amy")
    pages = [WallboardPage(live_server, name) for name in supervisors[:2]]
    try:
        amy.wait_for("agent:state")
        sid = connected_call(live_server, amy).call_sid
        for page in pages:
            page.until(lambda b: b["calls"][sid]["state"] == "connected")
        lead = {"id": team["lead"], "name": "Lead", "mode": "monitor"}
        for mode, shown in (("monitor", [lead]), ("coach", [{**lead, "mode": "coach"}])):
            assert pages[0].call(f"supervisor:{mode}", {"call_sid": sid})["ok"]
            acted = time.monotonic()
            for page in pages:
                seen = page.until(lambda b, shown=shown: b["calls"][sid]["supervisors"] == shown)
                assert seen - acted < CONVERGED
                page.until(
                    lambda b, shown=shown: b["agents"][team["amy"]]["call"]["supervisors"] == shown
                )
        assert pages[0].call("supervisor:leave", {"call_sid": sid})["ok"]
        left = time.monotonic()
        for page in pages:
            assert page.until(lambda b: b["calls"][sid]["supervisors"] == []) - left < CONVERGED
    finally:
        amy.close()
        for page in pages:
            page.close()
