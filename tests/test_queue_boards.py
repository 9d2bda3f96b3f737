"""The queue boards (the wallboard's and the agent console's Queues card) over real
Socket.IO clients: callers waiting, call-backs pending, the oldest wait, on connect, and
convergence within a second of any change whatever the throttling."""

from __future__ import annotations

import queue
import time
from datetime import datetime
from typing import Any

from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import Console, enqueue_caller, team  # noqa: F401

from callcenter.models import Call

# Every board converges within a second of a change; the tests allow for a loaded machine.
CONVERGED = 2.5


class Board:
    """What a console's queue table shows: the latest summary it received (`queues`, or the
    wallboard's `snapshot`). Other events are kept for `wait_for`."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: dict[str, dict[str, Any]] = {}
        self.held: list[tuple[str, Any]] = []

    def _take(self, timeout: float) -> bool:
        try:
            event, data = self.console.events.get(timeout=timeout)
        except queue.Empty:
            return False
        rows = data if event == "queues" else data["queues"] if event == "snapshot" else None
        if rows is not None:
            self.rows = {row["name"]: row for row in rows}
        else:
            self.held.append((event, data))
        return True

    def until(self, name: str, timeout: float = CONVERGED, **match: Any) -> dict[str, Any]:
        """Wait until the board's row for queue `name` shows the `match` values."""
        deadline = time.monotonic() + timeout
        while True:
            while self._take(0):  # everything already received: the board shows the last
                pass
            row = self.rows.get(name)
            if row is not None and all(row.get(key) == value for key, value in match.items()):
                return row
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{name} never showed {match} within {timeout}s: {row}")
            self._take(min(left, 0.05))

    def wait_for(self, name: str, timeout: float = 15, **match: Any) -> Any:
        """Another event of the console (as `Console.wait_for`), keeping the board current."""
        deadline = time.monotonic() + timeout
        while True:
            for index, (event, data) in enumerate(self.held):
                if event == name and all(data.get(k) == v for k, v in match.items()):
                    del self.held[: index + 1]
                    return data
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {name} {match} within {timeout}s")
            self._take(min(left, 0.05))


def queued_call(server: LiveServer, call_sid: str, timeout: float = 15) -> Call:
    """The call's record once it waits in a queue."""
    services = server.app.extensions["callcenter"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == call_sid))
            if call is not None and call.outcome == "queued":
                session.expunge(call)
                return call
        time.sleep(0.05)
    raise AssertionError(f"{call_sid} never waited in a queue")


def test_a_vip_caller_with_nobody_free_is_counted_and_dropped_on_hang_up(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """Entering a queue is announced even when no agent can be offered the call, and so is
    hanging up in it: both boards follow within a second."""
    services = live_server.app.extensions["callcenter"]
    lead = Console(live_server, "lead", namespace="/supervisor")
    amy = Console(live_server, "amy")  # connected, but offline: nobody can take the call
    wallboard, card = Board(lead), Board(amy)
    try:
        wallboard.until("vip", waiting=0)
        # 王伟 (VIP) presses 1 for his dedicated team.
        caller = start_caller(live_server.app, live_server.url, "+8613800138000", ["1"])
        call = queued_call(live_server, caller.call_sid)
        assert call.queue == "vip"
        row = wallboard.until("vip", waiting=1)
        assert row["display_name"] == "VIP desk" and row["callbacks"] == 0
        # The oldest wait's start, for the page to count up from.
        assert datetime.fromisoformat(row["oldest_since"]) == call.enqueued_at
        assert card.until("vip", waiting=1)["oldest_since"] == row["oldest_since"]

        services.extras["bridge"].hang_up(caller.call_sid)  # the caller gives up
        caller.result()
        assert wallboard.until("vip", waiting=0)["oldest_since"] is None
        card.until("vip", waiting=0)
    finally:
        lead.close()
        amy.close()


def test_call_backs_pending_are_counted_apart_from_callers_waiting(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    lead = Console(live_server, "lead", namespace="/supervisor")
    try:
        wallboard = Board(lead)
        wallboard.until("support", waiting=0)
        # Nobody is available: the caller waits, presses star and hangs up.
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0", "*"])
        caller.result()
        row = wallboard.until("support", waiting=0, callbacks=1)
        assert row["oldest_since"] is None  # the longest wait is of callers on the line
    finally:
        lead.close()
    amy = Console(live_server, "amy")  # a console opened later shows it at once
    try:
        Board(amy).until("support", waiting=0, callbacks=1)
    finally:
        amy.close()


def test_every_console_gets_the_summary_on_connect_and_reconnect(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """With no broadcast at all (the dispatcher stopped), connecting fills the board."""
    realtime = live_server.app.extensions["callcenter"].extras["realtime"]
    realtime.stop()
    enqueue_caller(live_server, "CA" + "7" * 32)
    for _ in range(2):  # connect, then reconnect
        amy = Console(live_server, "amy")
        try:
            row = Board(amy).until("support", waiting=1)
            assert row["oldest_since"] is not None
        finally:
            amy.close()
        lead = Console(live_server, "lead", namespace="/supervisor")
        try:
            Board(lead).until("support", waiting=1)
        finally:
            lead.close()


def test_a_throttled_update_is_sent_at_the_end_of_the_window(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """The agent console must not show the caller it just took as still waiting: an update
    held back by the agent consoles' throttle goes out when the window ends."""
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    boards = [Board(amy), Board(bob)]
    try:
        assert amy.call("agent:status", {"status": "available"})["ok"]
        for board in boards:
            board.until("support", waiting=0, agents_available=1)
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"],
                              dial_talk_seconds=900)  # fmt: skip
        sid = caller.call_sid
        boards[0].wait_for("call:offer", call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        # Every console converges: the call was taken and amy is busy.
        for board in boards:
            board.until("support", waiting=0, agents_available=0)
        boards[0].wait_for("call:connected", call_sid=sid)
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        caller.result()
    finally:
        amy.close()
        bob.close()
