"""The wallboard's alert thresholds per queue: the oldest wait and the service level.

Defaults come from ``wallboard`` in config.yaml; a supervisor's setting for a queue is kept
in ``queue_thresholds`` (shared by every supervisor, kept across restarts).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.messages import N_, Refusal
from callcenter.supervision.models import QueueThreshold

MAX_OLDEST_WAIT = 86400


class ThresholdError(Refusal, ValueError):
    """A threshold that cannot be set (unknown queue, value out of range)."""


def thresholds(session: Session, settings: Settings) -> dict[str, dict[str, Any]]:
    """Per configured queue: ``oldest_wait_seconds``, ``service_level`` (0–1) and
    ``custom`` (which of the two a supervisor set; the others are the defaults)."""
    default = settings.wallboard
    rows = {row.queue: row for row in session.scalars(select(QueueThreshold))}
    result = {}
    for name in settings.queues:
        row = rows.get(name)
        wait = row.oldest_wait_seconds if row else None
        level = row.service_level if row else None
        result[name] = {
            "oldest_wait_seconds": wait if wait is not None else default.oldest_wait_seconds,
            "service_level": level if level is not None else default.service_level,
            "custom": [k for k, v in (("oldest_wait_seconds", wait), ("service_level", level))
                       if v is not None],
        }  # fmt: skip
    return result


_UNSET: Any = object()


def _oldest_wait(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ThresholdError(N_("oldest_wait_seconds must be a whole number of seconds"))
    if not 1 <= value <= MAX_OLDEST_WAIT:
        raise ThresholdError(
            N_("oldest_wait_seconds must be from 1 to {limit}"), limit=MAX_OLDEST_WAIT
        )
    return int(value)


def _service_level(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ThresholdError(N_("service_level must be a number from 0 to 1"))
    return float(value)


def set_thresholds(
    session: Session,
    settings: Settings,
    queue: Any,
    now: datetime,
    *,
    oldest_wait_seconds: Any = _UNSET,
    service_level: Any = _UNSET,
    by: int | None = None,
) -> dict[str, Any]:
    """Set a queue's thresholds (a value left out stays; None goes back to the default).
    Returns the queue's thresholds as :func:`thresholds` gives them."""
    if not isinstance(queue, str) or queue not in settings.queues:
        raise ThresholdError(N_("unknown queue"))
    if oldest_wait_seconds is _UNSET and service_level is _UNSET:
        raise ThresholdError(N_("give oldest_wait_seconds or service_level"))
    row = session.get(QueueThreshold, queue, with_for_update=True)
    if row is None:
        row = QueueThreshold(queue=queue)
        session.add(row)
    if oldest_wait_seconds is not _UNSET:
        row.oldest_wait_seconds = _oldest_wait(oldest_wait_seconds)
    if service_level is not _UNSET:
        row.service_level = _service_level(service_level)
    row.updated_at = now
    row.updated_by_id = by
    session.flush()
    return thresholds(session, settings)[queue]
