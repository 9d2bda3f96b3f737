"""Queue metrics per interval and queue, totals over a period, and today so far.

Everything is aggregated by the database from the facts (queue entries and the agents'
handles of calls, with the callers' survey scores, see facts.py) at the time of the query,
so late events are always included. The database groups by queue and by 15-minute UTC
bucket of the time the caller entered the queue; buckets are then merged into the center's
15-minute, hour or day intervals (every time zone in use is a whole number of quarter hours
from UTC, so a bucket never straddles two intervals). A month of a busy center is a few
thousand buckets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.metrics.definitions import ratio
from callcenter.metrics.facts import (
    BUCKET_SECONDS,
    CallHandle,
    FactStamp,
    QueueEntry,
    bucket_number,
)

Interval = Literal["15m", "1h", "1d"]
INTERVALS: tuple[Interval, ...] = ("15m", "1h", "1d")


@dataclass
class _Totals:
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    callbacks_requested: int = 0
    callbacks_made: int = 0
    voicemails: int = 0
    answered_wait: float = 0.0
    longest_wait: float | None = None
    talk: float = 0.0
    hold: float = 0.0
    wrapup: float = 0.0
    handled: int = 0
    csat_sum: float = 0.0
    csat_responses: int = 0

    def add(self, other: _Totals) -> None:
        for name in self.__dataclass_fields__:
            if name == "longest_wait":
                waits = [w for w in (self.longest_wait, other.longest_wait) if w is not None]
                self.longest_wait = max(waits) if waits else None
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def row(self, interval_start: datetime, queue: str) -> dict[str, Any]:
        handle_time = self.talk + self.hold + self.wrapup
        return {
            "interval_start": interval_start,
            "queue": queue,
            "offered": self.offered,
            "answered": self.answered,
            "answered_in_sl": self.answered_in_sl,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "callbacks_requested": self.callbacks_requested,
            "callbacks_made": self.callbacks_made,
            "voicemails": self.voicemails,
            "service_level": ratio(self.answered_in_sl, self.answered + self.abandoned),
            "asa_seconds": ratio(self.answered_wait, self.answered),
            "aht_seconds": ratio(handle_time, self.handled),
            "talk_seconds": self.talk,
            "hold_seconds": self.hold,
            "wrapup_seconds": self.wrapup,
            "abandon_rate": ratio(self.abandoned, self.offered),
            "longest_wait_seconds": self.longest_wait,
            "csat_average": ratio(self.csat_sum, self.csat_responses),
            "csat_responses": self.csat_responses,
        }


def bucket_of(session: Session, column: Any) -> ColumnElement[Any]:
    """The 15-minute UTC bucket number of a timestamp column (seconds since 1970 ÷ 900)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.floor(func.extract("epoch", column) / BUCKET_SECONDS)
    return cast(func.strftime("%s", column), Integer) // BUCKET_SECONDS


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


Key = tuple[int | None, str]  # (bucket, or None over the whole period; queue)


def _aggregate(
    session: Session, settings: Settings, start: datetime, end: datetime, now: datetime,
    queue: str | None, by_bucket: bool,
) -> dict[Key, _Totals]:  # fmt: skip
    totals, waiting = _aggregate_facts(session, settings, [(start, end)], queue, by_bucket)
    return _with_live_waits(totals, waiting, now)


def _with_live_waits(
    totals: dict[Key, _Totals], waiting: dict[Key, datetime], now: datetime
) -> dict[Key, _Totals]:
    """The longest wait of each group counting the callers still waiting at `now` (since
    `waiting`, the oldest such entry) with the finished waits."""
    for key, oldest in waiting.items():
        item = totals[key]
        live = max(0.0, (now - oldest).total_seconds())
        item.longest_wait = live if item.longest_wait is None else max(item.longest_wait, live)
    return totals


