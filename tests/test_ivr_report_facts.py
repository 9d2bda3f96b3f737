"""The IVR report from the IVR path facts (stays keyed by their way) gives exactly the figures
of a straightforward count over the raw step events of the call log, for a scripted set of
calls around midnight (calls that start before it and go on after it, a node entered twice,
an answer to an earlier prompt, retries running out, a look-up, a node the flow no longer
has), written step by step as the IVR writes them; and the same after the migrations fill
the facts from a log written before they existed."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.records import get_call, log_event, open_call, record_status
from callcenter.db import Database
from callcenter.ivr.loader import FlowSet
from callcenter.metrics.facts import IvrVisit, IvrWay
from callcenter.metrics.ivr_paths import STEP_KINDS, way_key, way_of
from callcenter.migrate import upgrade
from callcenter.models import Call, CallEvent
from callcenter.reports.ivr import WAITING_KINDS, _classify, ivr_report

MIDNIGHT = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 26 November, 00:00 in Shanghai
DAY = timedelta(days=1)

# One step: (seconds after the call's start, kind, flow, node, input, detail). Each inner
# list is committed at once (the IVR writes one webhook's steps in one transaction).
Step = tuple[int, str, str, str, str | None, dict[str, Any]]


def node(s: int, name: str, flow: str = "main") -> Step:
    return (s, "ivr.node", flow, name, None, {})


def answer(s: int, name: str, text: str, via: str = "dtmf", flow: str = "main") -> Step:
    return (s, "ivr.input", flow, name, text, {"via": via, "attempt": 1})


def silence(s: int, name: str, flow: str = "main") -> Step:
    return (s, "ivr.no_input", flow, name, None, {"attempt": 1})


def exhausted(s: int, name: str) -> Step:
    return (s, "ivr.retries_exhausted", "main", name, None, {})


def lookup(s: int, found: bool) -> Step:
    return (s, "ivr.lookup", "main", "identify", None, {"found": found, "by": "caller_number"})


START = [node(0, "identify"), lookup(0, False), node(1, "choose_language")]

# (start relative to midnight in seconds, commits of steps, hung up after so many seconds)
CALLS: list[tuple[int, list[list[Step]], int | None]] = [
    # Before midnight, into the menu: one silence, a refused key, billing after midnight,
    # then silence until the retries run out.
    (-120, [[node(0, "identify"), lookup(0, True), node(1, "choose_language")],
            [answer(5, "choose_language", "2"), node(5, "greet"), node(5, "main_menu")],
            [silence(15, "main_menu")], [answer(25, "main_menu", "7")],
            [answer(150, "main_menu", "3"), node(150, "billing_account")],
            [silence(160, "billing_account")], [silence(170, "billing_account")],
            [silence(180, "billing_account"), exhausted(180, "billing_account"),
             node(180, "support_queue")]], 400),
    # Before midnight: recycling fails and the caller is back in the menu (entered twice).
    (-30, [START, [answer(5, "choose_language", "1"), node(5, "greet"), node(5, "main_menu")],
           [answer(20, "main_menu", "9"), node(20, "recycling")],
           [node(60, "recycling_unavailable"), node(60, "main_menu")],
           [answer(70, "main_menu", "0"), node(70, "support_queue")]], 300),
    # After midnight: a phrase for billing, then a hang-up while asked for the account.
    (60, [START, [answer(5, "choose_language", "1"), node(5, "greet"), node(5, "main_menu")],
          [answer(12, "main_menu", "my bill", via="speech"), node(12, "billing_account")]], 40),
    # After midnight: still in the menu, silent twice (not ended).
    (300, [START, [answer(5, "choose_language", "1"), node(5, "greet"), node(5, "main_menu")],
           [silence(15, "main_menu")], [silence(25, "main_menu")]], None),
    # Before midnight: an answer to the language prompt arrives after the menu was reached
    # (a stay begun by an answer), and takes the caller to the queue.
    (-600, [START, [silence(8, "choose_language")],
            [node(12, "greet"), node(12, "main_menu")],
            [answer(14, "choose_language", "1"), node(14, "support_queue")]], 90),
    # Before midnight: language refused twice, retries run out on a wrong key, then repairs.
    (-3600, [START, [answer(5, "choose_language", "8")], [answer(9, "choose_language", "8")],
             [exhausted(9, "choose_language"), node(9, "greet"), node(9, "main_menu")],
             [answer(14, "main_menu", "1"), node(14, "to_repairs"),
              node(14, "repairs_menu", flow="repairs")],
             [answer(20, "repairs_menu", "2", flow="repairs")]], 60),
    # After midnight: a node the flow no longer has, and a move the YAML does not define.
    (900, [START, [answer(5, "choose_language", "1"), node(5, "old_menu")],
           [answer(7, "old_menu", "3"), node(7, "greet"), node(7, "main_menu")],
           [answer(9, "main_menu", "4"), node(9, "leave_message")]], 30),
    # After midnight: hangs up while offered the languages.
    (1200, [START], 10),
]  # fmt: skip


def script(app: Flask) -> None:
    """The calls above, written as the IVR writes them: a transaction per webhook."""
    services = app.extensions["callcenter"]
    for n, (offset, commits, hang_up) in enumerate(CALLS, start=1):
        sid = f"CA{n:032x}"
        started = MIDNIGHT + timedelta(seconds=offset)
        with services.database.session() as session:
            call = open_call(session, call_sid=sid, from_raw=f"+86139001300{n:02d}",
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            call.started_at = started
        for steps in commits:
            with services.database.session() as session:
                for s, kind, flow, name, text, detail in steps:
                    log_event(session, sid, kind, flow=flow, node=name, input=text,
                              at=started + timedelta(seconds=s), **detail)  # fmt: skip
        if hang_up is not None:
            with services.database.session() as session:
                end = started + timedelta(seconds=hang_up)
                record_status(session, get_call(session, sid), "completed", hang_up, end)


def counted_from_the_log(
    session: Session, flows: FlowSet, start: datetime, end: datetime
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per node, the report's figures counted plainly from the step events of the calls
    started in [start, end): arrivals, silences, answers not followed by an arrival, the
    step before each arrival (how the caller left the node of that step), last steps."""
    rows = session.execute(
        select(CallEvent, Call.ended_at)
        .join(Call, Call.call_sid == CallEvent.call_sid)
        .where(Call.started_at >= start, Call.started_at < end, CallEvent.kind.in_(STEP_KINDS))
        .order_by(CallEvent.call_sid, CallEvent.id)
    ).all()
    by_call: dict[str, list[CallEvent]] = defaultdict(list)
    ended: dict[str, bool] = {}
    for event, ended_at in rows:
        by_call[event.call_sid].append(event)
        ended[event.call_sid] = ended_at is not None
    figures: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "reached": 0,
            "timeouts": 0,
            "invalid": 0,
            "hung_up": 0,
            "ended": 0,
            "exits": Counter(),
        }
    )
    for sid, events in by_call.items():
        reached = {(e.flow, e.node) for e in events if e.kind == "ivr.node"}
        for place in reached:
            figures[place]["reached"] += 1
        for i, event in enumerate(events):
            here = figures[(event.flow, event.node)]
            following = events[i + 1] if i + 1 < len(events) else None
            if event.kind == "ivr.no_input":
                here["timeouts"] += 1
            if event.kind == "ivr.input" and (following is None or following.kind != "ivr.node"):
                here["invalid"] += 1
            if event.kind == "ivr.node" and i > 0:
                left = events[i - 1]
                before = events[i - 2].kind if i > 1 else None
                to = event.node if event.flow == left.flow else f"{event.flow}.{event.node}"
                step = (left.kind, left.detail.get("via"), (left.input or "")[:1] or None,
                        left.detail.get("found"), before)  # fmt: skip
                exit_id, _, _ = _classify(flows, left.flow, left.node, step, to)
                figures[(left.flow, left.node)]["exits"][(exit_id, to)] += 1
        if ended[sid]:
            last = events[-1]
            known = last.flow in flows and last.node in flows.get(last.flow).nodes
            kind = flows.node(last.flow, last.node).kind if known else None
            waiting = kind is None or kind in WAITING_KINDS
            figures[(last.flow, last.node)]["hung_up" if waiting else "ended"] += 1
    return {place: figure for place, figure in figures.items() if _nonzero(figure)}


