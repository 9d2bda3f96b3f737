"""Ghosts: callers whose hang-up never reached the server, and agents whose console died
without closing. A live server, real Socket.IO consoles, the simulator's REST API, and a
real `callcenter serve` killed with SIGKILL and restarted on the same database."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from conftest import LiveServer, start_caller
from sqlalchemy import event, select
from test_agent_socket import PASSWORD, Console, enqueue_caller

from callcenter.calls.records import get_call, open_call
from callcenter.models import Agent, Call, CallEvent, CallOffer, utcnow
from callcenter.people.agents import create_agent
from callcenter.web.boards import queue_summary

IVR_TO_SUPPORT = ["1", "2", "12345678#"]


@pytest.fixture
def crew(live_server: LiveServer) -> dict[str, int]:
    """Agents amy and bob (support); the dispatcher is driven by hand (`run_once`)."""
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        return {
            name: create_agent(
                session, username=name, display_name=name.title(), agent_number=number,
                password=PASSWORD, skills=["support"], languages=["en", "zh-CN"],
            ).id
            for name, number in [("amy", "1024"), ("bob", "1025")]
        }  # fmt: skip


def services_of(server: LiveServer):
    return server.app.extensions["callcenter"]


def forget_hang_up(server: LiveServer, call_sid: str, waited: int = 0) -> None:
    """Make the record look as if the caller's hang-up never arrived (server down, database
    unwritable): still queued, waiting for `waited` seconds."""
    with services_of(server).database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == call_sid))
        call.outcome, call.status = "queued", "in-progress"
        call.dequeued_at = call.ended_at = call.queue_wait_seconds = call.duration_seconds = None
    date_wait(server, call_sid, waited)


def date_wait(server: LiveServer, call_sid: str, waited: int = 0) -> None:
    """The caller has waited `waited` seconds by the server's clock (the live server's IVR
    clock is frozen in the past: calls it enqueues would look hours overdue)."""
    with services_of(server).database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == call_sid))
        call.enqueued_at = utcnow() - timedelta(seconds=waited)


def call_record(server: LiveServer, call_sid: str) -> Call:
    with services_of(server).database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == call_sid))
        session.expunge(call)
        return call


def no_event(console: Console, name: str, seconds: float, **match: object) -> None:
    with pytest.raises(AssertionError):
        console.wait_for(name, timeout=seconds, **match)


def accept_a_call_that_is_over(server: LiveServer, call_sid: str) -> Console:
    realtime = services_of(server).extras["realtime"]
    amy = Console(server, "amy")
    amy.wait_for("agent:state")
    assert amy.call("agent:status", {"status": "available"})["ok"]
    realtime.run_once()
    amy.wait_for("call:offer", call_sid=call_sid)
    assert amy.call("call:accept", {"call_sid": call_sid}) == {
        "error": "the caller has already hung up"
    }
    assert amy.wait_for("call:ended", call_sid=call_sid)["reason"] == "caller left"
    realtime.run_once()  # before: the call was back at the head of the line, offered again
    no_event(amy, "call:offer", 1.0, call_sid=call_sid)
    return amy


def test_accepting_a_caller_who_hung_up_ends_the_call(live_server, crew) -> None:
    """Twilio answers 21220 ("call is not in-progress") to the bridge's redirect."""
    caller = start_caller(live_server.app, live_server.url, "+8613900139000", IVR_TO_SUPPORT,
                          hold_seconds=5)  # fmt: skip
    caller.result()  # waited 5 s in the queue, then hung up
    forget_hang_up(live_server, caller.call_sid)
    amy = accept_a_call_that_is_over(live_server, caller.call_sid)
    try:
        call = call_record(live_server, caller.call_sid)
        assert (call.outcome, call.status, call.agent_id) == ("abandoned", "completed", None)
        assert call.ended_at is not None
        board = services_of(live_server).extras["simulator_switchboard"]
        redirects = [r for r in board.requests if r.path.endswith(f"{caller.call_sid}.json")]
        assert [r.status for r in redirects] == [400]  # one try, not one per offer
        with services_of(live_server).database.session() as session:
            agent = session.get(Agent, crew["amy"])
            assert (agent.status, agent.current_call_sid) == ("available", None)
            assert queue_summary(session, services_of(live_server))[0]["waiting"] == 0
            kinds = session.scalars(
                select(CallEvent.kind).where(CallEvent.call_sid == caller.call_sid)
            ).all()
            assert "call.lost_hangup" in kinds
    finally:
        amy.close()


