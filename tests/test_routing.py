"""Routing rules, straight on the domain with a real database: who gets which call, when."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from conftest import OPEN_TIME, dispatch
from sqlalchemy import select

from callcenter.calls.records import open_call
from callcenter.calls.recovery import drop_silent_consoles
from callcenter.calls.routing import (
    RoutingError,
    accept,
    agent_offline,
    call_finished,
    call_left_queue,
    decline,
    expire_offers,
    release_wrapups,
    upkeep,
    wrap_up,
)
from callcenter.config import load_settings
from callcenter.db import Database
from callcenter.models import Agent, Call, CallOffer, Customer
from callcenter.people.agents import CONSOLE_STALE_SECONDS, mark_consoles_seen, set_presence

NOW = OPEN_TIME


@pytest.fixture
def settings(tmp_path):
    return load_settings(overrides={"instance_dir": str(tmp_path / "instance")})


@pytest.fixture
def database(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def make_agent(session, username, skills=("support",), languages=(), idle_minutes=0, **kw):
    kw.setdefault("console_seen_at", NOW)  # a live console, as routing requires
    agent = Agent(
        username=username,
        display_name=username.title(),
        agent_number=str(1000 + len(session.scalars(select(Agent)).all()) + 24),
        password_hash="not-used",
        skills=list(skills),
        languages=list(languages),
        status="offline",
        status_since=NOW,
        active=True,
        **kw,
    )
    session.add(agent)
    session.flush()
    set_presence(agent, "available", NOW - timedelta(minutes=idle_minutes))
    return agent


def make_call(session, sid_digit, queue="support", priority=10, waited=0, language="en", **kw):
    call = open_call(
        session,
        call_sid="CA" + sid_digit * 32,
        from_raw="+8613900139000",
        to="+864008001234",
        flow="main",
        default_language=language,
    )
    call.queue = queue
    call.queue_priority = priority
    call.enqueued_at = NOW - timedelta(seconds=waited)
    call.outcome = "queued"
    for key, value in kw.items():
        setattr(call, key, value)
    session.flush()
    return call


def heartbeat(session, at):
    """Every agent's console is still open at `at` (what each serving process refreshes)."""
    mark_consoles_seen(session, session.scalars(select(Agent.id)).all(), at)


def offers(session):
    rows = session.scalars(select(CallOffer).where(CallOffer.status == "offered")).all()
    return sorted((row.agent.username, row.call_sid[2]) for row in rows)


def test_priority_order_and_longest_idle(database, settings):
    with database.session() as session:
        make_agent(session, "amy", idle_minutes=1)
        make_agent(session, "bob", idle_minutes=10)  # idle longest: gets the first call
        make_call(session, "1", priority=10, waited=120)
        make_call(session, "2", priority=60, waited=5)  # a VIP who just arrived
        make_call(session, "3", priority=10, waited=30)
        changes = dispatch(session, settings, NOW)
        assert offers(session) == [("amy", "1"), ("bob", "2")]
        assert {sid[2] for _agent, sid in changes.offers} == {"1", "2"}
        statuses = {a.username: a.status for a in session.scalars(select(Agent))}
        assert statuses == {"amy": "ringing", "bob": "ringing"}


def test_skills_and_language_filter_agents(database, settings):
    with database.session() as session:
        make_agent(session, "repair_only", skills=("repairs",), idle_minutes=30)
        make_agent(session, "english_only", skills=("support",), languages=("en",), idle_minutes=20)
        make_agent(session, "chinese", skills=("support",), languages=("zh-CN",), idle_minutes=1)
        make_call(session, "1", language="zh-CN")
        dispatch(session, settings, NOW)
        assert offers(session) == [("chinese", "1")]