def _aggregate_facts(
    session: Session, settings: Settings, ranges: list[tuple[datetime, datetime]],
    queue: str | None, by_bucket: bool,
) -> tuple[dict[Key, _Totals], dict[Key, datetime]]:  # fmt: skip
    """The facts of the queue entries that entered in any of `ranges` ([start, end) each),
    per queue (and bucket): the totals with the longest *finished* wait, and when the
    oldest entry still waiting began."""
    config = settings.metrics
    entry = QueueEntry
    live = and_(entry.kind != "callback", entry.callback_requested.is_(False))
    wait = func.coalesce(entry.wait_seconds, 0)
    answered = and_(entry.outcome == "answered", live)
    abandoned = and_(entry.outcome == "abandoned", live)
    bucket = bucket_of(session, entry.entered_at) if by_bucket else literal(-1)
    group = [bucket, entry.queue] if by_bucket else [entry.queue]
    spans = [and_(entry.entered_at >= start, entry.entered_at < end) for start, end in ranges]
    where = [spans[0] if len(spans) == 1 else or_(*spans)]
    if queue is not None:
        where.append(entry.queue == queue)
    statement = (
        select(
            bucket.label("bucket"),
            entry.queue,
            _flag(entry.kind != "callback"),
            _flag(answered),
            _flag(and_(answered, wait <= config.service_level_seconds)),
            _flag(and_(abandoned, wait > config.short_abandon_seconds)),
            _flag(and_(abandoned, wait <= config.short_abandon_seconds)),
            _flag(entry.callback_requested.is_(True)),
            _flag(and_(entry.outcome == "answered", ~live)),
            _flag(entry.voicemail.is_(True)),
            func.sum(case((answered, wait), else_=0)),
            func.max(case((and_(live, entry.left_at.is_not(None)), entry.wait_seconds))),
            func.min(case((and_(live, entry.left_at.is_(None)), entry.entered_at))),
        )
        .where(*where)
        .group_by(*group)
    )
    totals: dict[Key, _Totals] = {}
    waiting: dict[Key, datetime] = {}
    for row in session.execute(statement):
        key = (_int(row[0]), row[1])
        oldest_waiting = row[12]
        if isinstance(oldest_waiting, str):  # SQLite gives MIN() of a date back as text
            oldest_waiting = datetime.fromisoformat(oldest_waiting).replace(tzinfo=UTC)
        if oldest_waiting is not None:
            waiting[key] = oldest_waiting
        totals[key] = _Totals(
            offered=row[2] or 0, answered=row[3] or 0, answered_in_sl=row[4] or 0,
            abandoned=row[5] or 0, short_abandoned=row[6] or 0, callbacks_requested=row[7] or 0,
            callbacks_made=row[8] or 0, voicemails=row[9] or 0, answered_wait=float(row[10] or 0),
            longest_wait=float(row[11]) if row[11] is not None else None,
        )  # fmt: skip
    handle = CallHandle
    work = (
        select(
            bucket.label("bucket"),
            entry.queue,
            func.sum(handle.talk_seconds),
            func.sum(handle.hold_seconds),
            func.sum(handle.wrapup_seconds),
            func.count(func.distinct(handle.entry_id)),
            func.sum(handle.csat),
            func.count(handle.csat),
        )
        .join(entry, entry.id == handle.entry_id)
        .where(*where, handle.ended_at.is_not(None), handle.voided.is_(False))
        .group_by(*group)
    )
    for row in session.execute(work):
        item = totals.setdefault((_int(row[0]), row[1]), _Totals())
        item.talk, item.hold, item.wrapup = (float(v or 0) for v in row[2:5])
        item.handled = row[5] or 0
        item.csat_sum, item.csat_responses = float(row[6] or 0), row[7] or 0
    return totals, waiting


def _int(value: Any) -> int | None:
    return None if value is None or int(value) == -1 else int(value)


def interval_start(moment: datetime, interval: Interval, zone: ZoneInfo) -> datetime:
    """The start of the center's interval holding `moment`, as an aware local time."""
    local = moment.astimezone(zone)
    if interval == "15m":
        local = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    elif interval == "1h":
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        local = datetime(local.year, local.month, local.day, tzinfo=zone)
    # Through UTC and back: the right offset even when the clocks changed in between.
    return local.astimezone(UTC).astimezone(zone)


def _interval_starts(start: datetime, end: datetime, interval: Interval, zone: ZoneInfo
                     ) -> Iterator[datetime]:  # fmt: skip
    seen: set[datetime] = set()
    moment = start
    while moment < end:
        first = interval_start(moment, interval, zone)
        if first not in seen:
            seen.add(first)
            yield first
        moment += timedelta(seconds=BUCKET_SECONDS)


