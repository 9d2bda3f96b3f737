"""A leg of a bridge that ends while the other one is still on its way to the conference:
the caller is never left alone in it (issue 14), through the simulator."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from conftest import ACCOUNT_SID, LiveServer, TwilioWebhooks, start_caller
from flask import Flask
from sqlalchemy import select
from test_agent_socket import (
    PASSWORD,
    Console,
    enqueue_caller,
    team,  # noqa: F401 (fixture)
)

from callcenter.calls.records import open_call
from callcenter.models import Agent, Call, CallEvent, utcnow
from callcenter.people.agents import create_agent, set_presence
from callcenter.simulator.board import Answer


def call_record(server: LiveServer, call_sid: str) -> Call:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == call_sid))
        assert call is not None
        session.expunge(call)
        return call


def event_kinds(server: LiveServer, call_sid: str) -> list[str]:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        return list(
            session.scalars(
                select(CallEvent.kind).where(CallEvent.call_sid == call_sid).order_by(CallEvent.id)
            )
        )


def test_an_agent_who_hangs_up_during_the_announcement_sends_the_caller_back_first(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """Amy answers and hangs up at once, while the caller still hears "Agent 1 0 2 4 will
    help you now": the caller, who never talked to anyone, waits again at the front of the
    queue (same wait, same priority) and Bob gets them; Amy is away (a missed call)."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    board.answer_policy = lambda to: Answer(talk_seconds=0) if to == "client:amy" else "answer"
    board.pace = 0.02
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"])
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        before = call_record(live_server, sid)
        # Someone who called later waits behind them.
        later = "CA" + "6" * 32
        enqueue_caller(live_server, later, caller="+8613900139001")
        # The announcement lasts 3 simulated seconds, here 3 real ones, while Amy's leg
        # rings, answers and leaves in a fraction of that.
        leg = board.get_call(sid)
        assert leg is not None
        leg.pace = 1.0
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        state = amy.wait_for("agent:state", timeout=20, status="away")
        assert state["reason"] == "missed a call"
        leg.pace = 0.02
        assert bob.call("agent:status", {"status": "available"})["ok"]
        bob.wait_for("call:offer", timeout=20, call_sid=sid)  # before the later caller
        again = call_record(live_server, sid)
        assert (again.enqueued_at, again.queue_priority, again.queue) == (
            before.enqueued_at, before.queue_priority, before.queue,
        )  # fmt: skip
        assert bob.call("call:accept", {"call_sid": sid})["ok"]
        bob.wait_for("call:connected", timeout=15, call_sid=sid)
        heard = caller.result().heard()
        assert heard[-1] == "Agent 1 0 2 5 will help you now."
        assert "An application error" not in " ".join(heard)
        kinds = event_kinds(live_server, sid)
        assert "agent.bridge_failed" in kinds
        assert board.errors == []
    finally:
        amy.close()
        bob.close()


