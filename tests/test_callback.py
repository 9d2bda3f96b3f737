"""Virtual hold and estimated wait: a caller keeps their place, is called back once, and
hears how long the wait should be."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import timedelta

from conftest import LiveServer, TwilioWebhooks, call_params, start_caller
from sqlalchemy import select, update
from test_agent_socket import Console, team  # noqa: F401

from callcenter.calls.queues import WaitEstimates
from callcenter.calls.records import open_call
from callcenter.media.prompts import static_prompts
from callcenter.models import Agent, Call, CallEvent
from callcenter.people.agents import create_agent


def test_estimated_wait_from_recent_handle_times(app, twilio: TwilioWebhooks, clock) -> None:
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        agent = create_agent(
            session, username="amy", display_name="Amy", agent_number="1024",
            password="long enough password", skills=["support"],
        )  # fmt: skip
        agent.status = "on-call"
        for index in range(3):  # three answered calls of 5 minutes each
            done = open_call(session, call_sid=f"CA{index:032x}", from_raw="+8613900139001",
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            done.queue, done.outcome = "support", "answered"
            done.answered_at = clock.now - timedelta(minutes=30)
            done.ended_at = done.answered_at + timedelta(minutes=5)
        waiting = open_call(session, call_sid="CA" + "e" * 32, from_raw="+8613900139000",
                            to="+864008001234", flow="main", default_language="en")  # fmt: skip
        waiting.queue, waiting.outcome, waiting.enqueued_at = "support", "queued", clock.now
    wait = twilio.post(
        "/twilio/queue/wait",
        call_params("CA" + "e" * 32, QueuePosition="1", QueueTime="5"),
        query={"queue": "support", "lang": "en"},
    )
    says = [element.text for element in ET.fromstring(wait.data).iter("Say")]
    # 1 caller × (300 s talk + 30 s wrap-up) ÷ 1 agent logged in = 330 s ≈ 6 minutes.
    assert says[:2] == ["You are number 1 in line.", "The estimated wait is about 6 minutes."]


def test_a_one_minute_wait_is_said_in_the_singular(app, twilio: TwilioWebhooks, clock) -> None:
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        agent = create_agent(
            session, username="amy", display_name="Amy", agent_number="1024",
            password="long enough password", skills=["support"],
        )  # fmt: skip
        agent.status = "on-call"
        done = open_call(session, call_sid="CA" + "d" * 32, from_raw="+8613900139001",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        done.queue, done.outcome = "support", "answered"
        done.answered_at = clock.now - timedelta(minutes=30)
        done.ended_at = done.answered_at + timedelta(seconds=40)
        waiting = open_call(session, call_sid="CA" + "e" * 32, from_raw="+8613900139000",
                            to="+864008001234", flow="main", default_language="en")  # fmt: skip
        waiting.queue, waiting.outcome, waiting.enqueued_at = "support", "queued", clock.now
    for language, expected in (
        ("en", "The estimated wait is about one minute."),
        ("zh-CN", "预计等待时间约为 1 分钟。"),
    ):
        wait = twilio.post(
            "/twilio/queue/wait",
            call_params("CA" + "e" * 32, QueuePosition="1", QueueTime="5"),
            query={"queue": "support", "lang": language},
        )
        says = [element.text for element in ET.fromstring(wait.data).iter("Say")]
        assert says[1] == expected
    prompts = static_prompts(services.flows.flows, services.settings)
    assert ("The estimated wait is about one minute.", "en") in prompts  # rendered ahead


def test_the_wait_loop_reads_a_queues_pace_once_per_bound(app, twilio: TwilioWebhooks, clock):
    """Every waiting caller fetches the loop: the queue's handle time and staffing are read
    at most once per `reuse_seconds`, the caller's place every time."""
    services = app.extensions["callcenter"]
    ticks = [0.0]
    services.wait_estimates = WaitEstimates(reuse_seconds=5.0, clock=lambda: ticks[0])
    with services.database.session() as session:
        for number, name in (("1024", "amy"), ("1025", "bo")):
            agent = create_agent(
                session, username=name, display_name=name, agent_number=number,
                password="long enough password", skills=["support"],
            )  # fmt: skip
            agent.status = "on-call"
        done = open_call(session, call_sid="CA" + "d" * 32, from_raw="+8613900139001",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        done.queue, done.outcome = "support", "answered"
        done.answered_at = clock.now - timedelta(minutes=30)
        done.ended_at = done.answered_at + timedelta(seconds=570)  # 600 s with wrap-up
        for index in range(2):
            waiting = open_call(session, call_sid=f"CA{index:032x}", from_raw="+8613900139000",
                                to="+864008001234", flow="main", default_language="en")  # fmt: skip
            waiting.queue, waiting.outcome = "support", "queued"
            waiting.enqueued_at = clock.now + timedelta(seconds=index)

    def estimate(index: int) -> str:
        wait = twilio.post(
            "/twilio/queue/wait",
            call_params(f"CA{index:032x}", QueuePosition="1", QueueTime="5"),
            query={"queue": "support", "lang": "en"},
        )
        return [element.text for element in ET.fromstring(wait.data).iter("Say")][1]

    assert estimate(0) == "The estimated wait is about 5 minutes."  # 1 × 600 s ÷ 2
    with services.database.session() as session:
        session.execute(update(Agent).where(Agent.username == "bo").values(status="offline"))
    ticks[0] = 4.9
    assert estimate(1) == "The estimated wait is about 10 minutes."  # 2 × 600 s ÷ 2, reused
    ticks[0] = 5.0
    assert estimate(1) == "The estimated wait is about 20 minutes."  # 2 × 600 s ÷ 1, read again


def test_callback_keeps_the_place_and_is_dialed_once(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    # Nobody is available: the caller waits, hears the offer, presses star and hangs up.
    caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0", "*"])
    result = caller.result()
    heard = result.heard()
    assert "To be called back instead of waiting, without losing your place, press star." in heard
    assert heard[-1] == (
        "Thank you. We will call you back on this number as soon as an agent is free. Goodbye."
    )
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == caller.call_sid))
        assert (call.outcome, call.ended_at, call.status) == ("callback", None, "completed")

    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        offer = amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
        assert offer["caller_number"] == "+8613900139000"
        assert amy.call("call:accept", {"call_sid": caller.call_sid})["ok"]
        assert "error" in amy.call("call:accept", {"call_sid": caller.call_sid})
        amy.wait_for("call:connected", timeout=20, call_sid=caller.call_sid)
        assert amy.call("call:hangup", {"call_sid": caller.call_sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=20, status="wrap-up")
    finally:
        amy.close()

    dialed = [
        request for request in board.requests
        if request.method == "POST" and request.path.endswith("/Calls.json")
        and request.get("To") == "+8613900139000"
    ]  # fmt: skip
    assert len(dialed) == 1  # called back exactly once
    # Amy hung up first: the customer hears the post-call survey (unanswered: each question
    # waits its timeout) before the call ends.
    deadline = time.monotonic() + 40
    with services.database.session() as session:
        while time.monotonic() < deadline:
            call = session.scalar(select(Call).where(Call.call_sid == caller.call_sid))
            if call.ended_at is not None:
                break
            session.rollback()  # between polls hold no transaction: the webhooks write
            time.sleep(0.1)
        assert call.outcome == "answered" and call.ended_at is not None
        kinds = session.scalars(
            select(CallEvent.kind).where(CallEvent.call_sid == caller.call_sid)
        ).all()
    assert "queue.callback_requested" in kinds and "callback.ended" in kinds
    assert "agent.accepted" in kinds and "survey.started" in kinds


def test_overflow_to_another_queue_once_then_voicemail(app, twilio: TwilioWebhooks) -> None:
    """Repairs overflows to support after its maximum wait; support then to voicemail."""
    services = app.extensions["callcenter"]
    sid = "CA" + "f" * 32
    with services.database.session() as session:
        call = open_call(session, call_sid=sid, from_raw="+8613900139000", to="+864008001234",
                         flow="repairs", default_language="en")  # fmt: skip
        call.queue, call.outcome, call.queue_priority = "repairs", "queued", 10
    left = twilio.post("/twilio/queue/done", call_params(sid, QueueResult="leave",
                                                         QueueTime="600"),
                       query={"queue": "repairs", "seq": 1})  # fmt: skip
    root = ET.fromstring(left.data)
    assert [child.tag for child in root] == ["Say", "Enqueue"]
    assert root[0].text == "Please hold while we transfer your call."
    assert root[1].text == "support"
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == sid))
        assert (call.queue, call.outcome, call.queue_priority) == ("support", "queued", 10)
    again = twilio.post("/twilio/queue/done", call_params(sid, QueueResult="leave",
                                                          QueueTime="600"),
                        query={"queue": "support", "seq": 2})  # fmt: skip
    assert [child.tag for child in ET.fromstring(again.data)] == ["Say", "Record"]


OFFER = "To be called back instead of waiting, without losing your place, press star."


def test_no_callback_offer_to_a_caller_who_cannot_be_called_back(phone) -> None:
    """A number `phonenumbers` calls invalid, a withheld number or a SIP address cannot be
    dialed back: they are not told to press star, and star does nothing for them."""
    for caller in ("+15551234567", "anonymous", "sip:alice@example.com"):
        result = phone(from_=caller, inputs=["1", "0", "*"], hold_seconds=45)
        heard = result.heard()
        assert "You are number 1 in line." in heard, (caller, heard)
        assert OFFER not in heard, caller
        assert "Thank you. We will call you back" not in " ".join(heard), caller
        assert result.ended.startswith("hung up in queue support"), (caller, result.ended)

    valid = phone(from_="+8613900139000", inputs=["1", "0"], hold_seconds=25).heard()
    assert OFFER in valid
