"""Small helpers shared by the switchboard's parts and the REST API."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime


def _parse_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() == "true"


def _split_events(values: Iterable[str]) -> tuple[str, ...]:
    """Events given as repeated fields and/or space- or comma-separated lists."""
    events: list[str] = []
    for value in values:
        events.extend(part for part in re.split(r"[\s,]+", value.strip()) if part)
    return tuple(events)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
