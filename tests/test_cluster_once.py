"""Background work happens exactly once across the processes of scripts/cluster.sh: a
call-back asked for with `callcenter call --url` through nginx is offered once and its
customer dialed once, the call's recording is started once (every app process runs a
dispatcher that could start it) and downloaded once (the cluster runs two download
workers). Counted where the work shows: the simulator's REST API, the database, and the
request log of app 1 (which holds the simulator). And the login throttle's counts are
shared: guesses spread over both processes add up, per client address (not nginx's).

Skipped unless CALLCENTER_TEST_CLUSTER_URL names a running cluster (`make test-cluster`).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import select
from test_cluster import (
    APPS,
    CLUSTER_URL,
    PASSWORD,
    ROOT,
    Console,
    database,  # noqa: F401 (fixtures)
    events_of,
    settings,  # noqa: F401
    team,  # noqa: F401
    the_call,
)
from test_cluster import pytestmark as cluster_marks

from callcenter.config import Settings
from callcenter.db import Database
from callcenter.models import CallRecording, RecordingDownload

pytestmark = cluster_marks
T = TypeVar("T")
APP_1_LOG = ROOT / "instance" / "cluster" / "app1.log"


def api(config: Settings, path: str, **params: str) -> dict[str, Any]:
    """GET from the simulator's Twilio REST API, through nginx."""
    url = f"{config.twilio_api_url}/2010-04-01/Accounts/{config.twilio_account_sid}{path}"
    answer = requests.get(
        url, params=params, auth=(config.twilio_account_sid, config.twilio_auth_token), timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def hang_up(config: Settings, leg: str) -> None:
    url = (
        f"{config.twilio_api_url}/2010-04-01/Accounts/{config.twilio_account_sid}/Calls/{leg}.json"
    )
    auth = (config.twilio_account_sid, config.twilio_auth_token)
    answer = requests.post(url, data={"Status": "completed"}, auth=auth, timeout=10)
    assert answer.status_code == 200, answer.text


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s")


def lines_of(log: Path, since: int) -> list[str]:
    return log.read_text().splitlines()[since:] if log.exists() else []


def test_a_call_back_is_dialed_once_and_recorded_and_downloaded_once(
    database: Database,  # noqa: F811
    settings: Settings,  # noqa: F811
    team: dict[str, str],  # noqa: F811
) -> None:
    number = f"+86139{random.randrange(10**8):08d}"  # the simulator keeps earlier runs' calls
    log_start = len(lines_of(APP_1_LOG, 0))
    # A caller from a shell, as a new user would (`callcenter call --url`, through nginx: its
    # webhooks spread over the processes), asks to be called back.
    env = {**os.environ, "CALLCENTER_CONFIG": str(ROOT / "instance" / "cluster" / "config.yaml")}
    shell = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "callcenter"), "call", number, "--press", "1",
         "--press", "0", "--press", "*", "--url", CLUSTER_URL],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert "call you back" in shell.stdout, shell.stdout
    sid = re.findall(r"^Call (CA[0-9a-f]{32}) ended", shell.stdout, re.MULTILINE)[-1]
    consoles = [Console(team["amy"], APPS[1]), Console(team["bob"], APPS[0])]
    try:
        for console in consoles:
            console.available()

        # Both processes' dispatchers see the call-back; one offer is made.
        def offered() -> Console | None:
            return next((console for console in consoles
                         if any(name == "call:offer" and data["call_sid"] == sid
                                for name, data in console.seen)), None)  # fmt: skip

        taker = wait_until(offered, 10, "no call-back offer")
        assert taker.call("call:accept", {"call_sid": sid}) == {"ok": True, "call_sid": sid}
        taker.wait_for("call:connected", timeout=15, call_sid=sid)

        def started() -> tuple[str, str] | None:
            with database.session() as session:
                found = session.scalar(
                    select(CallRecording).where(
                        CallRecording.call_sid == sid, CallRecording.status == "in-progress"
                    )
                )
                return (found.leg_sid, found.recording_sid) if found else None

        leg, recording_sid = wait_until(started, 15, "the recording never started")
        time.sleep(2)  # every dispatcher has had passes since the start
        hang_up(settings, leg)  # the customer hangs up: the recording completes

        def downloaded() -> RecordingDownload | None:
            with database.session() as session:
                job = session.scalar(
                    select(RecordingDownload).where(
                        RecordingDownload.recording_sid == recording_sid
                    )
                )
                if job is not None and job.status == "done":
                    session.expunge(job)
                    return job
            return None

        job = wait_until(downloaded, 20, "the recording was never downloaded")
        time.sleep(2)  # the other worker has polled since
        assert job.path and (ROOT / "instance" / "cluster" / "recordings" / job.path).exists()

        # Once each: offered, accepted, the customer dialed, the recording started, fetched.
        assert len(events_of(database, sid, "agent.offered")) == 1
        assert len(events_of(database, sid, "agent.accepted")) == 1
        dialed = api(settings, "/Calls.json", To=number)["calls"]
        assert [call["sid"] for call in dialed] == [leg]
        assert [r["sid"] for r in api(settings, f"/Calls/{leg}/Recordings.json")["recordings"]] == [
            recording_sid
        ]
        with database.session() as session:
            rows = session.scalars(select(CallRecording).where(CallRecording.call_sid == sid))
            assert [row.recording_sid for row in rows] == [recording_sid]
        fetched = [line for line in lines_of(APP_1_LOG, log_start)
                   if "GET /simulator/" in line
                   and f"/Recordings/{recording_sid}." in line]  # fmt: skip
        assert len(fetched) == 1, fetched
        assert the_call(database, sid).agent_id is not None
    finally:
        for console in consoles:
            console.close()


class FromAddress(HTTPAdapter):
    """Connections from one loopback address of our choosing (Linux answers on 127/8)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def login_from(address: str, username: str, password: str) -> int:
    """One login through nginx from `address`, without a cookie (so any process takes it)."""
    with requests.Session() as browser:
        browser.mount("http://", FromAddress(address))
        answer = browser.post(
            f"{CLUSTER_URL}/api/login", json={"username": username, "password": password},
            timeout=20,
        )  # fmt: skip
        return answer.status_code


def test_the_login_throttle_holds_across_processes_and_counts_each_client(
    team: dict[str, str],  # noqa: F811
) -> None:
    """Password guessing from one address, spread by nginx over both processes, is stopped
    after the address's 20 failures; an agent at another address still signs in (the
    processes see each client's address, not nginx's)."""
    run = random.randrange(1, 250)
    attacker, agent = f"127.{run}.0.2", f"127.{run}.0.3"
    guesses = [login_from(attacker, f"nobody-{run}-{index}", "guess-guess")
               for index in range(20)]  # fmt: skip
    assert guesses == [401] * 20
    assert login_from(attacker, team["amy"], PASSWORD) == 429
    assert login_from(agent, team["amy"], PASSWORD) == 200
