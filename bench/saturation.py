"""Saturation: signed new-call webhooks against the embedded default, the cluster and the
bare floor, in the same run.

    .venv/bin/python bench/saturation.py [--targets embedded,cluster,bare] [--runs 1]
        [--connections 20] [--seconds 15] [--rate 300] [--rate-seconds 15] [--warmup 2]
        [--port 5641] [--bare-port 5642] [--json FILE]

Each request is what Twilio sends for a new inbound call: `POST /twilio/voice` with the
form fields of a ringing inbound call, a fresh CallSid and caller number, signed with
twilio's RequestValidator for the target's public URL. Two measurements per target:

* saturation (closed loop): --connections keep-alive connections, each sending its next
  request as soon as the last one is answered, for --seconds (after --warmup seconds that
  are not counted). Figures: answers a second, p50/p99 round trip, errors.
* fixed rate (open loop): --rate requests a second for --rate-seconds, each sent at its
  scheduled time on whatever connection is free (new ones are opened as needed), its
  latency counted from the scheduled time: a slow server shows as latency, never as a
  lower offered rate.

Errors: an answer other than 200, a connection error or timeout (30 s), and the apology
TwiML (recognised by the configured apology text in the body).

The targets (--runs rounds, the targets in turn within a round):

* embedded: `callcenter serve --open-all-hours` on --port, a fresh migrated SQLite file,
  Twilio credentials set (nothing here calls Twilio's REST API: a new call only hears the
  main menu).
* cluster: the running `make cluster` (scripts/cluster.sh env gives its URL, which is also
  the public URL it signs for; its simulator auth token is read from its config).
* bare: a bare Flask app checking the same signature and answering one fixed <Gather>
  (bench/load.py's `bare_app`) under gunicorn -w 2 with the cluster's worker class
  (gthread, --threads 1100) on --bare-port.

A new call only runs the IVR's first menu: it waits in no queue, so the dispatcher never
dials for it. After each measurement, unmeasured, every call it created gets a signed
status callback (CallStatus=completed), so the boards do not fill with calls stuck in the
IVR. CPU: the app processes' own (utime + stime from /proc, so gunicorn workers and the
serve process), the machine's busy CPU, and the load average at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from load import ACCOUNT_SID, AUTH_TOKEN, TO_NUMBER, _wait_for, rss_kib
from machine import cpu_seconds
from screenpop import call_params, prepare_database, quantile, raise_fd_limit

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_DIR = ROOT / "instance" / "cluster"
BIN = ROOT / ".venv" / "bin"


@dataclass
class Target:
    """Where to send, what to sign for, and whose CPU is the app's."""

    name: str
    url: str
    account_sid: str
    auth_token: str
    pids: Any  # () -> list[int]: the app's processes now
    apologies: list[str] = field(default_factory=list)
    stop: Any = None
    services: Any = None  # () -> list[int]: nginx, Redis, PostgreSQL backends (the cluster)


