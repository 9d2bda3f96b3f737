"""Report computation time: a month of a 100-agent center (about 300,000 calls).

    .venv/bin/python bench/reports.py [--calls 300000] [--agents 100] [--database-url URL]
                                      [--reuse]

Generates the calls and the facts metrics are computed from (queue entries, the agents'
handles of calls, status spans, offers; same seed every run) for November 2026 into a
fresh, migrated SQLite file in a temporary folder (or into `--database-url`, e.g. an empty
PostgreSQL database, which is emptied of them first and ANALYZEd after loading), then
times the queue report (15-minute, hour and day intervals), queue totals, the wallboard's
today so far, the agent report and the IVR report (from the IVR path facts: each call's few
IVR steps are generated, and their facts written as the event log's writer does) for a day,
a week and the month, and the staffing advice for a day. The SQLite file is kept (its path
is printed) for profiling. `--reuse` times what an earlier run left in `--database-url`
(migrated to the head first, and ANALYZEd) without generating again: code or schema before
and after a change, on the same data.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, delete, insert, text, update  # noqa: E402

from callcenter.app import flow_catalog  # noqa: E402
from callcenter.config import load_settings  # noqa: E402
from callcenter.db import Database  # noqa: E402
from callcenter.ivr.registry import FlowRegistry  # noqa: E402
from callcenter.metrics.agents import agent_report  # noqa: E402
from callcenter.metrics.facts import (  # noqa: E402
    AgentStatusSpan,
    CallHandle,
    IvrVisit,
    IvrWay,
    QueueEntry,
)
from callcenter.metrics.ivr_paths import assign_ways, visits_of  # noqa: E402
from callcenter.metrics.queues import queue_report, queue_today, queue_totals  # noqa: E402
from callcenter.migrate import upgrade  # noqa: E402
from callcenter.models import Agent, Call, CallEvent, CallOffer  # noqa: E402
from callcenter.reports.ivr import ivr_report  # noqa: E402
from callcenter.reports.periods import parse_day  # noqa: E402
from callcenter.reports.staffing import staffing_report  # noqa: E402

START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 1 November, midnight in Shanghai
QUEUES = ("support", "repairs", "vip")
BATCH = 20_000


def generate(database: Database, calls: int, agents: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with database.session() as session:
        for table in (CallEvent, IvrVisit, IvrWay, AgentStatusSpan, CallHandle, CallOffer,
                      QueueEntry, Call, Agent):  # fmt: skip
            session.execute(delete(table))
        session.execute(insert(Agent), [
            {"id": i, "username": f"agent{i}", "display_name": f"Agent {i}",
             "agent_number": str(1000 + i), "password_hash": "x", "status": "offline",
             "status_since": START, "skills": ["support"], "languages": [], "role": "agent",
             "active": True, "session_epoch": 0}
            for i in range(1, agents + 1)
        ])  # fmt: skip
    free_at = {i: START for i in range(1, agents + 1)}
    rows: dict[str, list[Any]] = {"calls": [], "entries": [], "handles": [], "spans": [],
                                   "offers": [], "events": [], "visits": []}  # fmt: skip
    previous: dict[str, tuple[dict, int]] = {}  # each number's latest call (first-call resolution)
    later: list[dict] = []  # next_call_at of calls already written
    batches = [0]  # batches written
    seconds = 30 * 86400
    moments = sorted(rng.uniform(0, seconds) for _ in range(calls))

    def flush(final: bool = False) -> None:
        if not final and len(rows["calls"]) < BATCH:
            return
        batches[0] += 1
        with database.session() as session:
            assign_ways(session, rows["visits"])  # as the event log's writer does
            rows["visits"] = [_columns(visit) for visit in rows["visits"]]
            for name, model in (
                ("calls", Call),
                ("entries", QueueEntry),
                ("handles", CallHandle),
                ("spans", AgentStatusSpan),
                ("offers", CallOffer),
                ("events", CallEvent),
                ("visits", IvrVisit),
            ):
                if rows[name]:
                    session.execute(insert(model), rows[name])
                rows[name] = []  # fmt: skip

    for n, offset in enumerate(moments, start=1):
        entered = START + timedelta(seconds=offset)
        sid = f"CA{n:032x}"
        queue = rng.choice(QUEUES)
        caller = f"+8613{rng.randrange(200_000):09d}"
        started = entered - timedelta(seconds=40)
        before, batch = previous.get(caller, (None, -1))
        if before is not None:  # as the recorder notes it when this call arrives
            if batch == batches[0]:
                before["next_call_at"] = started
            else:
                later.append({"sid": before["call_sid"], "next": started})
        rows["calls"].append({
            "call_sid": sid, "from_number": caller, "caller_number": caller,
            "caller_kind": "pstn", "to_number": "+864008001234", "flow": "main", "node": "q",
            "language": "en", "context": {}, "step": 3, "status": "completed",
            "queue": queue, "queue_priority": 0, "enqueued_at": entered,
            "started_at": started, "ended_at": entered + timedelta(seconds=900),
            "next_call_at": None,
        })  # fmt: skip
        previous[caller] = (rows["calls"][-1], batches[0])
        entry = {
            "id": n,
            "call_sid": sid,
            "queue": queue,
            "kind": "inbound",
            "entered_at": entered,
            "callback_requested": False,
            "voicemail": False,
        }
        luck = rng.random()
        if luck < 0.08:  # abandoned, a third of them short
            wait = rng.randrange(0, 120)
            entry.update(
                outcome="abandoned", wait_seconds=wait, left_at=entered + timedelta(seconds=wait)
            )
        else:
            agent = (
                min(free_at, key=lambda a: (free_at[a], rng.random()))
                if luck < 0.1
                else rng.randrange(1, agents + 1)
            )
            wait = max(0, int((free_at[agent] - entered).total_seconds())) % 180
            answered = entered + timedelta(seconds=wait)
            talk, hold, wrapup = rng.randrange(60, 600), rng.choice((0, 0, 0, 30)), 30
            ended = answered + timedelta(seconds=talk + hold)
            entry.update(outcome="answered", wait_seconds=wait, agent_id=agent, left_at=answered)
            rows["handles"].append(
                {
                    "call_sid": sid,
                    "agent_id": agent,
                    "entry_id": n,
                    "queue": queue,
                    "via": "queue",
                    "started_at": answered,
                    "ended_at": ended,
                    "talk_seconds": float(talk),
                    "hold_seconds": float(hold),
                    "wrapup_seconds": float(wrapup),
                    "transferred_out": rng.random() < 0.03,
                    "voided": False,
                }
            )
            done = ended + timedelta(seconds=wrapup)
            for status, begin, end in (
                ("available", free_at[agent], answered),
                ("on-call", answered, ended),
                ("wrap-up", ended, done),
            ):
                if end > begin:
                    rows["spans"].append(
                        {
                            "agent_id": agent,
                            "status": status,
                            "call_sid": sid,
                            "started_at": begin,
                            "ended_at": end,
                            "seconds": (end - begin).total_seconds(),
                        }
                    )
            free_at[agent] = max(free_at[agent], done)
            rows["offers"].append({
                "call_sid": sid, "agent_id": agent, "status": "accepted",
                "offered_at": answered, "expires_at": answered + timedelta(seconds=15),
                "closed_at": answered,
            })  # fmt: skip
        rows["entries"].append(entry)
        steps = _ivr_steps(rng, sid, started)
        rows["events"].extend(steps)
        # The IVR path facts, as the event log's writer records them.
        rows["visits"].extend(visits_of(steps, started))
        flush()
    flush(final=True)
    calls = Call.__table__
    if later:
        with database.engine.begin() as connection:
            connection.execute(
                update(calls)
                .where(calls.c.call_sid == bindparam("sid"))
                .values(next_call_at=bindparam("next")),
                later,
            )
    analyze(database)


def analyze(database: Database) -> None:
    """Statistics for the planner (an application's database gets them as it runs)."""
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE"))
    else:
        with database.engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def _ivr_steps(rng: random.Random, sid: str, started: datetime) -> list[dict]:
    """What the engine logs for a caller who picks a menu option (a few say nothing first)."""

    def event(kind: str, node: str, seconds: int, **detail) -> dict:
        return {"call_sid": sid, "at": started + timedelta(seconds=seconds), "kind": kind,
                "flow": "main", "node": node, "input": detail.pop("input", None),
                "detail": detail}  # fmt: skip

    steps = [event("ivr.node", "identify", 0, node_kind="lookup"),
             event("ivr.lookup", "identify", 0, found=False, by="caller_number"),
             event("ivr.node", "choose_language", 0, node_kind="language"),
             event("ivr.input", "choose_language", 5, input="1", attempt=1, via="dtmf"),
             event("ivr.node", "greet", 5, node_kind="branch"),
             event("ivr.node", "main_menu", 5, node_kind="menu")]  # fmt: skip
    for attempt in range(1, 4 if rng.random() < 0.05 else 1):
        steps.append(event("ivr.no_input", "main_menu", 10 * attempt, attempt=attempt))
    key = rng.choice("0123")
    steps.append(event("ivr.input", "main_menu", 35, input=key, attempt=1, via="dtmf"))
    steps.append(event("ivr.node", "support_queue", 36, node_kind="queue"))
    return steps


def _columns(visit: IvrVisit) -> dict:
    return {c.key: getattr(visit, c.key) for c in IvrVisit.__table__.columns if c.key != "id"}


def timed(label: str, action) -> None:
    action()  # warm-up
    began = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - began
    print(f"{label:40s} {elapsed * 1000:8.0f} ms  ({len(result)} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--database-url")
    parser.add_argument("--reuse", action="store_true", help="time the data already there")
    args = parser.parse_args()
    if args.reuse and not args.database_url:
        parser.error("--reuse needs --database-url")
    folder = tempfile.mkdtemp(prefix="reports-bench-")
    url = args.database_url or f"sqlite:///{folder}/bench.db"
    database = Database(url)
    upgrade(database)
    settings = load_settings(ROOT / "config.yaml", overrides={"instance_dir": folder})
    began = time.perf_counter()
    if args.reuse:
        analyze(database)
        print(f"timing the calls already in the given database ({database.engine.dialect.name})")
    else:
        generate(database, args.calls, args.agents)
        where = url if args.database_url is None else "the given database"
        print(f"generated {args.calls} calls, {args.agents} agents on "
              f"{database.engine.dialect.name} in {time.perf_counter() - began:.0f} s ({where})",
              flush=True)  # fmt: skip
    now = START + timedelta(days=30)
    periods = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
    with database.session() as session:
        for name, length in periods.items():
            end = START + length
            for interval in ("15m", "1h", "1d"):
                timed(f"queue report {name} by {interval}",
                      lambda e=end, i=interval: queue_report(session, settings, START, e, i,
                                                             now=now))  # fmt: skip
            timed(
                f"queue totals {name}",
                lambda e=end: queue_totals(session, settings, START, e, now=now),
            )
            timed(
                f"agent report {name}",
                lambda e=end: agent_report(session, settings, START, e, now=now),
            )
        flows = FlowRegistry(settings.path(settings.flows_dir), flow_catalog(settings)).flows
        for name, length in periods.items():
            timed(f"IVR report {name}",
                  lambda e=START + length: ivr_report(session, flows, START, e))  # fmt: skip
        day = parse_day("2026-11-15", settings.timezone)
        for interval in ("1h", "15m"):
            timed(
                f"staffing advice one day by {interval}",
                lambda i=interval: staffing_report(session, settings, day, i, now=now),
            )
        timed(
            "wallboard today so far (last day)",
            lambda: list(queue_today(session, settings, now=now - timedelta(hours=1))),
        )
    database.dispose()


if __name__ == "__main__":
    main()