def _nonzero(figure: dict[str, Any]) -> bool:
    return any(figure[k] for k in ("reached", "timeouts", "invalid", "hung_up", "ended")) or any(
        figure["exits"].values()
    )


def reported(
    session: Session, flows: FlowSet, start: datetime, end: datetime
) -> dict[tuple[str, str], dict[str, Any]]:
    """The report's figures in the same shape (the exits that were taken, by id and target;
    an exit the YAML no longer has carries its target in its id)."""
    figures = {}
    for flow in ivr_report(session, flows, start, end):
        for item in flow["nodes"]:
            exits = Counter({(e["exit"].split(">")[0], e["to"]): e["count"]
                             for e in item["exits"] if e["count"]})  # fmt: skip
            figure = {k: item[k] for k in ("reached", "timeouts", "invalid", "hung_up", "ended")}
            figure["exits"] = exits
            if _nonzero(figure):
                figures[(flow["flow"], item["node"])] = figure
    return figures


PERIODS = [
    (MIDNIGHT - DAY, MIDNIGHT),  # 25 November: the calls started before midnight
    (MIDNIGHT, MIDNIGHT + DAY),  # 26 November
    (MIDNIGHT - DAY, MIDNIGHT + DAY),  # both
    (MIDNIGHT - timedelta(minutes=1), MIDNIGHT + timedelta(minutes=10)),
]


