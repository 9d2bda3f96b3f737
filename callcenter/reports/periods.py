"""Report periods as people type them: ISO dates or date-times in the center's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 92  # a quarter: longer periods are several reports
MAX_DAYS_BY_15M = 31  # 96 rows a day and queue


class ReportError(ValueError):
    """A report request that cannot be answered as asked (the message says why)."""


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, and the center's zone the user meant."""

    start: datetime
    end: datetime
    zone: ZoneInfo

    def describe(self) -> str:
        first, last = self.start.astimezone(self.zone), self.end.astimezone(self.zone)
        return f"{first.isoformat()} – {last.isoformat()}"


def parse_moment(text: str, zone: ZoneInfo, name: str, end: bool = False) -> datetime:
    """An ISO date (`2026-11-25`) or date-time (`2026-11-25T10:00`, with or without an
    offset) as an aware UTC time; a date-time without an offset is the center's local time.
    A date as the end of a period means the end of that day (the day is included)."""
    value = (text or "").strip()
    if not value:
        raise ReportError(f"{name}: required (an ISO date like 2026-11-25, or 2026-11-25T10:00)")
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise ReportError(
            f"{name}: {value[:40]!r} is not an ISO date or date-time (2026-11-25, 2026-11-25T10:00)"
        ) from None
    # Through UTC: a local time in a gap or fold of the clocks still gets one answer.
    return moment.astimezone(UTC)


def parse_period(
    start: str | None, end: str | None, timezone: str, interval: str | None = None
) -> Period:
    """The period [start, end) of a report; ReportError with a clear message if unusable."""
    zone = ZoneInfo(timezone)
    first = parse_moment(start or "", zone, "from")
    last = parse_moment(end or "", zone, "to", end=True)
    if last <= first:
        raise ReportError("to: must be after from")
    limit = MAX_DAYS_BY_15M if interval == "15m" else MAX_DAYS
    if last - first > timedelta(days=limit, hours=1):  # an hour's grace for clock changes
        what = "15-minute intervals" if interval == "15m" else "a report"
        raise ReportError(f"the period is too long for {what}: at most {limit} days")
    return Period(first, last, zone)


def parse_day(text: str | None, timezone: str) -> Period:
    """One local calendar day (`2026-11-25`) as a period."""
    value = (text or "").strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ReportError(f"date: {value[:40]!r} is not an ISO date (2026-11-25)") from None
    zone = ZoneInfo(timezone)
    first = datetime.combine(day, time(), zone).astimezone(UTC)
    last = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return Period(first, last, zone)
