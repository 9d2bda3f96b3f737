"""What the incoming-call and menu-step webhooks cost in SQL statements (docs/performance.md,
"In-process webhook cost"): the event log's IVR path facts and the repeat-caller record
are written with a few Core statements, not ORM objects flushed one by one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from conftest import OPEN_TIME, TwilioWebhooks, call_params
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from test_webhooks import MAIN_MENU

from callcenter.calls.records import open_call
from callcenter.db import utcnow
from callcenter.metrics.facts import IvrVisit, IvrWay, QueueEntry
from callcenter.metrics.ivr_paths import record_steps, way_key, way_of
from callcenter.models import Call
from callcenter.web import twilio_hooks

FIRST, SECOND = "CA" + "1" * 32, "CA" + "2" * 32
LANGUAGE_MENU = {"flow": "main", "node": "choose_language", "attempt": "1", "seq": "1"}


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The statements the request thread sends meanwhile (not BEGIN, PRAGMA or SET LOCAL:
    the transaction's own set-up, and other threads' work, are not the webhook's)."""
    engine = app.extensions["callcenter"].database.engine
    thread = threading.get_ident()
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        words = statement.lstrip().upper()
        if threading.get_ident() == thread and not words.startswith(
            ("BEGIN", "PRAGMA", "SET LOCAL")
        ):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_new_call_and_a_menu_step_send_few_statements(app: Flask, twilio: TwilioWebhooks) -> None:
    # A first caller through the same steps: the IVR's ways are known after it.
    twilio.post("/twilio/voice", call_params(FIRST, from_="+8613900139001"))
    twilio.post("/twilio/gather", call_params(FIRST, Digits="1"), query=LANGUAGE_MENU)

    with statements(app) as call:
        answer = twilio.post("/twilio/voice", call_params(SECOND, from_="+8613900139002"))
    assert answer.status_code == 200 and "<Gather" in answer.get_data(as_text=True)
    # The stored-answer look-up, the call and its customer, the repeat-caller update and
    # look-up, the call, the answer, the event log, the IVR stays read, their ways, the
    # new stay: 10 (13 when the IVR path facts were ORM objects read and flushed, 11
    # when the ways were looked up at every step; now they are known once committed).
    assert len(call) <= 10, "\n".join(call)

    with statements(app) as step:
        answer = twilio.post("/twilio/gather", call_params(SECOND, Digits="1"), query=LANGUAGE_MENU)
    assert answer.status_code == 200
    # The look-up, the call and its update, the answer, the event log, the stays read,
    # the stay left, the stays begun (one insert): 8 (14 before; 9 with the ways' look-up).
    assert len(step) <= 8, "\n".join(step)
    assert not any("ivr_ways" in sent for sent in call + step), "the ways' ids are cached"

    # What was written is the same stays as the first caller's.
    with app.extensions["callcenter"].database.session() as session:
        stays = {
            sid: list(
                session.execute(
                    select(
                        IvrVisit.node,
                        IvrVisit.first_arrival,
                        IvrVisit.is_current,
                        IvrVisit.way_id,
                        IvrVisit.to_node,
                    )
                    .where(IvrVisit.call_sid == sid)
                    .order_by(IvrVisit.id)
                )
            )
            for sid in (FIRST, SECOND)
        }
    assert stays[FIRST] == stays[SECOND]
    assert [stay.is_current for stay in stays[SECOND]][-2:] == [False, True]
    assert stays[SECOND][-1].node == "main_menu"


def _to_queue(twilio: TwilioWebhooks, call_sid: str, number: str) -> None:
    """A caller of their own through the language and main menus to the support queue."""
    twilio.post("/twilio/voice", call_params(call_sid, from_=number))
    for digits, query in (("1", LANGUAGE_MENU), ("0", MAIN_MENU)):
        twilio.post("/twilio/gather", call_params(call_sid, from_=number, Digits=digits),
                    query=query)  # fmt: skip


def test_a_hang_up_in_the_queue_sends_few_statements(
    app: Flask, twilio: TwilioWebhooks, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.now = OPEN_TIME  # the IVR's clock (a caller enters the queue at its time)
    monkeypatch.setattr(twilio_hooks, "utcnow", clock)  # the hang-up's
    # A first caller: the IVR's ways and the quarter hour's fact stamp are there after it.
    _to_queue(twilio, FIRST, "+8613900139001")
    twilio.post("/twilio/status", call_params(FIRST, CallStatus="completed", CallDuration="9"))
    _to_queue(twilio, SECOND, "+8613900139002")
    clock.now = OPEN_TIME + timedelta(seconds=3)  # a short abandonment: no follow-up
    hang_up = call_params(SECOND, from_="+8613900139002", CallStatus="completed", CallDuration="9")

    with statements(app) as sent:
        answer = twilio.post("/twilio/status", hang_up)
    assert answer.status_code == 204
    # The look-up, the call, its queue entry and the entry's update, the call's update,
    # its open offers, the answer, the event log, the entry's fact stamp; after the
    # commit, the call read again for its participants (the supervisors' call list): 10.
    assert len(sent) <= 10, "\n".join(sent)

    # A retry changes nothing and answers the same, after one look-up.
    with statements(app) as retried:
        again = twilio.post("/twilio/status", hang_up)
    assert again.status_code == 204
    assert len(retried) == 1, "\n".join(retried)
    with app.extensions["callcenter"].database.session() as session:
        entry = session.scalars(select(QueueEntry).where(QueueEntry.call_sid == SECOND)).one()
        call = session.scalars(select(Call).where(Call.call_sid == SECOND)).one()
    assert (entry.outcome, entry.wait_seconds, entry.left_at) == ("abandoned", 3, clock.now)
    assert (call.outcome, call.status, call.duration_seconds) == ("abandoned", "completed", 9)


def _arrive(session: Session, node: str) -> None:
    """The IVR path facts of FIRST coming to `node` (its way is new the first time)."""
    step = {"call_sid": FIRST, "kind": "ivr.node", "flow": "main", "node": node, "input": None,
            "detail": {}, "at": utcnow()}  # fmt: skip
    record_steps(session, [step])


def test_a_way_of_a_rolled_back_transaction_is_not_remembered(app: Flask) -> None:
    """The ways' ids are kept across transactions only once committed: a rolled-back
    insert's id (which SQLite gives to the next way) is looked up again, not reused."""
    database = app.extensions["callcenter"].database
    with database.session() as session:
        open_call(session, call_sid=FIRST, from_raw="+8613900139001", to="+864008001234",
                  flow="main", default_language="en")  # fmt: skip
    with pytest.raises(RuntimeError), database.session() as session:
        _arrive(session, "gone")  # its way is inserted, then rolled back
        with session.begin_nested():  # a savepoint released is not the transaction's commit
            pass
        raise RuntimeError
    with database.session() as session:
        _arrive(session, "other")  # a new way: on SQLite it takes the rolled-back id
    with database.session() as session:
        _arrive(session, "gone")
    with database.session() as session:
        ways = {way_id: key for way_id, key in session.execute(select(IvrWay.id, IvrWay.key))}
        stays = session.scalars(
            select(IvrVisit).where(IvrVisit.call_sid == FIRST).order_by(IvrVisit.id)
        ).all()
        assert [stay.node for stay in stays] == ["other", "gone"]
        assert [ways[stay.way_id] for stay in stays] == [way_key(way_of(s)) for s in stays]