def test_accepting_a_call_twilio_does_not_know_ends_it(live_server, crew) -> None:
    """Twilio answers 20404 (no such call): only webhooks ever came for this caller."""
    sid = "CA" + "7" * 32
    enqueue_caller(live_server, sid)
    date_wait(live_server, sid)
    amy = accept_a_call_that_is_over(live_server, sid)
    try:
        call = call_record(live_server, sid)
        assert (call.outcome, call.ended_at is not None) == ("abandoned", True)
    finally:
        amy.close()


def add_waiting_call(server: LiveServer, call_sid: str, waited: int) -> None:
    services = services_of(server)
    with services.database.session() as session:
        call = open_call(session, call_sid=call_sid, from_raw="+8613900139000",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        call.queue, call.outcome = "support", "queued"
        call.enqueued_at = utcnow() - timedelta(seconds=waited)


def test_callers_waiting_past_max_wait_are_checked_with_twilio(live_server, crew) -> None:
    services = services_of(live_server)
    board = services.extras["simulator_switchboard"]
    max_wait = services.settings.queues["support"].max_wait
    gone = start_caller(live_server.app, live_server.url, "+8613900139001", IVR_TO_SUPPORT,
                        hold_seconds=5)  # fmt: skip
    gone.result()
    forget_hang_up(live_server, gone.call_sid, waited=max_wait + 60)
    live = start_caller(live_server.app, live_server.url, "+8613900139002", IVR_TO_SUPPORT,
                        hold_seconds=3000)  # fmt: skip
    for _ in range(200):
        with services.database.session() as session:
            if get_call(session, live.call_sid) and get_call(session, live.call_sid).outcome:
                break
        board.wait(live.call_sid, timeout=0.05)
    assert call_record(live_server, live.call_sid).outcome == "queued"
    forget_hang_up(live_server, live.call_sid, waited=max_wait + 60)  # still on the line
    unknown, recent = "CA" + "8" * 32, "CA" + "9" * 32
    add_waiting_call(live_server, unknown, waited=max_wait + 60)  # Twilio: 20404
    add_waiting_call(live_server, recent, waited=60)  # not overdue: not asked about
    before = len(board.requests)

    upkeep = services.extras["realtime"].call_upkeep
    upkeep.reconcile_waiting_calls()  # every 30 s in the dispatcher loop

    assert call_record(live_server, gone.call_sid).outcome == "abandoned"
    assert call_record(live_server, gone.call_sid).status == "completed"
    assert call_record(live_server, unknown).outcome == "abandoned"
    assert call_record(live_server, live.call_sid).outcome == "queued"
    assert call_record(live_server, recent).outcome == "queued"
    asked = {r.path.rsplit("/", 1)[-1] for r in board.requests[before:] if r.method == "GET"}
    assert asked == {f"{gone.call_sid}.json", f"{live.call_sid}.json", f"{unknown}.json"}
    with services.database.session() as session:
        assert queue_summary(session, services)[0]["waiting"] == 2
    board.get_call(live.call_sid).hangup("test over")


def test_a_caller_gone_while_their_agent_never_answered_is_ended(live_server, crew) -> None:
    """The agent's phone was never answered and the caller hung up meanwhile, unheard: the
    caller cannot be moved back to the queue (20404), so the call ends; before, the move
    was retried every second forever with the agent stuck on-call."""
    services = services_of(live_server)
    sid = "CA" + "b" * 32
    add_waiting_call(live_server, sid, waited=30)
    with services.database.session() as session:
        call = get_call(session, sid)
        call.outcome, call.agent_id, call.answered_at = "answered", crew["amy"], utcnow()
        call.dequeued_at = utcnow()
        call.context = {**call.context, "agent_leg_failed": "no-answer"}
        amy = session.get(Agent, crew["amy"])
        amy.status, amy.current_call_sid = "on-call", sid
    services.extras["realtime"].call_upkeep.recover_unanswered_bridges()
    call = call_record(live_server, sid)
    assert (call.outcome, call.agent_id, call.ended_at is not None) == ("abandoned", None, True)
    with services.database.session() as session:
        amy = session.get(Agent, crew["amy"])
        assert (amy.status, amy.status_reason) == ("away", "missed a call")


# -- consoles -----------------------------------------------------------------------------


def test_open_consoles_refresh_their_heartbeat_in_one_statement(live_server, crew) -> None:
    services = services_of(live_server)
    realtime = services.extras["realtime"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):
            console.wait_for("agent:state")
        with services.database.session() as session:
            seen = {a.username: a.console_seen_at for a in session.scalars(select(Agent))}
        assert all(seen.values())  # connecting counts as a heartbeat
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(services.database.engine, "before_cursor_execute", record)
        try:
            realtime.refresh_consoles()
        finally:
            event.remove(services.database.engine, "before_cursor_execute", record)
        updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
        assert len(updates) == 1 and "console_seen_at" in updates[0]
        with services.database.session() as session:
            later = {a.username: a.console_seen_at for a in session.scalars(select(Agent))}
        assert all(later[name] > seen[name] for name in ("amy", "bob"))
        amy.close()
        for _ in range(100):
            with services.database.session() as session:
                if session.get(Agent, crew["amy"]).console_seen_at is None:
                    break
            time.sleep(0.05)
        with services.database.session() as session:
            assert session.get(Agent, crew["amy"]).console_seen_at is None  # closed: no console
            assert session.get(Agent, crew["bob"]).console_seen_at is not None
    finally:
        bob.close()


def test_an_offer_to_a_console_that_went_silent_moves_on(live_server, crew) -> None:
    """A console whose heartbeat stops (its process died) loses its offer and goes
    offline; the next agent gets the call."""
    services = services_of(live_server)
    realtime = services.extras["realtime"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        for console in (amy, bob):  # amy becomes available first: idle longest
            console.wait_for("agent:state")
            assert console.call("agent:status", {"status": "available"})["ok"]
        sid = "CA" + "a" * 32
        enqueue_caller(live_server, sid)
        date_wait(live_server, sid)
        realtime.run_once()
        amy.wait_for("call:offer", call_sid=sid)
        # Her console's process dies: nobody refreshes her heartbeat, now 20 s old.
        realtime.consoles = lambda: [crew["bob"]]
        with services.database.session() as session:
            session.get(Agent, crew["amy"]).console_seen_at = utcnow() - timedelta(seconds=20)
        realtime.run_once()
        assert amy.wait_for("call:ended", call_sid=sid)["reason"] == "agent left"
        amy.wait_for("agent:state", status="offline")
        bob.wait_for("call:offer", call_sid=sid)
        with services.database.session() as session:
            offer = session.scalar(select(CallOffer).where(CallOffer.agent_id == crew["amy"]))
            assert (offer.status, offer.reason) == ("withdrawn", "agent left")
    finally:
        amy.close()
        bob.close()


# -- open calls whose hang-up was lost ------------------------------------------------------


def connect_to(server: LiveServer, call_sid: str, agent_id: int) -> None:
    """The call is (as far as the record goes) connected to the agent, who is on it."""
    with services_of(server).database.session() as session:
        call = get_call(session, call_sid)
        call.outcome, call.agent_id, call.status = "answered", agent_id, "in-progress"
        call.dequeued_at = call.answered_at = utcnow()
        agent = session.get(Agent, agent_id)
        agent.status, agent.current_call_sid = "on-call", call_sid


def go_quiet(server: LiveServer, call_sid: str, seconds: int) -> None:
    """Nothing has been heard of the call (no webhook, no event) for `seconds`."""
    with services_of(server).database.session() as session:
        past = utcnow() - timedelta(seconds=seconds)
        call = get_call(session, call_sid)
        call.started_at = call.enqueued_at = call.dequeued_at = past
        if call.answered_at is not None:
            call.answered_at = past
        for row in session.scalars(select(CallEvent).where(CallEvent.call_sid == call_sid)):
            row.at = past


def rest_checks(board, since: int) -> set[str]:
    return {
        r.path.rsplit("/", 1)[-1].removesuffix(".json")
        for r in board.requests[since:]
        if r.method == "GET" and "/Calls/" in r.path
    }


def test_a_connected_call_whose_hang_up_was_lost_is_ended(live_server, crew) -> None:
    """The simulator (Twilio) was restarted during a connected call: it no longer knows the
    call (20404) and its status callback will never come. Before, the call stayed live on
    the wallboard for hours and amy stayed on it; now the upkeep asks Twilio and ends it as
    the status callback would: amy goes to wrap-up and her console hears call:ended."""
    services = services_of(live_server)
    board = services.extras["simulator_switchboard"]
    upkeep = services.extras["realtime"].call_upkeep
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        lost = "CA" + "c" * 32
        add_waiting_call(live_server, lost, waited=30)
        connect_to(live_server, lost, crew["amy"])
        recent = "CA" + "d" * 32  # connected a minute ago: too soon to ask about
        add_waiting_call(live_server, recent, waited=30)
        connect_to(live_server, recent, crew["bob"])
        go_quiet(live_server, recent, 60)
        go_quiet(live_server, lost, 3 * 3600)
        before = len(board.requests)

        upkeep.reconcile_calls()  # every RECONCILE_SECONDS in the dispatcher loop

        assert rest_checks(board, before) == {lost}
        assert amy.wait_for("call:ended", call_sid=lost)["reason"] == "completed"
        call = call_record(live_server, lost)
        assert (call.status, call.ended_at is not None) == ("completed", True)
        # It ended when it was last heard of, not three hours later when the loss was
        # found: the ghost hours are not counted as amy's talk time.
        assert abs((call.ended_at - call.answered_at).total_seconds()) < 5
        assert call_record(live_server, recent).ended_at is None
        with services.database.session() as session:
            agent = session.get(Agent, crew["amy"])
            # Her wrap-up, timed from the call's end, is over at once (the dispatcher may
            # already have made her available again).
            assert agent.status in ("wrap-up", "available")
            kinds = session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == lost))
            assert "call.lost_hangup" in set(kinds)
        # The real callback arriving later changes nothing more.
        with services.database.session() as session:
            from callcenter.calls.recovery import end_lost_call

            again = end_lost_call(session, services.settings, lost, "completed", 10, utcnow())
            assert not again.ended and not again.agents
    finally:
        amy.close()


