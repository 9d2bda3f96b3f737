"""The agent console during a call, over real Socket.IO clients and the simulator: warm
transfers (offer, accept, wrap-up on both sides), the participants list, errors and the
controls each state allows."""

from __future__ import annotations

import time
from typing import Any

from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.models import Call
from callcenter.telephony.bridge import BridgeError


def connected_call(server: LiveServer, amy: Console, talk: int = 900) -> Any:
    """A caller reaches amy and both are in the conference; returns the caller."""
    assert amy.call("agent:status", {"status": "available"})["ok"]
    caller = start_caller(server.app, server.url, "+8613900139000", ["1", "0"],
                          dial_talk_seconds=talk)  # fmt: skip
    amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
    assert amy.call("call:accept", {"call_sid": caller.call_sid})["ok"]
    amy.wait_for("call:connected", timeout=15, call_sid=caller.call_sid)
    return caller


def wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
    assert check()


def test_both_agents_wrap_up_their_part_of_a_warm_transfer(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        assert bob.call("agent:status", {"status": "available"})["ok"]
        assert amy.call("call:consult", {"call_sid": sid, "agent_number": "1025"})["ok"]
        wait_until(lambda: len(board.find_conference(sid).connected()) == 3)
        assert amy.call("call:complete-transfer", {"call_sid": sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=10, status="wrap-up")

        # Amy's part: hers to wrap up although bob owns the call now.
        done = amy.call("call:wrapup", {"call_sid": sid, "disposition": "escalated",
                                        "notes": "Handed to Bob for the repair"})  # fmt: skip
        assert done == {"ok": True}
        amy.wait_for("agent:state", timeout=10, status="available")
        assert bob.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        bob.wait_for("agent:state", timeout=15, status="wrap-up")
        assert bob.call("call:wrapup", {"call_sid": sid, "disposition": "repair_booked",
                                        "notes": "Booked"})["ok"]  # fmt: skip
        # Amy cannot wrap up twice, nor a call she never had.
        again = amy.call("call:wrapup", {"call_sid": sid, "disposition": "resolved"})
        assert again == {"error": "you have already wrapped up this call"}
        caller.result()
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == sid))
            # The owner's disposition is the call's; each agent's part is kept.
            assert (call.agent_id, call.disposition, call.wrapup_notes) == (
                team["bob"], "repair_booked", "Booked",
            )  # fmt: skip
            parts = [(p["agent_id"], p["disposition"], p["notes"]) for p in call.context["wrapups"]]
            assert parts == [
                (team["amy"], "escalated", "Handed to Bob for the repair"),
                (team["bob"], "repair_booked", "Booked"),
            ]
    finally:
        amy.close()
        bob.close()


def test_call_controls_answer_in_sentences_while_connecting(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """Hold before the agent is in the call: a sentence, not Twilio's REST error."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    board.answer_policy = lambda to: "no-answer" if to == "client:amy" else "answer"
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"])
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        answer = amy.call("call:hold", {"call_sid": sid, "hold": True})
        assert answer == {
            "error": "the caller is not connected yet: hold works once you are talking"
        }
    finally:
        amy.close()


def test_rest_errors_reach_the_agent_as_sentences(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    bridge = services.extras["realtime"].bridge
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        caller = connected_call(live_server, amy)
        # A participant the conference does not have: Twilio answers 404 with its URL.
        try:
            bridge.hold(caller.call_sid, True, "CA" + "0" * 32)
        except BridgeError as exc:
            message = str(exc)
        assert message == "that leg of the call is not connected (not yet, or not any more)"
        added = amy.call("call:add", {"call_sid": caller.call_sid, "number": "+8613912345678"})
        assert added["ok"]
        assert amy.call("call:hangup", {"call_sid": caller.call_sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
        # The call has ended: every control says so in words.
        for event, data in [("call:hold", {"hold": True}), ("call:hangup", {}),
                            ("call:add", {"number": "+8613912345678"})]:  # fmt: skip
            answer = amy.call(event, {"call_sid": caller.call_sid, **data})
            assert answer == {"error": "you are not on this call"}, event
    finally:
        amy.close()
