"""Churn load: `callcenter serve` (the embedded default) with 100 agent consoles taking a
steady stream of calls from a Twilio-behaving load generator, and a bare floor in the same run.

    .venv/bin/python bench/load.py [--agents 100] [--rate 11] [--burst 5] [--seconds 60]
                                   [--pace 0.05] [--port 5301] [--twilio-port 0] [--bare-port 0]

Four processes, loopback only, bounded in time (--seconds of arrivals, then at most --drain
seconds for the last calls) and count (--rate x --seconds calls):

* the server: `callcenter serve --open-all-hours` on a fresh migrated SQLite file, with
  Twilio credentials set, so its REST requests go to this process's simulator
  (`CALLCENTER_TWILIO_API_URL`), not to one mounted inside it.
* the agents: `--agents` consoles (python-socketio `AsyncClient`s on one asyncio loop,
  websocket), each logged in with POST /api/login. On `call:offer` an agent accepts; on
  `call:connected` it talks `--talk` seconds and hangs up (`call:hangup`); in wrap-up it
  waits `--wrapup` seconds and sends `call:wrapup`, which makes it available again.
* the bare floor: a bare Flask app under the same threaded werkzeug server, checking the
  same signature and answering one fixed `<Gather>`.
* this process: Twilio. The simulator's `Switchboard` and REST API (the module the app
  mounts in simulator mode) on a port of its own, and the callers: `SimulatedCall`s placed
  through it (signed webhooks, a fresh CallSid per call, TwiML followed, waiting in the
  queue until the app redirects them), `--burst` at a time, `--rate` calls a second in
  all, each pressing through the main flow to the support queue. For every new call one
  signed request also goes to the bare floor.

Measured: every webhook's round trip as Twilio sees it (p50/p99, per route too); the
screen-pop, from the server's `agent.offered` log line (written when the offer is
committed, just before the pop is built and emitted) to the console receiving `call:offer`
(wall clock, same machine); lost calls (placed, never connected to an agent); double
offers (a call offered more than once); apology TwiML answers; the server's RSS before
and after the consoles connect (per console). Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from machine import cpu_seconds, read_line
from screenpop import PASSWORD, prepare_database, quantile, raise_fd_limit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "load-auth-token"
TO_NUMBER = "+864008001234"
PORTS = {"server": 5301, "twilio": 5302, "bare": 5303}
INPUTS = ["1", "2", "12345678#"]  # English, order status, an order number: the support queue
EVENT_LINE = re.compile(r"^(\S+ \S+) INFO callcenter\.events: (CA[0-9a-f]{32}) agent\.offered")


def quiet_server(port: int, app: Any) -> Any:
    """werkzeug's threaded server without its access line per request."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any) -> None:
            pass

    return make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet)


def free_port(given: int | None, default: int) -> int:
    """`given`, `default` when not given, or a port the system has free when 0."""
    if given is None:
        return default
    if given:
        return given
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- the bare floor ------------------------------------------------------------------------


def bare_app(public_url: str, auth_token: str = AUTH_TOKEN) -> Any:
    """A bare Flask app: the signature check and one fixed <Gather>, nothing else."""
    from flask import Flask, Response, abort, request
    from twilio.request_validator import RequestValidator
    from twilio.twiml.voice_response import VoiceResponse

    app = Flask("bare")
    validator = RequestValidator(auth_token)
    answer = VoiceResponse()
    gather = answer.gather(action="/twilio/gather?flow=main&node=x", num_digits=1, timeout=5)
    gather.say("Press 1 for English.")
    body = str(answer)

    @app.post("/twilio/voice")
    def voice() -> Response:
        url = public_url + request.full_path.rstrip("?")
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        return Response(body, content_type="text/xml; charset=utf-8")

    return app