def children(pid: int) -> list[int]:
    """`pid` and its direct children (a gunicorn master and its workers)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def app_cpu(pids: list[int]) -> float:
    return sum(per_process_cpu(pids).values())


def per_process_cpu(pids: list[int]) -> dict[int, float]:
    found: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # a process gone meanwhile
            found[pid] = cpu_seconds([pid])[1]
    return found


def cluster_services(database: str) -> list[int]:
    """nginx and Redis (from their pid files) and the PostgreSQL backends of `database`."""
    found = children(int((CLUSTER_DIR / "nginx.pid").read_text().strip()))
    found.append(int((CLUSTER_DIR / "redis.pid").read_text().strip()))
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
                if command.startswith("postgres: ") and f" {database} " in command:
                    found.append(int(entry.name))
    return found


# -- the targets ---------------------------------------------------------------------------


def apology_texts(config: Path, environ: dict[str, str]) -> list[str]:
    from callcenter.config import load_settings

    return list(load_settings(config, environ=environ).fallback.apology.values())


def embedded(port: int, work: Path) -> Target:
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CALLCENTER_CONFIG": str(ROOT / "config.yaml"),
        "CALLCENTER_DATABASE_URL": prepare_database(work, 0),
        "CALLCENTER_PUBLIC_URL": url,
        "CALLCENTER_TWILIO_API_URL": "http://127.0.0.1:9/simulator",  # never called
        "CALLCENTER_SECRET_KEY": "saturation-secret-key",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PYTHONPATH": str(ROOT),
    }
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "callcenter"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--open-all-hours"],
        env=env, stdout=log, stderr=log, cwd=work,
    )  # fmt: skip
    _wait_for(url + "/healthz", 60)
    return Target("embedded", url, ACCOUNT_SID, AUTH_TOKEN, lambda: children(server.pid),
                  apology_texts(ROOT / "config.yaml", env), lambda: _end(server))  # fmt: skip


def cluster() -> Target:
    from callcenter.config import load_settings

    exports = subprocess.run(["bash", str(ROOT / "scripts/cluster.sh"), "env"], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    values = dict(
        line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if "=" in line
    )
    url = values["CALLCENTER_TEST_CLUSTER_URL"].strip("'")
    database_url = values["CALLCENTER_TEST_CLUSTER_DATABASE_URL"].strip("'")
    environ = {"CALLCENTER_PUBLIC_URL": url, "CALLCENTER_DATABASE_URL": database_url}
    settings = load_settings(CLUSTER_DIR / "config.yaml", environ=environ)
    _wait_for(url + "/healthz", 10)

    def pids() -> list[int]:
        found: list[int] = []
        for pidfile in sorted(CLUSTER_DIR.glob("app*.pid")):
            found += children(int(pidfile.read_text()))
        return found

    database = database_url.rsplit("/", 1)[1].split("?")[0]
    return Target("cluster", url, settings.twilio_account_sid, settings.twilio_auth_token,
                  pids, list(settings.fallback.apology.values()),
                  services=lambda: cluster_services(database))  # fmt: skip


def bare(port: int) -> Target:
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", "2", "--worker-class", "gthread", "--threads", "1100",
         "--worker-connections", "2200",
         "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), "--log-level", "warning",
         f"load:bare_app({url!r}, {AUTH_TOKEN!r})"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    _wait_for_post(url + "/twilio/voice", 30)
    return Target("bare", url, ACCOUNT_SID, AUTH_TOKEN, lambda: children(server.pid),
                  stop=lambda: _end(server))  # fmt: skip


def _wait_for_post(url: str, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.post(url, timeout=2)  # 403: unsigned, but up
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def _end(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


# -- the load ------------------------------------------------------------------------------


class Sender:
    """Signed new-call webhooks for one target; every answer's round trip and outcome."""

    def __init__(self, target: Target) -> None:
        from twilio.request_validator import RequestValidator

        self.target = target
        self.validator = RequestValidator(target.auth_token)
        self.voice_url = target.url + "/twilio/voice"
        self.samples: list[float] = []
        self.errors: dict[str, int] = {}
        self.sids: list[str] = []
        self.counting = True

    def new_call(self) -> tuple[bytes, dict[str, str]]:
        sid = "CA" + uuid.uuid4().hex
        caller = f"+86139{uuid.uuid4().int % 10**8:08d}"
        params = call_params(sid, caller, CallStatus="ringing", AccountSid=self.target.account_sid,
                             FromCountry="CN", ToCountry="CN")  # fmt: skip
        params["To"] = params["Called"] = TO_NUMBER
        signature = self.validator.compute_signature(self.voice_url, params)
        self.sids.append(sid)
        return urlencode(params).encode(), self._headers(signature)

    @staticmethod
    def _headers(signature: str) -> dict[str, str]:
        return {"X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip

    async def send(self, http: Any, started: float | None = None) -> None:
        body, headers = self.new_call()
        started = time.perf_counter() if started is None else started
        outcome = None
        try:
            async with http.post(self.voice_url, data=body, headers=headers) as answer:
                text = await answer.text()
                if answer.status != 200:
                    outcome = f"HTTP {answer.status}"
                elif any(apology in text for apology in self.target.apologies):
                    outcome = "apology"
        except Exception as exc:
            outcome = type(exc).__name__
        if self.counting:
            self.samples.append(time.perf_counter() - started)
            if outcome:
                self.errors[outcome] = self.errors.get(outcome, 0) + 1


def _session(limit: int) -> Any:
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=False),
        timeout=aiohttp.ClientTimeout(total=30),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def closed_loop(
    sender: Sender, connections: int, seconds: float, warmup: float, snapshot: Any
) -> float:
    """Every connection sends again as soon as it is answered, for `seconds` after `warmup`;
    only answers within the window count, and `snapshot()` is called at its start and end."""
    async with _session(connections) as http:
        sender.counting = False
        end = time.monotonic() + warmup + seconds

        async def worker() -> None:
            while time.monotonic() < end:
                await sender.send(http)

        async def window() -> None:
            await asyncio.sleep(warmup)
            snapshot()
            sender.counting = True
            await asyncio.sleep(seconds)
            sender.counting = False
            snapshot()

        await asyncio.gather(window(), *(worker() for _ in range(connections)))
        return seconds


