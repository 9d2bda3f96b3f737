"""Metrics: a scripted morning of calls through the real routing functions, with every
metric's exact expected value (docs/metrics.md), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import dispatch
from sqlalchemy import event, select

from callcenter.calls.callbacks import callback_ended, request_callback
from callcenter.calls.records import get_call, open_call, record_status
from callcenter.calls.routing import (
    accept,
    call_finished,
    decline,
    expire_offers,
    release_wrapups,
    transfer,
    wrap_up,
)
from callcenter.config import load_settings
from callcenter.db import Database
from callcenter.ivr.queue_wait import finish_queue_wait
from callcenter.ivr.survey import rate
from callcenter.metrics.agents import agent_report, percentile_rank
from callcenter.metrics.definitions import AGENT_FIELDS, QUEUE_FIELDS, definition
from callcenter.metrics.queues import queue_report, queue_today, queue_totals
from callcenter.metrics.recorder import record_hold
from callcenter.models import Agent
from callcenter.people.agents import mark_consoles_seen, set_presence

# 10:00 in Shanghai (the center's time zone in config.yaml), Wednesday 25 November 2026.
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SHANGHAI = "+08:00"


def at(minutes: int, seconds: int = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


@pytest.fixture
def settings(tmp_path):
    return load_settings(overrides={"instance_dir": str(tmp_path / "instance")})


@pytest.fixture
def database(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def sid(n: int) -> str:
    return f"CA{n:032x}"


def number(n: int) -> str:
    return f"+86139001390{n:02d}"


class Day:
    """Drives the routing domain step by step, one committed transaction per step."""

    def __init__(self, database: Database, settings) -> None:
        self.database = database
        self.settings = settings
        self.agents: dict[str, int] = {}

    def step(self, action):
        with self.database.session() as session:
            return action(session)

    def agent(self, username: str) -> None:
        def create(session):
            agent = Agent(username=username, display_name=username.title(),
                          agent_number=str(1024 + len(self.agents)), password_hash="x",
                          skills=["support"], languages=[], status="offline", status_since=T0,
                          active=True)  # fmt: skip
            session.add(agent)
            session.flush()
            set_presence(agent, "available", T0)
            self.agents[username] = agent.id

        self.step(create)

    def enter(self, n: int, when: datetime, caller: int | None = None) -> None:
        def enqueue(session):
            call = open_call(session, call_sid=sid(n), from_raw=number(caller or n),
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            call.started_at = when - timedelta(seconds=30)
            call.queue, call.enqueued_at, call.outcome = "support", when, "queued"

        self.step(enqueue)

    def beat(self, when: datetime) -> None:
        """Every agent's console is live at `when` (the heartbeat a running process writes)."""
        self.step(lambda s: mark_consoles_seen(s, list(self.agents.values()), when))

    def take(self, n: int, username: str, when: datetime) -> None:
        """Dispatch, and the agent the call is offered to accepts it."""
        self.beat(when)
        self.step(lambda s: dispatch(s, self.settings, when))
        self.step(lambda s: accept(s, self.agents[username], sid(n), when))

    def hang_up(self, n: int, when: datetime) -> None:
        def status(session):
            call = get_call(session, sid(n))
            record_status(session, call, "completed", 60, when)
            call_finished(session, self.settings, call, when)

        self.step(status)

    def wrap(self, n: int, username: str, when: datetime) -> None:
        self.step(lambda s: wrap_up(s, self.settings, self.agents[username], sid(n),
                                    "resolved", "", when))  # fmt: skip


