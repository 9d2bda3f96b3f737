"""Screen-pop latency: from the webhook that puts a caller in a queue to `call:offer` on the
offered agent's console, with 1, 100 and 1,000 agents connected.

    .venv/bin/python bench/screenpop.py [--levels 1,100,1000] [--calls 200] [--budget 60]

Three processes per level, so no process's GIL pollutes another's figures:

* the server: the real app (`create_app`) on 127.0.0.1 under werkzeug's threaded server,
  as `callcenter serve` runs it, with the dispatcher started (`realtime.start()`) and woken
  by the webhooks' `kick()`. A fresh, migrated SQLite database per level.
* the crowd: the other N-1 agents, each logged in with POST /api/login and connected to
  /agent with its own session cookie (`socketio.AsyncClient`s on one asyncio loop,
  websocket transport). They have the `repairs` skill only, so the dispatcher loads and filters them
  by the dispatcher and hear every broadcast, but never get the support call.
* this process: the probe agent (the only one with the `support` skill: every offer is
  hers), a `socketio.Client` on /agent, and the webhook sender.

All agents are `available` (set in their rows before they connect). A sample: the signed
webhooks of a caller pressing through the main flow to the support queue; the clock starts
just before the last /twilio/gather (the one answered with <Enqueue>) is sent and stops
when the probe's socket receives `call:offer` for that call. Clean-up: a signed status
callback (CallStatus=completed: the caller hung up while ringing), which withdraws the
offer and puts the agent back to `available`; the next sample starts once her console
has heard `agent:state` available, plus --gap seconds for the server to go quiet.

Bench-only settings (product code untouched): agents are inserted directly with one
precomputed scrypt hash of low cost (scrypt:1024:8:1), so 1,000 real logins take seconds,
not minutes; the `support` opening hours are replaced by the config's `always` hours, so
the flow reaches the queue whatever the time of day. The server process records
`perf_counter()` timestamps (CLOCK_MONOTONIC, shared by all processes) around the
dispatcher's stages by wrapping them at runtime, and full (gen-2) garbage collections; the
breakdown table comes from those. The CPU other processes used meanwhile is printed too:
on a shared 2-core machine it moves the tails.

Diagnosis switches (not production behaviour; say so when quoting their figures):
`--crowd-status away` (the crowd is connected but not available, so the dispatcher loads
only the probe) and `--drop-agent-queues` (the server stops broadcasting `queues` to
/agent). `--dump FILE` writes every sample and the server's trace as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import queue
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from machine import cpu_seconds, read_line

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "bench-auth-token"
PASSWORD = "correct horse battery"
PROBE = "probe"
TO_NUMBER = "+864008001234"


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def quantile(values: list[float], q: float) -> float:
    """The same rank as bench/webhooks.py: the int(n*q)-th smallest (1-based)."""
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q) - 1)]


# -- the database ------------------------------------------------------------------------


def prepare_database(workdir: Path, crowd: int, crowd_status: str = "available") -> str:
    """A migrated SQLite file with the probe (support) and `crowd` agents (repairs)."""
    from callcenter.db import Database
    from callcenter.migrate import upgrade

    url = f"sqlite:///{workdir / 'bench.db'}"
    database = Database(url)
    upgrade(database)
    insert_agents(database, crowd, crowd_status)
    database.dispose()
    return url


def insert_agents(database: Any, crowd: int, crowd_status: str = "available") -> None:
    """The probe (support, available) and `crowd` agents (repairs) into a migrated database."""
    from werkzeug.security import generate_password_hash

    from callcenter.models import Agent, utcnow

    password_hash = generate_password_hash(PASSWORD, method="scrypt:1024:8:1")
    now = utcnow()

    def row(index: int, username: str, skills: list[str]) -> dict[str, Any]:
        return {
            "username": username,
            "display_name": username.title(),
            "agent_number": f"{1000 + index}",
            "role": "agent",
            "skills": skills,
            "languages": ["en", "zh-CN"],
            "phone": None,
            "password_hash": password_hash,
            "active": True,
            "status": "available",
            "status_since": now,
            "idle_since": now,
            "created_at": now,
        }

    rows = [row(0, PROBE, ["support"])]
    rows += [row(i, f"agent{i:04d}", ["repairs"]) for i in range(1, crowd + 1)]
    for other in rows[1:]:
        other["status"] = crowd_status
    with database.engine.begin() as connection:
        connection.execute(Agent.__table__.insert(), rows)


# -- the server process ------------------------------------------------------------------


def serve(database_url: str, workdir: Path, drop_agent_queues: bool = False) -> None:
    """Run the app as `callcenter serve` does, with stage timestamps; print the URL."""
    import logging

    import yaml
    from flask import Flask, jsonify, request
    from werkzeug.serving import make_server

    raise_fd_limit()
    for name in list(os.environ):
        if name.startswith(("CALLCENTER_", "TWILIO_")):
            del os.environ[name]
    os.environ["CALLCENTER_CONFIG"] = str(ROOT / "config.yaml")

    import callcenter.calls.routing as routing_module
    import callcenter.web.realtime as realtime_module
    from callcenter.app import create_app

    server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    hours = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))["hours"]
    hours["support"] = hours["always"]
    app = create_app(
        {
            "public_url": url,
            "database_url": database_url,
            "instance_dir": str(workdir / "instance"),
            "recordings_dir": str(workdir / "recordings"),
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_api_url": url + "/simulator",
            "hours": hours,
        }
    )
    server.app = app
    # As `socketio.run(..., log_output=False)` in `callcenter serve`: no access log.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    services = app.extensions["callcenter"]
    realtime = services.extras["realtime"]

    trace: list[tuple[float, str, str]] = []
    mark = trace.append
    clock = time.perf_counter

    def timed(name: str, function: Any, detail: Any = None) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            what = detail(*args, **kwargs) if detail else ""
            mark((clock(), name + ":start", what))
            try:
                return function(*args, **kwargs)
            finally:
                mark((clock(), name + ":end", what))

        return wrapper

    @app.before_request
    def _request_started() -> None:
        if request.path.startswith("/twilio/"):
            mark((clock(), "request:start", f"{request.path}:{request.args.get('node', '')}"))

    @app.after_request
    def _request_done(response: Any) -> Any:
        if request.path.startswith("/twilio/"):
            mark((clock(), "request:end", f"{request.path}:{request.args.get('node', '')}"))
        return response

    @app.get("/_bench/trace")
    def _trace() -> Any:
        since = float(request.args.get("since", "0"))
        return jsonify([event for event in list(trace) if event[0] >= since])

    @app.get("/_bench/stats")
    def _stats() -> Any:
        return jsonify({"threads": threading.active_count(), "objects": len(gc.get_objects())})

    def collected(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:  # full collections: they stop every thread
            mark((clock(), f"gc:{'start' if phase == 'start' else 'end'}", ""))

    gc.callbacks.append(collected)
    kick = realtime.kick
    realtime.kick = lambda: (mark((clock(), "kick", "")), kick())[1]
    realtime.run_once = timed("pass", realtime.run_once)
    realtime.publish = timed("publish", realtime.publish)
    routing_module.offer_call = timed("tick", routing_module.offer_call)  # the offer's write
    realtime_module.call_pop = timed("payload", realtime_module.call_pop)  # read before the offer
    realtime.socketio.emit = timed(
        "emit",
        realtime.socketio.emit,
        lambda event, *a, **kw: f"{event}>{kw.get('to') or 'all'}{kw.get('namespace', '')}",
    )

    if drop_agent_queues:  # a what-if, not the product: consoles no longer hear `queues`
        emit = realtime.socketio.emit

        def emit_but_queues(event: str, *args: Any, **kwargs: Any) -> Any:
            if event == "queues" and kwargs.get("namespace") == "/agent":
                return None
            return emit(event, *args, **kwargs)

        realtime.socketio.emit = emit_but_queues
    realtime.start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(url, flush=True)
    server.serve_forever()
    realtime.stop()
    services.database.dispose()


# -- the crowd process -------------------------------------------------------------------


def crowd(url: str, count: int) -> None:
    """Log in and connect agents 1..count; answer `stats` and `stop` on stdin."""
    raise_fd_limit()
    asyncio.run(_crowd(url, count))


async def _crowd(url: str, count: int) -> None:
    import aiohttp
    import socketio

    events: Counter[str] = Counter()
    clients: list[Any] = []
    limit = asyncio.Semaphore(32)
    started = time.perf_counter()

    async def record(event: str, *args: Any) -> None:
        events[event] += 1

    async def join(http: aiohttp.ClientSession, index: int) -> None:
        async with limit:
            async with http.post(
                f"{url}/api/login", json={"username": f"agent{index:04d}", "password": PASSWORD}
            ) as answer:
                if answer.status != 200:
                    raise SystemExit(f"login agent{index:04d}: {answer.status}")
                cookie = answer.cookies["session"].value
            client = socketio.AsyncClient(reconnection=False)
            client.on("*", record, namespace="/agent")
            await client.connect(url, headers={"Cookie": f"session={cookie}"},
                                 transports=["websocket"], namespaces=["/agent"],
                                 wait_timeout=30)  # fmt: skip
            clients.append(client)

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        await asyncio.gather(*(join(http, index) for index in range(1, count + 1)))
    print(f"ready {len(clients)} {time.perf_counter() - started:.1f}", flush=True)

    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime
            print(json.dumps({"events": dict(events), "cpu_seconds": cpu}), flush=True)
        else:  # "stop" or end of input: the server is gone already
            os._exit(0)


# -- this process: the probe agent and the webhooks ----------------------------------------


class Probe:
    """The support agent's console: login over HTTP, Socket.IO on /agent (websocket)."""

    def __init__(self, url: str) -> None:
        import requests
        import socketio

        self.http = requests.Session()
        login = self.http.post(f"{url}/api/login", json={"username": PROBE, "password": PASSWORD})
        if login.status_code != 200:
            raise SystemExit(f"probe login: {login.status_code} {login.text}")
        self.offers: queue.Queue[tuple[float, str]] = queue.Queue()
        self.states: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("call:offer", self._offer, namespace="/agent")
        self.client.on("agent:state", self.states.put, namespace="/agent")
        self.client.connect(url, headers={"Cookie": f"session={self.http.cookies['session']}"},
                            transports=["websocket"], namespaces=["/agent"],
                            wait_timeout=10)  # fmt: skip
        # The row was written available with no console open, and the dispatcher takes
        # such an agent offline: go available as the console's button does.
        self.client.call("agent:status", {"status": "available"}, namespace="/agent", timeout=10)
        self.wait_state("available")

    def _offer(self, data: dict[str, Any]) -> None:
        self.offers.put((time.perf_counter(), data.get("call_sid", "")))

    def wait_offer(self, call_sid: str, timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        while True:
            at, sid = self.offers.get(timeout=max(0.001, deadline - time.monotonic()))
            if sid == call_sid:
                return at

    def wait_state(self, status: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.states.get(timeout=max(0.001, deadline - time.monotonic()))
            if state.get("status") == status:
                return

    def close(self) -> None:
        self.client.disconnect()
        self.http.close()


class Webhooks:
    """Posts webhooks signed as Twilio signs them, on one keep-alive connection."""

    def __init__(self, url: str) -> None:
        import requests
        from twilio.request_validator import RequestValidator

        self.url = url
        self.http = requests.Session()
        self.validator = RequestValidator(AUTH_TOKEN)

    def prepare(self, path: str, params: dict[str, str], query: dict[str, Any] | None = None):
        full = path + ("?" + urlencode(query) if query else "")
        signature = self.validator.compute_signature(self.url + full, params)
        return self.url + full, params, {"X-Twilio-Signature": signature}

    def post(self, prepared: tuple[str, dict[str, str], dict[str, str]]) -> Any:
        url, data, headers = prepared
        response = self.http.post(url, data=data, headers=headers)
        if response.status_code not in (200, 204):
            raise SystemExit(f"{url}: {response.status_code}")
        return response


def call_params(call_sid: str, caller: str, **extra: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call_sid,
        "CallStatus": "in-progress", "Direction": "inbound", "From": caller, "To": TO_NUMBER,
        "Caller": caller, "Called": TO_NUMBER,
    }  # fmt: skip
    params.update(extra)
    return params


def one_call(hooks: Webhooks, probe: Probe, gap: float) -> dict[str, float]:
    """Bring a caller to the support queue; time the screen-pop; hang the caller up."""
    sid = "CA" + uuid.uuid4().hex
    caller = "+86139" + f"{random.randrange(10**8):08d}"
    params = call_params(sid, caller)
    hooks.post(hooks.prepare("/twilio/voice", {**params, "CallStatus": "ringing"}))
    language = {"flow": "main", "node": "choose_language", "attempt": 1, "seq": 1}
    hooks.post(hooks.prepare("/twilio/gather", {**params, "Digits": "1"}, language))
    menu = {"flow": "main", "node": "main_menu", "attempt": 1, "seq": 2}
    hooks.post(hooks.prepare("/twilio/gather", {**params, "Digits": "2"}, menu))
    order = {"flow": "main", "node": "order_number", "attempt": 1, "seq": 3}
    enqueue = hooks.prepare("/twilio/gather", {**params, "Digits": "12345678"}, order)

    start = time.perf_counter()
    answer = hooks.post(enqueue)
    answered = time.perf_counter()
    if b"<Enqueue" not in answer.content:
        raise SystemExit(f"the caller was not enqueued: {answer.text}")
    offered = probe.wait_offer(sid)

    hooks.post(hooks.prepare("/twilio/status", call_params(sid, caller, CallStatus="completed",
                                                           CallDuration="3")))  # fmt: skip
    probe.wait_state("available")
    time.sleep(gap)
    return {"start": start, "answered": answered, "offered": offered}


# -- stage breakdown from the server's trace -----------------------------------------------


def stages(sample: dict[str, float], trace: list[list[Any]]) -> dict[str, float] | None:
    """Milliseconds spent in each stage of one screen-pop, from the server's timestamps."""
    start, offered = sample["start"], sample["offered"]
    window = [(t, name, what) for t, name, what in trace if start <= t <= offered]

    def first(name: str, after: float, what: str | None = None) -> float | None:
        for t, n, w in window:
            if t >= after and n == name and (what is None or w.startswith(what)):
                return t
        return None

    def last(name: str, before: float) -> float | None:
        found = [t for t, n, _ in window if n == name and t <= before]
        return found[-1] if found else None

    request = first("request:start", start, "/twilio/gather:order_number")
    emit_start = first("emit:start", start, "call:offer")
    if request is None or emit_start is None:
        return None
    kick = first("kick", request)
    emit_end = first("emit:end", emit_start, "call:offer")
    pass_start = last("pass:start", emit_start)
    tick_start = last("tick:start", emit_start)
    tick_end = first("tick:end", tick_start or emit_start)
    payload_start = last("payload:start", emit_start)
    payload_end = first("payload:end", payload_start or emit_start)
    if None in (kick, emit_end, pass_start, tick_start, tick_end, payload_start, payload_end):
        return None
    ms = 1000.0
    return {
        "send → request": (request - start) * ms,
        "webhook → kick": (kick - request) * ms,
        "kick → pass": max(0.0, pass_start - kick) * ms,
        "offer (dispatch)": (tick_end - tick_start) * ms,
        "offer → payload": (payload_start - tick_end) * ms,
        "payload": (payload_end - payload_start) * ms,
        "emit call:offer": (emit_end - emit_start) * ms,
        "emit → client": (offered - emit_end) * ms,
        "webhook answer": (sample["answered"] - start) * ms,
        "total": (offered - start) * ms,
    }


# -- one level -------------------------------------------------------------------------------


def gc_pauses(trace: list[list[Any]]) -> list[tuple[float, float]]:
    pauses, start = [], None
    for t, name, _ in trace:
        if name == "gc:start":
            start = t
        elif name == "gc:end" and start is not None:
            pauses.append((start, t))
            start = None
    return pauses


def run_level(agents: int, args: argparse.Namespace) -> dict[str, Any]:
    import requests

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        database_url = prepare_database(workdir, agents - 1, args.crowd_status)
        me = str(Path(__file__).resolve())
        log = open(workdir / "server.log", "w")  # noqa: SIM115 - closed below
        command = [sys.executable, me, "--serve", database_url, tmp]
        if args.drop_agent_queues:
            command.append("--drop-agent-queues")
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        crowd_process = None
        probe = None
        try:
            url = read_line(server, 60, "the server")
            setup = time.perf_counter()
            if agents > 1:
                crowd_process = subprocess.Popen(
                    [sys.executable, me, "--crowd", url, str(agents - 1)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                read_line(crowd_process, 300, "the crowd")
            probe = Probe(url)
            hooks = Webhooks(url)
            print(f"  {agents:>5} agents logged in and connected in "
                  f"{time.perf_counter() - setup:.1f} s; measuring", flush=True)  # fmt: skip
            for _ in range(args.warmup):
                one_call(hooks, probe, args.gap)
            pids = [os.getpid(), server.pid] + ([crowd_process.pid] if crowd_process else [])
            busy_before, mine_before = cpu_seconds(pids)
            since = time.perf_counter()
            samples = []
            deadline = time.monotonic() + args.budget
            while len(samples) < args.calls and time.monotonic() < deadline:
                samples.append(one_call(hooks, probe, args.gap))
            busy_after, mine_after = cpu_seconds(pids)
            elapsed = time.perf_counter() - since
            trace = requests.get(f"{url}/_bench/trace", params={"since": since}, timeout=30).json()
            stats = requests.get(f"{url}/_bench/stats", timeout=30).json()
            if crowd_process is not None:
                crowd_process.stdin.write("stats\n")
                crowd_process.stdin.flush()
                stats["crowd"] = json.loads(read_line(crowd_process, 30, "crowd stats"))
        finally:
            if probe is not None:
                probe.close()
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if crowd_process is not None:
                try:
                    crowd_process.stdin.write("stop\n")
                    crowd_process.stdin.close()
                except BrokenPipeError:
                    pass
                try:
                    crowd_process.wait(15)
                except subprocess.TimeoutExpired:
                    crowd_process.kill()
                    crowd_process.wait()
            log.close()
            # werkzeug's "Bad request syntax" at the very end is the probe's websocket close
            # frame read as HTTP after the server went away: teardown noise.
            lines = (workdir / "server.log").read_text().splitlines()
            errors = [line for line in lines if "Bad " not in line
                      and ("ERROR" in line or "Traceback" in line)]  # fmt: skip
            if errors:
                print(f"  server log: {len(errors)} error lines, first: {errors[0]}")
    latencies = [(s["offered"] - s["start"]) * 1000 for s in samples]
    pauses = gc_pauses(trace)
    emits = Counter(what.split(">")[0] for _, name, what in trace if name == "emit:start")
    return {
        "agents": agents,
        "latencies": latencies,
        "breakdown": [b for b in (stages(s, trace) for s in samples) if b is not None],
        "emits_per_call": {k: v / max(1, len(samples)) for k, v in emits.items()},
        "gc_ms": [(end - start) * 1000 for start, end in pauses],
        "gc_hit": [any(a < s["offered"] and b > s["start"] for a, b in pauses) for s in samples],
        "others_cpu": max(0.0, (busy_after - busy_before) - (mine_after - mine_before)) / elapsed,
        "server": stats,
        "elapsed": elapsed,
        "samples": samples,
        "trace": trace,
    }


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(f"  {'agents':>7} {'samples':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for result in results:
        latencies = result["latencies"]
        print(f"  {result['agents']:>7} {len(latencies):>8} "
              f"{statistics.median(latencies):>8.1f} {quantile(latencies, 0.99):>8.1f} "
              f"{max(latencies):>8.1f}")  # fmt: skip
    target = results[-1]
    p99 = quantile(target["latencies"], 0.99)
    verdict = "met" if p99 < 50 else "NOT met"
    print(f"  target p99 < 50 ms with {target['agents']} agents: {verdict} ({p99:.1f} ms)")

    print()
    print("  where the time goes (server timestamps; median/p99 ms per stage):")
    names = list(results[0]["breakdown"][0]) if results[0]["breakdown"] else []
    print(f"  {'stage':<18}" + "".join(f"{r['agents']:>14} agents" for r in results))
    for name in names:
        cells = ""
        for result in results:
            values = [b[name] for b in result["breakdown"]]
            cells += f"{statistics.median(values):>13.1f} /{quantile(values, 0.99):>6.1f}"
        print(f"  {name:<18}{cells}")

    print()
    print("  the server and the machine, per level (over the measured calls):")
    for result in results:
        server, gc_ms, hit = result["server"], result["gc_ms"], result["gc_hit"]
        emits = ", ".join(f"{k} {v:.0f}" for k, v in sorted(result["emits_per_call"].items()))
        print(f"  {result['agents']:>5} agents: {server['threads']} server threads, "
              f"{server['objects']:,} objects tracked by gc; emits per call: {emits}")  # fmt: skip
        if gc_ms:
            slow = [lat for lat, h in zip(result["latencies"], hit, strict=True) if h]
            print(f"        {len(gc_ms)} full (gen-2) collections in {result['elapsed']:.0f} s, "
                  f"pause median {statistics.median(gc_ms):.0f} ms, max {max(gc_ms):.0f} ms; "
                  f"{len(slow)} calls overlapped one"
                  + (f" (median {statistics.median(slow):.0f} ms)" if slow else ""))  # fmt: skip
        crowd_stats = server.get("crowd")
        if crowd_stats:
            received = sum(crowd_stats["events"].values())
            print(f"        crowd received {received:,} events in all "
                  f"({crowd_stats['events'].get('queues', 0):,} `queues`), "
                  f"crowd CPU {crowd_stats['cpu_seconds']:.1f} s")  # fmt: skip
        print(f"        other processes on this machine used {result['others_cpu']:.2f} of "
              f"{os.cpu_count()} cores meanwhile")  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], Path(sys.argv[3]), "--drop-agent-queues" in sys.argv[4:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--crowd":
        crowd(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,100,1000", help="agents connected, per level")
    parser.add_argument("--calls", type=int, default=200, help="measured calls per level")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured calls per level")
    parser.add_argument("--budget", type=float, default=60, help="seconds of calls per level")
    parser.add_argument("--gap", type=float, default=0.05, help="quiet seconds between calls")
    parser.add_argument("--dump", type=Path, help="write samples and server traces (JSON) here")
    diagnosis = parser.add_argument_group("diagnosis (not production behaviour)")
    diagnosis.add_argument("--crowd-status", choices=["available", "away"], default="available",
                           help="away: the dispatcher has only the probe to load")  # fmt: skip
    diagnosis.add_argument("--drop-agent-queues", action="store_true",
                           help="the server does not broadcast `queues` to /agent")  # fmt: skip
    args = parser.parse_args()
    raise_fd_limit()

    levels = [int(level) for level in args.levels.split(",")]
    print(f"screen-pop latency: enqueue webhook sent → call:offer received ({os.cpu_count()} "
          f"cores; server, crowd and probe in separate processes)", flush=True)  # fmt: skip
    if args.crowd_status != "available" or args.drop_agent_queues:
        print(
            f"  DIAGNOSIS RUN: crowd {args.crowd_status}, "
            f"agent `queues` broadcast {'dropped' if args.drop_agent_queues else 'kept'}"
        )
    results = [run_level(agents, args) for agents in levels]
    if args.dump:
        args.dump.write_text(json.dumps(results))
    report(results, args)


if __name__ == "__main__":
    main()
