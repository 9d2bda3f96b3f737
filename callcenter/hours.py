"""Business hours and holidays, time-zone aware."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from callcenter.config import HoursConfig


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
