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

EXTRA_EVENTS = ("call:consult-status", "call:participants")


def console(server: LiveServer, username: str) -> Console:
    """A console that also records the warm-transfer events and each call's latest
    participants list (`console.participants[call_sid]`)."""
    opened = Console(server, username)
    opened.participants = {}  # type: ignore[attr-defined]

    def participants(data: dict[str, Any]) -> None:
        opened.participants[data["call_sid"]] = data  # type: ignore[attr-defined]

    consults = opened._recorder("call:consult-status")
    opened.client.on("call:consult-status", consults, namespace=opened.namespace)
    opened.client.on("call:participants", participants, namespace=opened.namespace)
    opened.wait_for("agent:state")
    return opened


def listed(update: dict[str, Any] | None) -> list[tuple[str, str | None, str]] | None:
    """(role, name or number, state) of a `call:participants` list."""
    if update is None:
        return None
    return [(p["role"], p["name"] or p["number"], p["state"]) for p in update["participants"]]


def wait_participants(console: Console, call_sid: str, wanted: list[Any]) -> None:
    """Until the call's latest `call:participants` list is `wanted`."""
    latest = console.participants  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and listed(latest.get(call_sid)) != wanted:
        time.sleep(0.05)
    assert listed(latest.get(call_sid)) == wanted


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
        assert bob.call("call:consult-accept", {"call_sid": sid}) == {"ok": True, "call_sid": sid}
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
    bridge = services.extras["realtime"].call_upkeep.bridge
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


def test_a_consulted_agent_sees_the_call_and_accepts_before_joining(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy, bob = console(live_server, "amy"), console(live_server, "bob")
    try:
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        wait_participants(amy, sid, [("caller", "+8613900139000", "connected"),
                                     ("agent", "Amy", "connected")])  # fmt: skip
        assert bob.call("agent:status", {"status": "available"})["ok"]
        consult = amy.call("call:consult", {"call_sid": sid, "agent_number": "1025"})
        assert consult["ok"] and consult["agent"] == team["bob"] and consult["expires_at"]
        # Bob is offered the consult: from whom, about whom; nobody dials him yet.
        assert bob.wait_for("agent:state", status="ringing")["reason"] == "consult"
        offer = bob.wait_for("call:consult", call_sid=sid)
        assert offer["kind"] == "consult" and offer["consult"]["from"]["name"] == "Amy"
        assert offer["caller_number"] == "+8613900139000"
        assert [p["role"] for p in offer["participants"]] == ["caller", "agent", "agent"]
        assert offer["participants"][-1]["state"] == "invited"
        status = amy.wait_for("call:consult-status", call_sid=sid)
        assert (status["status"], status["to"]["name"]) == ("offered", "Bob")
        time.sleep(0.5)
        assert len(board.find_conference(sid).connected()) == 2
        assert board.participant(sid, sid).hold is False
        assert "error" in amy.call("call:complete-transfer", {"call_sid": sid})

        assert bob.call("call:consult-accept", {"call_sid": sid}) == {"ok": True, "call_sid": sid}
        assert amy.wait_for("call:consult-status", call_sid=sid, status="accepted")
        assert bob.wait_for("agent:state", status="on-call")["reason"] == "consulting"
        wait_until(lambda: len(board.find_conference(sid).connected()) == 3)
        assert board.participant(sid, sid).hold is True
        everyone = [("caller", "+8613900139000", "on hold"), ("agent", "Amy", "connected"),
                    ("agent", "Bob", "connected")]  # fmt: skip
        for each in (amy, bob):
            wait_participants(each, sid, everyone)

        # An added party shows up on both consoles, connecting then connected.
        added = amy.call("call:add", {"call_sid": sid, "number": "+8613912345678"})
        assert added["ok"]
        wait_participants(bob, sid, [*everyone, ("party", "+8613912345678", "connected")])

        assert amy.call("call:complete-transfer", {"call_sid": sid}) == {"ok": True}
        for each in (amy, bob):
            assert each.wait_for("call:consult-status", call_sid=sid, status="completed")
        wait_participants(bob, sid, [
            ("caller", "+8613900139000", "connected"), ("agent", "Amy", "left"),
            ("agent", "Bob", "connected"), ("party", "+8613912345678", "connected"),
        ])  # fmt: skip
        assert bob.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        bob.wait_for("agent:state", timeout=15, status="wrap-up")
        caller.result()
    finally:
        amy.close()
        bob.close()


def test_a_declined_or_unanswered_consult_tells_the_sending_agent(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy, bob = console(live_server, "amy"), console(live_server, "bob")
    try:
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        assert bob.call("agent:status", {"status": "available"})["ok"]
        assert amy.call("call:consult", {"call_sid": sid, "agent_number": "1025"})["ok"]
        bob.wait_for("call:consult", call_sid=sid)
        assert bob.call("call:consult-decline", {"call_sid": sid}) == {"ok": True}
        status = amy.wait_for("call:consult-status", call_sid=sid, status="declined")
        assert status["to"]["name"] == "Bob"
        bob.wait_for("agent:state", status="available")
        assert "error" in bob.call("call:consult-accept", {"call_sid": sid})

        # Again, and bob lets it ring out.
        assert amy.call("call:consult", {"call_sid": sid, "agent_number": "1025"})["ok"]
        bob.wait_for("call:consult", call_sid=sid)
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == sid))
            call.context = {**call.context, "consult": {**call.context["consult"],
                            "expires_at": "2000-01-01T00:00:00+00:00"}}  # fmt: skip
        services.extras["realtime"].kick()
        for each in (amy, bob):
            each.wait_for("call:consult-status", call_sid=sid, status="no answer")
        bob.wait_for("agent:state", status="available")
        assert len(board.find_conference(sid).connected()) == 2
        assert "error" in bob.call("call:consult-accept", {"call_sid": sid})
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        caller.result()
    finally:
        amy.close()
        bob.close()