def bare_server(port: int, public_url: str) -> None:
    """The bare floor under werkzeug's threaded server, as `callcenter serve` runs the app."""
    server = quiet_server(port, bare_app(public_url))
    print(f"http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


# -- the agents ----------------------------------------------------------------------------


def agents_process(url: str, count: int, talk: float, wrapup: float) -> None:
    raise_fd_limit()
    asyncio.run(_agents(url, count, talk, wrapup))


async def _agents(url: str, count: int, talk: float, wrapup: float) -> None:
    import aiohttp
    import socketio

    offers: list[tuple[str, int, float]] = []  # (call_sid, agent, wall clock received)
    connected: set[str] = set()
    errors: Counter[str] = Counter()
    limit = asyncio.Semaphore(16)
    clients: list[Any] = []

    async def console(http: aiohttp.ClientSession, index: int) -> None:
        username = "probe" if index == 0 else f"agent{index:04d}"
        async with limit:
            async with http.post(
                f"{url}/api/login", json={"username": username, "password": PASSWORD}
            ) as answer:
                if answer.status != 200:
                    raise SystemExit(f"login {username}: {answer.status}")
                cookie = answer.cookies["session"].value
            client = socketio.AsyncClient(reconnection=False)

            async def ask(event: str, data: dict[str, Any]) -> None:
                try:
                    reply = await client.call(event, data, namespace="/agent", timeout=15)
                except Exception as exc:
                    errors[f"{event}: {type(exc).__name__}"] += 1
                    return
                if not reply or not reply.get("ok"):
                    errors[f"{event}: {(reply or {}).get('error', '?')[:40]}"] += 1

            async def on_offer(data: dict[str, Any]) -> None:
                offers.append((data["call_sid"], index, time.time()))
                await ask("call:accept", {"call_sid": data["call_sid"]})

            async def on_connected(data: dict[str, Any]) -> None:
                connected.add(data["call_sid"])
                await asyncio.sleep(talk)
                await ask("call:hangup", {"call_sid": data["call_sid"]})

            async def on_state(data: dict[str, Any]) -> None:
                if data.get("status") == "wrap-up" and data.get("call_sid"):
                    await asyncio.sleep(wrapup)
                    await ask("call:wrapup", {"call_sid": data["call_sid"],
                                              "disposition": "resolved", "notes": ""})  # fmt: skip

            client.on("call:offer", on_offer, namespace="/agent")
            client.on("call:connected", on_connected, namespace="/agent")
            client.on("agent:state", on_state, namespace="/agent")
            await client.connect(url, headers={"Cookie": f"session={cookie}"},
                                 transports=["websocket"], namespaces=["/agent"],
                                 wait_timeout=30)  # fmt: skip
            await ask("agent:status", {"status": "available"})
            clients.append(client)

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        await asyncio.gather(*(console(http, index) for index in range(count)))
    print(f"ready {len(clients)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
    result = {"offers": offers, "connected": sorted(connected), "errors": dict(errors)}
    print(json.dumps(result), flush=True)
    os._exit(0)


# -- Twilio: the simulator and the callers -------------------------------------------------


class Recorder:
    """Every webhook's round trip, as Twilio's side sees it."""

    def __init__(self, apologies: list[str]) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.apologies = 0
        self.failures: Counter[str] = Counter()
        self._texts = apologies
        self._lock = threading.Lock()

    def timed_transport(self, base_url: str, public_url: str) -> Any:
        from callcenter.simulator.transports import HttpTransport

        recorder = self

        class Timed(HttpTransport):
            def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                response = super().request(method, url, *args, **kwargs)
                took = time.perf_counter() - started
                if url.startswith(public_url + "/twilio/"):
                    recorder.note(url[len(public_url) :].split("?")[0], took, response)
                return response

        return Timed(base_url, public_url=public_url, timeout=30)

    def note(self, route: str, took: float, response: Any) -> None:
        text = response.text if response.status_code == 200 else ""
        with self._lock:
            self.samples[route].append(took)
            if response.status_code >= 500:
                self.failures[f"{route} {response.status_code}"] += 1
            if any(apology in text for apology in self._texts):
                self.apologies += 1


def twilio_side(server_url: str, recorder: Recorder) -> tuple[Any, Any]:
    """The simulator's switchboard and REST API on PORTS['twilio'] (a thread)."""
    from flask import Flask

    from callcenter.simulator.recordings import RecordingStore
    from callcenter.simulator.rest.api import create_switchboard_api
    from callcenter.simulator.rest.recordings import create_simulator_api
    from callcenter.simulator.switchboard import Switchboard

    api_url = f"http://127.0.0.1:{PORTS['twilio']}/simulator"
    board = Switchboard(
        recorder.timed_transport(server_url, server_url),
        public_url=server_url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_url=api_url,
    )
    app = Flask("twilio")
    store = RecordingStore(Path(tempfile.mkdtemp(prefix="load-recordings-")))
    app.register_blueprint(create_simulator_api(store, ACCOUNT_SID, AUTH_TOKEN),
                           url_prefix="/simulator")  # fmt: skip
    app.register_blueprint(create_switchboard_api(board, ACCOUNT_SID, AUTH_TOKEN),
                           url_prefix="/simulator")  # fmt: skip
    server = quiet_server(PORTS["twilio"], app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return board, server


def one_caller(board: Any, recorder: Recorder, server_url: str, args: argparse.Namespace,
               call_sid: str, index: int) -> str:  # fmt: skip
    from callcenter.simulator.leg.call import place_call

    transport = recorder.timed_transport(server_url, server_url)
    try:
        result = place_call(
            transport,
            public_url=server_url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_=f"+861390{index % 10_000_000:07d}",
            to=TO_NUMBER,
            inputs=INPUTS,
            api_url=f"http://127.0.0.1:{PORTS['twilio']}/simulator",
            switchboard=board,
            call_sid=call_sid,
            pace=args.pace,
            hold_seconds=args.hold / args.pace,
            dial_talk_seconds=60,
        )
        return result.status
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:120]
    finally:
        transport.close()


def bare_request(bare_url: str, public_url: str, call_sid: str, samples: list[float]) -> None:
    import requests
    from twilio.request_validator import RequestValidator

    params = {"AccountSid": ACCOUNT_SID, "CallSid": call_sid, "From": "+8613900139000",
              "To": TO_NUMBER, "CallStatus": "ringing", "Direction": "inbound"}  # fmt: skip
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public_url + "/twilio/voice", params)
    started = time.perf_counter()
    answer = requests.post(bare_url + "/twilio/voice", data=params, timeout=30,
                           headers={"X-Twilio-Signature": signature})  # fmt: skip
    samples.append(time.perf_counter() - started)
    if answer.status_code != 200:
        raise SystemExit(f"bare floor answered {answer.status_code}")


# -- the run -------------------------------------------------------------------------------


def offered_at(log_file: Path) -> dict[str, list[float]]:
    """Wall-clock times of the server's `agent.offered` lines, per call."""
    found: dict[str, list[float]] = defaultdict(list)
    for line in log_file.read_text(errors="replace").splitlines():
        match = EVENT_LINE.match(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            found[match.group(2)].append(stamp.timestamp())
    return found


def ms(values: list[float], q: float) -> str:
    return f"{quantile(values, q) * 1000:,.0f} ms" if values else "-"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from callcenter.config import load_settings
    from callcenter.db import Database

    raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="load-"))
    database_url = prepare_database(work, args.agents - 1)
    database = Database(database_url)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("""UPDATE agents SET skills = '["support", "repairs"]',
                                      status = 'offline'""")
    database.dispose()
    server_url = f"http://127.0.0.1:{PORTS['server']}"
    env = {
        **os.environ,
        "CALLCENTER_CONFIG": str(ROOT / "config.yaml"),
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_PUBLIC_URL": server_url,
        "CALLCENTER_TWILIO_API_URL": f"http://127.0.0.1:{PORTS['twilio']}/simulator",
        "CALLCENTER_SECRET_KEY": "load-secret-key",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PYTHONPATH": str(ROOT),
    }
    settings = load_settings(ROOT / "config.yaml", environ=env)
    recorder = Recorder(list(settings.fallback.apology.values()))
    server_log = work / "server.log"
    processes: list[subprocess.Popen[str]] = []
    try:
        with server_log.open("w") as log:
            server = subprocess.Popen(
                [str(ROOT / ".venv/bin/callcenter"), "serve", "--host", "127.0.0.1",
                 "--port", str(PORTS["server"]), "--open-all-hours"],
                env=env, stdout=log, stderr=log, text=True, cwd=work,
            )  # fmt: skip
        processes.append(server)
        _wait_for(server_url + "/healthz", 60)
        bare = subprocess.Popen(
            [sys.executable, __file__, "--bare-server", str(PORTS["bare"]), server_url],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        processes.append(bare)
        bare_url = read_line(bare, 30, "the bare floor")
        board, twilio = twilio_side(server_url, recorder)
        rss_before = rss_kib(server.pid)
        agents = subprocess.Popen(
            [sys.executable, __file__, "--agents-process", server_url, str(args.agents),
             str(args.talk), str(args.wrapup)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        processes.append(agents)
        ready = read_line(agents, 120, "the agents")
        time.sleep(2)  # the consoles' first heartbeat
        rss_after = rss_kib(server.pid)

        placed: list[str] = []
        outcomes: list[Any] = []
        bare_samples: list[float] = []
        pool = ThreadPoolExecutor(max_workers=400)
        busy_before = cpu_seconds([server.pid])
        started = time.monotonic()
        bursts = int(args.seconds * args.rate / args.burst)
        for burst in range(bursts):
            due = started + burst * args.burst / args.rate
            time.sleep(max(0.0, due - time.monotonic()))
            for _ in range(args.burst):
                sid = "CA" + uuid.uuid4().hex
                placed.append(sid)
                outcomes.append(pool.submit(one_caller, board, recorder, server_url, args,
                                            sid, len(placed)))  # fmt: skip
                pool.submit(bare_request, bare_url, server_url, "CA" + uuid.uuid4().hex,
                            bare_samples)  # fmt: skip
        arrivals = time.monotonic() - started
        deadline = time.monotonic() + args.drain
        for future in outcomes:
            future.result(timeout=max(0.1, deadline - time.monotonic()))
        busy_after = cpu_seconds([server.pid])
        time.sleep(args.wrapup + 1)
        agents.stdin.write("stop\n")
        agents.stdin.flush()
        seen = json.loads(agents.stdout.readline())
        pool.shutdown(wait=False, cancel_futures=True)
        twilio.shutdown()
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()

    offers = offered_at(server_log)
    per_call = Counter(sid for sid, _agent, _at in seen["offers"])
    pops = []
    for sid, _agent, received in seen["offers"]:
        written = [at for at in offers.get(sid, []) if at <= received + 0.002]
        if written:
            pops.append(max(0.0, received - max(written)))
    webhooks = [took for samples in recorder.samples.values() for took in samples]
    connected = set(seen["connected"])
    statuses = Counter(future.result() for future in outcomes)
    return {
        "agents": ready,
        "calls": len(placed),
        "arrival_seconds": arrivals,
        "webhooks": webhooks,
        "routes": dict(recorder.samples),
        "pops": pops,
        "lost": sum(1 for sid in placed if sid not in connected),
        "double_offers": sum(1 for count in per_call.values() if count > 1),
        "apologies": recorder.apologies,
        "failures": dict(recorder.failures),
        "agent_errors": seen["errors"],
        "statuses": dict(statuses),
        "bare": bare_samples,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "server_cpu": busy_after[1] - busy_before[1],
        "machine_cpu": busy_after[0] - busy_before[0],
        "server_log": str(server_log),
    }


def _wait_for(url: str, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    calls = result["calls"]
    print(f"churn: {args.agents} agents ({result['agents']}), {calls} calls in "
          f"{result['arrival_seconds']:.0f} s ({calls / result['arrival_seconds']:.1f}/s, "
          f"bursts of {args.burst}), talk {args.talk} s, wrap-up {args.wrapup} s")  # fmt: skip
    hooks, pops, bare = result["webhooks"], result["pops"], result["bare"]
    print(f"  webhooks   p50 {ms(hooks, 0.5):>9}  p99 {ms(hooks, 0.99):>9}  (n={len(hooks)})")
    print(f"  screen-pop p50 {ms(pops, 0.5):>9}  p99 {ms(pops, 0.99):>9}  (n={len(pops)})")
    print(f"  bare floor p50 {ms(bare, 0.5):>9}  p99 {ms(bare, 0.99):>9}  (n={len(bare)})")
    for route, samples in sorted(result["routes"].items()):
        print(f"    {route:<28} p50 {ms(samples, 0.5):>8}  p99 {ms(samples, 0.99):>8}"
              f"  (n={len(samples)})")  # fmt: skip
    print(f"  lost {result['lost']}, double offers {result['double_offers']}, "
          f"apology TwiML {result['apologies']}, 5xx {result['failures'] or 0}")  # fmt: skip
    per_console = (result["rss_after_kib"] - result["rss_before_kib"]) / max(1, args.agents)
    print(
        f"  server RSS {result['rss_before_kib'] / 1024:.0f} MiB before the consoles, "
        f"{result['rss_after_kib'] / 1024:.0f} MiB after: {per_console:.0f} KiB per console"
    )
    print(f"  server CPU {result['server_cpu']:.1f} s of the machine's "
          f"{result['machine_cpu']:.1f} s busy")  # fmt: skip
    if result["agent_errors"]:
        print(f"  console errors: {result['agent_errors']}")
    print(f"  call outcomes: {result['statuses']}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--bare-server":
        bare_server(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--agents-process":
        agents_process(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=11.0, help="new calls a second")
    parser.add_argument("--burst", type=int, default=5, help="callers arriving at once")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of arrivals")
    parser.add_argument("--drain", type=float, default=120.0, help="most seconds to wait after")
    parser.add_argument("--talk", type=float, default=1.0, help="seconds an agent talks")
    parser.add_argument("--wrapup", type=float, default=0.5, help="seconds of wrap-up")
    parser.add_argument("--pace", type=float, default=0.05, help="caller's real s per sim s")
    parser.add_argument("--hold", type=float, default=60.0, help="real seconds a caller waits")
    parser.add_argument(
        "--port",
        type=int,
        default=PORTS["server"],
        help="server port; the simulator and bare floor use the next two unless given",
    )
    parser.add_argument("--twilio-port", type=int, help="the simulator's port (0: any free one)")
    parser.add_argument("--bare-port", type=int, help="the bare floor's port (0: any free one)")
    args = parser.parse_args()
    PORTS.update(
        server=args.port,
        twilio=free_port(args.twilio_port, args.port + 1),
        bare=free_port(args.bare_port, args.port + 2),
    )
    report(run(args), args)


if __name__ == "__main__":
    main()
