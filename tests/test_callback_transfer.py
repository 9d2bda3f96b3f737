"""A call-back, once the customer is on the line, is a live call like any inbound one:
transferred cold (to an agent or a queue) or warm, the same customer leg moves on and is
never dialed again; no second call record appears. Real Socket.IO clients, the simulator."""

from __future__ import annotations

import time
from typing import Any

from conftest import LiveServer, start_caller
from sqlalchemy import func, select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.calls.records import open_call
from callcenter.metrics.facts import QueueEntry
from callcenter.models import Call, Voicemail, utcnow
from callcenter.web.boards import queue_summary

CUSTOMER = "+8613900139000"


def wait_until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
    assert check()


def connected_callback(server: LiveServer, amy: Console) -> tuple[str, str]:
    """The caller asks to be called back; amy accepts and talks to them. Returns (the
    call's SID, the customer's leg)."""
    services = server.app.extensions["callcenter"]
    caller = start_caller(server.app, server.url, CUSTOMER, ["1", "0", "*"])
    caller.result()  # the original call ends once the call-back is confirmed
    sid = caller.call_sid
    assert amy.call("agent:status", {"status": "available"})["ok"]
    assert amy.wait_for("call:offer", timeout=15, call_sid=sid)["kind"] == "callback"
    assert amy.call("call:accept", {"call_sid": sid})["ok"]
    amy.wait_for("call:connected", timeout=20, call_sid=sid)
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == sid))
        leg = call.context["caller_leg"]
    assert leg != sid
    return sid, leg


def dialed_customer(server: LiveServer) -> int:
    board = server.app.extensions["callcenter"].extras["simulator_switchboard"]
    return len([
        request for request in board.requests
        if request.method == "POST" and request.path.endswith("/Calls.json")
        and request.get("To") == CUSTOMER
    ])  # fmt: skip


def in_conference(server: LiveServer, sid: str) -> set[str]:
    board = server.app.extensions["callcenter"].extras["simulator_switchboard"]
    conference = board.find_conference(sid)
    return {p.call_sid for p in conference.connected()} if conference is not None else set()


def only_one_record(server: LiveServer, sid: str) -> None:
    """No call record besides the call-back's (none for the customer's leg, none from our
    own number)."""
    with server.app.extensions["callcenter"].database.session() as session:
        sids = session.scalars(select(Call.call_sid)).all()
    assert sids == [sid]


def waiting(server: LiveServer, queue: str = "support") -> tuple[int, int]:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        row = next(q for q in queue_summary(session, services) if q["name"] == queue)
    return row["waiting"], row["callbacks"]


def call_ended(server: LiveServer, sid: str) -> bool:
    """Whether the call has ended (after the agent hangs up, the customer first hears the
    post-call survey, answers nothing and is thanked, then hangs up)."""
    with server.app.extensions["callcenter"].database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == sid))
        return call is not None and call.ended_at is not None


def talk_then_hang_up(server: LiveServer, agent: Console, sid: str, leg: str) -> None:
    """The agent talks to the same customer leg, holds and resumes, and hangs up; the call
    ends once the customer has been through the survey."""
    board = server.app.extensions["callcenter"].extras["simulator_switchboard"]
    wait_until(lambda: leg in in_conference(server, sid) and len(in_conference(server, sid)) == 2)
    assert agent.call("call:hold", {"call_sid": sid, "hold": True}) == {"ok": True, "hold": True}
    assert board.participant(sid, leg).hold is True
    assert agent.call("call:hold", {"call_sid": sid, "hold": False})["ok"]
    assert agent.call("call:hangup", {"call_sid": sid}) == {"ok": True}
    agent.wait_for("agent:state", timeout=20, status="wrap-up")
    wait_until(lambda: call_ended(server, sid), timeout=90)


def test_cold_transfer_of_a_connected_callback_to_an_agent(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        sid, leg = connected_callback(live_server, amy)
        assert bob.call("agent:status", {"status": "available"})["ok"]
        moved = amy.call("call:transfer", {"call_sid": sid, "agent": team["bob"]})
        assert moved == {"ok": True, "queue": "support"}
        amy.wait_for("agent:state", timeout=10, status="wrap-up")

        # Bob is offered a caller on the line, transferred by amy: not a call-back.
        offer = bob.wait_for("call:offer", timeout=15, call_sid=sid)
        assert (offer["kind"], offer["callback"]) == ("inbound", None)
        assert offer["transfer"]["from"]["name"] == "Amy"
        assert offer["caller_number"] == CUSTOMER
        assert bob.call("call:accept", {"call_sid": sid}) == {"ok": True, "call_sid": sid}
        bob.wait_for("call:connected", timeout=20, call_sid=sid)
        talk_then_hang_up(live_server, bob, sid, leg)

        assert dialed_customer(live_server) == 1  # the customer was called once, not twice
        only_one_record(live_server, sid)
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == sid))
            assert (call.agent_id, call.outcome) == (team["bob"], "answered")
            assert call.ended_at is not None
            kinds = session.scalars(
                select(QueueEntry.kind).where(QueueEntry.call_sid == sid).order_by(QueueEntry.id)
            ).all()
        assert kinds == ["inbound", "transfer"]
    finally:
        amy.close()
        bob.close()


