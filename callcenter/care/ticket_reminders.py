"""Deadlines passing: each ticket's owner is told once when its deadline is near and once
when it has passed (claimed here, sent by ``web/care_watch.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from callcenter.care.models import ACTIVE_TICKET, Ticket
from callcenter.config import Settings


def _reminders(
    settings: Settings, now: datetime
) -> list[tuple[str, Any, Select[tuple[int, int | None]]]]:
    """Per reminder ("overdue", then "due-soon"): the column noting it was sent, and the
    (ticket id, owner id) of the tickets it is due for."""
    soon = now + timedelta(hours=settings.tickets.due_soon_hours)
    return [
        (state, column, select(Ticket.id, Ticket.owner_id).where(
            Ticket.status.in_(ACTIVE_TICKET), Ticket.due_at <= limit, column.is_(None),
            Ticket.owner_id.is_not(None),
        ))
        for state, column, limit in (("overdue", Ticket.overdue_sent_at, now),
                                     ("due-soon", Ticket.due_soon_sent_at, soon))
    ]  # fmt: skip


def reminders_due(session: Session, settings: Settings, now: datetime) -> bool:
    """Whether :func:`due_reminders` has any reminder to claim, in a read (it writes)."""
    due = or_(*(rows.exists() for _state, _column, rows in _reminders(settings, now)))
    return bool(session.scalar(select(due)))


def due_reminders(
    session: Session, settings: Settings, now: datetime
) -> list[tuple[int, int, str]]:
    """Claim the reminders due now: (owner id, ticket id, "due-soon" | "overdue").

    Each ticket's owner is told once when its deadline is `tickets.due_soon_hours` away and
    once when it has passed; the claim is a guarded update, so with several processes only
    one of them tells.
    """
    found: list[tuple[int, int, str]] = []
    for state, column, rows_due in _reminders(settings, now):
        rows = session.execute(rows_due.order_by(Ticket.due_at).limit(200)).all()
        for ticket_id, owner_id in rows:
            values = {column.key: now}
            if state == "overdue":
                values["due_soon_sent_at"] = now  # no "due soon" after it is already late
            claimed = session.execute(
                update(Ticket).where(Ticket.id == ticket_id, column.is_(None)).values(**values)
            ).rowcount
            if claimed == 1:
                found.append((owner_id, ticket_id, state))
    return found
