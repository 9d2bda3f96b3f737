"""The churn run's cluster target (`bench/load.py --target cluster`): scripts/cluster.sh
started with the load generator's simulator as its Twilio, on a fresh PostgreSQL database.

The cluster's processes get `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` and
`CALLCENTER_TWILIO_API_URL` naming the load generator's simulator (scripts/cluster.sh then
leaves the API URL alone), so every app process's REST requests reach the switchboard that
placed the calls. The database (`CLUSTER_DATABASE`, default `callcenter_load`: never the
cluster's usual one) is dropped and created again, migrated and given the bench's agents
before the app processes start. Where each console's socket lives comes from nginx's access
log (the upstream of its websocket request, by its `ccnode` stickiness key); where each offer
was made from the `agent.offered` line in that app process's own log.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from screenpop import PROBE, insert_agents

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_DIR = ROOT / "instance" / "cluster"
SCRIPT = ROOT / "scripts" / "cluster.sh"
SOCKET_LINE = re.compile(
    r'"GET /socket\.io/\S* HTTP/[\d.]+" \d+ \d+ upstream=(\S+) ccnode=(\S+)'
)  # fmt: skip
EVENT_LINE = re.compile(r"^(\S+ \S+) INFO callcenter\.events: (CA[0-9a-f]{32}) agent\.offered")


def _exports(text: str) -> dict[str, str]:
    return {
        key.removeprefix("export ").strip(): value.strip().strip("'")
        for key, _, value in (line.partition("=") for line in text.splitlines() if "=" in line)
    }


class Cluster:
    """The running cluster: its URL, app processes, logs; `stop()` always ends it."""

    def __init__(self, account_sid: str, auth_token: str, api_url: str) -> None:
        self.database = os.environ.get("CLUSTER_DATABASE", "callcenter_load")
        self.env = {
            **os.environ,
            "CLUSTER_DATABASE": self.database,
            "CALLCENTER_CONFIG": str(ROOT / "config.yaml"),
            "TWILIO_ACCOUNT_SID": account_sid,
            "TWILIO_AUTH_TOKEN": auth_token,
            "CALLCENTER_TWILIO_API_URL": api_url,
        }
        for leak in ("CALLCENTER_DATABASE_URL", "CALLCENTER_PUBLIC_URL", "CALLCENTER_REDIS_URL"):
            self.env.pop(leak, None)
        self.url = ""
        self.apps: list[str] = []  # "127.0.0.1:port" of app 1..N
        self.database_url = ""
        self._offsets: dict[Path, int] = {}
        self.sockets: dict[str, int] = {}  # stickiness key: app 1..N
        self.started = False

    def _script(self, command: str) -> str:
        done = subprocess.run(["bash", str(SCRIPT), command], env=self.env, cwd=ROOT,
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0 and command != "status":
            sys.stderr.write(done.stderr)
            raise SystemExit(f"scripts/cluster.sh {command} failed ({done.returncode})")
        return done.stdout

    def start(self, agents: int) -> tuple[str, list[int], list[int]]:
        """A fresh database with `agents` consoles' rows, then the whole cluster: its URL,
        the app processes' pids and the services' (nginx, Redis, PostgreSQL backends)."""
        status = self._script("status")
        if "running" in status:
            raise SystemExit(
                "a cluster is running (scripts/cluster.sh status): stop it first; its "
                "processes would not have the load generator's Twilio credentials"
            )
        self.database_url = self._fresh_database()
        self._prepare(agents)
        self.started = True
        print(self._script("start").strip(), file=sys.stderr)
        values = _exports(self._script("env"))
        self.url = values["CALLCENTER_TEST_CLUSTER_URL"]
        self.apps = [app.removeprefix("http://") for app in
                     values["CALLCENTER_TEST_CLUSTER_APPS"].split(",")]  # fmt: skip
        for path in self.logs():
            self._offsets[path] = path.stat().st_size if path.exists() else 0
        return self.url, self.app_pids(), self.service_pids()

    def stop(self) -> None:
        if self.started:
            print(self._script("stop").strip(), file=sys.stderr)

    def _fresh_database(self) -> str:
        import psycopg

        exports = subprocess.run(
            ["bash", str(ROOT / "scripts/services.sh"), "--export"], check=True, text=True,
            capture_output=True,
            env={**self.env, "SERVICES_DATABASE": self.database, "SERVICES_CHROMIUM": "0",
                 "SERVICES_REDIS": "0"},
        ).stdout  # fmt: skip
        url = _exports(exports)["CALLCENTER_TEST_POSTGRES_URL"]
        admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
        with psycopg.connect(admin + "/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{self.database}"')
        return url

    def _prepare(self, agents: int) -> None:
        """Migrated, with the probe and agent0001.. (support and repairs, offline), numbered
        7xxxx so that the demo team scripts/cluster.sh adds keeps its own numbers."""
        from sqlalchemy import update

        from callcenter.db import Database
        from callcenter.migrate import upgrade
        from callcenter.models import Agent

        database = Database(self.database_url)
        upgrade(database)
        insert_agents(database, agents - 1, "offline")
        names = [PROBE] + [f"agent{i:04d}" for i in range(1, agents)]
        with database.engine.begin() as connection:
            connection.execute(
                update(Agent)
                .where(Agent.username.in_(names))
                .values(skills=["support", "repairs"], status="offline",
                        agent_number="7" + Agent.agent_number)
            )  # fmt: skip
        database.dispose()

    # -- during and after the run ----------------------------------------------------------

    def logs(self) -> list[Path]:
        apps = [CLUSTER_DIR / f"app{index}.log" for index in range(1, len(self.apps) + 1)]
        return [*apps, CLUSTER_DIR / "nginx" / "access.log"]

    def _new_text(self, path: Path) -> str:
        with path.open("rb") as handle:
            handle.seek(self._offsets.get(path, 0))
            return handle.read().decode(errors="replace")

    def app_pids(self) -> list[int]:
        """The gunicorn masters and their workers."""
        from saturation import children

        found: list[int] = []
        for index in range(1, len(self.apps) + 1):
            found += children(int((CLUSTER_DIR / f"app{index}.pid").read_text()))
        return found

    def service_pids(self) -> list[int]:
        """nginx, Redis and the PostgreSQL backends of the cluster's database."""
        from saturation import cluster_services

        return cluster_services(self.database)

    def offers(self) -> dict[str, list[tuple[float, int]]]:
        """Per call, (wall clock, app 1..N) of every `agent.offered` line written this run."""
        found: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for index, path in enumerate(self.logs()[:-1], start=1):
            for sid, stamps in offered_lines(self._new_text(path)).items():
                found[sid] += [(at, index) for at in stamps]
        return found

    def read_sockets(self) -> None:
        """Per stickiness key, the app (1..N) nginx sent its websocket to this run (read
        once the consoles have closed: nginx logs a websocket when it closes)."""
        time.sleep(1)
        for line in self._new_text(self.logs()[-1]).splitlines():
            match = SOCKET_LINE.search(line)
            if match and match.group(1) in self.apps:
                self.sockets[match.group(2)] = self.apps.index(match.group(1)) + 1

    def consoles(self, nodes: dict[str, str]) -> dict[int, int | None]:
        """Per console (its index in the agents process), the app holding its socket."""
        return {int(index): self.sockets.get(node) for index, node in nodes.items()}