def test_no_double_offer_and_round_trip_of_decline(database, settings):
    with database.session() as session:
        make_agent(session, "amy", idle_minutes=5)
        make_agent(session, "bob", idle_minutes=1)
        call = make_call(session, "1")
        dispatch(session, settings, NOW)
        dispatch(session, settings, NOW)  # a second pass offers nothing new
        assert offers(session) == [("amy", "1")]
        amy = session.scalar(select(Agent).where(Agent.username == "amy"))
        changes = decline(session, amy.id, call.call_sid, NOW)
        assert changes.withdrawn == [(amy.id, call.call_sid, "declined")]
        assert (amy.status, amy.status_reason) == ("away", "declined a call")
        dispatch(session, settings, NOW)
        assert offers(session) == [("bob", "1")]


def test_unanswered_offer_expires_and_moves_on(database, settings):
    with database.session() as session:
        make_agent(session, "amy", idle_minutes=5)
        make_agent(session, "bob", idle_minutes=1)
        make_call(session, "1")
        dispatch(session, settings, NOW)
        timeout = settings.queues["support"].offer_timeout
        assert expire_offers(session, NOW + timedelta(seconds=timeout - 1)).withdrawn == []
        later = NOW + timedelta(seconds=timeout)
        heartbeat(session, later)
        upkeep(session, later)  # the dispatcher's pass: the offer expires, then offers
        dispatch(session, settings, later)
        assert offers(session) == [("bob", "1")]
        amy = session.scalar(select(Agent).where(Agent.username == "amy"))
        assert (amy.status, amy.status_reason) == ("away", "missed a call")


def test_accept_bridges_once_and_wrapup_frees_the_agent(database, settings):
    with database.session() as session:
        amy = make_agent(session, "amy")
        call = make_call(session, "1", waited=40)
        dispatch(session, settings, NOW)
        accept(session, amy.id, call.call_sid, NOW)
        assert (call.outcome, call.agent_id, call.queue_wait_seconds) == ("answered", amy.id, 40)
        assert amy.status == "on-call"
        with pytest.raises(RoutingError, match="no longer offered"):
            accept(session, amy.id, call.call_sid, NOW)
        with pytest.raises(RoutingError, match="still going on"):
            wrap_up(session, settings, amy.id, call.call_sid, "resolved", "", NOW)
        call.ended_at = NOW + timedelta(minutes=3)
        call_finished(session, settings, call, NOW + timedelta(minutes=3))
        assert amy.status == "wrap-up"
        with pytest.raises(RoutingError, match="unknown disposition"):
            wrap_up(session, settings, amy.id, call.call_sid, "made-up", "", NOW)
        wrap_up(session, settings, amy.id, call.call_sid, "repair_booked", " Booked #42 ", NOW)
        assert (call.disposition, call.wrapup_notes) == ("repair_booked", "Booked #42")
        assert amy.status == "available"


def test_wrapup_ends_by_itself(database, settings):
    with database.session() as session:
        amy = make_agent(session, "amy")
        call = make_call(session, "1")
        dispatch(session, settings, NOW)
        accept(session, amy.id, call.call_sid, NOW)
        call_finished(session, settings, call, NOW)
        seconds = settings.queues["support"].wrapup_seconds
        release_wrapups(session, NOW + timedelta(seconds=seconds - 1))
        assert amy.status == "wrap-up"
        heartbeat(session, NOW + timedelta(seconds=seconds))
        release_wrapups(session, NOW + timedelta(seconds=seconds))
        assert amy.status == "available"


def test_caller_hanging_up_while_ringing_frees_the_agent(database, settings):
    with database.session() as session:
        amy = make_agent(session, "amy")
        call = make_call(session, "1")
        dispatch(session, settings, NOW)
        call.outcome = "abandoned"
        call_left_queue(session, call.call_sid, NOW)
        assert offers(session) == []
        assert amy.status == "available"
        with pytest.raises(RoutingError):
            accept(session, amy.id, call.call_sid, NOW)


def test_closing_the_console_moves_the_offer_on(database, settings):
    with database.session() as session:
        amy = make_agent(session, "amy", idle_minutes=5)
        make_agent(session, "bob", idle_minutes=1)
        make_call(session, "1")
        dispatch(session, settings, NOW)
        agent_offline(session, amy, NOW)
        assert amy.status == "offline"
        dispatch(session, settings, NOW)
        assert offers(session) == [("bob", "1")]


