"""Webhook cost: the app's webhooks against a bare Flask handler that validates the same
signature and returns the same TwiML, in-process, per route, interleaved request by request.

    .venv/bin/python bench/webhooks.py [--calls 1000] [--waits 2] [--database-url URL]
                                       [--profile FILE]

Each call is followed as Twilio would: the incoming call (`/twilio/voice`), three menu
steps through the main flow to the support queue (`/twilio/gather`), `--waits` fetches of
the wait loop (`/twilio/queue/wait`), and the caller hanging up (`/twilio/status`,
completed). Every request goes to the app and, at once, the same signed request to the
bare handler (which answers with the app's first answer on that route); which side goes
first alternates. So a burst of other work on the machine hits both sides alike, and the
ratio of the medians stays put on a noisy machine even when the absolute figures do not.

Prints per route the median and p99 (microseconds) of each side's round trip and app ÷
bare of the medians; and the same for the CPU time of the request's own thread
(`time.thread_time`), which other processes on the machine cannot inflate (the dispatcher
thread a webhook wakes is not in it: the wall time is). `--profile FILE` runs the app side
only under cProfile and writes its stats.
"""

from __future__ import annotations

import argparse
import cProfile
import html
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PUBLIC_URL = "https://cc.example.test"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "bench-auth-token"
INPUTS = ["1", "2", "12345678#"]  # English, order status, an order number: the support queue
ROUTES = ("voice", "gather", "queue/wait", "status")
ACTION = re.compile(r'<Gather action="([^"]+)"')
WAIT_URL = re.compile(r'waitUrl="([^"]+)"')


def build_app(workdir: Path, database_url: str | None = None) -> Flask:
    from callcenter.app import create_app
    from callcenter.db import Database
    from callcenter.migrate import upgrade

    url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    upgrade(Database(url))
    os.environ["CALLCENTER_CONFIG"] = str(ROOT / "config.yaml")
    return create_app(
        {
            "public_url": PUBLIC_URL,
            "database_url": url,
            "instance_dir": str(workdir / "instance"),
            "recordings_dir": str(workdir / "recordings"),
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "log_level": "WARNING",
            "open_all_hours": True,  # the menu leads to the queue whatever the hour
        }
    )


def bare_app(bodies: dict[str, tuple[int, str]]) -> Flask:
    """The floor: validate the signature, return the route's fixed answer."""
    app = Flask("bare")
    validator = RequestValidator(AUTH_TOKEN)

    @app.post("/twilio/<path:step>")
    def handler(step: str) -> Response:
        query = request.query_string.decode()
        url = f"{PUBLIC_URL}{request.path}" + (f"?{query}" if query else "")
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        status, body = bodies[step]
        return Response(body, status=status, content_type="text/xml; charset=utf-8")

    return app


def params(call_sid: str, **extra: str) -> dict[str, str]:
    caller = "+86139" + str(int(call_sid[2:10], 16) % 10**8).zfill(8)  # a caller per call
    base = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": caller,
        "To": "+864008001234",
        "Caller": caller,
        "Called": "+864008001234",
    }
    base.update(extra)
    return base


def signed(url: str, data: dict[str, str]) -> tuple[str, dict[str, str], dict[str, str]]:
    """A request as Twilio sends it to `url` (absolute, or a path on the public URL)."""
    path = url.removeprefix(PUBLIC_URL)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, data)
    return path, data, {"X-Twilio-Signature": signature}


class Pair:
    """The app and the bare handler, sent the same requests, timed per route."""

    def __init__(self, app: Flask, profile: cProfile.Profile | None) -> None:
        self.app = app.test_client()
        self.bodies: dict[str, tuple[int, str]] = {}
        self.bare = bare_app(self.bodies).test_client()
        self.profile = profile
        self.samples: dict[str, dict[str, list[float]]] = {}
        self.cpu: dict[str, dict[str, list[float]]] = {}
        self.reset()
        self.flip = False

    def reset(self) -> None:
        """Forget the samples so far (after the warm-up)."""
        self.samples = {side: {route: [] for route in ROUTES} for side in ("app", "bare")}
        self.cpu = {side: {route: [] for route in ROUTES} for side in ("app", "bare")}

    def post(self, route: str, url: str, data: dict[str, str]) -> str:
        """Send one request to both sides (alternating which goes first); the app's answer."""
        path, form, headers = signed(url, data)
        self.flip = not self.flip
        if self.profile is not None:
            self.profile.enable()
            answer = self._timed("app", route, path, form, headers)
            self.profile.disable()
            return answer
        app_first = self.flip or route not in self.bodies  # the bare side copies the app's
        first, second = ("app", "bare") if app_first else ("bare", "app")
        answers = {}
        for side in (first, second):
            answers[side] = self._timed(side, route, path, form, headers)
        return answers["app"]

    def _timed(self, side: str, route: str, path: str, form: Any, headers: Any) -> str:
        client = self.app if side == "app" else self.bare
        start, start_cpu = time.perf_counter(), time.thread_time()
        response = client.post(path, data=form, headers=headers)
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - start_cpu
        body = response.get_data(as_text=True)
        if response.status_code not in (200, 204) or "error" in body.lower():
            raise SystemExit(f"{side} {path}: unexpected answer {response.status_code} {body}")
        if side == "app":
            self.bodies.setdefault(route, (response.status_code, body))
        self.samples[side][route].append(elapsed)
        self.cpu[side][route].append(cpu)
        return body


