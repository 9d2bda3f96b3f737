"""Two processes dispatching and accepting on one database: nothing offered twice, no call
accepted twice, nothing lost (PostgreSQL row locks, SQLite exclusive write transactions)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from conftest import OPEN_TIME
from sqlalchemy import select
from test_routing import make_agent, make_call

from callcenter.config import load_settings
from callcenter.db import Database
from callcenter.models import Agent, Call, CallEvent, CallOffer

CALLS = 30
AGENTS = 20


def _worker(url: str, instance: str, rounds: int, results: multiprocessing.Queue) -> None:
    from callcenter.calls.routing import RoutingError, accept, offer_waiting

    settings = load_settings(overrides={"instance_dir": instance})
    database = Database(url)
    won = 0
    try:
        for round_number in range(rounds):
            now = OPEN_TIME + timedelta(seconds=round_number)
            offer_waiting(database.read_session, database.session, settings, lambda at=now: at)
            with database.session() as session:
                offered = [
                    (offer.agent_id, offer.call_sid)
                    for offer in session.scalars(
                        select(CallOffer).where(CallOffer.status == "offered")
                    )
                ]
            for agent_id, call_sid in offered:
                try:
                    with database.session() as session:
                        accept(session, agent_id, call_sid, now)
                    won += 1
                except RoutingError:
                    pass
        results.put(("ok", won))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        database.dispose()


def test_two_processes_never_double_assign(database_url, tmp_path):
    setup = Database(database_url)
    with setup.session() as session:
        for index in range(AGENTS):
            make_agent(session, f"agent{index:02d}", idle_minutes=index)
        for index in range(CALLS):
            make_call(
                session, "0", priority=10 + index % 3, waited=index, call_sid=f"CA{index:032x}"
            )
    setup.dispose()

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(database_url, str(tmp_path / "i"), 12, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert [kind for kind, _value in outcomes] == ["ok", "ok"], outcomes

    check = Database(database_url)
    try:
        with check.session() as session:
            accepted = session.scalars(
                select(CallOffer).where(CallOffer.status == "accepted")
            ).all()
            per_call = Counter(offer.call_sid for offer in accepted)
            per_agent = Counter(offer.agent_id for offer in accepted)
            assert max(per_call.values()) == 1  # no call bridged to two agents
            assert max(per_agent.values()) == 1  # no agent given two calls
            total_won = sum(value for _kind, value in outcomes)
            assert total_won == len(accepted) == AGENTS  # every agent got exactly one call
            answered = session.scalars(select(Call).where(Call.outcome == "answered")).all()
            waiting = session.scalars(select(Call).where(Call.outcome == "queued")).all()
            assert len(answered) == AGENTS and len(waiting) == CALLS - AGENTS  # nothing lost
            assert {call.agent_id for call in answered} == set(
                session.scalars(select(Agent.id)).all()
            )
            # The highest-priority callers were served first.
            assert sorted(call.queue_priority for call in waiting) == [10] * (CALLS - AGENTS)
    finally:
        check.dispose()


def test_a_call_accepted_while_a_pass_reads_is_not_offered_again(database_url, tmp_path):
    """Another process's dispatcher read the call as waiting, with its agents; before it
    locked the call to offer it, this process offered it and the agent accepted. When the
    pass then locks the row it must see the accept, not what it read (the churn run on the
    cluster offered accepted calls a second time)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks between two sessions: PostgreSQL only")
    from conftest import dispatch
    from sqlalchemy import event

    from callcenter.calls.routing import accept, offer_call

    settings = load_settings(overrides={"instance_dir": str(tmp_path / "i")})
    database = Database(database_url)
    sid = "CA" + "0" * 32
    try:
        with database.session() as session:
            first = make_agent(session, "first", idle_minutes=5)
            make_agent(session, "second")
            call_id = make_call(session, "0").id
            first_id = first.id
        accepted: list[bool] = []

        def accept_before_the_lock(conn, cursor, statement, params, context, many):
            # The pass's offer begins with the dispatchers' lock: it has read the call and
            # its agents by now, and locks the call next.
            if "pg_advisory_xact_lock" in statement and not accepted:
                accepted.append(True)
                with database.session() as other:  # another process offers, its agent accepts
                    assert offer_call(other, settings, call_id, [first_id], OPEN_TIME).offers
                with database.session() as other:
                    accept(other, first_id, sid, OPEN_TIME)

        event.listen(database.engine, "before_cursor_execute", accept_before_the_lock)
        try:
            with database.session() as session:
                dispatch(session, settings, OPEN_TIME + timedelta(seconds=1))
        finally:
            event.remove(database.engine, "before_cursor_execute", accept_before_the_lock)
        assert accepted == [True]
        with database.session() as session:
            rows = session.scalars(select(CallOffer).order_by(CallOffer.id)).all()
            assert [(row.agent_id, row.status) for row in rows] == [(first_id, "accepted")]
            second = session.scalar(select(Agent).where(Agent.username == "second"))
            assert second.status == "available"
    finally:
        database.dispose()


def test_an_offer_expires_once_when_two_processes_expire_it(database_url, tmp_path):
    """Two dispatchers find the same offer past its time at once: one expires it, the other
    skips it (the cluster logged `agent.expired` twice for one offer)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks between two sessions: PostgreSQL only")
    import threading

    from conftest import dispatch

    from callcenter.calls.routing import expire_offers

    settings = load_settings(overrides={"instance_dir": str(tmp_path / "i")})
    database = Database(database_url)
    sid = "CA" + "0" * 32
    try:
        with database.session() as session:
            make_agent(session, "first")
            make_call(session, "0")
            assert dispatch(session, settings, OPEN_TIME).offers
        late = OPEN_TIME + timedelta(hours=1)
        other: list[Any] = []

        def other_process() -> None:
            with database.session() as session:
                other.append(expire_offers(session, late))

        with database.session() as session:
            assert expire_offers(session, late).withdrawn
            session.flush()  # this process holds the offer's row, not committed yet
            thread = threading.Thread(target=other_process)
            thread.start()
            thread.join(timeout=1.0)
        thread.join(timeout=10)
        assert other and not other[0].withdrawn
        with database.session() as session:
            kinds = session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == sid))
            assert list(kinds).count("agent.expired") == 1
    finally:
        database.dispose()
