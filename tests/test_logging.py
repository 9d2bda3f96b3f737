"""The server's log is one line per request and per business event at INFO, without colours.

A real `callcenter serve` runs in a subprocess; a simulated call is placed against it, the
phone page is polled as a browser would, and its standard error is read line by line.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CALLCENTER = [sys.executable, "-m", "callcenter.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ("", "twilio.http_client", "callcenter.socketio", "werkzeug", "callcenter.http")
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_chatty_libraries_are_quiet_unless_debugging(restore_logging: None) -> None:
    from callcenter.logs import configure_logging

    configure_logging("INFO")
    assert not logging.getLogger("twilio.http_client").isEnabledFor(logging.INFO)
    assert not logging.getLogger("callcenter.socketio").isEnabledFor(logging.INFO)
    assert logging.getLogger("twilio.http_client").isEnabledFor(logging.WARNING)
    assert logging.getLogger("callcenter.http").isEnabledFor(logging.INFO)
    configure_logging("DEBUG")
    assert logging.getLogger("twilio.http_client").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("callcenter.socketio").isEnabledFor(logging.DEBUG)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[tuple[str, dict[str, str], Path]]:
    """`callcenter serve` in a subprocess (simulator mode); yields its URL, env and log file."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "TWILIO_"))},
        "PYTHONPATH": str(ROOT),
        "CALLCENTER_CONFIG": str(ROOT / "config.yaml"),
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_PUBLIC_URL": url,
        "CALLCENTER_TWILIO_API_URL": url + "/simulator",
        "CALLCENTER_SECRET_KEY": "log-test-secret",
        "CALLCENTER_INSTANCE_DIR": str(tmp_path / "instance"),
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*CALLCENTER, "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert process.poll() is None, log_path.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            yield url, env, log_path
        finally:
            process.terminate()
            process.wait(20)


def test_one_plain_line_per_request_and_business_event(
    server: tuple[str, dict[str, str], Path],
) -> None:
    url, env, log_path = server
    placed = subprocess.run(
        [*CALLCENTER, "call", "+8613800138000", "--press", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert placed.returncode == 0, placed.stdout + placed.stderr
    call_sid = re.search(r"Call (CA[0-9a-f]{32}) ended", placed.stdout).group(1)  # type: ignore[union-attr]
    for _ in range(10):  # the phone page polls every 300 ms while a call is shown
        requests.get(f"{url}/phone/calls/{call_sid}/events?after=0", timeout=5)
    requests.get(url + "/static/console.css", timeout=5)
    requests.get(url + "/no-such-page", timeout=5)
    time.sleep(0.5)
    log = log_path.read_text(encoding="utf-8")
    lines = log.splitlines()

    assert "\x1b[" not in log  # no colour codes in a file
    assert not [line for line in lines if "twilio.http_client" in line]
    assert not [line for line in lines if "/phone/calls/" in line and "/events" in line]
    assert not [line for line in lines if "/static/" in line]
    # werkzeug's own access line is gone: requests are logged once, by the application
    assert not [line for line in lines if re.search(r'" \d{3} ', line)]

    webhooks = [line for line in lines if " /twilio/" in line]
    assert webhooks, log
    assert all(f"CallSid={call_sid}" in line for line in webhooks), webhooks
    assert len([line for line in webhooks if "POST /twilio/voice " in line]) == 1
    assert len([line for line in lines if "GET /no-such-page 404" in line]) == 1
    assert all(" INFO callcenter.http: " in line for line in webhooks)

    # the business events of the call, one line each
    started = [line for line in lines if f"{call_sid} call.started" in line]
    assert len(started) == 1, log
    assert " INFO callcenter.events: " in started[0]
    assert "+8613800138000" not in started[0]  # no caller's number in the log
    assert not [line for line in lines if " ivr.node " in line]  # the path is DEBUG