def test_a_caller_who_hangs_up_during_the_announcement_frees_the_agent(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """The reverse race: the caller hangs up while hearing the agent's number; Amy, already
    in the conference, is not left there: her leg is ended and she goes to wrap-up."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    board.pace = 0.02
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"])
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        leg = board.get_call(sid)
        assert leg is not None
        leg.pace = 0.5
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        deadline = time.monotonic() + 15
        while "conference.participant-join" not in event_kinds(live_server, sid):
            assert time.monotonic() < deadline, "Amy never joined the conference"
            time.sleep(0.05)
        leg.hangup("the caller hung up", by="caller")
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
        deadline = time.monotonic() + 15
        while amy_in_a_call(board):
            assert time.monotonic() < deadline, "Amy's leg is still in the conference"
            time.sleep(0.05)
        assert call_record(live_server, sid).ended_at is not None
    finally:
        amy.close()


def amy_in_a_call(board: object) -> bool:
    return any(c.to == "client:amy" and not c.done.is_set() for c in board.calls())


def test_a_called_back_customer_who_does_not_answer_frees_the_agent(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """A call-back rings Amy first, then the customer, who never answers: the call ends,
    Amy goes to wrap-up and her leg does not stay alone in the conference."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    board.pace = 0.02
    caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0", "*"])
    caller.result()
    board.answer_policy = lambda to: "no-answer" if to == "+8613900139000" else "answer"
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
        assert amy.call("call:accept", {"call_sid": caller.call_sid})["ok"]
        amy.wait_for("agent:state", timeout=20, status="wrap-up")
        deadline = time.monotonic() + 15
        while amy_in_a_call(board):
            assert time.monotonic() < deadline, "Amy's leg is still in the conference"
            time.sleep(0.05)
        assert call_record(live_server, caller.call_sid).context["callback_status"] == "no-answer"
    finally:
        amy.close()


# -- the checks at each webhook, with signed webhooks -----------------------------------------

CALL = "CA" + "a" * 32
AGENT_LEG = "CA" + "b" * 32


def accepted(app: Flask) -> dict[str, Any]:
    """Amy accepted CALL (waiting in support since a minute ago); her leg is AGENT_LEG."""
    services = app.extensions["callcenter"]
    since = utcnow() - timedelta(minutes=1)
    with services.database.session() as session:
        amy = create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                           password=PASSWORD, skills=["support"], languages=["en"])  # fmt: skip
        call = open_call(session, call_sid=CALL, from_raw="+8613900139000",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        call.queue, call.queue_priority, call.enqueued_at = "support", 3, since
        call.agent_id, call.outcome, call.agent_leg_sid = amy.id, "answered", AGENT_LEG
        set_presence(amy, "on-call", utcnow())
        amy.current_call_sid = CALL
        return {"services": services, "amy": amy.id, "since": since}


def leg_params(sid: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT_SID, "CallSid": sid, "From": "+8613900139000",
            "To": "+864008001234", **extra}  # fmt: skip


def agent_leg_status(twilio: TwilioWebhooks, status: str) -> None:
    answer = twilio.post("/twilio/bridge/agent-status", leg_params(AGENT_LEG, CallStatus=status),
                         query={"call": CALL})  # fmt: skip
    assert answer.status_code == 204


def joined(twilio: TwilioWebhooks, member: str, seq: str) -> None:
    params = {"AccountSid": ACCOUNT_SID, "ConferenceSid": "CF" + "c" * 32, "CallSid": member,
              "StatusCallbackEvent": "participant-join", "SequenceNumber": seq}  # fmt: skip
    answer = twilio.post("/twilio/bridge/conference", params, query={"call": CALL})
    assert answer.status_code == 204


def test_a_caller_whose_agent_hung_up_already_is_answered_with_the_queue(
    app: Flask, twilio: TwilioWebhooks
) -> None:
    """Amy's leg is over before the caller's join TwiML is asked for: the caller waits again,
    first in line (same wait, same priority), and a retried request changes nothing."""
    world = accepted(app)
    agent_leg_status(twilio, "completed")
    query = {"agent": "1024", "lang": "en", "take": "0a1b2c3d"}
    answer = twilio.post("/twilio/bridge/caller", leg_params(CALL), query=query)
    assert answer.status_code == 200
    assert b"<Enqueue" in answer.data and b"<Conference" not in answer.data
    again = twilio.post("/twilio/bridge/caller", leg_params(CALL), query=query)
    assert again.data == answer.data
    with world["services"].database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == CALL))
        assert (call.outcome, call.agent_id, call.queue, call.queue_priority) == (
            "queued", None, "support", 3,
        )  # fmt: skip
        assert call.enqueued_at.replace(tzinfo=None) == world["since"].replace(tzinfo=None)
        assert "agent_leg_failed" not in call.context  # the dispatcher has nothing to redo
        amy = session.get(Agent, world["amy"])
        assert (amy.status, amy.status_reason) == ("away", "missed a call")
        kinds = list(session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == CALL)))
        assert kinds.count("bridge.agent_gone") == 1 and kinds.count("agent.bridge_failed") == 1


def test_an_agent_who_hangs_up_after_talking_leaves_the_call_to_end(
    app: Flask, twilio: TwilioWebhooks
) -> None:
    """They met in the conference (which ended when Amy left, before her leg's status came):
    nothing to undo, the caller is not sent back."""
    world = accepted(app)
    joined(twilio, AGENT_LEG, "1")
    joined(twilio, CALL, "2")
    ended = {"AccountSid": ACCOUNT_SID, "ConferenceSid": "CF" + "c" * 32,
             "StatusCallbackEvent": "conference-end", "SequenceNumber": "3"}  # fmt: skip
    assert twilio.post("/twilio/bridge/conference", ended, query={"call": CALL}).status_code == 204
    agent_leg_status(twilio, "completed")
    with world["services"].database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == CALL))
        assert "agent_leg_failed" not in call.context
        assert (call.outcome, call.agent_id) == ("answered", world["amy"])


def test_an_agent_leg_answering_after_the_caller_left_hangs_up(
    app: Flask, twilio: TwilioWebhooks
) -> None:
    world = accepted(app)
    with world["services"].database.session() as session:
        session.scalar(select(Call).where(Call.call_sid == CALL)).ended_at = utcnow()
    answer = twilio.post("/twilio/bridge/agent", leg_params(AGENT_LEG), query={"call": CALL})
    assert answer.status_code == 200
    assert b"<Hangup" in answer.data and b"<Conference" not in answer.data
