"""Two app processes sharing a Redis message queue (as in the cluster): each supervisor gets
every wallboard update, and each console every queue summary, once, from the process their
page is connected to, and a change made in one process reaches the pages of the other (its
`BoardSignal`). Needs `redis-server`
(started here on a free port); skipped without it."""

from __future__ import annotations

import queue
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, app_config, close_app
from test_agent_socket import PASSWORD, Console
from test_wallboard_socket import WallboardPage
from werkzeug.serving import make_server

from callcenter.app import create_app
from callcenter.calls.routing import Changes
from callcenter.models import Agent, utcnow
from callcenter.people.agents import create_agent, set_presence

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def two_apps(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[list[LiveServer]]:
    """Two apps on the same database and message queue, each with its dispatcher running."""
    before = set(threading.enumerate())
    servers, apps = [], []
    for n in (1, 2):
        server = make_server("127.0.0.1", 0, None, threaded=True)  # type: ignore[arg-type]
        url = f"http://127.0.0.1:{server.server_port}"
        config = app_config(tmp_path / f"app{n}", database_url, public_url=url,
                            twilio_api_url=url + "/simulator", redis_url=redis_url)  # fmt: skip
        app = create_app(config)
        server.app = app
        threading.Thread(target=server.serve_forever, daemon=True).start()
        app.extensions["callcenter"].extras["realtime"].start()
        servers.append(server)
        apps.append(LiveServer(url, app))
    try:
        yield apps
    finally:
        for server, live in zip(servers, apps, strict=True):
            server.shutdown()
            server.server_close()
            close_app(live.app)
        del before


def rename(services: Any, agent_id: int, name: str) -> None:
    with services.database.session() as session:
        session.get(Agent, agent_id).display_name = name


class CountingPage(WallboardPage):
    """A wallboard page that also keeps every update it was sent."""

    def __init__(self, server: LiveServer, username: str) -> None:
        self.received: list[dict[str, Any]] = []
        super().__init__(server, username)

    def _on_board(self, data: dict[str, Any]) -> None:
        self.received.append(data)
        super()._on_board(data)


def test_each_supervisor_gets_each_update_once_from_its_own_process(
    two_apps: list[LiveServer],
) -> None:
    first, second = two_apps
    services = first.app.extensions["callcenter"]
    with services.database.session() as session:
        for name in ("lead1", "lead2"):
            create_agent(session, username=name, display_name=name.title(), agent_number=name[-1]
                         + "031", password=PASSWORD, role="supervisor", skills=[],
                         languages=["en"])  # fmt: skip
        amy = create_agent(session, username="amy", display_name="Amy", agent_number="1001",
                           password=PASSWORD, role="agent", skills=["support"],
                           languages=["en"])  # fmt: skip
        session.flush()
        amy_id = amy.id
    pages = [CountingPage(first, "lead1"), CountingPage(second, "lead2")]
    try:
        for page in pages:
            page.until(lambda b: b["agents"][amy_id]["name"] == "Amy")
        time.sleep(1.0)  # the builds each connect caused are out

        # Amy is renamed in the first process, and both processes hear of it (as when a
        # webhook in one and a dispatcher pass in the other both touch the board): every
        # page gets the change once.
        rename(services, amy_id, "Amy Li")
        sent = len(pages[0].received), len(pages[1].received)
        first.app.extensions["callcenter"].extras["realtime"].touch()
        second.app.extensions["callcenter"].extras["realtime"].touch()
        for page in pages:
            page.until(lambda b: b["agents"][amy_id]["name"] == "Amy Li")
        time.sleep(1.5)  # two update windows: a second copy would be here by now
        for page, count in zip(pages, sent, strict=True):
            showing = [u for u in page.received[count:]
                       if any(a["id"] == amy_id for a in u.get("agents", []))]  # fmt: skip
            assert len(showing) == 1, showing
            versions = [u["version"] for u in page.received]
            assert versions == sorted(set(versions)), "updates from two processes interleaved"

        # A change only the second process knows of reaches the first process's page too.
        rename(services, amy_id, "Amy Wu")
        second.app.extensions["callcenter"].extras["realtime"].touch()
        for page in pages:
            page.until(lambda b: b["agents"][amy_id]["name"] == "Amy Wu")
    finally:
        for page in pages:
            page.close()


def queue_events(console: Console, settle: float) -> list[list[dict[str, Any]]]:
    """The `queues` summaries a console received within `settle` seconds from now."""
    time.sleep(settle)
    found = []
    while True:
        try:
            name, data = console.events.get_nowait()
        except queue.Empty:
            return found
        if name == "queues":
            found.append(data)


def test_each_console_gets_each_queue_summary_once_from_its_own_process(
    two_apps: list[LiveServer],
) -> None:
    """The `queues` summary goes to each agent console and supervisor once per change, from
    the process the socket is connected to, and a change made in one process reaches the
    consoles of the other."""
    first, second = two_apps
    services = first.app.extensions["callcenter"]
    with services.database.session() as session:
        create_agent(session, username="lead1", display_name="Lead1", agent_number="1031",
                     password=PASSWORD, role="supervisor", skills=[], languages=["en"])  # fmt: skip
        amy = create_agent(session, username="amy", display_name="Amy", agent_number="1001",
                           password=PASSWORD, role="agent", skills=["support"],
                           languages=["en"])  # fmt: skip
        session.flush()
        amy_id = amy.id
    consoles = [Console(second, "amy"), Console(first, "lead1", namespace="/supervisor")]
    realtimes = [live.app.extensions["callcenter"].extras["realtime"] for live in two_apps]

    def available(status: str) -> None:
        with services.database.session() as session:
            set_presence(session.get(Agent, amy_id), status, utcnow())

    def support(summary: list[dict[str, Any]]) -> dict[str, Any]:
        return {row["name"]: row for row in summary}["support"]

    try:
        queue_events(consoles[0], 2.5)  # what connecting and logging in sent
        queue_events(consoles[1], 0)
        # Amy becomes available, and both processes announce a change to agents (as when a
        # console event in one and a dispatcher pass in the other both change them).
        available("available")
        for realtime in realtimes:
            realtime.publish(Changes(agents={amy_id}))
        for console in consoles:
            got = [s for s in queue_events(console, 2.5) if support(s)["agents_available"] == 1]
            assert len(got) == 1, got

        # A change only the second process announces reaches the first process's sockets.
        available("away")
        realtimes[1].publish(Changes(agents={amy_id}))
        for console in consoles:
            got = [s for s in queue_events(console, 2.5) if support(s)["agents_available"] == 0]
            assert len(got) == 1, got
    finally:
        for console in consoles:
            console.close()