def script(day: Day) -> None:
    """The morning of 25 November (times local, the queue `support`, T=20, 5, N=7)."""
    settings = day.settings
    day.agent("amy")
    day.agent("bob")
    # 1: answered within T (10 s) by amy; 30 s on hold; wrap-up saved after 20 s.
    day.enter(1, at(0))
    day.take(1, "amy", at(0, 10))
    day.step(lambda s: record_hold(s, sid(1), True, at(1, 10)))
    day.step(lambda s: record_hold(s, sid(1), False, at(1, 40)))
    day.hang_up(1, at(3, 10))
    day.wrap(1, "amy", at(3, 30))
    # 2: answered after 40 s by bob; his wrap-up runs out (30 s in queue support).
    day.enter(2, at(1))
    day.take(2, "bob", at(1, 40))
    day.hang_up(2, at(3, 40))
    day.beat(at(4, 10))
    day.step(lambda s: release_wrapups(s, at(4, 10)))
    # 3: hangs up after 3 s (a short abandon); 4: after 30 s (an abandon).
    day.enter(3, at(2))
    day.hang_up(3, at(2, 3))
    day.enter(4, at(3))
    day.step(lambda s: finish_queue_wait(s, settings, get_call(s, sid(4)), "hangup", 30, at(3, 30)))
    # 5: asks to be called back after 20 s and hangs up; amy calls back at 10:10.
    day.enter(5, at(5))
    day.step(lambda s: request_callback(s, get_call(s, sid(5)), at(5, 20)))
    day.hang_up(5, at(5, 25))
    day.take(5, "amy", at(10))
    day.step(lambda s: callback_ended(s, settings, get_call(s, sid(5)), "completed", at(12)))
    day.wrap(5, "amy", at(12, 10))
    # 6: enters at 10:14:50, bob answers at 10:15:05 and transfers to amy at 10:16:05 (a
    # new wait in the queue, counted in the 10:15 interval); amy answers 10 s later.
    day.enter(6, at(14, 50))
    day.take(6, "bob", at(15, 5))
    day.step(lambda s: transfer(s, settings, day.agents["bob"], sid(6), at(16, 5),
                                to_agent=day.agents["amy"]))  # fmt: skip
    day.take(6, "amy", at(16, 15))
    day.beat(at(16, 35))
    day.step(lambda s: release_wrapups(s, at(16, 35)))
    day.hang_up(6, at(18, 15))
    day.wrap(6, "amy", at(18, 25))


def late_and_missed(day: Day) -> None:
    # 8: enters at 10:29:30 and hangs up; the status callback arrives late, at 10:30:30.
    day.enter(8, at(29, 30))
    day.hang_up(8, at(30, 30))
    # 9: bob declines it, amy lets it ring out, the caller hangs up after 60 s.
    day.enter(9, at(40))
    day.beat(at(40))
    day.step(lambda s: dispatch(s, day.settings, at(40)))
    day.step(lambda s: decline(s, day.agents["bob"], sid(9), at(40, 5)))
    day.beat(at(40, 5))
    day.step(lambda s: dispatch(s, day.settings, at(40, 5)))
    day.step(lambda s: expire_offers(s, at(40, 20)))
    day.step(lambda s: finish_queue_wait(s, day.settings, get_call(s, sid(9)), "hangup", 60,
                                         at(41)))  # fmt: skip
    # Repeat callers: 1's number again after 2 days (inside N=7), 2's after 9 (outside).
    day.enter(11, at(2 * 24 * 60), caller=1)
    day.enter(12, at(9 * 24 * 60), caller=2)


def empty(interval_start: str, queue: str = "support") -> dict:
    return {
        "interval_start": interval_start, "queue": queue, "offered": 0, "answered": 0,
        "answered_in_sl": 0, "abandoned": 0, "short_abandoned": 0, "callbacks_requested": 0,
        "callbacks_made": 0, "voicemails": 0, "service_level": None, "asa_seconds": None,
        "aht_seconds": None, "talk_seconds": 0.0, "hold_seconds": 0.0, "wrapup_seconds": 0.0,
        "abandon_rate": None, "longest_wait_seconds": None, "csat_average": None,
        "csat_responses": 0,
    }  # fmt: skip


def rows_for(rows, queue="support"):
    return [
        {**row, "interval_start": row["interval_start"].isoformat()}
        for row in rows
        if row["queue"] == queue
    ]


FIRST_QUARTER = {
    **empty("2026-11-25T10:00:00" + SHANGHAI),
    "offered": 6, "answered": 3, "answered_in_sl": 2, "abandoned": 1, "short_abandoned": 1,
    "callbacks_requested": 1, "callbacks_made": 1, "service_level": 0.5,
    "asa_seconds": 65 / 3, "talk_seconds": 450.0, "hold_seconds": 30.0, "wrapup_seconds": 90.0,
    "aht_seconds": 570 / 4, "abandon_rate": 1 / 6, "longest_wait_seconds": 40.0,
}  # fmt: skip
SECOND_QUARTER = {
    **empty("2026-11-25T10:15:00" + SHANGHAI),
    "offered": 2, "answered": 1, "answered_in_sl": 1, "abandoned": 1, "service_level": 0.5,
    "asa_seconds": 10.0, "talk_seconds": 120.0, "wrapup_seconds": 10.0, "aht_seconds": 130.0,
    "abandon_rate": 0.5, "longest_wait_seconds": 60.0,
}  # fmt: skip
THIRD_QUARTER = {
    **empty("2026-11-25T10:30:00" + SHANGHAI),
    "offered": 1, "abandoned": 1, "service_level": 0.0, "abandon_rate": 1.0,
    "longest_wait_seconds": 60.0,
}  # fmt: skip


