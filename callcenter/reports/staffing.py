"""Staffing advice: per interval of a day and queue, the agents Erlang C says are needed to
reach the queue's service-level target, next to the agents who were actually logged in."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.metrics.agents import LOGGED_IN_AVAILABLE
from callcenter.metrics.definitions import N_
from callcenter.metrics.facts import AgentStatusSpan
from callcenter.metrics.queues import Interval, queue_report
from callcenter.models import Agent
from callcenter.reports.erlang import agents_needed, average_speed_of_answer, service_level
from callcenter.reports.periods import Period

STAFFING_FIELDS = (
    "interval_start", "queue", "calls", "aht_seconds", "traffic_erlangs",
    "service_level_target", "agents_needed", "expected_service_level", "expected_asa_seconds",
    "expected_occupancy", "agents_logged_in", "service_level_logged_in", "asa_logged_in_seconds",
)  # fmt: skip
STAFFING_DEFINITIONS: dict[str, str] = {
    "interval_start": N_("Start of the interval, in the center's time zone."),
    "queue": N_("The queue."),
    "calls": N_("Callers offered to the queue in the interval (observed, or the volume typed in)."),
    "aht_seconds": N_(
        "Average handle time used: the interval's own, else the queue's over "
        "the day, else the one typed in."
    ),
    "traffic_erlangs": N_("Workload in Erlangs: calls × AHT ÷ interval length."),
    "service_level_target": N_(
        "The queue's target: this share of callers answered within T = {t} seconds."
    ),
    "agents_needed": N_("The fewest agents that reach the target by Erlang C."),
    "expected_service_level": N_("Erlang C service level with the agents needed."),
    "expected_asa_seconds": N_("Erlang C average speed of answer with the agents needed."),
    "expected_occupancy": N_("Traffic ÷ agents needed: the share of their time on calls."),
    "agents_logged_in": N_(
        "Agents with the queue's skills logged in and not away, on average over the interval."
    ),
    "service_level_logged_in": N_(
        "Erlang C service level with the agents who were logged in "
        "(whole agents); null when they could not keep up."
    ),
    "asa_logged_in_seconds": N_(
        "Erlang C average speed of answer with the agents who were "
        "logged in; null when they could not keep up."
    ),
}


def _eligible(session: Session, settings: Settings, queue: str) -> set[int]:
    """Agents whose skills cover the queue's (every agent when the queue needs none)."""
    needed = set(settings.queues[queue].skills) if queue in settings.queues else set()
    agents = session.execute(select(Agent.id, Agent.skills)).all()
    return {agent_id for agent_id, skills in agents if needed <= set(skills or [])}


def staffing_report(
    session: Session,
    settings: Settings,
    period: Period,
    interval: Interval = "1h",
    queue: str | None = None,
    calls: float | None = None,
    aht: float | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per interval and queue (see :data:`STAFFING_FIELDS`). `calls` (per interval)
    and `aht` (seconds) replace the observed volume and handle time when given."""
    now = now or datetime.now(UTC)
    rows = queue_report(session, settings, period.start, period.end, interval, queue, now=now)
    day_aht: dict[str, float | None] = {}
    for total in _day_totals(rows):
        day_aht[total[0]] = total[1]
    eligible = {name: _eligible(session, settings, name) for name in {r["queue"] for r in rows}}
    starts = sorted({row["interval_start"] for row in rows})
    logged_in = _logged_in(session, [(s, s + _length(s, interval)) for s in starts], now)
    t = settings.metrics.service_level_seconds
    result = []
    for row in rows:
        first = row["interval_start"]
        length = _length(first, interval)
        name = row["queue"]
        target = settings.queues[name].service_level_target if name in settings.queues else 0.8
        volume = float(calls) if calls is not None else float(row["offered"])
        handle = aht if aht is not None else (row["aht_seconds"] or day_aht.get(name) or 0.0)
        need = agents_needed(volume, handle, length.total_seconds(), target, t)
        staffed = sum(s for a, s in logged_in.get(first, {}).items() if a in eligible[name])
        staffed /= length.total_seconds()
        whole = int(staffed + 1e-9)
        result.append({
            "interval_start": first, "queue": name, "calls": volume,
            "aht_seconds": handle or None, "traffic_erlangs": need.traffic,
            "service_level_target": target, "agents_needed": need.agents,
            "expected_service_level": need.service_level if need.traffic else None,
            "expected_asa_seconds": need.asa_seconds if need.traffic else None,
            "expected_occupancy": need.occupancy,
            "agents_logged_in": staffed,
            "service_level_logged_in": _or_none(
                service_level(need.traffic, whole, handle, t), whole > need.traffic
            ) if need.traffic else None,
            "asa_logged_in_seconds": average_speed_of_answer(need.traffic, whole, handle)
            if need.traffic else None,
        })  # fmt: skip
    return result


def _logged_in(
    session: Session, intervals: list[tuple[datetime, datetime]], now: datetime
) -> dict[datetime, dict[int, float]]:
    """Seconds each agent was logged in and not away in each interval: one query for the
    whole day's status spans (and the current status), cut to the intervals here."""
    if not intervals:
        return {}
    start, end = intervals[0][0], intervals[-1][1]
    span = AgentStatusSpan
    spans = session.execute(
        select(span.agent_id, span.started_at, span.ended_at).where(
            span.ended_at > start, span.started_at < end, span.status.in_(LOGGED_IN_AVAILABLE)
        )
    ).all()
    current = session.execute(
        select(Agent.id, Agent.status_since, literal(None)).where(
            Agent.status_since < min(end, now), Agent.status.in_(LOGGED_IN_AVAILABLE)
        )
    ).all()
    result: dict[datetime, dict[int, float]] = {}
    firsts = [first for first, _ in intervals]
    for agent_id, since, until in [*spans, *current]:
        finish = min(until or now, now)
        for first, last in intervals[max(0, bisect_right(firsts, since) - 1) :]:
            if first >= finish:
                break
            seconds = (min(finish, last) - max(since, first)).total_seconds()
            if seconds > 0:
                by_agent = result.setdefault(first, {})
                by_agent[agent_id] = by_agent.get(agent_id, 0.0) + seconds
    return result


def _or_none(value: float, known: bool) -> float | None:
    return value if known else None


def _length(first: datetime, interval: Interval) -> timedelta:
    if interval == "15m":
        return timedelta(minutes=15)
    if interval == "1h":
        return timedelta(hours=1)
    following = (first + timedelta(days=1, hours=2)).replace(hour=0)  # 23 or 25 hours too
    return following.astimezone(UTC) - first.astimezone(UTC)


def _day_totals(rows: list[dict[str, Any]]) -> list[tuple[str, float | None]]:
    """Each queue's handle time over all the rows (for intervals with no call handled)."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        if row["aht_seconds"] is not None:
            work = row["talk_seconds"] + row["hold_seconds"] + row["wrapup_seconds"]
            total = sums.setdefault(row["queue"], [0.0, 0.0])
            total[0] += work
            total[1] += round(work / row["aht_seconds"])  # the handled calls of the row
    return [(name, work / count if count else None) for name, (work, count) in sums.items()]