def test_preferred_agent_first_then_everyone(database, settings):
    with database.session() as session:
        manager = make_agent(session, "manager", idle_minutes=0)
        make_agent(session, "other", idle_minutes=30)
        set_presence(manager, "on-call", NOW)  # busy for now
        customer = Customer(name="Big Retailer", tier="vip", account_manager_id=manager.id)
        session.add(customer)
        session.flush()
        call = make_call(session, "1", customer=customer)
        dispatch(session, settings, NOW)
        assert offers(session) == []  # waits for the account manager
        set_presence(manager, "available", NOW)
        dispatch(session, settings, NOW)
        assert offers(session) == [("manager", "1")]
        decline(session, manager.id, call.call_sid, NOW)
        window = settings.queues["support"].preferred_agent_seconds
        heartbeat(session, NOW + timedelta(seconds=window))
        dispatch(session, settings, NOW + timedelta(seconds=window))  # window over: anyone
        assert offers(session) == [("other", "1")]


def test_ring_all_offers_everyone_and_one_accept_wins(database, settings):
    with database.session() as session:
        agents = [make_agent(session, name, skills=("vip",)) for name in ("amy", "bob", "cat")]
        call = make_call(session, "1", queue="vip", priority=100)
        dispatch(session, settings, NOW)
        assert offers(session) == [("amy", "1"), ("bob", "1"), ("cat", "1")]
        changes = accept(session, agents[1].id, call.call_sid, NOW)
        assert sorted(agent for agent, _sid, _why in changes.withdrawn) == [
            agents[0].id,
            agents[2].id,
        ]
        assert [a.status for a in agents] == ["available", "on-call", "available"]
        with pytest.raises(RoutingError):
            accept(session, agents[0].id, call.call_sid, NOW)


def test_many_agents_racing_to_accept_one_call(database_url, settings):
    """Ring-all to 8 agents, each accepting from its own connection at once: one winner."""
    setup = Database(database_url)
    with setup.session() as session:
        agents = [make_agent(session, f"agent{i}", skills=("vip",)) for i in range(8)]
        ids = [agent.id for agent in agents]
        call = make_call(session, "7", queue="vip")
        sid = call.call_sid
        dispatch(session, settings, NOW)
    setup.dispose()

    barrier = threading.Barrier(len(ids))
    results: dict[int, str] = {}

    def racer(agent_id: int) -> None:
        database = Database(database_url)
        try:
            barrier.wait()
            with database.session() as session:
                accept(session, agent_id, sid, NOW)
            results[agent_id] = "won"
        except RoutingError:
            results[agent_id] = "lost"
        finally:
            database.dispose()

    threads = [threading.Thread(target=racer, args=(agent_id,)) for agent_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results.values()) == ["lost"] * 7 + ["won"]
    check = Database(database_url)
    with check.session() as session:
        winner = next(agent_id for agent_id, result in results.items() if result == "won")
        call = session.scalar(select(Call).where(Call.call_sid == sid))
        assert call.agent_id == winner and call.outcome == "answered"
        statuses = sorted(a.status for a in session.scalars(select(Agent)))
        assert statuses == ["available"] * 7 + ["on-call"]
        accepted = session.scalars(select(CallOffer).where(CallOffer.status == "accepted")).all()
        assert len(accepted) == 1
    check.dispose()


# -- consoles that died without closing (a heartbeat in the database) ----------------------


def test_only_agents_with_a_live_console_are_offered_calls(database, settings):
    with database.session() as session:
        make_agent(session, "crashed", idle_minutes=30, console_seen_at=None)
        silent = NOW - timedelta(seconds=CONSOLE_STALE_SECONDS + 1)
        make_agent(session, "silent", idle_minutes=20, console_seen_at=silent)
        make_agent(session, "live", idle_minutes=1)
        make_call(session, "1")
        dispatch(session, settings, NOW)
        assert offers(session) == [("live", "1")]