def queue_report(
    session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    interval: Interval = "1h",
    queue: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per interval and queue of the period [start, end), in time order, every
    interval listed (empty ones too); the fields of :data:`definitions.QUEUE_FIELDS`.

    `now` (default: the current time) is how far a caller still waiting has waited.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval: one of {', '.join(INTERVALS)}")
    zone = ZoneInfo(settings.timezone)
    now = now or datetime.now(UTC)
    totals = _aggregate(session, settings, start, end, now, queue, by_bucket=True)
    merged: dict[tuple[datetime, str], _Totals] = {}
    for (bucket, name), item in totals.items():
        moment = datetime.fromtimestamp((bucket or 0) * BUCKET_SECONDS, UTC)
        key = (interval_start(moment, interval, zone).astimezone(UTC), name)
        merged.setdefault(key, _Totals()).add(item)
    names = [queue] if queue is not None else _queue_names(settings, {n for _, n in totals})
    rows = []
    for first in _interval_starts(start, end, interval, zone):
        for name in names:
            item = merged.get((first.astimezone(UTC), name), _Totals())
            rows.append(item.row(first, name))
    return rows


def _queue_names(settings: Settings, found: set[str]) -> list[str]:
    """The configured queues, then any others found in the data (a queue since removed)."""
    return [*settings.queues, *sorted(found - set(settings.queues))]


def queue_totals(
    session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    queue: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per queue for the whole period [start, end) (``interval_start`` = start)."""
    now = now or datetime.now(UTC)
    totals = _aggregate(session, settings, start, end, now, queue, by_bucket=False)
    names = [queue] if queue is not None else _queue_names(settings, {n for _, n in totals})
    zone = ZoneInfo(settings.timezone)
    return [totals.get((None, name), _Totals()).row(start.astimezone(zone), name) for name in names]


def queue_today(
    session: Session, settings: Settings, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Today so far per queue (from midnight in the center's time zone), for the wallboard:
    one indexed pass over today's queue entries."""
    now = now or datetime.now(UTC)
    midnight = interval_start(now, "1d", ZoneInfo(settings.timezone))
    rows = queue_totals(session, settings, midnight, now + timedelta(microseconds=1), now=now)
    return {row["queue"]: row for row in rows}


class TodayFigures:
    """Today's facts per 15-minute bucket, kept from one wallboard build to the next.

    Each build reads the day's :class:`FactStamp` revisions (one short primary-key range)
    and aggregates again only the buckets whose revision moved since they were kept. The
    bucket still open was counted up to the `now` of its aggregation: it is kept while its
    revision stands and no entry entered after that moment (one indexed probe). Every
    transaction that writes a queue entry or a handle bumps its buckets' revisions as it
    commits, whichever process it runs in, so a late status callback, a survey score or
    another process's write is seen by the next build: the figures are those of a full aggregation.
    The longest wait of callers still waiting is counted from `now` at every build."""

    def __init__(self) -> None:
        self._rules: tuple[Any, ...] | None = None
        # bucket → (its revision when kept; totals and oldest waiting entry per queue)
        self._buckets: dict[int, tuple[int, dict[str, _Totals], dict[str, datetime]]] = {}
        # bucket → the `now` it was aggregated up to, while it was still open
        self._partial: dict[int, datetime] = {}
        self._now = datetime.min.replace(tzinfo=UTC)
        self.aggregated = 0
        """Buckets aggregated by the last build (the rest were kept)."""

    def totals(
        self, session: Session, settings: Settings, midnight: datetime, now: datetime
    ) -> dict[Key, _Totals]:
        """Per (bucket, queue), the facts of the entries that entered in [midnight, now]."""
        rules = (settings.metrics.service_level_seconds, settings.metrics.short_abandon_seconds)
        if rules != self._rules or now < self._now:  # (the clock went back: start again)
            self._rules, self._buckets, self._partial = rules, {}, {}
        self._now = now
        first, last = bucket_number(midnight), bucket_number(now)
        # The revisions first, then the facts: a change committed in between is in the facts
        # and, its revision being newer than the one kept, aggregated again next time.
        stamps: dict[int, int] = dict(
            session.execute(  # type: ignore[arg-type]
                select(FactStamp.bucket, FactStamp.revision).where(
                    FactStamp.bucket >= first, FactStamp.bucket <= last
                )
            ).all()
        )
        self._buckets = {b: kept for b, kept in self._buckets.items() if first <= b <= last}
        self._partial = {b: until for b, until in self._partial.items() if b in self._buckets}
        stale = [
            b for b in range(first, last + 1)
            if b not in self._buckets or self._buckets[b][0] != stamps.get(b, 0)
        ]  # fmt: skip
        if self._partial and not self._complete(session, now):
            stale = sorted({*stale, *self._partial})
        self.aggregated = len(stale)
        ranges: list[tuple[datetime, datetime]] = []
        for b in stale:
            start = datetime.fromtimestamp(b * BUCKET_SECONDS, UTC)
            end = datetime.fromtimestamp((b + 1) * BUCKET_SECONDS, UTC)
            if ranges and ranges[-1][1] == start:
                start = ranges.pop()[0]
            ranges.append((max(start, midnight), min(end, now + timedelta(microseconds=1))))
        if not ranges:
            return self._kept(now)
        found, waiting = _aggregate_facts(session, settings, ranges, None, by_bucket=True)
        for b in stale:
            self._buckets[b] = (stamps.get(b, 0), {}, {})
            self._partial.pop(b, None)
        if last in stale:
            self._partial[last] = now  # counted up to now: complete while nothing enters later
        for (b, name), item in found.items():
            self._buckets[b][1][name] = item  # type: ignore[index]
        for (b, name), since in waiting.items():
            self._buckets[b][2][name] = since  # type: ignore[index]
        return self._kept(now)

    def _complete(self, session: Session, now: datetime) -> bool:
        """Whether the buckets aggregated while open hold every entry of theirs: no entry
        entered after the moment they were counted up to (one indexed probe). An entry
        written since then has moved its bucket's revision anyway; this catches one that
        another process committed earlier with a later time (clocks a little apart)."""
        start = datetime.fromtimestamp(min(self._partial) * BUCKET_SECONDS, UTC)
        latest = session.scalar(
            select(func.max(QueueEntry.entered_at)).where(QueueEntry.entered_at >= start)
        )
        if isinstance(latest, str):  # SQLite may give MAX() of a date back as text
            latest = datetime.fromisoformat(latest).replace(tzinfo=UTC)
        return latest is None or latest <= min(self._partial.values())

    def _kept(self, now: datetime) -> dict[Key, _Totals]:
        totals: dict[Key, _Totals] = {}
        live: dict[Key, datetime] = {}
        for b, (_, items, oldest) in self._buckets.items():
            for name, item in items.items():
                totals[(b, name)] = replace(item)
            for name, since in oldest.items():
                live[(b, name)] = since
        return _with_live_waits(totals, live, now)


def queue_today_by_interval(
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    kept: TodayFigures | None = None,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Today so far per queue (as :func:`queue_today`) and today's 15-minute rows (as
    :func:`queue_report`), from one pass over today's facts: the wallboard's figures.
    With `kept` (held by the caller between calls), only the buckets that changed are
    aggregated again."""
    zone = ZoneInfo(settings.timezone)
    now = now or datetime.now(UTC)
    midnight = interval_start(now, "1d", zone)
    end = now + timedelta(microseconds=1)
    if kept is not None:
        totals = kept.totals(session, settings, midnight, now)
    else:
        totals = _aggregate(session, settings, midnight, end, now, None, by_bucket=True)
    names = _queue_names(settings, {n for _, n in totals})
    day: dict[str, _Totals] = {name: _Totals() for name in names}
    merged: dict[tuple[datetime, str], _Totals] = {}
    for (bucket, name), item in totals.items():
        day[name].add(item)
        moment = datetime.fromtimestamp((bucket or 0) * BUCKET_SECONDS, UTC)
        merged.setdefault((interval_start(moment, "15m", zone), name), _Totals()).add(item)
    today = {name: day[name].row(midnight, name) for name in names}
    rows = [
        merged.get((first.astimezone(UTC), name), _Totals()).row(first, name)
        for first in _interval_starts(midnight, end, "15m", zone)
        for name in names
    ]
    return today, rows


def all_queues_total(
    session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    queue: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """All queues (or only `queue`) together over [start, end): one row, ``queue`` None."""
    now = now or datetime.now(UTC)
    total = _Totals()
    for item in _aggregate(session, settings, start, end, now, queue, by_bucket=False).values():
        total.add(item)
    return {**total.row(start.astimezone(ZoneInfo(settings.timezone)), ""), "queue": None}
