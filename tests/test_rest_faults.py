"""Twilio's REST API failing or hanging under the consoles' feet (the simulator's injected
faults): accept, hold, transfer and recording start. The caller is never stranded: a failed
accept leaves them queued and offered again, a failed hold or transfer leaves them with
their agent, a failed recording start is tried again while the call goes on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import Console
from test_agent_socket import team as team  # the fixture
from test_console_calls import connected_call

from callcenter.models import Agent, Call, CallRecording
from callcenter.simulator.board import RestFault
from callcenter.telephony.bridge import REST_TIMEOUT_SECONDS

CLIENT_TIMEOUT = 1.0  # the bridge's REST timeout in these tests (10 s in production)


@pytest.fixture
def board(live_server: LiveServer) -> Iterator[Any]:
    """The simulator's switchboard, with the app's REST client giving up after 1 s."""
    services = live_server.app.extensions["callcenter"]
    client = services.extras["bridge"].client
    # Twilio's library waits for ever unless told: the app's client must not.
    assert client.http_client.timeout == REST_TIMEOUT_SECONDS
    client.http_client.timeout = CLIENT_TIMEOUT
    board = services.extras["simulator_switchboard"]
    yield board
    board.rest_faults.clear()


def the_call(server: LiveServer, call_sid: str) -> Call:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        call = session.scalars(select(Call).where(Call.call_sid == call_sid)).one()
        session.expunge(call)
        return call


def status_of(server: LiveServer, agent_id: int) -> str:
    with server.app.extensions["callcenter"].database.session() as session:
        return session.get(Agent, agent_id).status


def timed(console: Console, event: str, data: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    answer = console.call(event, data)
    return answer, time.monotonic() - started


def test_an_accept_twilio_does_not_answer_leaves_the_caller_queued_and_offered_again(
    live_server: LiveServer, team: dict[str, int], board: Any
) -> None:
    """The redirect taking the caller out of the queue hangs (Twilio never answers within
    the timeout, then refuses): the agent hears why at once, the caller keeps waiting and
    is offered again; the next accept connects them."""
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"],
                              dial_talk_seconds=300)  # fmt: skip
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        board.inject_fault(RestFault("POST", rf"/Calls/{sid}\.json$", status=503, delay=12))
        answer, took = timed(amy, "call:accept", {"call_sid": sid})
        assert answer == {
            "error": "could not connect the call: the telephone service could not be reached"
        }
        assert took < CLIENT_TIMEOUT + 3, took  # not the 12 s Twilio took
        assert amy.wait_for("call:ended", call_sid=sid)["reason"] == "bridge failed"
        call = the_call(live_server, sid)
        assert (call.outcome, call.agent_id, call.ended_at) == ("queued", None, None)

        # Offered again (amy is free again); this time Twilio answers.
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid}) == {"ok": True, "call_sid": sid}
        amy.wait_for("call:connected", timeout=15, call_sid=sid)
        assert (the_call(live_server, sid).outcome, status_of(live_server, team["amy"])) == (
            "answered", "on-call",
        )  # fmt: skip
    finally:
        amy.close()


def test_an_accept_twilio_carries_out_too_late_sends_the_caller_back_to_wait(
    live_server: LiveServer, team: dict[str, int], board: Any
) -> None:
    """Twilio moves the caller out of the queue, but answers after the timeout: the accept
    was undone meanwhile, so the caller (redirected to meet an agent who is not coming) is
    put back in the queue rather than left alone in a conference; the next accept
    connects them."""
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"],
                              dial_talk_seconds=300)  # fmt: skip
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        late = board.inject_fault(RestFault("POST", rf"/Calls/{sid}\.json$", status=None, delay=3))
        answer = amy.call("call:accept", {"call_sid": sid})
        assert answer["error"].startswith("could not connect the call"), answer
        amy.wait_for("call:offer", timeout=15, call_sid=sid)  # offered again at once
        time.sleep(late.delay + 1)  # Twilio has carried out the redirect by now
        assert board.participant(sid, sid) is None  # not waiting alone in a conference
        call = the_call(live_server, sid)
        assert (call.outcome, call.agent_id, call.ended_at) == ("queued", None, None)
        assert amy.call("call:accept", {"call_sid": sid}) == {"ok": True, "call_sid": sid}
        amy.wait_for("call:connected", timeout=15, call_sid=sid)
        assert board.participant(sid, sid) is not None
    finally:
        amy.close()


def test_a_hold_that_fails_or_hangs_tells_the_agent_and_the_call_goes_on(
    live_server: LiveServer, team: dict[str, int], board: Any
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        participant = rf"/Conferences/CF\w+/Participants/{sid}\.json$"
        board.inject_fault(RestFault("POST", participant, status=500))
        refused = amy.call("call:hold", {"call_sid": sid, "hold": True})
        assert refused == {
            "error": "could not put the caller on hold: the telephone service refused the request"
        }
        board.inject_fault(RestFault("POST", participant, status=None, delay=12))
        answer, took = timed(amy, "call:hold", {"call_sid": sid, "hold": True})
        assert answer == {
            "error": "could not put the caller on hold: the telephone service could not be reached"
        }
        assert took < CLIENT_TIMEOUT + 3, took
        call = the_call(live_server, sid)
        assert (call.outcome, call.agent_id, call.ended_at) == ("answered", team["amy"], None)
        assert status_of(live_server, team["amy"]) == "on-call"
        # Twilio is well again: hold works (the agent may press again), and so does the rest.
        assert amy.call("call:hold", {"call_sid": sid, "hold": True}) == {"ok": True, "hold": True}
        assert amy.call("call:hold", {"call_sid": sid, "hold": False})["ok"]
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
    finally:
        amy.close()


def test_a_transfer_twilio_refuses_or_never_answers_keeps_the_call_with_its_agent(
    live_server: LiveServer, team: dict[str, int], board: Any
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        leg = rf"/Calls/{sid}\.json$"
        for fault in (RestFault("POST", leg, status=500),
                      RestFault("POST", leg, status=503, delay=12)):  # fmt: skip
            board.inject_fault(fault)
            answer, took = timed(amy, "call:transfer", {"call_sid": sid, "queue": "repairs"})
            assert answer["error"].startswith("the caller could not be moved: "), answer
            assert took < CLIENT_TIMEOUT + 3, took
            call = the_call(live_server, sid)
            assert (call.queue, call.outcome, call.agent_id) == ("support", "answered", team["amy"])
            assert status_of(live_server, team["amy"]) == "on-call"
        conference = board.find_conference(sid)
        assert sid in [p.call_sid for p in conference.connected()]  # still talking to amy
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
    finally:
        amy.close()


def test_a_recording_start_that_fails_or_hangs_is_tried_again_and_the_call_goes_on(
    live_server: LiveServer, team: dict[str, int], board: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Twilio refuses the first start and does not answer the second in time (without
    acting): the dispatcher tries again with backoff and the third start records the call;
    the caller and the agent talk on meanwhile."""
    services = live_server.app.extensions["callcenter"]
    amy = Console(live_server, "amy")
    amy.client.on("call:recording", amy._recorder("call:recording"), namespace="/agent")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        # Billing (1, 2) is recorded; the caller answers its account-number prompt.
        caller = start_caller(live_server.app, live_server.url, "+8613900139000",
                              ["1", "2", "12345678#"], dial_talk_seconds=3000)  # fmt: skip
        sid = caller.call_sid
        recordings = r"/Calls/\w+/Recordings\.json$"
        board.inject_fault(RestFault("POST", recordings, status=500))
        board.inject_fault(RestFault("POST", recordings, status=503, delay=4))
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        amy.wait_for("call:connected", timeout=15, call_sid=sid)
        started = amy.wait_for("call:recording", timeout=20, call_sid=sid)
        assert started["status"] == "in-progress"
        with services.database.session() as session:
            recording = session.scalar(select(CallRecording).where(CallRecording.call_sid == sid))
            assert (recording.status, recording.attempts) == ("in-progress", 2)
        gave_up = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("could not start recording")]  # fmt: skip
        assert gave_up == [
            f"could not start recording {sid}: the telephone service refused the request",
            f"could not start recording {sid}: the telephone service could not be reached",
        ]
        starts = [r for r in board.requests
                  if r.method == "POST" and r.path.endswith("/Recordings.json")]  # fmt: skip
        assert [r.status for r in starts] == [500, 503, 201]
        call = the_call(live_server, sid)
        assert (call.outcome, call.agent_id, call.ended_at) == ("answered", team["amy"], None)
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
    finally:
        amy.close()