async def open_loop(sender: Sender, rate: float, seconds: float) -> float:
    """`rate` requests a second at their scheduled times; the seconds the sending took."""
    async with _session(0) as http:
        tasks = []
        count = int(rate * seconds)
        origin = time.perf_counter()
        for index in range(count):
            due = origin + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(sender.send(http, due)))
        sent = time.perf_counter() - origin
        await asyncio.gather(*tasks)
        return sent


async def hang_up(target: Target, sids: list[str], connections: int) -> None:
    """The completed status callback for every call (not measured)."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(target.auth_token)
    url = target.url + "/twilio/status"
    pending = iter(sids)
    async with _session(connections) as http:

        async def worker() -> None:
            for sid in pending:
                params = {"AccountSid": target.account_sid, "CallSid": sid,
                          "CallStatus": "completed", "CallDuration": "5"}  # fmt: skip
                headers = Sender._headers(validator.compute_signature(url, params))
                try:
                    async with http.post(url, data=urlencode(params), headers=headers) as answer:
                        await answer.read()
                except Exception:
                    pass

        await asyncio.gather(*(worker() for _ in range(connections)))


def measure(target: Target, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One saturation or fixed-rate measurement, with CPU and load around it."""
    sender = Sender(target)
    pids = target.pids()
    marks: list[tuple[float, float, float, float]] = []
    services: list[dict[int, float]] = []

    def snapshot() -> None:
        own = resource.getrusage(resource.RUSAGE_SELF)
        if target.services:
            services.append(per_process_cpu(target.services()))
        marks.append((cpu_seconds([])[0], app_cpu(pids), own.ru_utime + own.ru_stime,
                      os.getloadavg()[0]))  # fmt: skip

    if mode == "saturation":
        took = asyncio.run(closed_loop(sender, args.connections, args.seconds, args.warmup,
                                       snapshot))  # fmt: skip
    else:
        snapshot()
        took = asyncio.run(open_loop(sender, args.rate, args.rate_seconds))
        snapshot()
    (machine_before, app_before, own_before, load_start) = marks[0]
    (machine_after, app_after, own_after, load_end) = marks[-1]
    n = len(sender.samples)
    if services:  # a backend born in the window counts from zero
        extra = sum(cpu - services[0].get(pid, 0.0) for pid, cpu in services[-1].items())
    result = {
        "target": target.name,
        "mode": mode,
        "requests": n,
        "seconds": took,
        "per_second": n / took,
        "p50_ms": quantile(sender.samples, 0.5) * 1000,
        "p99_ms": quantile(sender.samples, 0.99) * 1000,
        "errors": sender.errors,
        "app_cpu_s": app_after - app_before,
        "app_cpu_ms_per_request": (app_after - app_before) / n * 1000,
        "services_cpu_ms_per_request": extra / n * 1000 if services else None,
        "machine_busy_s": machine_after - machine_before,
        "generator_cpu_s": own_after - own_before,
        "load": [round(load_start, 2), round(load_end, 2)],
        "app_rss_mib": sum(rss_kib(pid) for pid in pids if Path(f"/proc/{pid}").exists()) / 1024,
    }
    if target.name != "bare":
        started = time.monotonic()
        asyncio.run(hang_up(target, sender.sids, args.connections))
        result["hang_up_s"] = time.monotonic() - started
    return result


