"""Churn load: `callcenter serve` (the embedded default) with 100 agent consoles taking a
steady stream of calls from a Twilio-behaving load generator, and a bare floor in the same run.

    .venv/bin/python bench/load.py [--target embedded|cluster] [--agents 100] [--rate 11]
                                   [--burst 5] [--seconds 60] [--pace 0.05] [--port 5301]
                                   [--twilio-port 0] [--bare-port 0]

With `--target cluster` the server is instead the cluster (scripts/cluster.sh: nginx, app
processes under gunicorn, Redis, PostgreSQL), which the run starts with this process's
simulator as its Twilio and stops at the end (bench/load_cluster.py); consoles and webhooks
go through nginx, and the screen-pops whose offer was made on another app process than the
one holding the console's socket are reported apart.

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
committed; the pop, read before the offer was written, is emitted right after) to the
console receiving `call:offer`
(wall clock, same machine); lost calls (placed, never connected to an agent); double
offers (a call offered more than once); apology TwiML answers; the server's RSS before
and after the consoles connect (per console); on the embedded target, per caller, SQLite's
write lock waited for and held over the run (from `/metrics` at the first call and after
the last). Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
from pathlib import Path
from typing import Any

from load_cluster import Cluster, offered_lines, pop_latencies, report_crossed
from machine import cpu_seconds, read_line
from screenpop import PASSWORD, prepare_database, quantile, raise_fd_limit
from write_lock import lock_figures, lock_histograms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "load-auth-token"
TO_NUMBER = "+864008001234"
PORTS = {"server": 5301, "twilio": 5302, "bare": 5303}
INPUTS = ["1", "2", "12345678#"]  # English, order status, an order number: the support queue


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
    nodes: dict[int, str] = {}

    async def console(http: aiohttp.ClientSession, index: int) -> None:
        username = "probe" if index == 0 else f"agent{index:04d}"
        async with limit:
            async with http.post(
                f"{url}/api/login", json={"username": username, "password": PASSWORD}
            ) as answer:
                if answer.status != 200:
                    raise SystemExit(f"login {username}: {answer.status}")
                cookie = f"session={answer.cookies['session'].value}"
                if "ccnode" in answer.cookies:  # nginx's stickiness key (the cluster)
                    nodes[index] = answer.cookies["ccnode"].value
                    cookie += f"; ccnode={nodes[index]}"
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
            await client.connect(url, headers={"Cookie": cookie},
                                 transports=["websocket"], namespaces=["/agent"],
                                 wait_timeout=30)  # fmt: skip
            await ask("agent:status", {"status": "available"})
            clients.append(client)

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        await asyncio.gather(*(console(http, index) for index in range(count)))
    print(f"ready {len(clients)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
    result = {"offers": offers, "connected": sorted(connected), "errors": dict(errors),
              "nodes": nodes}  # fmt: skip
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


def ms(values: list[float], q: float) -> str:
    return f"{quantile(values, q) * 1000:,.0f} ms" if values else "-"


def embedded_env(work: Path, agents: int, api_url: str) -> dict[str, str]:
    """A fresh SQLite file with the agents (support and repairs, offline), and the server's
    environment."""
    from callcenter.db import Database

    database_url = prepare_database(work, agents - 1)
    database = Database(database_url)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("""UPDATE agents SET skills = '["support", "repairs"]',
                                      status = 'offline'""")
    database.dispose()
    return {
        **os.environ,
        "CALLCENTER_CONFIG": str(ROOT / "config.yaml"),
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_PUBLIC_URL": f"http://127.0.0.1:{PORTS['server']}",
        "CALLCENTER_TWILIO_API_URL": api_url,
        "CALLCENTER_SECRET_KEY": "load-secret-key",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PYTHONPATH": str(ROOT),
    }


def service_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds per process, leaving out those gone (PostgreSQL backends come and go)."""
    from saturation import per_process_cpu

    return per_process_cpu(pids)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from callcenter.config import load_settings

    raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="load-"))
    api_url = f"http://127.0.0.1:{PORTS['twilio']}/simulator"
    cluster = None
    if args.target == "cluster":
        cluster = Cluster(ACCOUNT_SID, AUTH_TOKEN, api_url)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
    else:
        env = embedded_env(work, args.agents, api_url)
    settings = load_settings(ROOT / "config.yaml", environ=env)
    recorder = Recorder(list(settings.fallback.apology.values()))
    server_log = work / "server.log"
    processes: list[subprocess.Popen[str]] = []
    services: list[int] = []
    try:
        if cluster is not None:
            server_url, app_pids, services = cluster.start(args.agents)
        else:
            server_url = f"http://127.0.0.1:{PORTS['server']}"
            with server_log.open("w") as log:
                server = subprocess.Popen(
                    [str(ROOT / ".venv/bin/callcenter"), "serve", "--host", "127.0.0.1",
                     "--port", str(PORTS["server"]), "--open-all-hours"],
                    env=env, stdout=log, stderr=log, text=True, cwd=work,
                )  # fmt: skip
            processes.append(server)
            app_pids = [server.pid]
            _wait_for(server_url + "/healthz", 60)
        bare = subprocess.Popen(
            [sys.executable, __file__, "--bare-server", str(PORTS["bare"]), server_url],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        processes.append(bare)
        bare_url = read_line(bare, 30, "the bare floor")
        board, twilio = twilio_side(server_url, recorder)
        rss_before = sum(rss_kib(pid) for pid in app_pids)
        agents = subprocess.Popen(
            [sys.executable, __file__, "--agents-process", server_url, str(args.agents),
             str(args.talk), str(args.wrapup)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        processes.append(agents)
        ready = read_line(agents, 120, "the agents")
        time.sleep(2)  # the consoles' first heartbeat
        rss_after = sum(rss_kib(pid) for pid in app_pids)

        placed: list[str] = []
        outcomes: list[Any] = []
        bare_samples: list[float] = []
        pool = ThreadPoolExecutor(max_workers=400)
        busy_before = cpu_seconds(app_pids)
        locks_before = lock_histograms(server_url) if cluster is None else {}
        services_before = service_cpu(services)
        load_before = os.getloadavg()
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
        load_arrivals = os.getloadavg()
        deadline = time.monotonic() + args.drain
        for future in outcomes:
            future.result(timeout=max(0.1, deadline - time.monotonic()))
        busy_after = cpu_seconds(app_pids)
        locks_after = lock_histograms(server_url) if cluster is None else {}
        services_after = service_cpu(services)
        load_after = os.getloadavg()
        time.sleep(args.wrapup + 1)
        agents.stdin.write("stop\n")
        agents.stdin.flush()
        seen = json.loads(agents.stdout.readline())
        pool.shutdown(wait=False, cancel_futures=True)
        twilio.shutdown()
        if cluster is not None:
            agents.wait(10)
            cluster.read_sockets()
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        if cluster is not None:
            cluster.stop()

    if cluster is not None:
        offers, socket_app = cluster.offers(), cluster.consoles(seen["nodes"])
    else:
        times = offered_lines(server_log.read_text(errors="replace"))
        offers = {sid: [(at, 0) for at in stamps] for sid, stamps in times.items()}
        socket_app = {index: 0 for index in range(args.agents)}
    per_call = Counter(sid for sid, _agent, _at in seen["offers"])
    pops, crossed, unplaced = pop_latencies(seen["offers"], offers, socket_app)
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
        "crossed": crossed,
        "unplaced_pops": unplaced,
        "sockets_per_app": dict(Counter(str(app) for app in socket_app.values())),
        "offers_per_app": dict(Counter(str(app) for times in offers.values() for _, app in times)),
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
        "services_cpu": sum(
            after - services_before[pid]
            for pid, after in services_after.items()
            if pid in services_before
        ),
        "machine_cpu": busy_after[0] - busy_before[0],
        "load": [load_before, load_arrivals, load_after],
        "locks": lock_figures(locks_before, locks_after),
        "server_log": str(server_log) if cluster is None else "instance/cluster/app*.log",
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
    if args.target == "cluster":
        report_crossed(result, ms)
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
    if args.target == "cluster":
        print(f"  nginx, Redis, PostgreSQL CPU {result['services_cpu']:.1f} s")
    loads = " / ".join(" ".join(f"{x:.1f}" for x in load) for load in result["load"])
    print(f"  load average (1, 5, 15 min) at the first call / last call / drained: {loads}")
    if result["locks"]:
        print("  SQLite write lock per caller (from /metrics; p50/p99 interpolated in buckets):")
        for line in result["locks"]:
            print("    " + line)
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
    parser.add_argument(
        "--target",
        choices=["embedded", "cluster"],
        default="embedded",
        help="embedded: `callcenter serve` on SQLite; cluster: scripts/cluster.sh, started "
        "and stopped by the run (see bench/load_cluster.py)",
    )
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
