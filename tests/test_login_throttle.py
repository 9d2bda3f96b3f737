"""Login throttling: per source address and per account, shared by every process through the
database, never locking the real user out, and never starving the webhooks of CPU."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
import test_agents_auth
from conftest import LiveServer, TwilioWebhooks
from flask import Flask
from test_agent_socket import requests_client

from callcenter.people.agents import create_agent
from callcenter.web import auth

web = test_agents_auth.web  # a fixture: alice (agent), sam (supervisor), root (admin)
PASSWORD = test_agents_auth.PASSWORD
ATTACKER, ALICE_AT_WORK = "203.0.113.5", "198.51.100.7"


class Clock:
    """The throttle's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall(web: Flask) -> Clock:
    moved = Clock()
    web.extensions["auth_throttle"].clock = moved
    return moved


def login(app: Flask, username: str, password: str, address: str) -> Any:
    return app.test_client().post(
        "/api/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failures_from_one_address_do_not_lock_the_account_out_elsewhere(
    web: Flask, wall: Clock
) -> None:
    for _ in range(5):
        assert login(web, "alice", "guess-guess", ATTACKER).status_code == 401

    assert login(web, "alice", PASSWORD, ALICE_AT_WORK).status_code == 200
    slowed = login(web, "alice", PASSWORD, ATTACKER)
    assert slowed.status_code == 429
    assert "Set-Cookie" not in slowed.headers
    assert 1 <= int(slowed.headers["Retry-After"]) <= 2  # slowed down, not locked for minutes
    wall.now += 2.5
    assert login(web, "alice", "guess-again", ATTACKER).status_code == 401
    assert int(login(web, "alice", PASSWORD, ATTACKER).headers["Retry-After"]) in (3, 4)
    wall.now += 4.5
    assert login(web, "alice", PASSWORD, ATTACKER).status_code == 200  # forgives its typos
    assert login(web, "alice", "guess-guess", ATTACKER).status_code == 401


def test_invented_usernames_count_against_the_address(web: Flask, wall: Clock) -> None:
    answers = [
        login(web, f"nobody{index}", "guess-guess", ATTACKER).status_code for index in range(40)
    ]

    assert answers[:20] == [401] * 20
    assert answers.count(429) >= 19
    assert login(web, "alice", PASSWORD, ATTACKER).status_code == 429  # the address waits
    assert login(web, "nobody99", "guess-guess", ALICE_AT_WORK).status_code == 401
    assert login(web, "alice", PASSWORD, ALICE_AT_WORK).status_code == 200


def test_an_account_attacked_from_many_addresses_is_paced_not_locked(
    web: Flask, wall: Clock
) -> None:
    for index in range(10):
        assert login(web, "alice", "guess-guess", f"192.0.2.{index}").status_code == 401

    assert login(web, "alice", "guess-guess", "192.0.2.50").status_code == 401  # its turn
    paced = login(web, "alice", PASSWORD, ALICE_AT_WORK)
    assert paced.status_code == 429 and paced.headers["Retry-After"] == "2"
    assert login(web, "sam", PASSWORD, ALICE_AT_WORK).status_code == 200  # other accounts
    wall.now += 2.1
    assert login(web, "alice", PASSWORD, ALICE_AT_WORK).status_code == 200
    assert login(web, "alice", "guess-guess", "192.0.2.51").status_code == 429


def test_the_limits_hold_across_processes(make_app: Callable[..., Flask]) -> None:
    first = test_agents_auth.with_auth(make_app())
    second = make_app()  # another process on the same database
    with first.extensions["callcenter"].database.session() as session:
        create_agent(
            session, username="bob", display_name="Bob", agent_number="1040", password=PASSWORD
        )
    for index in range(5):
        app = first if index % 2 else second
        assert login(app, "bob", "guess-guess", ATTACKER).status_code == 401
    assert login(first, "bob", PASSWORD, ATTACKER).status_code == 429
    assert login(second, "bob", PASSWORD, ATTACKER).status_code == 429
    assert login(second, "bob", PASSWORD, ALICE_AT_WORK).status_code == 200
    for index in range(15):  # with the 5 for bob: 20 failures from the address
        app = first if index % 2 else second
        assert login(app, f"made-up{index}", "guess-guess", ATTACKER).status_code == 401
    assert login(first, "made-up-last", "guess-guess", ATTACKER).status_code == 429


def test_at_most_one_password_is_hashed_at_a_time_per_process(
    web: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    web.extensions["auth_throttle"].hashing_wait = 0.2
    hashing, most = [0], [0]
    lock = threading.Lock()
    original = auth.password_matches

    def slow_hash(agent: Any, password: str) -> bool:
        with lock:
            hashing[0] += 1
            most[0] = max(most[0], hashing[0])
        time.sleep(0.5)
        try:
            return original(agent, password)
        finally:
            with lock:
                hashing[0] -= 1

    monkeypatch.setattr(auth, "password_matches", slow_hash)
    answers: list[tuple[int, float]] = []

    def attempt(index: int) -> None:
        started = time.monotonic()
        status = login(web, "alice", PASSWORD, f"198.51.100.{index}").status_code
        answers.append((status, time.monotonic() - started))

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert most[0] == 1
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 3
    assert all(took < 0.5 for status, took in answers if status == 503)  # refused at once


def test_webhooks_stay_fast_while_logins_flood(live_server: LiveServer) -> None:
    with live_server.app.extensions["callcenter"].database.session() as session:
        for index in range(8):
            create_agent(session, username=f"flood{index}", display_name="Flood",
                         agent_number=f"20{index:02d}", password=PASSWORD)  # fmt: skip
    hooks = TwilioWebhooks(requests_client(live_server), public_url=live_server.url)

    def webhook_seconds() -> float:
        params = {
            "AccountSid": "AC" + "1" * 32, "CallSid": "CA" + uuid.uuid4().hex,
            "From": "+8613900139000", "To": "+864008001234", "CallStatus": "ringing",
        }  # fmt: skip
        started = time.monotonic()
        assert hooks.post("/twilio/voice", params).status_code == 200
        return time.monotonic() - started

    baseline = statistics.median(webhook_seconds() for _ in range(6))
    stop = threading.Event()

    def flood(index: int) -> None:  # a shift starting: everyone logs in, right passwords
        with requests.Session() as http:
            while not stop.is_set():
                body = {"username": f"flood{index}", "password": PASSWORD}
                http.post(f"{live_server.url}/api/login", json=body, timeout=30)

    threads = [threading.Thread(target=flood, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        during = statistics.median(webhook_seconds() for _ in range(8))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert during < max(0.5, 5 * baseline), (baseline, during)
