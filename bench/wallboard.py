"""The wallboard at size: update latency (a webhook that changes a queue → every
supervisor's `wallboard` event) and the server CPU the board costs, with 1,000 agents.

    .venv/bin/python bench/wallboard.py [--calls 60] [--agent-sockets 100] [--port 5201]

Set-up: `callcenter serve --open-all-hours` (one process, as shipped) on a fresh migrated
SQLite database holding 1,000 active agent rows (skills support + repairs; 400 available,
300 on a call with its caller connected, 100 in wrap-up, 100 away, 100 offline), 20
supervisors, and 3,000 calls handled earlier today (queue entries and agents' handles: the
figures and charts of the day). Every agent not offline keeps a live console heartbeat: a
loop here refreshes `console_seen_at` every 5 s, as consoles do. `--agent-sockets` of the
agents are logged in with a real Socket.IO console each (the rest exist as rows only:
1,000 sockets would measure the clients, not the board).

Each measured call is a caller entering the support queue through the IVR by signed
webhooks (voice, language, menu, order number → <Enqueue>), then hanging up (status
callback). The latency of a call is from just before its last webhook is posted to the
moment each supervisor receives a `wallboard` event showing the caller; p50/p99 over
calls × supervisors.

CPU: the server process's user + system CPU seconds per wall second (/proc) over the same
traffic twice: with no supervisor connected (the board is not built at all then) and with
the 20 supervisors; the difference is what the board costs. The board's own build time on
the final database is timed in-process as well.

Measured on the shared 2-core machine (60 callers, 100 agent sockets, 20 supervisors),
before rows were reused between builds: p50 203 ms, p99 451 ms, max 452 ms over 1,200
deliveries, none missing (the 0.5 s update window included); server CPU 10.0 % of a core
without supervisors, 15.6 % with them: the board costs 5.7 % of a core at about two
updates a second; one full build 15 ms, the full board 523 KiB of JSON (updates carry
only the rows that changed). Before and after that change in one session under heavy load:
docs/performance.md ("The wallboard's cost").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import socketio
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "bench-" + secrets.token_hex(8)
PASSWORD = "bench password 123"
AGENTS = 1000
SUPERVISORS = 20


def seed(url: str, agent_sockets: int) -> None:
    """Agent rows, supervisors and today's history, straight into the database."""
    from sqlalchemy import insert

    from callcenter.db import Database
    from callcenter.metrics.facts import CallHandle, QueueEntry
    from callcenter.models import Agent, Call
    from callcenter.people.agents import create_agent

    database = Database(url)
    now = datetime.now(UTC)
    with database.session() as session:
        for n in range(agent_sockets):  # the agents who log in: real password hashes
            create_agent(
                session,
                username=f"a{n:04d}",
                display_name=f"Agent {n:04d}",
                agent_number=f"{2000 + n}",
                password=PASSWORD,
                role="agent",
                skills=["support", "repairs"],
                languages=["en"],
            )
        for n in range(SUPERVISORS):
            create_agent(
                session,
                username=f"s{n:02d}",
                display_name=f"Supervisor {n:02d}",
                agent_number=f"{9000 + n}",
                password=PASSWORD,
                role="supervisor",
                skills=[],
                languages=["en"],
            )
    statuses = ["available"] * 400 + ["on-call"] * 300 + ["wrap-up"] * 100 + ["away"] * 100
    statuses += ["offline"] * 100
    with database.session() as session:
        rows = [
            {
                "username": f"a{n:04d}",
                "display_name": f"Agent {n:04d}",
                "agent_number": str(2000 + n),
                "role": "agent",
                "skills": ["support", "repairs"],
                "languages": ["en"],
                "password_hash": "x",
                "active": True,
                "status": statuses[n],
                "status_since": now - timedelta(seconds=n % 600),
                "created_at": now,
                "session_epoch": 0,
                "console_seen_at": None if statuses[n] == "offline" else now,
                "current_call_sid": f"CA{n:032x}"
                if statuses[n] in ("on-call", "wrap-up")
                else None,
                "wrapup_until": now + timedelta(hours=1) if statuses[n] == "wrap-up" else None,
            }
            for n in range(agent_sockets, AGENTS)
        ]
        session.execute(insert(Agent), rows)
        # The socket agents start available; the row-only ones as above.
        ids = {a.username: a.id for a in session.query(Agent).all()}
        calls, entries, handles = [], [], []
        for n in range(AGENTS):
            if statuses[n] != "on-call" or n < agent_sockets:
                continue
            sid = f"CA{n:032x}"
            calls.append(
                {
                    "call_sid": sid,
                    "from_number": f"+86139{n:08d}",
                    "caller_number": f"+86139{n:08d}",
                    "caller_kind": "mobile",
                    "to_number": "+864008001234",
                    "flow": "main",
                    "node": "support_queue",
                    "language": "en",
                    "context": {},
                    "step": 0,
                    "status": "in-progress",
                    "outcome": "answered",
                    "queue": "support",
                    "queue_priority": 0,
                    "enqueued_at": now - timedelta(seconds=200),
                    "dequeued_at": now - timedelta(seconds=180),
                    "started_at": now - timedelta(seconds=230),
                    "agent_id": ids[f"a{n:04d}"],
                    "answered_at": now - timedelta(seconds=180),
                    "wrapup_notes": "",
                }
            )
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        span = max(60.0, (now - midnight).total_seconds() - 600)
        for k in range(3000):
            entered = midnight + timedelta(seconds=span * k / 3000)
            sid = f"CB{k:032x}"
            agent = ids[f"a{(k * 7) % AGENTS:04d}"]
            outcome = "abandoned" if k % 10 == 0 else "answered"
            wait = (k * 13) % 90
            calls.append(
                {
                    "call_sid": sid,
                    "from_number": f"+86138{k:08d}",
                    "caller_number": f"+86138{k:08d}",
                    "caller_kind": "mobile",
                    "to_number": "+864008001234",
                    "flow": "main",
                    "node": "done",
                    "language": "en",
                    "context": {},
                    "step": 0,
                    "status": "completed",
                    "outcome": outcome,
                    "queue": "support" if k % 3 else "repairs",
                    "queue_priority": 0,
                    "enqueued_at": entered,
                    "dequeued_at": entered + timedelta(seconds=wait),
                    "started_at": entered - timedelta(seconds=30),
                    "ended_at": entered + timedelta(seconds=wait + 200),
                    "agent_id": agent if outcome == "answered" else None,
                    "wrapup_notes": "",
                }
            )
            entries.append(
                {
                    "call_sid": sid,
                    "queue": "support" if k % 3 else "repairs",
                    "kind": "inbound",
                    "entered_at": entered,
                    "left_at": entered + timedelta(seconds=wait),
                    "outcome": outcome,
                    "wait_seconds": wait,
                    "callback_requested": False,
                    "voicemail": False,
                }
            )
        session.execute(insert(Call), calls)
        session.execute(insert(QueueEntry), entries)
        entry_ids = dict(session.query(QueueEntry.call_sid, QueueEntry.id).all())
        for k in range(0, 3000):
            if k % 10 == 0:
                continue
            sid = f"CB{k:032x}"
            started = midnight + timedelta(seconds=span * k / 3000 + (k * 13) % 90)
            handles.append(
                {
                    "call_sid": sid,
                    "agent_id": ids[f"a{(k * 7) % AGENTS:04d}"],
                    "entry_id": entry_ids[sid],
                    "queue": "support" if k % 3 else "repairs",
                    "via": "accept",
                    "started_at": started,
                    "ended_at": started + timedelta(seconds=200),
                    "talk_seconds": 190.0,
                    "hold_seconds": 10.0,
                    "wrapup_seconds": 25.0,
                    "transferred_out": False,
                    "voided": False,
                }
            )
        session.execute(insert(CallHandle), handles)
    database.dispose()


