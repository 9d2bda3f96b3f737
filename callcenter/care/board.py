"""The figures of tickets and follow-ups for the supervisors' wallboard (pure domain)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.care.followups import followup_counts
from callcenter.care.models import ACTIVE_TICKET, Ticket
from callcenter.care.ticket_queries import ticket_counts
from callcenter.config import Settings


def wallboard_counts(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """``{"followups": {"open", "oldest_since", "oldest_seconds"},
    "tickets": {"open", "overdue", "due_soon"}}`` for the supervisors' wallboard."""
    return {
        "followups": followup_counts(session, now),
        "tickets": ticket_counts(session, settings, now),
    }


class CareCounts:
    """:func:`wallboard_counts` kept between wallboard builds: the open follow-ups and the
    active tickets' due times are read again only when the care stamp (`CARE_STAMP` in
    `fact_stamps`, moved by every process that changes what is counted) moved; overdue and
    due soon are counted from the due times at each build's `now`."""

    def __init__(self) -> None:
        self._kept: tuple[int, dict[str, Any], list[datetime]] | None = None
        self.reads = 0
        """How many builds read the tables again (for tests)."""

    def counts(
        self, session: Session, settings: Settings, now: datetime, stamp: int
    ) -> dict[str, Any]:
        """As :func:`wallboard_counts` at `now` without the oldest follow-up's seconds (the
        page counts them), `stamp` being the care stamp read before."""
        if self._kept is None or self._kept[0] != stamp:
            self.reads += 1
            followups = followup_counts(session, now)
            followups.pop("oldest_seconds", None)  # counted by the page
            dues = sorted(
                session.scalars(select(Ticket.due_at).where(Ticket.status.in_(ACTIVE_TICKET)))
            )
            self._kept = (stamp, followups, dues)
        _, followups, dues = self._kept
        soon = now + timedelta(hours=settings.tickets.due_soon_hours)
        late = bisect_left(dues, now)
        return {
            "followups": dict(followups),
            "tickets": {
                "open": len(dues),
                "overdue": late,
                "due_soon": bisect_right(dues, soon) - late,
            },
        }
