"""The dispatcher is woken only by changes it acts on, and a pass with nothing to do
writes nothing (issue 14: webhooks waited behind passes they had woken for nothing)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TwilioWebhooks, call_params
from flask import Flask
from sqlalchemy import event

from callcenter.models import Agent, utcnow
from callcenter.people.agents import create_agent

MENU = {"flow": "main", "node": "main_menu", "attempt": 1, "seq": 2}
LANGUAGE = {"flow": "main", "node": "choose_language", "attempt": 1, "seq": 1}
ORDER = {"flow": "main", "node": "order_number", "attempt": 1, "seq": 3}


@pytest.fixture
def dispatcher(app: Flask) -> Iterator[Any]:
    """The app's dispatcher loop running, its timed passes an hour apart: every pass it
    makes during a test was woken by something."""
    realtime = app.extensions["callcenter"].extras["realtime"]
    realtime.interval = 3600.0
    realtime.passes = []
    realtime.pass_observers.append(realtime.passes.append)
    realtime.start()
    yield realtime
    realtime.stop()


def settle(realtime: Any, seconds: float = 0.5) -> int:
    """Passes made so far, once a pass woken just now has had time to finish."""
    time.sleep(seconds)
    return len(realtime.passes)


def ivr_steps(twilio: TwilioWebhooks, sid: str) -> None:
    """A caller through the IVR's menus, short of the queue."""
    params = call_params(sid, CallStatus="ringing")
    assert twilio.post("/twilio/voice", params).status_code == 200
    answer = twilio.post("/twilio/gather", {**params, "Digits": "1"}, query=LANGUAGE)
    assert answer.status_code == 200
    answer = twilio.post("/twilio/gather", {**params, "Digits": "2"}, query=MENU)
    assert answer.status_code == 200 and b"<Enqueue" not in answer.data


def test_ivr_steps_and_status_callbacks_do_not_wake_the_dispatcher(
    twilio: TwilioWebhooks, dispatcher: Any
) -> None:
    sids = ["CA" + uuid.uuid4().hex for _ in range(5)]
    for sid in sids:
        ivr_steps(twilio, sid)
        texted = {"MessageSid": "SM" + uuid.uuid4().hex, "MessageStatus": "delivered"}
        answer = twilio.post("/twilio/sms/status", {"AccountSid": call_params(sid)["AccountSid"],
                             **texted}, query={"call": sid})  # fmt: skip
        assert answer.status_code == 204
        wait = {"queue": "support", "lang": "en"}
        polled = twilio.post("/twilio/queue/wait", call_params(sid, QueuePosition="1"), query=wait)
        assert polled.status_code == 200
    assert settle(dispatcher) == 0

    # A caller entering a queue is what a pass acts on: that wakes it at once.
    params = call_params(sids[0])
    answer = twilio.post("/twilio/gather", {**params, "Digits": "12345678"}, query=ORDER)
    assert b"<Enqueue" in answer.data
    deadline = time.monotonic() + 5
    while not dispatcher.passes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dispatcher.passes, "a caller entering the queue did not wake the dispatcher"


def test_a_call_ending_wakes_the_dispatcher(twilio: TwilioWebhooks, dispatcher: Any) -> None:
    sid = "CA" + uuid.uuid4().hex
    ivr_steps(twilio, sid)
    assert settle(dispatcher, 0.2) == 0
    answer = twilio.post("/twilio/status", call_params(sid, CallStatus="completed",
                                                       CallDuration="12"))  # fmt: skip
    assert answer.status_code == 204
    deadline = time.monotonic() + 5
    while not dispatcher.passes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dispatcher.passes


def writes_during(app: Flask, step: Any) -> list[str]:
    """The transactions `step` began that could write (SQLite: BEGIN IMMEDIATE, taking
    the database's one write lock; PostgreSQL: not read-only)."""
    engine = app.extensions["callcenter"].database.engine
    began: list[str] = []

    def note(connection: Any) -> None:
        if not connection.get_execution_options().get("callcenter_read_only"):
            began.append("write")

    event.listen(engine, "begin", note)
    try:
        step()
    finally:
        event.remove(engine, "begin", note)
    return began


def test_a_pass_with_nothing_to_do_takes_no_write_lock(app: Flask) -> None:
    services = app.extensions["callcenter"]
    realtime = services.extras["realtime"]
    with services.database.session() as session:
        agent = create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                             password="secret-password-1", skills=["support"])  # fmt: skip
        agent.status, agent.console_seen_at = "available", utcnow()
    realtime.run_once()  # the first pass may have work (e.g. the first queue summary)
    assert writes_during(app, realtime.run_once) == []

    # Nobody available and a caller waiting: still nothing a pass can do.
    with services.database.session() as session:
        session.get(Agent, agent.id).status = "away"
    ivr = TwilioWebhooks(app.test_client())
    sid = "CA" + uuid.uuid4().hex
    ivr_steps(ivr, sid)
    answer = ivr.post("/twilio/gather", {**call_params(sid), "Digits": "12345678"}, query=ORDER)
    assert b"<Enqueue" in answer.data
    realtime.run_once()
    assert writes_during(app, realtime.run_once) == []


def test_a_pass_with_work_still_does_it(app: Flask) -> None:
    """The cheap check does not skip work: a waiting caller and an available agent with a
    live console make an offer, an expired wrap-up ends."""
    services = app.extensions["callcenter"]
    realtime = services.extras["realtime"]
    with services.database.session() as session:
        agent = create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                             password="secret-password-1", skills=["support"])  # fmt: skip
        agent.status, agent.console_seen_at = "wrap-up", utcnow()
        agent.wrapup_until = utcnow()
    ivr = TwilioWebhooks(app.test_client())
    sid = "CA" + uuid.uuid4().hex
    ivr_steps(ivr, sid)
    answer = ivr.post("/twilio/gather", {**call_params(sid), "Digits": "12345678"}, query=ORDER)
    assert b"<Enqueue" in answer.data
    changes = realtime.run_once()
    assert agent.id in changes.agents
    assert changes.offers == [(agent.id, sid)]
