"""Agent metrics over a period, and percentile ranks among peers.

Aggregated by the database from the facts (call handles, status spans, offers): one query
each, grouped by agent. An agent's calls are those they took during the period (accepted,
or received by warm transfer); a call whose talk has not ended yet is not handled yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Interval, Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.metrics.definitions import HIGHER_IS_BETTER, ratio
from callcenter.metrics.facts import AgentStatusSpan, CallHandle
from callcenter.models import Agent, Call, CallOffer

BUSY = ("on-call", "wrap-up")
LOGGED_IN_AVAILABLE = ("available", "ringing", "on-call", "wrap-up")


def percentile_rank(
    value: float | None, values: Iterable[float | None], higher_is_better: bool = True
) -> float | None:
    """Share of the values that `value` beats, ties counting half (itself included), 0–1.

    >>> percentile_rank(40, [10, 20, 30, 40])
    0.875
    >>> percentile_rank(40, [10, 20, 30, 40], higher_is_better=False)
    0.125
    """
    known = [v for v in values if v is not None]
    if value is None or not known:
        return None
    worse = sum(1 for v in known if (v < value if higher_is_better else v > value))
    equal = sum(1 for v in known if v == value)
    return (worse + 0.5 * equal) / len(known)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _repeat_within(session: Session, days: int) -> ColumnElement[bool]:
    """The next inbound call from the same number came within `days` of this one's start
    (:attr:`Call.next_call_at`, recorded as calls arrive)."""
    if session.get_bind().dialect.name == "postgresql":
        within = Call.next_call_at <= Call.started_at + literal(timedelta(days=days), Interval())
    else:
        within = func.julianday(Call.next_call_at) - func.julianday(Call.started_at) <= days
    return and_(Call.next_call_at.is_not(None), within)


def _handles(session: Session, settings: Settings, start: datetime, end: datetime
             ) -> dict[int, dict[str, Any]]:  # fmt: skip
    handle = CallHandle
    known = Call.caller_number.is_not(None)
    outbound = Call.direction == "outbound"
    statement = (
        select(
            handle.agent_id,
            func.count(handle.id),
            func.sum(handle.talk_seconds),
            func.sum(handle.hold_seconds),
            func.sum(handle.wrapup_seconds),
            _flag(handle.transferred_out.is_(True)),
            _flag(known),
            _flag(and_(known, ~_repeat_within(session, settings.metrics.fcr_days))),
            func.sum(handle.csat),
            func.count(handle.csat),
            _flag(outbound),
            func.sum(case((outbound, handle.talk_seconds), else_=0.0)),
        )
        .join(Call, Call.call_sid == handle.call_sid)
        .where(
            handle.started_at >= start,
            handle.started_at < end,
            handle.ended_at.is_not(None),
            handle.voided.is_(False),
        )
        .group_by(handle.agent_id)
    )
    result = {}
    for (agent_id, count, talk, hold, wrapup, transfers, numbered, first, csat, rated,
         placed, placed_talk) in session.execute(statement):  # fmt: skip
        result[agent_id] = {
            "handled": count,
            "talk_seconds": float(talk or 0),
            "hold_seconds": float(hold or 0),
            "wrapup_seconds": float(wrapup or 0),
            "transfers_out": transfers or 0,
            "fcr": ratio(first or 0, numbered or 0),
            "csat_average": ratio(float(csat or 0), rated or 0),
            "csat_responses": rated or 0,
            "outbound": placed or 0,
            "outbound_talk_seconds": float(placed_talk or 0),
        }
    return result


def _handled(start: datetime, end: datetime | None) -> Select[Any]:
    """Per agent: handles started in [start, end) (no end: from start on) that ended and
    count, their talk + hold + wrap-up seconds, and the latest start among them."""
    handle = CallHandle
    window = [handle.started_at >= start] + ([handle.started_at < end] if end else [])
    return (
        select(
            handle.agent_id,
            func.count(handle.id),
            func.sum(handle.talk_seconds + handle.hold_seconds + handle.wrapup_seconds),
            func.max(handle.started_at),
        )
        .where(*window, handle.ended_at.is_not(None), handle.voided.is_(False))
        .group_by(handle.agent_id)
    )


def handling_since(
    session: Session, start: datetime
) -> tuple[dict[int, tuple[int, float]], datetime | None]:
    """As :func:`handling` from `start` on, with the latest start among the handles counted:
    while that is before a moment `end`, this is :func:`handling` over [start, end)."""
    result: dict[int, tuple[int, float]] = {}
    latest: datetime | None = None
    for agent_id, count, seconds, last in session.execute(_handled(start, None)):
        if isinstance(last, str):  # SQLite may give MAX() of a date back as text
            last = datetime.fromisoformat(last).replace(tzinfo=UTC)
        result[agent_id] = (count, float(seconds or 0))
        latest = last if latest is None or (last is not None and last > latest) else latest
    return result, latest


def handling(session: Session, start: datetime, end: datetime) -> dict[int, tuple[int, float]]:
    """Per agent: (calls handled, their talk + hold + wrap-up seconds) over [start, end),
    as ``handled`` and ``aht_seconds`` of :func:`agent_report` count them, without the
    rest of the report (the wallboard's "today" per agent)."""
    return {agent_id: (count, float(seconds or 0)) for agent_id, count, seconds, _ in
            session.execute(_handled(start, end))}  # fmt: skip


def _offers(session: Session, start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
    statement = (
        select(
            CallOffer.agent_id,
            _flag(CallOffer.status == "expired"),
            _flag(CallOffer.status == "declined"),
        )
        .where(CallOffer.offered_at >= start, CallOffer.offered_at < end)
        .group_by(CallOffer.agent_id)
    )
    return {agent_id: (missed or 0, declined or 0) for agent_id, missed, declined in
            session.execute(statement)}  # fmt: skip


def status_seconds(
    session: Session, start: datetime, end: datetime, now: datetime
) -> dict[int, dict[str, float]]:
    """Seconds each agent spent in each status within [start, end), up to `now`."""
    seconds: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    span = AgentStatusSpan
    inside = (
        select(span.agent_id, span.status, func.sum(span.seconds))
        .where(span.ended_at <= end, span.ended_at > start, span.started_at >= start)
        .group_by(span.agent_id, span.status)
    )
    for agent_id, status, total in session.execute(inside):
        seconds[agent_id][status] += float(total or 0)
    # Spans across the period's edges (at most a few per agent), cut to the period.
    edges = select(span.agent_id, span.status, span.started_at, span.ended_at).where(
        span.ended_at > start,
        span.started_at < end,
        or_(span.started_at < start, span.ended_at > end),
    )
    current = select(Agent.id, Agent.status, Agent.status_since).where(
        Agent.status_since < min(end, now)
    )
    open_spans = [(*row, None) for row in session.execute(current)]
    for agent_id, status, since, until in [*session.execute(edges), *open_spans]:
        begin, finish = max(since, start), min(until or now, end, now)
        if finish > begin:
            seconds[agent_id][status] += (finish - begin).total_seconds()
    return seconds


def agent_report(
    session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per agent who took calls, was offered calls or was logged in during the
    period [start, end): the fields of :data:`definitions.AGENT_FIELDS`, ``csat_average``
    and ``csat_responses`` (the callers' survey scores of the calls they took), and ``ranks``
    (percentile rank of each metric among peers: agents who took calls in the same queues
    over the period; None for an agent who took none)."""
    now = now or datetime.now(UTC)
    handles = _handles(session, settings, start, end)
    offers = _offers(session, start, end)
    statuses = status_seconds(session, start, end, now)
    working = {a for a, by in statuses.items() if any(by.get(s) for s in LOGGED_IN_AVAILABLE)}
    ids = set(handles) | set(offers) | working
    agents = {a.id: a for a in session.scalars(select(Agent).where(Agent.id.in_(ids)))}
    rows = []
    for agent_id in sorted(ids, key=lambda i: agents[i].username if i in agents else ""):
        agent = agents.get(agent_id)
        work = handles.get(agent_id, {})
        by_status = statuses.get(agent_id, {})
        handled = work.get("handled", 0)
        talk, hold, wrapup = (work.get(k, 0.0) for k in ("talk_seconds", "hold_seconds",
                                                          "wrapup_seconds"))  # fmt: skip
        missed, declined = offers.get(agent_id, (0, 0))
        rows.append({
            "agent_id": agent_id,
            "username": agent.username if agent else None,
            "name": agent.display_name if agent else None,
            "handled": handled,
            "outbound": work.get("outbound", 0),
            "outbound_talk_seconds": work.get("outbound_talk_seconds", 0.0),
            "aht_seconds": ratio(talk + hold + wrapup, handled),
            "talk_seconds": talk,
            "hold_seconds": hold,
            "wrapup_seconds": wrapup,
            "occupancy": ratio(sum(by_status.get(s, 0.0) for s in BUSY),
                               sum(by_status.get(s, 0.0) for s in LOGGED_IN_AVAILABLE)),
            "fcr": work.get("fcr"),
            "transfers_out": work.get("transfers_out", 0),
            "offers_missed": missed,
            "offers_declined": declined,
            "csat_average": work.get("csat_average"),
            "csat_responses": work.get("csat_responses", 0),
        })  # fmt: skip
    _rank(rows, _queues_by_agent(session, start, end))
    return rows


def _queues_by_agent(session: Session, start: datetime, end: datetime) -> dict[int, set[str]]:
    queues: dict[int, set[str]] = defaultdict(set)
    statement = (
        select(CallHandle.agent_id, CallHandle.queue)
        .where(
            CallHandle.started_at >= start,
            CallHandle.started_at < end,
            CallHandle.voided.is_(False),
            CallHandle.queue.is_not(None),
        )
        .distinct()
    )
    for agent_id, queue in session.execute(statement):
        queues[agent_id].add(queue)
    return queues


def _rank(rows: Sequence[dict[str, Any]], queues: dict[int, set[str]]) -> None:
    """Add ``ranks`` to each row: its percentile among peers sharing a queue."""
    for row in rows:
        mine = queues.get(row["agent_id"], set())
        if not row["handled"] or not mine:
            row["ranks"] = None
            continue
        peers = [p for p in rows if p["handled"] and queues.get(p["agent_id"], set()) & mine]
        row["ranks"] = {
            name: percentile_rank(row[name], (p[name] for p in peers), better)
            for name, better in HIGHER_IS_BETTER.items()
        }
