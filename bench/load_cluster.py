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
from collections import defaultdict
from datetime import datetime
from pathlib import Path

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
        self.started = False

    def _script(self, command: str) -> str:
        done = subprocess.run(["bash", str(SCRIPT), command], env=self.env, cwd=ROOT,
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0 and command != "status":
            sys.stderr.write(done.stderr)
            raise SystemExit(f"scripts/cluster.sh {command} failed ({done.returncode})")
        return done.stdout

    def start(self, agents: int) -> None:
        """A fresh database with `agents` consoles' rows, then the whole cluster."""
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
            for line in self._new_text(path).splitlines():
                match = EVENT_LINE.match(line)
                if match:
                    stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
                    found[match.group(2)].append((stamp.timestamp(), index))
        return found

    def socket_apps(self) -> dict[str, int]:
        """Per stickiness key, the app (1..N) nginx sent its websocket to this run."""
        found: dict[str, int] = {}
        for line in self._new_text(self.logs()[-1]).splitlines():
            match = SOCKET_LINE.search(line)
            if match and match.group(1) in self.apps:
                found[match.group(2)] = self.apps.index(match.group(1)) + 1
        return found
