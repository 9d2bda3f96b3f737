"""The wallboard: the whole center now, built in one read (pure domain).

:func:`build_board` gives every section the supervisors' page shows — queues (live counts,
today so far, thresholds), agents (status, current call, today), live calls and today by
15-minute interval — plus the settings and definitions behind the figures. Times are ISO
timestamps (``since``) from which the page counts up by itself, so the board changes only
when something happens. A few SQL queries in all, none of them per agent or per call.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, Text, cast, func, not_, select, type_coerce
from sqlalchemy.orm import Session

from callcenter.calls.records import FINAL_STATUSES
from callcenter.care.board import CareCounts
from callcenter.config import Settings
from callcenter.media.call_recordings import ACTIVE, PAUSED
from callcenter.media.voicemail import OPEN as UNHANDLED_VOICEMAIL
from callcenter.metrics.agents import handling, handling_since
from callcenter.metrics.definitions import N_, Translate, definition, ratio
from callcenter.metrics.facts import (
    AGENTS_STAMP,
    CARE_STAMP,
    HANDLES_STAMP,
    CallHandle,
    FactStamp,
)
from callcenter.metrics.queues import TodayFigures, interval_start, queue_today_by_interval
from callcenter.models import Agent, Call, CallOffer, CallRecording, Customer, Voicemail
from callcenter.supervision.steps import legs_in
from callcenter.supervision.thresholds import thresholds

INTERVAL_MINUTES = 15
# A queue's oldest wait turns amber from this share of its threshold.
WARN_SHARE = 0.75
AGENT_STATES = ("available", "ringing", "on-call", "wrap-up", "away")
# Today's figures per queue shown on the board (the definitions are in metrics.definitions).
TODAY_FIELDS = (
    "offered", "answered", "answered_in_sl", "abandoned", "short_abandoned",
    "callbacks_requested", "callbacks_made", "voicemails", "service_level", "asa_seconds",
    "aht_seconds", "abandon_rate", "longest_wait_seconds",
)  # fmt: skip
CHART_FIELDS = ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned")

# What the board shows live, in one sentence each (today's figures: metrics.definitions).
LIVE_DEFINITIONS: dict[str, str] = {
    "waiting": N_(
        "Callers waiting on the line in the queue now, those being offered to an agent included."
    ),
    "oldest_wait": N_(
        "How long the caller waiting longest on the line has waited so far "
        "(call-backs are left out: they wait off the line)."
    ),
    "callbacks": N_(
        "Callers who asked to be called back and are not called back yet (they "
        "keep their place in line)."
    ),
    "staffed": N_(
        "Agents with the queue's skills who are logged in: available, softphone not "
        "ready, ringing, on a call, in wrap-up or away."
    ),
    "available": N_(
        "Staffed agents waiting for a call who can be offered one (not those whose "
        "softphone is not ready)."
    ),
    "softphone_not_ready": N_(
        "Staffed agents waiting for a call who are not offered calls: their browser "
        "softphone cannot ring."
    ),
    "on_call": N_("Staffed agents ringing or on a call."),
    "wrap_up": N_("Staffed agents in wrap-up after a call."),
    "away": N_("Staffed agents who are logged in but away."),
    "voicemails_unhandled": N_(
        "Voicemails in the queue's overflow mailbox that nobody has "
        "marked handled yet, whatever the day they were left."
    ),
    "time_in_status": N_("Time since the agent's status last changed."),
    "talk_time": N_("Time since the agent was connected to the caller (hold included)."),
    "handled_today": N_("Calls the agent took today whose talk has ended."),
    "aht_today": N_(
        "The agent's average handle time today: (talk + hold + wrap-up) ÷ calls handled today."
    ),
    "time_in_state": N_(
        "Time since the call entered its current state: the IVR (from the "
        "start of the call), waiting in a queue, ringing an agent, or connected."
    ),
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def definitions(settings: Settings, translate: Translate = N_) -> dict[str, str]:
    """Every figure on the board → its definition, with T and the thresholds filled in (in
    the language of `translate`; the board's feed sends them in English)."""
    today = {name: definition(name, settings.metrics, translate) for name in TODAY_FIELDS}
    return {**today, **{name: translate(text) for name, text in LIVE_DEFINITIONS.items()}}


class BoardRows:
    """The agent and live-call rows of the last board, each with the inputs it was built
    from. A row whose inputs are unchanged is reused as is (the same object), so only the
    rows that changed are built again and the feed compares the others by identity.
    Today's queue figures are kept per 15-minute bucket (`TodayFigures`): only the buckets
    whose facts changed are aggregated again. The agents' rows are read again only when
    the agents' stamp moved, and their handled calls, handle time and holds only when the
    handles' stamp moved (`fact_stamps`, bumped by every process that writes them). The
    board is the same as a build without it."""

    def __init__(self) -> None:
        self.today = TodayFigures()
        self.agents: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.calls: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        # The agents' rows as read, under the agents' stamp they were read at.
        self.agent_read: tuple[int, list[tuple[Any, ...]]] | None = None
        # Under the handles' stamp: midnight, the latest start counted, per agent handled
        # and seconds today, holds running per call.
        self.handle_read: tuple[int, datetime, datetime | None, dict[int, tuple[int, float]],
                                dict[str, datetime]] | None = None  # fmt: skip
        # The live calls as the driver gave them, and decoded, per call SID.
        self.call_read: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        self.care = CareCounts()
        self.reads = Counter[str]()
        """What the builds read again (``agents``, ``handles``): for tests and benches."""


def build_board(
    session: Session, settings: Settings, now: datetime, rows: BoardRows | None = None
) -> dict[str, Any]:
    """The whole wallboard at `now` (see docs/agent-protocol.md, event `wallboard`).

    `rows` (kept between builds by the caller) lets unchanged rows be reused."""
    kept = rows.today if rows is not None else None
    rows = rows if rows is not None else BoardRows()
    # The stamps before the rows they stand for: a change committed after this read is in
    # the rows read, and read again at the next build.
    stamps: dict[int, int] = dict(session.execute(_BOARD_STAMPS).all())  # type: ignore[arg-type]
    zone = ZoneInfo(settings.timezone)
    midnight = interval_start(now, "1d", zone)
    today, intervals = queue_today_by_interval(session, settings, now, kept)
    live, live_counts = _live_calls(session, now, rows)
    agent_rows = _agent_rows(session, midnight, now, rows, stamps)
    agent_names = {row[0][0]: row[0][2] for row in agent_rows}
    calls = _call_rows(rows, live, agent_names)
    by_sid = {call["call_sid"]: call for call in calls}
    agents = _finish_agents(rows, agent_rows, by_sid, _decoder(session, Agent.status_since))
    return {
        "generated_at": now.isoformat(),
        "day": midnight.date().isoformat(),
        "settings": {
            "service_level_seconds": settings.metrics.service_level_seconds,
            "short_abandon_seconds": settings.metrics.short_abandon_seconds,
            "fcr_days": settings.metrics.fcr_days,
            "timezone": settings.timezone,
            "interval_minutes": INTERVAL_MINUTES,
            "warn_share": WARN_SHARE,
        },
        "definitions": definitions(settings),
        "queues": _queues(session, settings, now, today, live_counts, agents),
        "agents": agents,
        "calls": calls,
        "intervals": _intervals(settings, intervals),
        "care": rows.care.counts(session, settings, now, stamps.get(CARE_STAMP, 0)),
    }


# -- live calls ------------------------------------------------------------------------------

_OFFERS = select(CallOffer.call_sid, CallOffer.agent_id, CallOffer.offered_at).where(
    CallOffer.status == "offered"
)
# A live call as read: (call_sid, state, since, started_at, caller, customer, tier, queue,
# priority, agent_id, flow, node, language, context).
LiveCall = tuple[Any, ...]


_LIVE = (
    select(
        Call.call_sid,
        Call.from_number,
        Call.caller_number,
        Call.status,
        Call.outcome,
        Call.queue,
        Call.queue_priority,
        type_coerce(Call.enqueued_at, String),
        type_coerce(Call.dequeued_at, String),
        type_coerce(Call.started_at, String),
        Call.agent_id,
        type_coerce(Call.answered_at, String),
        Call.flow,
        Call.node,
        Call.language,
        type_coerce(Call.context, String),
        Customer.name,
        Customer.tier,
    )
    .outerjoin(Customer, Customer.id == Call.customer_id)
    .where(Call.ended_at.is_(None))
    .order_by(Call.started_at, Call.id)
)
_LIVE_DECODED = (7, 8, 9, 11, 15)  # the timestamps and the context, read as the driver gives


def _live_rows(session: Session, rows: BoardRows) -> list[tuple[Any, ...]]:
    """The calls not ended, decoded; a row the driver gives as before is not decoded again."""
    time, context = _decoder(session, Call.started_at), _decoder(session, Call.context)
    kept: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
    read = []
    for raw in session.execute(_LIVE):
        raw = tuple(raw)
        cached = rows.call_read.get(raw[0])
        if cached is not None and cached[0] == raw:
            row = cached[1]
        else:
            values = list(raw)
            for index in _LIVE_DECODED:
                values[index] = (context if index == 15 else time)(raw[index])
            row = tuple(values)
        kept[raw[0]] = (raw, row)
        read.append(row)
    rows.call_read = kept
    return read


def _live_calls(
    session: Session, now: datetime, rows: BoardRows
) -> tuple[list[LiveCall], dict[str, Any]]:
    """Every call now in the IVR, waiting, ringing an agent or connected, oldest first;
    and per queue: callers waiting, the oldest wait's start, call-backs pending."""
    offers: dict[str, tuple[int, datetime]] = {}
    for call_sid, agent_id, offered_at in session.execute(_OFFERS):
        offers.setdefault(call_sid, (agent_id, offered_at))
    calls: list[LiveCall] = []
    counts: dict[str, Any] = {}
    for row in _live_rows(session, rows):
        (call_sid, from_number, number, status, outcome, queue, priority, enqueued_at,
         dequeued_at, started_at, agent_id, answered_at, flow, node, language, context,
         customer, tier) = row  # fmt: skip
        waiting = dequeued_at is None and queue is not None
        if outcome == "callback" and waiting:
            count = counts.setdefault(queue, {"waiting": 0, "oldest": None, "callbacks": 0})
            count["callbacks"] += 1
            continue
        if agent_id is not None and answered_at is not None and outcome not in ("queued",):
            state, since = "connected", answered_at
        elif outcome == "queued" and waiting:
            count = counts.setdefault(queue, {"waiting": 0, "oldest": None, "callbacks": 0})
            count["waiting"] += 1
            if enqueued_at is not None:
                count["oldest"] = min(enqueued_at, count["oldest"] or enqueued_at)
            offer = offers.get(call_sid)
            if offer is not None:
                state, since, agent_id = "ringing", offer[1], offer[0]
            else:
                state, since = "waiting", enqueued_at
        elif status in FINAL_STATUSES or outcome == "abandoned":
            continue  # the caller hung up (its status callback may still be on its way)
        elif outcome == "voicemail":
            state, since = "voicemail", dequeued_at or started_at
        else:
            state, since = "ivr", started_at
        calls.append((call_sid, state, since or started_at, started_at, number or from_number,
                      customer, tier, queue if state != "ivr" else None, priority, agent_id,
                      flow, node, language, context))  # fmt: skip
    return calls, counts


def _call_rows(
    rows: BoardRows, live: list[LiveCall], agent_names: dict[int, str]
) -> list[dict[str, Any]]:
    """The live calls as the board shows them, unchanged ones reused from `rows`."""
    kept: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    calls = []
    for read in live:
        (call_sid, state, since, started_at, caller, customer, tier, queue, priority, agent_id,
         flow, node, language, context) = read  # fmt: skip
        supervisors = tuple(
            (entry.get("agent_id"), agent_names.get(entry.get("agent_id")), entry.get("mode"))
            for entry in legs_in(context).values()
        )
        inputs = (read, agent_names.get(agent_id), supervisors)
        cached = rows.calls.get(call_sid)
        if cached is not None and cached[0] == inputs:
            call = cached[1]
        else:
            call = {
                "call_sid": call_sid,
                "state": state,
                "since": _iso(since),
                "started_at": _iso(started_at),
                "caller": caller,
                "customer": customer,
                "tier": tier,
                "queue": queue,
                "priority": priority,
                "agent_id": agent_id,
                "agent": agent_names.get(agent_id),
                "flow": flow,
                "node": node,
                "language": language,
                "supervisors": [
                    {"id": id_, "name": name, "mode": mode} for id_, name, mode in supervisors
                ],
            }  # fmt: skip
        kept[call_sid] = (inputs, call)
        calls.append(call)
    rows.calls = kept
    return calls


# -- agents ------------------------------------------------------------------------------------


_BOARD_STAMPS = select(FactStamp.bucket, FactStamp.revision).where(
    FactStamp.bucket.in_((AGENTS_STAMP, HANDLES_STAMP, CARE_STAMP))
)
_AGENTS = (
    select(
        Agent.id,
        Agent.username,
        Agent.display_name,
        Agent.agent_number,
        Agent.role,
        cast(Agent.skills, Text),
        Agent.status,
        Agent.status_reason,
        type_coerce(Agent.status_since, String),
        Agent.current_call_sid,
        type_coerce(Agent.wrapup_until, String),
        not_(Agent.can_ring),  # not offered calls: their browser softphone cannot ring
    )
    .where(Agent.active.is_(True))
    .order_by(Agent.display_name, Agent.id)
)
_HOLDS = select(CallHandle.call_sid, CallHandle.hold_started_at).where(
    CallHandle.ended_at.is_(None),
    CallHandle.voided.is_(False),
    CallHandle.hold_started_at.is_not(None),
)
_RECORDINGS = select(CallRecording.call_sid, CallRecording.status).where(
    CallRecording.status.in_(ACTIVE)
)


def _agent_rows(
    session: Session, midnight: datetime, now: datetime, rows: BoardRows, stamps: dict[int, int]
) -> list[tuple[tuple[Any, ...], int, float, datetime | None, str | None]]:
    """Every active agent as read: the row (id, username, name, number, role, skills,
    status, reason, since, call SID, wrap-up end, softphone unreachable), handled and
    handle seconds today, the current call's hold start and recording state. The agents'
    rows, and their day, are read again only when their stamp moved (`stamps`, read
    before)."""
    agents_stamp, handles_stamp = stamps.get(AGENTS_STAMP, 0), stamps.get(HANDLES_STAMP, 0)
    kept = rows.handle_read
    if (
        kept is None or kept[0] != handles_stamp or kept[1] != midnight
        or (kept[2] is not None and kept[2] >= now)
    ):  # fmt: skip
        rows.reads["handles"] += 1
        since, latest = handling_since(session, midnight)
        holds = dict(session.execute(_HOLDS).all())
        kept = rows.handle_read = (handles_stamp, midnight, latest, since, holds)  # type: ignore[assignment]
    _, _, latest, today, holds = kept
    if latest is not None and latest >= now:  # a handle started after now (clocks apart)
        today = handling(session, midnight, now)
    if rows.agent_read is None or rows.agent_read[0] != agents_stamp:
        rows.reads["agents"] += 1
        rows.agent_read = (agents_stamp, [tuple(row) for row in session.execute(_AGENTS)])
    paused, recorded = set(), set()
    for call_sid, state in session.execute(_RECORDINGS):
        (paused if state == PAUSED else recorded).add(call_sid)
    read = []
    for row in rows.agent_read[1]:
        agent_id, call_sid = row[0], row[9]
        handled, seconds = today.get(agent_id, (0, 0.0))
        recording = (
            "paused" if call_sid in paused else "recording" if call_sid in recorded else None
        )
        read.append((row, handled, seconds, holds.get(call_sid), recording))
    return read


def _raw(column: Any) -> Any:
    """A timestamp column as the database driver gives it: cheap to read and compare, and
    decoded (`_decoder`) only for the rows that changed."""
    return type_coerce(column, String)


def _decoder(session: Session, column: Any) -> Callable[[Any], Any]:
    """What the column's type makes of a value read with `_raw`."""
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return process or (lambda value: value)


def _finish_agents(
    rows: BoardRows,
    read: list[tuple[tuple[Any, ...], int, float, datetime | None, str | None]],
    by_sid: dict[str, dict[str, Any]],
    decode: Callable[[Any], Any],
) -> list[dict[str, Any]]:
    """Every active agent: status and since when, current call, handled and AHT today
    (unchanged ones reused from `rows`)."""
    kept: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    agents = []
    for row, handled, seconds, hold_since, recording in read:
        (agent_id, username, name, number, role, skills, status, reason, since, call_sid,
         wrapup_until, unreachable) = row  # fmt: skip
        shown_sid = call_sid if status in ("ringing", "on-call", "wrap-up") else None
        call = by_sid.get(shown_sid or "")
        inputs = (row, handled, seconds, hold_since, recording, call)
        cached = rows.agents.get(agent_id)
        if cached is not None and cached[0] == inputs:
            agent = cached[1]
        else:
            agent = {
                "id": agent_id,
                "username": username,
                "name": name,
                "number": number,
                "role": role,
                "skills": _skills(skills),
                "status": status,
                "reason": reason,
                "since": _iso(decode(since)),
                "wrapup_until": _iso(decode(wrapup_until)) if status == "wrap-up" else None,
                "call_sid": shown_sid,
                "call": None,
                "handled_today": handled,
                "aht_today_seconds": ratio(seconds, handled),
                "softphone_unreachable": bool(unreachable),
            }  # fmt: skip
            if call is not None:
                agent["call"] = _agent_call(agent, call, hold_since, recording)
        kept[agent_id] = (inputs, agent)
        agents.append(agent)
    rows.agents = kept
    return agents


@lru_cache(maxsize=256)
def _skill_set(text: str | None) -> tuple[str, ...]:
    """An agent's skills from their JSON text (agents mostly share a few skill sets)."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(skill) for skill in value) if isinstance(value, list) else ()


def _skills(text: str | None) -> list[str]:
    return list(_skill_set(text))


def _agent_call(
    agent: dict[str, Any], call: dict[str, Any], hold_since: datetime | None, recording: str | None
) -> dict[str, Any]:
    """What the agents table shows of an agent's current call."""
    connected = call["state"] == "connected" and agent["status"] == "on-call"
    return {
        "call_sid": call["call_sid"],
        "state": call["state"],
        "caller": call["caller"],
        "customer": call["customer"],
        "tier": call["tier"],
        "queue": call["queue"],
        "talk_since": call["since"] if connected else None,
        "on_hold": hold_since is not None,
        "hold_since": _iso(hold_since),
        "recording": recording,
        "recording_paused": recording == "paused",
        "supervisors": call["supervisors"],
    }


# -- queues -----------------------------------------------------------------------------------


def _queues(
    session: Session,
    settings: Settings,
    now: datetime,
    today: dict[str, dict[str, Any]],
    live: dict[str, Any],
    agents: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    limits = thresholds(session, settings)
    unhandled = dict(
        session.execute(
            select(Voicemail.mailbox, func.count())
            .where(Voicemail.status.in_(UNHANDLED_VOICEMAIL))
            .group_by(Voicemail.mailbox)
        ).all()
    )
    # An available agent whose softphone cannot ring is not offered calls: counted apart.
    skill_sets = Counter(
        (
            frozenset(agent["skills"]),
            "softphone-not-ready"
            if agent["status"] == "available" and agent["softphone_unreachable"]
            else agent["status"],
        )
        for agent in agents
        if agent["status"] in AGENT_STATES
    )
    rows = []
    for name, queue in settings.queues.items():
        needed = set(queue.skills)
        staff: Counter[str] = Counter()
        for (skills, status), count in skill_sets.items():
            if needed <= skills:
                staff[status] += count
        counts = live.get(name, {"waiting": 0, "oldest": None, "callbacks": 0})
        figures = today.get(name, {})
        limit = limits[name]
        rows.append({
            "name": name,
            "display_name": queue.display_name,
            "waiting": counts["waiting"],
            "oldest_since": _iso(counts["oldest"]),
            "callbacks": counts["callbacks"],
            "agents": {
                "staffed": sum(staff.values()),
                "available": staff["available"],
                "softphone_not_ready": staff["softphone-not-ready"],
                "on_call": staff["ringing"] + staff["on-call"],
                "wrap_up": staff["wrap-up"],
                "away": staff["away"],
            },
            "today": {field: figures.get(field) for field in TODAY_FIELDS},
            "voicemails_unhandled": unhandled.get(queue.overflow_mailbox, 0)
            if queue.overflow_mailbox else 0,
            "thresholds": limit,
            "alerts": alerts(limit, counts["oldest"], figures.get("service_level"), now),
        })  # fmt: skip
    return rows


def alerts(
    limit: dict[str, Any], oldest: datetime | None, service_level: float | None, now: datetime
) -> dict[str, str]:
    """How a queue stands against its thresholds at `now`: ``oldest_wait`` is ``ok``,
    ``warn`` (from WARN_SHARE of the threshold) or ``alert`` (past it); ``service_level``
    ``ok``, ``alert`` (below target) or ``none`` (nothing answered or abandoned yet). The
    page re-judges the oldest wait every second as it grows."""
    waited = (now - oldest).total_seconds() if oldest else 0.0
    threshold = limit["oldest_wait_seconds"]
    wait_state = "alert" if waited > threshold else "ok"
    if wait_state == "ok" and waited >= WARN_SHARE * threshold:
        wait_state = "warn"
    if service_level is None:
        level_state = "none"
    else:
        level_state = "alert" if service_level < limit["service_level"] else "ok"
    return {"oldest_wait": wait_state, "service_level": level_state}


# -- today by interval ---------------------------------------------------------------------------


def _intervals(settings: Settings, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Today's 15-minute intervals so far: per queue and for all queues, the counts and
    the service level of each interval (None where nothing was answered or abandoned)."""
    starts: list[str] = []
    queues: dict[str, dict[str, list[Any]]] = {}
    center: dict[str, list[Any]] = {field: [] for field in CHART_FIELDS}
    for row in rows:
        start = row["interval_start"].isoformat()
        if not starts or starts[-1] != start:
            starts.append(start)
            for field in CHART_FIELDS:
                center[field].append(0)
        series = queues.setdefault(
            row["queue"], {field: [] for field in (*CHART_FIELDS, "service_level")}
        )
        for field in CHART_FIELDS:
            series[field].append(row[field])
            center[field][-1] += row[field]
        series["service_level"].append(row["service_level"])
    center["service_level"] = [
        ratio(within, answered + abandoned)
        for within, answered, abandoned in zip(
            center["answered_in_sl"], center["answered"], center["abandoned"], strict=True
        )
    ]
    return {"starts": starts, "queues": queues, "all": center}
