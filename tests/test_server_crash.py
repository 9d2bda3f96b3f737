"""A real `callcenter serve` killed with SIGKILL while agents are connected, restarted on
the same database: the dead consoles are offered nothing, and soon show as offline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from conftest import ROOT
from sqlalchemy import select
from test_agent_socket import PASSWORD, Console

from callcenter.calls.records import open_call
from callcenter.db import Database
from callcenter.models import Agent, CallOffer, utcnow
from callcenter.people.agents import create_agent

PORTS = range(5161, 5170)


@dataclass
class Server:
    url: str


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port for the server")


def write_config(tmp_path: Path, url: str, database_url: str) -> Path:
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config.update(
        base_dir=str(ROOT),
        public_url=url,
        database_url=database_url,
        instance_dir=str(tmp_path / "instance"),
        recordings_dir=str(tmp_path / "recordings"),
    )
    config["tts"]["cache_dir"] = str(tmp_path / "tts")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


class Serve:
    """`callcenter serve` in its own process, as an operator runs it."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "TWILIO_"))}
        env.update(CALLCENTER_CONFIG=str(config), PYTHONPATH=str(ROOT))
        command = Path(sys.executable).with_name("callcenter")
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [str(command), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=config.parent,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text(errors="replace")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError("the server did not start: " + log.read_text(errors="replace"))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)
        self.log.close()


@pytest.fixture
def servers() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for server in started:
        server.kill(signal.SIGTERM)


def test_a_killed_server_leaves_no_agent_to_offer_calls_to(
    tmp_path: Path, database_url: str, servers: list[Serve]
) -> None:
    database = Database(database_url)
    with database.session() as session:
        ids = {
            name: create_agent(
                session, username=name, display_name=name.title(), agent_number=number,
                password=PASSWORD, skills=["support"], languages=["en", "zh-CN"],
            ).id
            for name, number in [("amy", "1024"), ("bob", "1025"), ("cat", "1026")]
        }  # fmt: skip
    port = free_port()
    config = write_config(tmp_path, f"http://127.0.0.1:{port}", database_url)
    log = tmp_path / "serve.log"
    consoles: list[Console] = []
    try:
        servers.append(Serve(config, port, log))
        for name in ("amy", "bob"):  # available first: they would be offered the next call
            console = Console(Server(servers[0].url), name)  # type: ignore[arg-type]
            consoles.append(console)
            console.wait_for("agent:state")
            assert console.call("agent:status", {"status": "available"})["ok"]

        servers[0].kill()  # kill -9: no disconnect handler runs, amy and bob stay available
        with database.session() as session:
            statuses = {a.username: a.status for a in session.scalars(select(Agent))}
        assert statuses == {"amy": "available", "bob": "available", "cat": "offline"}

        servers.append(Serve(config, port, log))  # restarted at once, same database
        cat = Console(Server(servers[1].url), "cat")  # type: ignore[arg-type]
        consoles.append(cat)
        cat.wait_for("agent:state")
        assert cat.call("agent:status", {"status": "available"})["ok"]
        sid = "CA" + "c" * 32
        with database.session() as session:  # a new caller reaches the support queue
            call = open_call(session, call_sid=sid, from_raw="+8613900139000",
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            call.queue, call.outcome, call.queue_priority = "support", "queued", 10
            call.enqueued_at = utcnow()
        assert cat.wait_for("call:offer", timeout=10, call_sid=sid)["call_sid"] == sid
        with database.session() as session:
            offered = session.scalars(select(CallOffer.agent_id).where(CallOffer.call_sid == sid))
            assert list(offered) == [ids["cat"]]

        # Their heartbeat has gone stale: the boards show them offline, not available.
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with database.session() as session:
                statuses = {a.username: a.status for a in session.scalars(select(Agent))}
            if statuses["amy"] == statuses["bob"] == "offline":
                break
            time.sleep(0.5)
        assert (statuses["amy"], statuses["bob"]) == ("offline", "offline")
    finally:
        for console in consoles:
            close_quietly(console)
        database.dispose()


def close_quietly(console: Any) -> None:
    try:
        console.close()
    except Exception:  # the server it talked to was killed
        console.http.close()
