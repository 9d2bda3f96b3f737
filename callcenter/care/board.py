"""The figures of tickets and follow-ups for the supervisors' wallboard (pure domain)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from callcenter.care.followups import followup_counts
from callcenter.care.ticket_queries import ticket_counts
from callcenter.config import Settings


def wallboard_counts(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """``{"followups": {"open", "oldest_since", "oldest_seconds"},
    "tickets": {"open", "overdue", "due_soon"}}`` for the supervisors' wallboard."""
    return {
        "followups": followup_counts(session, now),
        "tickets": ticket_counts(session, settings, now),
    }