def follow_call(pair: Pair, waits: int) -> None:
    """One caller: the call, the menu to the support queue, the wait loop, the hang-up."""
    sid = "CA" + uuid.uuid4().hex
    answer = pair.post("voice", "/twilio/voice", params(sid))
    for digits in INPUTS:
        match = ACTION.search(answer)
        if match is None:
            raise SystemExit(f"no menu to press {digits} in: {answer}")
        data = params(sid, CallStatus="in-progress", Digits=digits)
        answer = pair.post("gather", html.unescape(match.group(1)), data)
    match = WAIT_URL.search(answer)
    if match is None:
        raise SystemExit(f"not sent to a queue: {answer}")
    wait_url = html.unescape(match.group(1))
    for n in range(waits):
        data = params(sid, CallStatus="in-progress", QueuePosition="1", QueueTime=str(n * 20),
                      QueueSid="QU" + "0" * 32, AvgQueueTime="0", CurrentQueueSize="1")  # fmt: skip
        pair.post("queue/wait", wait_url, data)
    pair.post("status", "/twilio/status", params(sid, CallStatus="completed", CallDuration="30"))


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="callers followed")
    parser.add_argument("--waits", type=int, default=2, help="wait-loop fetches per caller")
    parser.add_argument("--warmup", type=int, default=20, help="callers not counted")
    parser.add_argument("--database-url", help="e.g. PostgreSQL (default: a fresh SQLite file)")
    parser.add_argument("--profile", help="profile the app side only; write pstats here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(build_app(Path(tmp), args.database_url), None)
        for _ in range(args.warmup):
            follow_call(pair, args.waits)
        pair.reset()
        if args.profile:
            pair.profile = cProfile.Profile()
        started = time.perf_counter()
        for _ in range(args.calls):
            follow_call(pair, args.waits)
        took = time.perf_counter() - started
        if pair.profile is not None:
            pair.profile.dump_stats(args.profile)

    load = os.getloadavg()[0]
    print(f"webhook cost, in-process: {args.calls} callers, each request sent to the app and "
          f"the bare handler in turn ({took:.1f} s; load average {load:.1f})")  # fmt: skip
    print(f"  {'route':<11} {'n':>5} | {'wall: app':>9} {'p99':>7} {'bare':>6} {'p99':>6} "
          f"{'ratio':>6} | {'CPU: app':>8} {'bare':>6} {'ratio':>6}")  # fmt: skip
    for route in ROUTES:
        n = len(pair.samples["app"][route])
        app_wall, app_p99 = quantiles(pair.samples["app"][route])
        app_cpu, _ = quantiles(pair.cpu["app"][route])
        if args.profile:
            print(f"  {route:<11} {n:>5} | {app_wall:>7.0f}µs {app_p99:>5.0f}µs | "
                  f"{app_cpu:>6.0f}µs")  # fmt: skip
            continue
        bare_wall, bare_p99 = quantiles(pair.samples["bare"][route])
        bare_cpu, _ = quantiles(pair.cpu["bare"][route])
        print(f"  {route:<11} {n:>5} | {app_wall:>7.0f}µs {app_p99:>5.0f}µs {bare_wall:>4.0f}µs "
              f"{bare_p99:>4.0f}µs {app_wall / bare_wall:>5.1f}× | {app_cpu:>6.0f}µs "
              f"{bare_cpu:>4.0f}µs {app_cpu / bare_cpu:>5.1f}×")  # fmt: skip
    print("  (medians; wall: each request's round trip; CPU: the request thread's own CPU time)")


if __name__ == "__main__":
    main()