def test_heartbeats_from_before_the_process_started_do_not_count(database, settings):
    """After a crash and a quick restart the dead consoles' heartbeats are still recent:
    the restarted process trusts only heartbeats written since it started."""
    started = NOW - timedelta(seconds=2)
    with database.session() as session:
        make_agent(session, "dead", idle_minutes=30, console_seen_at=started - timedelta(seconds=3))
        make_agent(session, "reconnected", idle_minutes=1, console_seen_at=started)
        make_call(session, "1")
        upkeep(session, NOW)
        dispatch(session, settings, NOW, consoles_since=started)
        assert offers(session) == [("reconnected", "1")]


def test_a_silent_console_is_taken_out_of_routing_and_its_offer_moves_on(database, settings):
    with database.session() as session:
        amy = make_agent(session, "amy", idle_minutes=5)
        bob = make_agent(session, "bob", idle_minutes=1)
        idle = make_agent(session, "idle", skills=("repairs",))
        make_call(session, "1")
        dispatch(session, settings, NOW)
        assert offers(session) == [("amy", "1")]
        later = NOW + timedelta(seconds=CONSOLE_STALE_SECONDS + 1)
        mark_consoles_seen(session, [bob.id], later)  # amy's and idle's consoles went silent
        changes = drop_silent_consoles(session, later)
        assert changes.withdrawn == [(amy.id, "CA" + "1" * 32, "agent left")]
        assert changes.agents == {amy.id, idle.id}
        assert (amy.status, idle.status, bob.status) == ("offline", "offline", "available")
        dispatch(session, settings, later)
        assert offers(session) == [("bob", "1")]
        assert not drop_silent_consoles(session, later)  # nothing left to do


def test_wrapup_without_a_console_ends_offline_not_available(database, settings):
    with database.session() as session:
        amy = make_agent(session, "amy")
        bob = make_agent(session, "bob")
        for agent, digit in ((amy, "1"), (bob, "2")):
            call = make_call(session, digit)
            session.add(CallOffer(call_sid=call.call_sid, agent_id=agent.id, offered_at=NOW,
                                  expires_at=NOW + timedelta(seconds=15)))  # fmt: skip
            session.flush()
            accept(session, agent.id, call.call_sid, NOW)
            call_finished(session, settings, call, NOW)
        amy.console_seen_at = None  # her console closed during the call
        seconds = settings.queues["support"].wrapup_seconds
        later = NOW + timedelta(seconds=seconds)
        mark_consoles_seen(session, [bob.id], later)
        changes = release_wrapups(session, later)
        assert changes.agents == {amy.id, bob.id}
        assert (amy.status, bob.status) == ("offline", "available")


def test_no_wrapup_time_and_no_console_means_offline(database, settings):
    settings.queues["support"] = settings.queues["support"].model_copy(update={"wrapup_seconds": 0})
    with database.session() as session:
        amy = make_agent(session, "amy")
        call = make_call(session, "1")
        dispatch(session, settings, NOW)
        accept(session, amy.id, call.call_sid, NOW)
        amy.console_seen_at = None  # her console closed during the call
        call_finished(session, settings, call, NOW)
        assert amy.status == "offline"


def test_offering_stops_once_every_agent_is_ringing(database, settings):
    """A backlog of callers does not lengthen the pass's write: once nobody is left
    available, the callers behind are not looked at (they could only wait)."""
    from sqlalchemy import event, update

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def statements_of_a_pass(agent: str, digits: str) -> int:
        with database.session() as session:  # the callers and agent before are gone
            session.execute(update(Call).values(outcome="abandoned", dequeued_at=NOW))
            session.execute(update(CallOffer).values(status="withdrawn"))
            session.execute(update(Agent).values(status="offline"))
            make_agent(session, agent)
            for rank, digit in enumerate(digits):
                make_call(session, digit, waited=100 - rank)
            statements.clear()
            event.listen(database.engine, "before_cursor_execute", count)
            try:
                changes = dispatch(session, settings, NOW)
            finally:
                event.remove(database.engine, "before_cursor_execute", count)
            assert [sid[2] for _agent, sid in changes.offers] == [digits[0]]  # waited longest
            return len(statements)

    assert statements_of_a_pass("amy", "12") == statements_of_a_pass("bob", "3456789abcde")