def heartbeat(url: str, stop: threading.Event) -> None:
    """Every live console's heartbeat, as the consoles' processes write it."""
    from sqlalchemy import update

    from callcenter.db import Database
    from callcenter.models import Agent

    database = Database(url)
    while not stop.wait(5):
        with database.session() as session:
            session.execute(
                update(Agent)
                .where(Agent.status != "offline")
                .values(console_seen_at=datetime.now(UTC))
            )
    database.dispose()


class Hooks:
    """Signed webhooks, as Twilio sends them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.validator = RequestValidator(AUTH_TOKEN)
        self.http = requests.Session()

    def post(self, path: str, params: dict[str, str], query: dict[str, Any] | None = None) -> str:
        from urllib.parse import urlencode

        full = path + ("?" + urlencode(query) if query else "")
        signature = self.validator.compute_signature(self.url + full, params)
        answer = self.http.post(
            self.url + full, data=params, headers={"X-Twilio-Signature": signature}, timeout=30
        )
        answer.raise_for_status()
        return answer.text

    def caller(self, sid: str, number: str) -> dict[str, str]:
        return {
            "AccountSid": ACCOUNT_SID,
            "CallSid": sid,
            "From": number,
            "To": "+864008001234",
            "CallStatus": "in-progress",
            "Direction": "inbound",
        }

    def to_queue_steps(self, params: dict[str, str]) -> Any:
        """All but the last webhook of a caller reaching the support queue; returns the last."""
        self.post("/twilio/voice", params)
        gather = {"flow": "main", "node": "choose_language", "attempt": 1, "seq": 1}
        self.post("/twilio/gather", {**params, "Digits": "1"}, query=gather)
        menu = {"flow": "main", "node": "main_menu", "attempt": 1, "seq": 2}
        self.post("/twilio/gather", {**params, "Digits": "2"}, query=menu)
        step = {"flow": "main", "node": "order_number", "attempt": 1, "seq": 3}
        return lambda: self.post("/twilio/gather", {**params, "Digits": "12345678"}, query=step)

    def hang_up(self, params: dict[str, str]) -> None:
        self.post("/twilio/status", {**params, "CallStatus": "completed", "CallDuration": "20"})


def login(url: str, username: str) -> str:
    with requests.Session() as http:
        answer = http.post(url + "/api/login", json={"username": username, "password": PASSWORD})
        answer.raise_for_status()
        return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Supervisors:
    """20 wallboard pages on one asyncio loop in a thread: when each first saw each call."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.seen: dict[str, list[float]] = {}
        self.events = 0
        self.bytes = 0
        self.loop = asyncio.new_event_loop()
        self.clients: list[socketio.AsyncClient] = []
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _handler(self) -> Any:
        async def on_board(data: dict[str, Any]) -> None:
            at = time.perf_counter()
            self.events += 1
            for call in data.get("calls", []):
                self.seen.setdefault(call["call_sid"], []).append(at)

        return on_board

    async def _connect(self) -> None:
        for n in range(self.count):
            client = socketio.AsyncClient(reconnection=False)
            client.on("wallboard", self._handler(), namespace="/supervisor")
            await client.connect(
                self.url,
                namespaces=["/supervisor"],
                transports=["websocket"],
                headers={"Cookie": login(self.url, f"s{n:02d}")},
                wait_timeout=30,
            )
            self.clients.append(client)

    def connect(self) -> None:
        asyncio.run_coroutine_threadsafe(self._connect(), self.loop).result(300)

    def close(self) -> None:
        async def close_all() -> None:
            await asyncio.gather(*(c.disconnect() for c in self.clients))

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(60)


