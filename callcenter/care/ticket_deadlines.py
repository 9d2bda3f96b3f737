"""A ticket's promise: the handling time its category (and kind) promises, the deadline, and
the sentence the agent tells the caller (see config `tickets`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.care.models import Ticket
from callcenter.config import Settings


def promised_hours(settings: Settings, category: str, kind: str | None) -> float:
    """The promised handling time of a category (and kind), in hours (see config `tickets`)."""
    config = settings.tickets.categories[category]
    if kind is not None and kind in config.kinds:
        return config.kinds[kind].hours
    return config.hours


def deadline(settings: Settings, category: str, kind: str | None, start: datetime) -> datetime:
    """When a ticket opened at `start` is due."""
    return start + timedelta(hours=promised_hours(settings, category, kind))


def _hours_text(hours: float) -> str:
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def promise_text(settings: Settings, ticket: Ticket) -> str:
    """What the agent tells the caller: the promised time and the deadline (local time)."""
    local = ticket.due_at.astimezone(ZoneInfo(settings.timezone))
    hours = promised_hours(settings, ticket.category, ticket.kind)
    label = category_label(settings, ticket.category, ticket.kind)
    return (
        f"{label}: we promise an answer within {_hours_text(hours)}, "
        f"by {local:%a} {local.day} {local:%b %H:%M}."
    )


def category_label(settings: Settings, category: str, kind: str | None = None) -> str:
    config = settings.tickets.categories.get(category)
    if config is None:
        return category
    if kind and kind in config.kinds:
        return f"{config.label} ({config.kinds[kind].label})"
    return config.label
