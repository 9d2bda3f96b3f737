"""Business hours and holidays, time-zone aware."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcenter.config import WEEKDAYS, HoursConfig

# How far ahead `next_opening` looks (a year of holidays and a week of closed days).
_LOOKAHEAD_DAYS = 400


def local_time(hours: HoursConfig, at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("business-hours checks need an aware datetime")
    return at.astimezone(ZoneInfo(hours.timezone))


def is_holiday(hours: HoursConfig, at: datetime) -> bool:
    """True when the local date is a configured holiday."""
    return local_time(hours, at).date() in hours.holidays


def is_open(hours: HoursConfig, at: datetime) -> bool:
    """True when `at` falls in an opening range of its local weekday and is not a holiday."""
    local = local_time(hours, at)
    if local.date() in hours.holidays:
        return False
    moment = local.time().replace(tzinfo=None)
    return any(start <= moment < end for start, end in hours.ranges_for(local.weekday()))


def always_open(hours: HoursConfig) -> HoursConfig:
    """The same schedule open around the clock, with no holidays (the demo's hours)."""
    return HoursConfig(
        timezone=hours.timezone, weekly={day: ["00:00-24:00"] for day in WEEKDAYS}, holidays=[]
    )


def next_opening(hours: HoursConfig, at: datetime) -> datetime | None:
    """When the hours next open after `at` (local time), or None if never within a year."""
    local = local_time(hours, at)
    zone = ZoneInfo(hours.timezone)
    for offset in range(_LOOKAHEAD_DAYS):
        day = local.date() + timedelta(days=offset)
        if day in hours.holidays:
            continue
        for start, _end in sorted(hours.ranges_for(day.weekday())):
            opening = datetime.combine(day, start, zone)
            if opening > local and not is_open(hours, opening - timedelta(minutes=1)):
                return opening
    return None


def open_until(hours: HoursConfig, at: datetime) -> datetime | None:
    """When the hours close after `at`, following ranges that continue past midnight;
    None when they never close within a year."""
    local = local_time(hours, at)
    zone = ZoneInfo(hours.timezone)
    moment = local
    for _ in range(_LOOKAHEAD_DAYS):
        if not is_open(hours, moment):
            return moment
        day_ranges = hours.ranges_for(moment.weekday())
        now = moment.time().replace(tzinfo=None)
        end = max(end for start, end in day_ranges if start <= now < end)
        if end != time.max:
            moment = datetime.combine(moment.date(), end, zone)
        else:
            moment = datetime.combine(moment.date() + timedelta(days=1), time(0, 0), zone)
    return None


def _when(moment: datetime, now: datetime) -> str:
    """`Mon 09:00 (in 9 h 39 min)`, in the moment's own time zone."""
    minutes = max(0, round((moment - now).total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = ([f"{days} d"] if days else []) + ([f"{hours} h"] if hours else [])
    if mins or not parts:
        parts.append(f"{mins} min")
    return f"{moment:%a %H:%M} (in {' '.join(parts)})"


def describe_hours(name: str, hours: HoursConfig, at: datetime) -> str:
    """One line saying whether `name` is open at `at` and when that changes, e.g.
    `support: closed now (Sun 23:21 Asia/Shanghai), opens Mon 09:00 (in 9 h 39 min)`."""
    local = local_time(hours, at)
    here = f"{local:%a %H:%M} {hours.timezone}"
    if is_open(hours, at):
        until = open_until(hours, at)
        change = f", closes {_when(until, local)}" if until else ", around the clock"
        return f"{name}: open now ({here}){change}"
    opening = next_opening(hours, at)
    holiday = " for a holiday" if local.date() in hours.holidays else ""
    change = f", opens {_when(opening, local)}" if opening else ", no opening within a year"
    return f"{name}: closed now{holiday} ({here}){change}"
