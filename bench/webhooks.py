"""Webhook cost: the app's incoming-call and menu-step webhooks against a bare Flask handler
that validates the same signature and returns the same TwiML. In-process, one run, same
machine, interleaved so noise hits both sides alike.

    .venv/bin/python bench/webhooks.py [--calls 2000] [--database-url URL]

Prints median and p99 per request (microseconds) and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PUBLIC_URL = "https://cc.example.test"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "bench-auth-token"


def build_app(workdir: Path, database_url: str | None = None) -> Flask:
    from callcenter.app import create_app
    from callcenter.db import Database
    from callcenter.migrate import upgrade

    url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    upgrade(Database(url))
    os.environ["CALLCENTER_CONFIG"] = str(ROOT / "config.yaml")
    app = create_app(
        {
            "public_url": PUBLIC_URL,
            "database_url": url,
            "instance_dir": str(workdir / "instance"),
            "recordings_dir": str(workdir / "recordings"),
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "log_level": "WARNING",
        }
    )
    return app


def bare_app(body_for: Callable[[str], str]) -> Flask:
    """The baseline: validate the signature, return fixed TwiML."""
    app = Flask("bare")
    validator = RequestValidator(AUTH_TOKEN)

    @app.post("/twilio/<path:step>")
    def handler(step: str) -> Response:
        query = request.query_string.decode()
        url = f"{PUBLIC_URL}{request.path}" + (f"?{query}" if query else "")
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        return Response(body_for(step), content_type="text/xml; charset=utf-8")

    return app


def params(call_sid: str, **extra: str) -> dict[str, str]:
    base = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+8613900139000",
        "To": "+864008001234",
        "Caller": "+8613900139000",
        "Called": "+864008001234",
    }
    base.update(extra)
    return base


def signed(path: str, data: dict[str, str]) -> tuple[str, dict[str, str], dict[str, str]]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, data)
    return path, data, {"X-Twilio-Signature": signature}


def timed(
    client: Any, requests: list[tuple[str, dict[str, str], dict[str, str]]], expected: str
) -> list[float]:
    """Time each request; every answer must be exactly the expected TwiML."""
    samples = []
    for path, data, headers in requests:
        start = time.perf_counter()
        response = client.post(path, data=data, headers=headers)
        samples.append(time.perf_counter() - start)
        if response.status_code != 200 or response.get_data(as_text=True) != expected:
            raise SystemExit(f"{path}: unexpected answer {response.status_code}")
    return samples


def summary(name: str, samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    median = statistics.median(ordered) * 1e6
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1e6
    print(f"  {name:<34} median {median:8.0f} µs   p99 {p99:8.0f} µs   (n={len(ordered)})")
    return median, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--database-url", help="e.g. PostgreSQL (default: a fresh SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), args.database_url)
        client = app.test_client()

        # The answers the bare handler returns: exactly the app's own TwiML.
        sample_sid = "CA" + uuid.uuid4().hex
        voice_body = client.post(*signed("/twilio/voice", params(sample_sid))[:1],
                                 data=params(sample_sid),
                                 headers=signed("/twilio/voice", params(sample_sid))[2]).get_data(
            as_text=True)  # fmt: skip
        gather_path = "/twilio/gather?flow=main&node=choose_language&attempt=1&seq=1"
        gather_body = client.post(
            gather_path,
            data=params(sample_sid, CallStatus="in-progress", Digits="1"),
            headers=signed(gather_path, params(sample_sid, CallStatus="in-progress", Digits="1"))[
                2
            ],
        ).get_data(as_text=True)
        bare = bare_app(lambda step: voice_body if step == "voice" else gather_body).test_client()

        per_round = max(1, args.calls // args.rounds)
        results: dict[str, list[float]] = {
            "app: incoming call": [],
            "bare: incoming call": [],
            "app: menu step": [],
            "bare: menu step": [],
        }
        for _ in range(args.rounds):
            sids = ["CA" + uuid.uuid4().hex for _ in range(per_round)]
            voice = [signed("/twilio/voice", params(sid)) for sid in sids]
            step = [
                signed(gather_path, params(sid, CallStatus="in-progress", Digits="1"))
                for sid in sids
            ]
            results["app: incoming call"] += timed(client, voice, voice_body)
            results["bare: incoming call"] += timed(bare, voice, voice_body)
            results["app: menu step"] += timed(client, step, gather_body)
            results["bare: menu step"] += timed(bare, step, gather_body)

        print(f"webhook cost, in-process, {args.calls} calls in {args.rounds} interleaved rounds")
        figures = {name: summary(name, samples) for name, samples in results.items()}
        for kind in ("incoming call", "menu step"):
            app_median, app_p99 = figures[f"app: {kind}"]
            bare_median, _ = figures[f"bare: {kind}"]
            print(f"  {kind}: app/bare median ratio {app_median / bare_median:.2f}x, "
                  f"app p99 {app_p99 / 1000:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