def test_a_connected_call_still_up_at_twilio_is_left_alone(live_server, crew) -> None:
    services = services_of(live_server)
    board = services.extras["simulator_switchboard"]
    upkeep = services.extras["realtime"].call_upkeep
    live = start_caller(live_server.app, live_server.url, "+8613900139003", IVR_TO_SUPPORT,
                        hold_seconds=3000)  # fmt: skip
    for _ in range(200):
        with services.database.session() as session:
            if get_call(session, live.call_sid) and get_call(session, live.call_sid).outcome:
                break
        board.wait(live.call_sid, timeout=0.05)
    try:
        connect_to(live_server, live.call_sid, crew["amy"])
        go_quiet(live_server, live.call_sid, 3600)
        before = len(board.requests)
        upkeep.reconcile_calls()
        assert rest_checks(board, before) == {live.call_sid}
        call = call_record(live_server, live.call_sid)
        assert (call.outcome, call.ended_at) == ("answered", None)
        with services.database.session() as session:
            assert session.get(Agent, crew["amy"]).status == "on-call"
        before = len(board.requests)
        upkeep.reconcile_calls()  # just checked: not asked again for a while
        assert rest_checks(board, before) == set()
    finally:
        board.get_call(live.call_sid).hangup("test over")


def test_open_calls_checked_per_pass_are_bounded(live_server, crew) -> None:
    """A thousand calls may be up: each pass asks Twilio about a few, the quietest first."""
    from callcenter.calls.recovery import LOST_CALL_CHECKS_PER_PASS as per_pass

    services = services_of(live_server)
    board = services.extras["simulator_switchboard"]
    upkeep = services.extras["realtime"].call_upkeep
    sids = [f"CA{n:032x}" for n in range(per_pass + 5)]
    for n, sid in enumerate(sids):
        add_waiting_call(live_server, sid, waited=30)
        connect_to(live_server, sid, crew["amy"])
        go_quiet(live_server, sid, 7200 - n)  # the first is the quietest
    before = len(board.requests)
    upkeep.reconcile_calls()
    assert rest_checks(board, before) == set(sids[:per_pass])
    before = len(board.requests)
    upkeep.reconcile_calls()
    assert rest_checks(board, before) == set(sids[per_pass:])
    with services.database.session() as session:
        assert all(get_call(session, sid).ended_at is not None for sid in sids)
