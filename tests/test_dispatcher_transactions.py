"""A dispatcher pass holds the write lock one offer at a time (issue 14: a pass making all
its offers in one write transaction was the longest holder of SQLite's write lock, and
every webhook waited behind it)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from conftest import TwilioWebhooks, call_params
from flask import Flask
from sqlalchemy import event, func, select

from callcenter.calls.records import get_call, open_call
from callcenter.models import Agent, CallOffer, utcnow
from callcenter.people.agents import create_agent


def waiting_calls_and_free_agents(app: Flask, count: int, agents: int = 0) -> list[str]:
    """`count` callers waiting in the support queue and as many available agents with a
    live console (or `agents`); the callers' SIDs, in the order they are served."""
    database = app.extensions["callcenter"].database
    sids = []
    with database.session() as session:
        for n in range(agents or count):
            agent = create_agent(session, username=f"agent{n}", display_name=f"Agent {n}",
                                 agent_number=str(2001 + n), password="secret-password-1",
                                 skills=["support"])  # fmt: skip
            agent.status, agent.console_seen_at = "available", utcnow()
        for n in range(count):
            sid = "CA" + uuid.uuid4().hex
            call = open_call(session, call_sid=sid, from_raw=f"+86139001390{n:02d}",
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            call.queue, call.queue_priority, call.outcome = "support", 10, "queued"
            call.enqueued_at = utcnow()
            sids.append(sid)
    return sids


def write_transactions(app: Flask, step: Any) -> list[list[str]]:
    """The statements of each write transaction `step` ran (read sessions left out)."""
    engine = app.extensions["callcenter"].database.engine
    open_ones: dict[int, list[str]] = {}
    done: list[list[str]] = []

    def began(connection: Any) -> None:
        if not connection.get_execution_options().get("callcenter_read_only"):
            open_ones[id(connection)] = []

    def executed(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if id(connection) in open_ones:
            open_ones[id(connection)].append(statement)

    def ended(connection: Any) -> None:
        statements = open_ones.pop(id(connection), None)
        if statements is not None:
            done.append(statements)

    hooks = [("begin", began), ("before_cursor_execute", executed), ("commit", ended),
             ("rollback", ended)]  # fmt: skip
    for name, hook in hooks:
        event.listen(engine, name, hook)
    try:
        step()
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)
    return done


def test_a_pass_commits_each_offer_in_a_transaction_of_its_own(app: Flask) -> None:
    realtime = app.extensions["callcenter"].extras["realtime"]
    sids = waiting_calls_and_free_agents(app, 5)
    changes = None

    def one_pass() -> None:
        nonlocal changes
        changes = realtime.run_once()

    transactions = write_transactions(app, one_pass)
    assert changes is not None
    assert sorted(sid for _agent, sid in changes.offers) == sorted(sids)
    offers_per_transaction = [
        sum(1 for statement in statements if statement.startswith("INSERT INTO call_offers"))
        for statements in transactions
    ]
    assert sum(offers_per_transaction) == 5
    assert max(offers_per_transaction) == 1, offers_per_transaction


def test_a_webhook_writes_between_two_offers_of_one_pass(app: Flask) -> None:
    """Once the pass's first offer is committed, a webhook that writes (a new call) gets the
    write lock and is answered before the pass makes its second offer."""
    services = app.extensions["callcenter"]
    database, realtime = services.database, services.extras["realtime"]
    waiting_calls_and_free_agents(app, 2)
    twilio = TwilioWebhooks(app.test_client())
    new_sid = "CA" + uuid.uuid4().hex
    seen: dict[str, Any] = {}
    dispatcher = threading.current_thread()

    def webhook() -> None:
        answer = twilio.post("/twilio/voice", call_params(new_sid, CallStatus="ringing"))
        seen["status"] = answer.status_code

    def after_commit(_session: Any) -> None:
        if "offers" in seen or threading.current_thread() is not dispatcher:
            return
        with database.read_session() as session:
            offers = session.scalar(select(func.count()).select_from(CallOffer))
        if not offers:
            return  # not an offer's commit
        seen["offers"] = offers
        thread = threading.Thread(target=webhook)
        thread.start()
        thread.join(30)  # bounded: a webhook waiting for this pass's lock would never end
        seen["answered"] = not thread.is_alive()

    event.listen(database.sessions, "after_commit", after_commit)
    try:
        changes = realtime.run_once()
    finally:
        event.remove(database.sessions, "after_commit", after_commit)
    assert len(changes.offers) == 2
    assert seen["offers"] == 1  # the webhook came after the first offer, before the second
    assert seen["answered"] and seen["status"] == 200
    with database.read_session() as session:
        assert get_call(session, new_sid) is not None


def test_each_offer_is_announced_before_the_next_is_written(app: Flask) -> None:
    """A screen-pop does not wait for the pass's other offers: each offer's changes are
    announced (its `call:offer` emitted, then the listeners told) once it is committed."""
    services = app.extensions["callcenter"]
    database, realtime = services.database, services.extras["realtime"]
    sids = waiting_calls_and_free_agents(app, 3)
    told: list[tuple[list[str], int]] = []

    def listener(changes: Any) -> None:
        with database.read_session() as session:
            written = session.scalar(select(func.count()).select_from(CallOffer))
        told.append(([sid for _agent, sid in changes.offers], written))

    realtime.listeners.append(listener)
    try:
        realtime.run_once()
    finally:
        realtime.listeners.remove(listener)
    assert [(offered, written) for offered, written in told if offered] == [
        ([sids[0]], 1),
        ([sids[1]], 2),
        ([sids[2]], 3),
    ]


def test_a_call_whose_agents_were_all_taken_meanwhile_is_offered_to_the_next(app: Flask) -> None:
    """The agents read for a call can be taken before its offer is written (the read holds
    no lock): the offer finds them gone, the agents are read again, and the caller is
    offered to the next free one in this pass, not skipped."""
    services = app.extensions["callcenter"]
    database, realtime = services.database, services.extras["realtime"]
    (sid,) = waiting_calls_and_free_agents(app, 1, agents=4)  # agent0..2 read, agent3 not
    taken: list[bool] = []

    def take_them() -> None:
        with database.session() as session:
            for agent in session.scalars(select(Agent).where(Agent.username != "agent3")):
                agent.status = "away"

    def executed(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        read = connection.get_execution_options().get("callcenter_read_only")
        if read and "agents.idle_since" in statement and not taken:
            taken.append(True)  # the ranking was just read: three agents go away meanwhile
            thread = threading.Thread(target=take_them)
            thread.start()
            thread.join(30)

    event.listen(database.engine, "after_cursor_execute", executed)
    try:
        changes = realtime.run_once()
    finally:
        event.remove(database.engine, "after_cursor_execute", executed)
    assert taken
    with database.read_session() as session:
        last = session.scalar(select(Agent.id).where(Agent.username == "agent3"))
    assert changes.offers == [(last, sid)]
