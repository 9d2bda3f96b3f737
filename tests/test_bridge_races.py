"""A leg of a bridge that ends while the other one is still on its way to the conference:
the caller is never left alone in it (issue 14), through the simulator."""

from __future__ import annotations

import time

from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import (
    Console,
    enqueue_caller,
    team,  # noqa: F401 (fixture)
)

from callcenter.models import Call, CallEvent
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
        # The announcement lasts 3 simulated seconds: 1.5 real ones, while Amy's leg rings,
        # answers and leaves in a fraction of that.
        leg = board.get_call(sid)
        assert leg is not None
        leg.pace = 0.5
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
        while any(c.to == "client:amy" and not c.done.is_set() for c in board.calls()):
            assert time.monotonic() < deadline, "Amy's leg is still in the conference"
            time.sleep(0.05)
        assert call_record(live_server, sid).ended_at is not None
    finally:
        amy.close()