# -- the run -------------------------------------------------------------------------------


def show(result: dict[str, Any]) -> None:
    errors = sum(result["errors"].values())
    detail = f" {result['errors']}" if errors else ""
    services = result.get("services_cpu_ms_per_request")
    services = f"+ nginx/Redis/PostgreSQL {services:.2f} ms/req " if services is not None else ""
    print(f"  {result['target']:<9} {result['mode']:<10} {result['per_second']:>7.0f}/s "
          f"p50 {result['p50_ms']:>7.1f} ms  p99 {result['p99_ms']:>7.1f} ms  "
          f"n={result['requests']:<6} errors {errors}{detail}  "
          f"app CPU {result['app_cpu_ms_per_request']:.2f} ms/req "
          f"{services}"
          f"({result['app_cpu_s']:.1f} s of {result['machine_busy_s']:.1f} s busy, generator "
          f"{result['generator_cpu_s']:.1f} s)  load {result['load'][0]}→{result['load'][1]}",
          flush=True)  # fmt: skip


def summary(results: list[dict[str, Any]]) -> None:
    print("medians over the runs:")
    for name in dict.fromkeys(r["target"] for r in results):
        for mode in ("saturation", "fixed"):
            rows = [r for r in results if r["target"] == name and r["mode"] == mode]
            if not rows:
                continue

            def med(key: str, rows: list[dict[str, Any]] = rows) -> float:
                return statistics.median(r[key] for r in rows)

            errors = sum(sum(r["errors"].values()) for r in rows)
            services = [r["services_cpu_ms_per_request"] for r in rows]
            services_ms = (f" + services {statistics.median(services):.2f}"
                           if None not in services else "")  # fmt: skip
            loads = [value for r in rows for value in r["load"]]
            print(f"  {name:<9} {mode:<10} {med('per_second'):>7.0f}/s  p50 "
                  f"{med('p50_ms'):>7.1f} ms  p99 {med('p99_ms'):>7.1f} ms  errors {errors} "
                  f"(of {sum(r['requests'] for r in rows)})  app CPU "
                  f"{med('app_cpu_ms_per_request'):.2f}{services_ms} ms/req  load "
                  f"{min(loads):.1f}–{max(loads):.1f}  (runs {len(rows)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="embedded,cluster,bare")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0, help="saturation seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds first")
    parser.add_argument("--rate", type=float, default=300.0, help="offered requests a second")
    parser.add_argument("--rate-seconds", type=float, default=15.0)
    parser.add_argument("--modes", default="saturation,fixed")
    parser.add_argument("--port", type=int, default=5641, help="callcenter serve's port")
    parser.add_argument("--bare-port", type=int, default=5642)
    parser.add_argument("--json", help="write every measurement to this file")
    args = parser.parse_args()
    raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="saturation-"))
    names = args.targets.split(",")
    targets: list[Target] = []
    results: list[dict[str, Any]] = []
    try:
        for name in names:
            if name == "embedded":
                targets.append(embedded(args.port, work))
            elif name == "cluster":
                targets.append(cluster())
            elif name == "bare":
                targets.append(bare(args.bare_port))
            else:
                raise SystemExit(f"unknown target {name}")
        print(f"saturation: {args.connections} connections for {args.seconds:.0f} s; fixed "
              f"rate: {args.rate:.0f}/s for {args.rate_seconds:.0f} s; {os.cpu_count()} CPUs",
              flush=True)  # fmt: skip
        for run in range(args.runs):
            print(f"run {run + 1}:", flush=True)
            for target in targets:
                for mode in args.modes.split(","):
                    results.append(measure(target, mode, args))
                    show(results[-1])
    finally:
        for target in targets:
            if target.stop:
                target.stop()
    summary(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