async def connect_agents(url: str, count: int) -> list[socketio.AsyncClient]:
    clients = []
    for n in range(count):
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            url,
            namespaces=["/agent"],
            transports=["websocket"],
            headers={"Cookie": login(url, f"a{n:04d}")},
            wait_timeout=30,
        )
        await client.emit("agent:status", {"status": "available"}, namespace="/agent")
        clients.append(client)
    return clients


async def disconnect_all(clients: list[socketio.AsyncClient]) -> None:
    await asyncio.gather(*(client.disconnect() for client in clients))


def traffic(hooks: Hooks, calls: int, gap: float, tag: str) -> dict[str, float]:
    """`calls` callers into the support queue, one every `gap` s, each hanging up after 1 s."""
    started: dict[str, float] = {}
    for n in range(calls):
        sid = "CA" + uuid.uuid4().hex
        params = hooks.caller(sid, f"+86137{n:08d}")
        last = hooks.to_queue_steps(params)
        started[sid] = time.perf_counter()
        last()
        time.sleep(gap / 2)
        hooks.hang_up(params)
        time.sleep(gap / 2)
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between callers")
    parser.add_argument("--agent-sockets", type=int, default=100)
    parser.add_argument("--port", type=int, default=5201)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="bench-wallboard-") as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        env = {
            **os.environ,
            "CALLCENTER_DATABASE_URL": db_url,
            "CALLCENTER_PUBLIC_URL": url,
            "CALLCENTER_SECRET_KEY": secrets.token_hex(16),
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "CALLCENTER_TWILIO_API_URL": url + "/simulator",
            "CALLCENTER_LOG_LEVEL": "WARNING",
        }
        env.pop("CALLCENTER_REDIS_URL", None)
        subprocess.run(
            [BIN / "callcenter", "db", "upgrade"], env=env, check=True, capture_output=True
        )
        print("seeding 1,000 agents and today's 3,000 calls…", flush=True)
        seed(db_url, args.agent_sockets)
        stop = threading.Event()
        beat = threading.Thread(target=heartbeat, args=(db_url, stop), daemon=True)
        beat.start()
        server = subprocess.Popen(
            [
                BIN / "callcenter",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--open-all-hours",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        supervisors = None
        agent_loop = asyncio.new_event_loop()
        threading.Thread(target=agent_loop.run_forever, daemon=True).start()
        try:
            for _ in range(300):
                try:
                    if requests.get(url + "/healthz", timeout=1).ok:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            agents = asyncio.run_coroutine_threadsafe(
                connect_agents(url, args.agent_sockets), agent_loop
            ).result(600)
            hooks = Hooks(url)
            traffic(hooks, 3, args.gap, "warm-up")
            # Board off: nobody listens, nothing is built.
            cpu0, wall0 = cpu_seconds(server.pid), time.perf_counter()
            traffic(hooks, args.calls, args.gap, "off")
            off = (cpu_seconds(server.pid) - cpu0) / (time.perf_counter() - wall0)
            # Board on: 20 supervisors.
            supervisors = Supervisors(url, SUPERVISORS)
            supervisors.connect()
            time.sleep(2)
            cpu0, wall0 = cpu_seconds(server.pid), time.perf_counter()
            started = traffic(hooks, args.calls, args.gap, "on")
            time.sleep(1.5)
            on = (cpu_seconds(server.pid) - cpu0) / (time.perf_counter() - wall0)
            events = supervisors.events
            latencies = []
            missing = 0
            for sid, sent in started.items():
                seen = supervisors.seen.get(sid, [])
                missing += SUPERVISORS - len({round(t, 9) for t in seen[:SUPERVISORS]})
                latencies += [t - sent for t in seen[:SUPERVISORS]]
            asyncio.run_coroutine_threadsafe(disconnect_all(agents), agent_loop).result(60)
        finally:
            if supervisors is not None:
                supervisors.close()
            server.terminate()
            server.wait(30)
            stop.set()
        build_ms, kept_ms, size = time_build(db_url)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(
        f"agents: {AGENTS} rows ({args.agent_sockets} with a live Socket.IO console), "
        f"{SUPERVISORS} supervisors; {args.calls} callers, one every {args.gap:g} s"
    )
    print(
        f"latency webhook → wallboard: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max "
        f"{latencies[-1] * 1000:.0f} ms over {len(latencies)} deliveries "
        f"({missing} missing); {events} wallboard events received"
    )
    print(
        f"server CPU: {off * 100:.1f} % of a core without supervisors, {on * 100:.1f} % "
        f"with 20; the board costs {(on - off) * 100:.1f} % of a core"
    )
    print(
        f"one full board build: {build_ms:.1f} ms (median of 20), {size / 1024:.0f} KiB JSON; "
        f"reusing the last build's rows: {kept_ms:.1f} ms"
    )


def time_build(db_url: str) -> tuple[float, float, int]:
    """A full build's median time, a build reusing the last one's rows (as the server's
    updates do; nothing changed in between), and the board's JSON size."""
    from callcenter.config import load_settings
    from callcenter.db import Database
    from callcenter.supervision.board import BoardRows, build_board

    settings = load_settings()
    database = Database(db_url)
    full, kept = [], []
    rows = BoardRows()
    board: dict[str, Any] = {}
    for _ in range(20):
        with database.session() as session:
            started = time.perf_counter()
            board = build_board(session, settings, datetime.now(UTC))
            full.append(time.perf_counter() - started)
            started = time.perf_counter()
            build_board(session, settings, datetime.now(UTC), rows)
            kept.append(time.perf_counter() - started)
    database.dispose()
    size = len(json.dumps(board, ensure_ascii=False))
    return statistics.median(full) * 1000, statistics.median(kept[1:]) * 1000, size


if __name__ == "__main__":
    main()