def test_queue_metrics_per_quarter_hour(database, settings):
    day = Day(database, settings)
    script(day)
    late_and_missed(day)
    with database.session() as session:
        rows = queue_report(session, settings, at(0), at(60), "15m", now=at(60))
    assert [list(row) for row in rows][:1] == [list(QUEUE_FIELDS)]
    assert rows_for(rows) == [
        FIRST_QUARTER,
        SECOND_QUARTER,
        THIRD_QUARTER,
        empty("2026-11-25T10:45:00" + SHANGHAI),
    ]
    assert rows_for(rows, "vip") == [
        empty(f"2026-11-25T10:{m}:00" + SHANGHAI, "vip") for m in ("00", "15", "30", "45")
    ]


def test_queue_metrics_per_hour_and_day_add_up(database, settings):
    day = Day(database, settings)
    script(day)
    late_and_missed(day)
    hour = {
        **empty("2026-11-25T10:00:00" + SHANGHAI),
        "offered": 9, "answered": 4, "answered_in_sl": 3, "abandoned": 3, "short_abandoned": 1,
        "callbacks_requested": 1, "callbacks_made": 1, "service_level": 3 / 7,
        "asa_seconds": 75 / 4, "talk_seconds": 570.0, "hold_seconds": 30.0,
        "wrapup_seconds": 100.0, "aht_seconds": 700 / 5, "abandon_rate": 3 / 9,
        "longest_wait_seconds": 60.0,
    }  # fmt: skip
    with database.session() as session:
        hours = queue_report(session, settings, at(0), at(60), "1h", queue="support", now=at(60))
        days = queue_report(session, settings, at(-600), at(840), "1d", queue="support", now=at(60))
        totals = queue_totals(session, settings, at(0), at(60), now=at(60))
        today = queue_today(session, settings, now=at(60))
    assert rows_for(hours) == [hour]
    assert rows_for(days) == [{**hour, "interval_start": "2026-11-25T00:00:00" + SHANGHAI}]
    assert rows_for(totals) == [hour]
    assert {**today["support"], "interval_start": None} == {**hour, "interval_start": None}
    assert today["support"]["interval_start"].isoformat() == "2026-11-25T00:00:00" + SHANGHAI


def test_a_late_status_callback_lands_in_the_interval_the_call_entered(database, settings):
    day = Day(database, settings)
    script(day)
    day.enter(8, at(29, 30))
    with database.session() as session:  # 10:30:10: the caller has hung up, no callback yet
        before = queue_report(session, settings, at(15), at(30), "15m", "support", now=at(30, 10))
    assert rows_for(before) == [
        {**SECOND_QUARTER, "abandoned": 0, "service_level": 1.0, "abandon_rate": 0.0,
         "longest_wait_seconds": 40.0}
    ]  # fmt: skip
    day.hang_up(8, at(30, 30))
    with database.session() as session:
        after = queue_report(session, settings, at(15), at(30), "15m", "support", now=at(31))
    assert rows_for(after) == [SECOND_QUARTER]


def test_agent_metrics(database, settings):
    day = Day(database, settings)
    script(day)
    late_and_missed(day)
    with database.session() as session:
        rows = agent_report(session, settings, at(0), at(60), now=at(60))
    amy, bob = rows
    assert list(amy)[: len(AGENT_FIELDS)] == list(AGENT_FIELDS)
    assert {k: amy[k] for k in AGENT_FIELDS[3:]} == {
        "handled": 3, "outbound": 0, "outbound_talk_seconds": 0.0,
        "aht_seconds": 460 / 3, "talk_seconds": 390.0, "hold_seconds": 30.0,
        "wrapup_seconds": 40.0, "occupancy": 460 / 2420, "fcr": 2 / 3, "transfers_out": 0,
        "offers_missed": 1, "offers_declined": 0,
    }  # fmt: skip
    assert {k: bob[k] for k in AGENT_FIELDS[3:]} == {
        "handled": 2, "outbound": 0, "outbound_talk_seconds": 0.0,
        "aht_seconds": 120.0, "talk_seconds": 180.0, "hold_seconds": 0.0,
        "wrapup_seconds": 60.0, "occupancy": 240 / 2405, "fcr": 1.0, "transfers_out": 1,
        "offers_missed": 0, "offers_declined": 1,
    }  # fmt: skip
    assert (amy["username"], bob["username"]) == ("amy", "bob")
    assert amy["ranks"]["handled"] == 0.75 and bob["ranks"]["handled"] == 0.25
    assert amy["ranks"]["aht_seconds"] == 0.25 and bob["ranks"]["aht_seconds"] == 0.75
    assert amy["ranks"]["fcr"] == 0.25 and bob["ranks"]["fcr"] == 0.75


