"""A screen-pop leaves as soon as its offer is committed (issue 14: in the cluster the pop's
content, read from the database after the commit, was most of the pop's latency, and the
offer's time to answer was already running while it was read)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from test_dispatcher_transactions import waiting_calls_and_free_agents

import callcenter.screenpop
from callcenter.calls.records import get_call
from callcenter.models import Agent, CallOffer, utcnow
from callcenter.screenpop import offer_payload

SLOW = 0.3  # seconds the knowledge suggestions take in these tests


def test_the_pop_is_not_read_after_its_offer_commits(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However long the pop's content takes to read, it is read before the offer is
    written: the `call:offer` emit follows the offer's commit at once, and it carries the
    committed offer's expiry."""
    services = app.extensions["callcenter"]
    database, realtime = services.database, services.extras["realtime"]
    (sid,) = waiting_calls_and_free_agents(app, 1)
    suggest = callcenter.screenpop.suggest

    def slow_suggest(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW)
        return suggest(*args, **kwargs)

    monkeypatch.setattr(callcenter.screenpop, "suggest", slow_suggest)
    commits: list[float] = []
    offering: list[bool] = []

    def executed(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CALL_OFFERS"):
            offering.append(True)

    def committed(_connection: Any) -> None:
        if offering:
            offering.clear()
            commits.append(time.monotonic())

    pops: list[tuple[float, dict[str, Any]]] = []
    emit = realtime.socketio.emit

    def recording_emit(name: str, data: Any = None, **kwargs: Any) -> Any:
        if name == "call:offer":
            pops.append((time.monotonic(), data))
        return emit(name, data, **kwargs)

    monkeypatch.setattr(realtime.socketio, "emit", recording_emit)
    event.listen(database.engine, "after_cursor_execute", executed)
    event.listen(database.engine, "commit", committed)
    try:
        realtime.run_once()
    finally:
        event.remove(database.engine, "after_cursor_execute", executed)
        event.remove(database.engine, "commit", committed)
    assert len(commits) == 1 and len(pops) == 1
    (emitted_at, pop), committed_at = pops[0], commits[0]
    assert emitted_at - committed_at < SLOW / 3, "the pop was read after the offer committed"
    with database.read_session() as session:
        offer = session.scalar(select(CallOffer).where(CallOffer.call_sid == sid))
        agent = session.get(Agent, offer.agent_id)
        monkeypatch.setattr(callcenter.screenpop, "suggest", suggest)
        read_now = offer_payload(session, services.settings, get_call(session, sid),
                                 offer.offered_at, agent)  # fmt: skip
        expires_at = offer.expires_at.isoformat()
    assert pop["expires_at"] == expires_at
    assert pop["call_sid"] == sid and pop["customer"] == read_now["customer"]
    for same in ("kind", "from", "ivr", "tickets", "history", "knowledge", "expires_at"):
        assert pop[same] == read_now[same], same


def test_a_pop_that_cannot_be_read_does_not_hold_up_routing(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller whose pop fails to read (a data error in one of its parts) is still
    offered, and so are the callers behind: reading the pop before the offer must not
    make one bad record stop the dispatcher for every queue."""
    services = app.extensions["callcenter"]
    database, realtime = services.database, services.extras["realtime"]
    sids = waiting_calls_and_free_agents(app, 2)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a record the pop cannot read")

    monkeypatch.setattr(callcenter.screenpop, "suggest", broken)
    realtime.run_once()
    with database.read_session() as session:
        offered = set(session.scalars(select(CallOffer.call_sid)))
    assert offered == set(sids)


def test_an_agent_whose_softphone_went_unreachable_meanwhile_is_not_offered(app: Flask) -> None:
    """The offer re-checks under lock that its agent can ring: a softphone that reported
    itself unreachable after the pass read its agents is not offered the call."""
    from callcenter.calls.routing import offer_call, offer_candidates

    services = app.extensions["callcenter"]
    database, settings = services.database, services.settings
    (sid,) = waiting_calls_and_free_agents(app, 1)
    with database.read_session() as session:
        call_id = get_call(session, sid).id
        agent_ids = offer_candidates(session, settings, call_id, utcnow())
    assert len(agent_ids) == 1
    with database.session() as session:
        agent = session.get(Agent, agent_ids[0])
        agent.takes_calls_on, agent.softphone_unreachable_since = "browser", utcnow()
    with database.session() as session:
        assert not offer_call(session, settings, call_id, agent_ids, utcnow()).offers
    with database.read_session() as session:
        assert session.scalar(select(CallOffer.id)) is None