def offered_lines(log_text: str) -> dict[str, list[float]]:
    """Wall-clock times of the `agent.offered` lines in a server log, per call."""
    found: dict[str, list[float]] = defaultdict(list)
    for line in log_text.splitlines():
        match = EVENT_LINE.match(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            found[match.group(2)].append(stamp.timestamp())
    return found


def pop_latencies(
    received: list[tuple[str, int, float]],
    offers: dict[str, list[tuple[float, int]]],
    socket_app: dict[int, int | None],
) -> tuple[list[float], list[float], int]:
    """Each pop's latency (from the last `agent.offered` line of its call written before the
    console got it), those crossed (offer on one app, socket on another), and how many pops
    had a socket whose app is unknown. (The embedded target: one app, 0, nothing crossed.)"""
    pops, crossed, unplaced = [], [], 0
    for sid, agent, at_console in received:
        written = [(at, app) for at, app in offers.get(sid, []) if at <= at_console + 0.002]
        if written:
            at, app = max(written)
            pops.append(max(0.0, at_console - at))
            if socket_app.get(agent) is None:
                unplaced += 1
            elif socket_app[agent] != app:
                crossed.append(max(0.0, at_console - at))
    return pops, crossed, unplaced


def report_crossed(result: dict[str, Any], ms: Callable[[list[float], float], str]) -> None:
    """The cluster's own lines of the report: crossed pops, consoles and offers per app."""
    crossed = result["crossed"]
    print(f"    crossed  p50 {ms(crossed, 0.5):>9}  p99 {ms(crossed, 0.99):>9}  "
          f"(n={len(crossed)}, offer on one app process, socket on another; "
          f"{result['unplaced_pops']} pops whose socket's process is unknown)")  # fmt: skip
    print(f"  consoles per app process {result['sockets_per_app']}, offers per app "
          f"process {result['offers_per_app']}")  # fmt: skip