def test_fcr_window_and_occupancy_cut_to_the_period(database, settings):
    day = Day(database, settings)
    script(day)
    late_and_missed(day)
    with database.session() as session:
        short = load_settings(overrides={"instance_dir": settings.instance_dir,
                                         "metrics": {"fcr_days": 1}})  # fmt: skip
        rows = agent_report(session, short, at(0), at(60), now=at(60))
        # 10:02–10:03: amy on her first call all along; bob on his until 10:03:40.
        cut = agent_report(session, settings, at(2), at(3), now=at(60))
    assert rows[0]["fcr"] == 1.0  # 1's number called again after 2 days: outside 1 day
    assert [(row["username"], row["occupancy"], row["handled"]) for row in cut] == [
        ("amy", 1.0, 0),
        ("bob", 1.0, 0),
    ]


def test_percentile_rank():
    values = [10, 20, 20, 40]
    assert [percentile_rank(v, values) for v in values] == [0.125, 0.5, 0.5, 0.875]
    assert percentile_rank(10, values, higher_is_better=False) == 0.875
    assert percentile_rank(None, values) is None
    assert percentile_rank(5, []) is None
    assert percentile_rank(5, [None, 5]) == 0.5


def test_definitions_name_every_field_and_fill_in_the_settings(settings):
    for name in (*QUEUE_FIELDS, *AGENT_FIELDS):
        assert definition(name, settings.metrics).endswith(".")
    assert "T = 20 seconds" in definition("service_level", settings.metrics)
    assert "N = 7 days" in definition("fcr", settings.metrics)


def test_voided_handle_when_the_bridge_fails(database, settings):
    """An accept whose bridge failed is not a handled call and its wait goes on."""
    from callcenter.calls.routing import requeue
    from callcenter.metrics.facts import CallHandle, QueueEntry

    day = Day(database, settings)
    day.agent("amy")
    day.enter(1, at(0))
    day.take(1, "amy", at(0, 10))
    day.step(lambda s: requeue(s, sid(1), day.agents["amy"], at(0, 12)))
    with database.session() as session:
        handle = session.scalars(select(CallHandle)).one()
        entry = session.scalars(select(QueueEntry)).one()
        assert (handle.voided, entry.outcome, entry.left_at) == (True, None, None)
        rows = agent_report(session, settings, at(0), at(60), now=at(1))
    assert rows[0]["handled"] == 0


def test_csat_from_the_callers_survey_answers(database, settings):
    """Scores count on the handle of the agent rated, in the interval the call entered the
    queue it was answered from: 1 → 5 (amy), 2 → 2 (bob), 6 → 4 (amy, after the transfer:
    its second wait, in the 10:15 interval)."""
    day = Day(database, settings)
    script(day)
    for n, score in ((1, 5), (2, 2), (6, 4)):
        day.step(lambda s, n=n, score=score: rate(s, settings, get_call(s, sid(n)), score, "dtmf",
                                                   at(20)))  # fmt: skip
    day.step(lambda s: rate(s, settings, get_call(s, sid(1)), 1, "dtmf", at(21)))  # kept: 5
    with database.session() as session:
        quarters = queue_report(session, settings, at(0), at(30), "15m", "support", now=at(30))
        hour = queue_totals(session, settings, at(0), at(60), "support", now=at(60))
        amy, bob = agent_report(session, settings, at(0), at(60), now=at(60))
    assert [(r["csat_average"], r["csat_responses"]) for r in quarters] == [(3.5, 2), (4.0, 1)]
    assert (hour[0]["csat_average"], hour[0]["csat_responses"]) == (11 / 3, 3)
    assert (amy["csat_average"], amy["csat_responses"]) == (4.5, 2)
    assert (bob["csat_average"], bob["csat_responses"]) == (2.0, 1)
    assert (amy["ranks"]["csat_average"], bob["ranks"]["csat_average"]) == (0.75, 0.25)


def test_a_hang_up_reads_the_callers_queue_entry_once(database, settings):
    """The queue-entry hook looks at several changes of one call (left the queue, its
    outcome): the entry they concern is read once per transaction, not once per change,
    a savepoint released in between (the missed caller's follow-up) included, and the
    follow-up's check of the wait does not read it again."""
    import callcenter.care.followups  # noqa: F401  (its hook on a call ending, as in the app)

    day = Day(database, settings)
    day.enter(1, at(0))
    reads: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "queue_entries" in statement:
            reads.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        day.hang_up(1, at(0, 40))
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    # The hook's one; the follow-up's check of the wait (care/) takes the entry it read.
    assert len(reads) == 1
    with database.session() as session:
        report = queue_report(session, settings, at(0), at(15), "15m", "support", now=at(15))
    assert [(row["offered"], row["abandoned"]) for row in rows_for(report)] == [(1, 1)]