def test_cold_transfer_of_a_connected_callback_to_a_queue(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        sid, leg = connected_callback(live_server, amy)
        assert amy.call("call:transfer", {"call_sid": sid, "queue": "support"})["ok"]
        amy.wait_for("agent:state", timeout=10, status="wrap-up")

        # Nobody is free: the customer waits on the line, counted as a caller waiting.
        wait_until(lambda: waiting(live_server) == (1, 0))
        time.sleep(1)
        assert waiting(live_server) == (1, 0)
        only_one_record(live_server, sid)

        assert bob.call("agent:status", {"status": "available"})["ok"]
        offer = bob.wait_for("call:offer", timeout=15, call_sid=sid)
        assert (offer["kind"], offer["callback"]) == ("inbound", None)
        assert offer["transfer"]["from"]["name"] == "Amy"
        assert bob.call("call:accept", {"call_sid": sid})["ok"]
        bob.wait_for("call:connected", timeout=20, call_sid=sid)
        assert waiting(live_server) == (0, 0)
        talk_then_hang_up(live_server, bob, sid, leg)

        assert dialed_customer(live_server) == 1
        only_one_record(live_server, sid)
    finally:
        amy.close()
        bob.close()


def test_warm_transfer_of_a_connected_callback(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        sid, leg = connected_callback(live_server, amy)
        assert bob.call("agent:status", {"status": "available"})["ok"]
        assert amy.call("call:consult", {"call_sid": sid, "agent_number": "1025"})["ok"]
        bob.wait_for("call:consult", call_sid=sid)
        assert bob.call("call:consult-accept", {"call_sid": sid})["ok"]
        wait_until(lambda: len(in_conference(live_server, sid)) == 3)
        assert board.participant(sid, leg).hold is True
        assert amy.call("call:complete-transfer", {"call_sid": sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=10, status="wrap-up")
        assert board.participant(sid, leg).hold is False

        talk_then_hang_up(live_server, bob, sid, leg)
        assert dialed_customer(live_server) == 1
        only_one_record(live_server, sid)
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == sid))
            assert call.agent_id == team["bob"] and call.ended_at is not None
            assert session.scalar(select(func.count()).select_from(Call)) == 1
    finally:
        amy.close()
        bob.close()


def test_a_voicemail_callback_transferred_once_connected_stays_the_same_call(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """A voicemail call-back (a follow-up's takes the same path) is a call record of its
    own: transferred once the customer answered, that record waits and is bridged."""
    services = live_server.app.extensions["callcenter"]
    original = "CA" + "7" * 32
    with services.database.session() as session:
        call = open_call(session, call_sid=original, from_raw=CUSTOMER, to="+864008001234",
                         flow="main", default_language="en")  # fmt: skip
        call.queue, call.outcome, call.ended_at = "support", "voicemail", utcnow()
        voicemail = Voicemail(mailbox="support", call_sid=original, recording_sid="RE" + "7" * 32,
                              from_number=CUSTOMER, duration_seconds=12)  # fmt: skip
        session.add(voicemail)
        session.flush()
        voicemail_id = voicemail.id
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        placed = amy.call("call:dial", {"voicemail_id": voicemail_id})  # Call now
        assert placed.get("ok"), placed
        sid = placed["call_sid"]
        offer = amy.wait_for("call:offer", timeout=10, call_sid=sid)
        assert (offer["kind"], offer["callback"]["voicemail"]["id"]) == ("outbound", voicemail_id)
        amy.wait_for("call:connected", timeout=20, call_sid=sid)
        with services.database.session() as session:
            leg = session.scalar(select(Call).where(Call.call_sid == sid)).context["caller_leg"]

        assert amy.call("call:transfer", {"call_sid": sid, "queue": "support"})["ok"]
        wait_until(lambda: waiting(live_server) == (1, 0))
        assert bob.call("agent:status", {"status": "available"})["ok"]
        offer = bob.wait_for("call:offer", timeout=15, call_sid=sid)
        assert (offer["kind"], offer["callback"]) == ("inbound", None)
        assert offer["transfer"]["from"]["name"] == "Amy"
        assert bob.call("call:accept", {"call_sid": sid})["ok"]
        bob.wait_for("call:connected", timeout=20, call_sid=sid)
        talk_then_hang_up(live_server, bob, sid, leg)

        assert dialed_customer(live_server) == 1
        with services.database.session() as session:
            sids = set(session.scalars(select(Call.call_sid)).all())
            kinds = session.scalars(
                select(QueueEntry.kind).where(QueueEntry.call_sid == sid).order_by(QueueEntry.id)
            ).all()
        assert sids == {original, sid}  # none for the customer's leg
        assert kinds == ["callback", "transfer"]
    finally:
        amy.close()
        bob.close()
