"""How long a webhook holds SQLite's write lock (docs/performance.md, "The webhooks' write
lock"): its look-ups and its flow run in a read snapshot, the lock is taken at its first
write, and a webhook whose reads would answer differently under the lock (a call changed
meanwhile, a customer added) runs again under it instead of writing what it read before."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import TwilioWebhooks, call_params
from flask import Flask
from sqlalchemy import text
from test_webhook_statements import LANGUAGE_MENU
from test_webhooks import add_customer, the_call

SID = "CA" + "7" * 32


def _database(app: Flask) -> Any:
    return app.extensions["callcenter"].database


def _during_the_flow(
    app: Flask, monkeypatch: pytest.MonkeyPatch, work: Callable[[], Any], step: str = "resume"
) -> None:
    """Run `work` on another thread, once, while the next webhook evaluates its flow (`resume`
    a menu step, `start` a new call: after it has read its call and caller), and wait for it."""
    engine = app.extensions["callcenter"].engine
    original = getattr(engine, step)
    done: list[bool] = []

    def after_work(*args: Any, **kwargs: Any) -> Any:
        if not done:
            done.append(True)
            worker = threading.Thread(target=work)
            worker.start()
            worker.join(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, step, after_work)


def _write(app: Flask, statement: str, outcome: list[Any]) -> Callable[[], None]:
    """A write transaction of its own (lock timeout 1 s): its seconds taken, or its error."""

    def write() -> None:
        started = time.perf_counter()
        try:
            with _database(app).new_session(1.0) as session:
                session.execute(text(statement), {"sid": SID})
                session.commit()
            outcome.append(time.perf_counter() - started)
        except Exception as exc:  # the test's assertion shows it
            outcome.append(exc)

    return write


def _step(app: Flask) -> int:
    with _database(app).read_session() as session:
        return session.execute(text("SELECT step FROM calls WHERE call_sid = :sid"),
                               {"sid": SID}).scalar_one()  # fmt: skip


def test_other_writers_write_while_a_webhook_runs_its_flow(
    app: Flask, twilio: TwilioWebhooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    twilio.post("/twilio/voice", call_params(SID))
    outcome: list[Any] = []
    # Another caller's row (none here): a write that has nothing to do with this call.
    other = "UPDATE calls SET queue_priority = queue_priority WHERE call_sid = 'CA' || :sid"
    _during_the_flow(app, monkeypatch, _write(app, other, outcome))

    answer = twilio.post("/twilio/gather", call_params(SID, Digits="1"), query=LANGUAGE_MENU)

    assert answer.status_code == 200 and "<Gather" in answer.get_data(as_text=True)
    # It got the lock at once: the webhook held it only from its first write on (with the
    # lock taken at BEGIN, this writer waited out its timeout: "database is locked").
    assert len(outcome) == 1 and isinstance(outcome[0], float), outcome
    assert outcome[0] < 0.5


def test_a_call_changed_before_the_lock_is_taken_is_not_overwritten(
    app: Flask,
    twilio: TwilioWebhooks,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not _database(app).is_sqlite:
        pytest.skip("SQLite's write lock: PostgreSQL's writers lock only their rows")
    twilio.post("/twilio/voice", call_params(SID))
    before = _step(app)
    outcome: list[Any] = []
    # Meanwhile another transaction moves the call on (as another of its webhooks would).
    bump = "UPDATE calls SET step = step + 1 WHERE call_sid = :sid"
    _during_the_flow(app, monkeypatch, _write(app, bump, outcome))

    with caplog.at_level(logging.INFO, logger="callcenter.twilio"):
        answer = twilio.post("/twilio/gather", call_params(SID, Digits="1"), query=LANGUAGE_MENU)

    assert answer.status_code == 200 and "<Gather" in answer.get_data(as_text=True)
    assert len(outcome) == 1 and isinstance(outcome[0], float), outcome
    # The step was run again on the call as it is now: both steps count (the one read
    # before the change would have written `before + 1` over it).
    assert _step(app) == before + 2
    assert "ran again under the write lock" in caplog.text
    # And a retry of the same delivery gets the same answer, changing nothing.
    again = twilio.post("/twilio/gather", call_params(SID, Digits="1"), query=LANGUAGE_MENU)
    assert again.get_data(as_text=True) == answer.get_data(as_text=True)
    assert _step(app) == before + 2


def test_a_caller_added_before_the_lock_is_taken_is_found(
    app: Flask, twilio: TwilioWebhooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _database(app).is_sqlite:
        pytest.skip("SQLite's write lock: PostgreSQL's writers lock only their rows")
    number = "+8613900139077"
    added: list[int] = []
    # The new call looked its caller up (nobody), then the customer is added: a read that
    # found no row, which no loaded object would show.
    _during_the_flow(app, monkeypatch, lambda: added.append(add_customer(app, number)), "start")

    answer = twilio.post("/twilio/voice", call_params(SID, from_=number))

    assert answer.status_code == 200 and "<Gather" in answer.get_data(as_text=True)
    assert len(added) == 1
    # Run again under the lock, it knows its caller, as if the customer had come first.
    assert the_call(app, SID).customer_id == added[0]