def assert_report_is_the_log(database: Database, flows: FlowSet) -> None:
    with database.session() as session:
        for start, end in PERIODS:
            expected = counted_from_the_log(session, flows, start, end)
            assert expected  # every period has calls
            assert reported(session, flows, start, end) == expected, (start, end)


def test_ivr_report_is_the_count_over_the_log(app: Flask) -> None:
    services = app.extensions["callcenter"]
    script(app)
    flows = services.flows.flows
    assert_report_is_the_log(services.database, flows)
    with services.database.session() as session:
        whole = counted_from_the_log(session, flows, MIDNIGHT - DAY, MIDNIGHT + DAY)
        # The script covers what it means to: a node entered twice is reached once, a stay
        # begun by an answer, retries run out, a node and a move the flow does not have.
        assert whole[("main", "main_menu")]["reached"] == 7
        assert whole[("main", "main_menu")]["exits"][("key:0", "support_queue")] == 1
        assert whole[("main", "choose_language")]["exits"][("key:1", "support_queue")] == 1
        assert whole[("main", "billing_account")]["exits"][("timeout", "support_queue")] == 1
        assert whole[("main", "choose_language")]["exits"][("invalid", "greet")] == 1
        assert whole[("main", "old_menu")]["exits"][("to:greet", "greet")] == 1
        assert whole[("main", "main_menu")]["exits"][("key:1", "to_repairs")] == 1
        # Each stay points at the way it counts in, and each way is there once.
        visits = session.scalars(select(IvrVisit)).all()
        ways = {way.id: way.key for way in session.scalars(select(IvrWay))}
        assert all(ways[visit.way_id] == way_key(way_of(visit)) for visit in visits)
        assert len(set(ways.values())) == len(ways)


def test_migrations_fill_the_facts_from_an_older_log(app: Flask, tmp_path: Path) -> None:
    """A log written before the IVR path facts (revision 0016): the migrations fill the
    stays and their ways, and the report is the count over the log; later steps reuse the
    ways the migration added."""
    services = app.extensions["callcenter"]
    script(app)
    older = Database(f"sqlite:///{tmp_path / 'older.db'}")
    try:
        upgrade(older, "0016")
        with services.database.engine.connect() as source, older.engine.begin() as target:
            for model in (Call, CallEvent):
                typed = model.__table__
                there = sa.Table(typed.name, sa.MetaData(), autoload_with=target).columns
                columns = [sa.Column(c.name, typed.c[c.name].type) for c in there]
                table = sa.Table(typed.name, sa.MetaData(), *columns)
                rows = source.execute(select(*(typed.c[c.name] for c in there))).mappings()
                target.execute(table.insert(), [dict(row) for row in rows])
        upgrade(older)
        flows = services.flows.flows
        assert_report_is_the_log(older, flows)
        with older.session() as session:
            ways = session.scalar(select(sa.func.count()).select_from(IvrWay))
            assert (
                ways
                and session.scalar(
                    select(sa.func.count()).select_from(IvrVisit).where(IvrVisit.way_id.is_(None))
                )
                == 0
            )
            log_event(session, f"CA{4:032x}", "ivr.input", flow="main", node="main_menu",
                      input="0", at=MIDNIGHT + timedelta(minutes=6), via="dtmf")  # fmt: skip
            log_event(session, f"CA{4:032x}", "ivr.node", flow="main", node="support_queue",
                      at=MIDNIGHT + timedelta(minutes=6))  # fmt: skip
        with older.session() as session:  # key 0 from the menu: a way already there
            assert session.scalar(select(sa.func.count()).select_from(IvrWay)) == ways
        assert_report_is_the_log(older, flows)
    finally:
        older.dispose()
