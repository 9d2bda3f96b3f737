"""Tickets as the API and the consoles show them (pure domain: reads only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.care.models import ACTIVE_TICKET, TICKET_STATUSES, Ticket, TicketCall, TicketEvent
from callcenter.care.ticket_deadlines import category_label, promise_text, promised_hours
from callcenter.config import Settings
from callcenter.models import Agent, Call


def _agent_brief(agent: Agent | None) -> dict[str, Any] | None:
    if agent is None:
        return None
    return {"id": agent.id, "username": agent.username, "name": agent.display_name,
            "number": agent.agent_number}  # fmt: skip


def describe(
    session: Session, settings: Settings, ticket: Ticket, now: datetime, *, full: bool = False
) -> dict[str, Any]:
    """A ticket for the API; `full` adds its history and linked calls."""
    active = ticket.status in ACTIVE_TICKET
    answer: dict[str, Any] = {
        "id": ticket.id,
        "category": ticket.category,
        "kind": ticket.kind,
        "category_label": category_label(settings, ticket.category, ticket.kind),
        "priority": ticket.priority,
        "priority_label": settings.tickets.priorities.get(ticket.priority, ticket.priority),
        "status": ticket.status,
        "description": ticket.description,
        "customer": ticket.customer.summary() if ticket.customer else None,
        "caller_number": ticket.caller_number,
        "queue": ticket.queue,
        "owner": _agent_brief(ticket.owner),
        "created_by": _agent_brief(ticket.created_by),
        "source": ticket.source,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "due_at": ticket.due_at.isoformat(),
        "promised_hours": promised_hours(settings, ticket.category, ticket.kind),
        "promise": promise_text(settings, ticket),
        "overdue": active and ticket.due_at < now,
        "due_soon": active
        and now <= ticket.due_at <= now + timedelta(hours=settings.tickets.due_soon_hours),
        "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
    }
    if full:
        events = session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        ).all()
        answer["history"] = [
            {
                "at": event.at.isoformat(),
                "kind": event.kind,
                "agent": _agent_brief(event.agent),
                "old": event.old_value,
                "new": event.new_value,
                "note": event.note,
            }
            for event in events
        ]
        answer["calls"] = linked_calls(session, ticket.id)
    return answer


def linked_calls(session: Session, ticket_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(TicketCall.call_sid, TicketCall.linked_at, Call.started_at, Call.queue, Call.outcome)
        .outerjoin(Call, Call.call_sid == TicketCall.call_sid)
        .where(TicketCall.ticket_id == ticket_id)
        .order_by(TicketCall.id)
    ).all()
    return [
        {
            "call_sid": sid,
            "linked_at": linked.isoformat(),
            "started_at": started.isoformat() if started else None,
            "queue": queue,
            "outcome": outcome,
        }
        for sid, linked, started, queue, outcome in rows
    ]


def brief(settings: Settings, ticket: Ticket, now: datetime) -> dict[str, Any]:
    """A ticket on the screen-pop: what it is, its state and its deadline."""
    return {
        "id": ticket.id,
        "category": ticket.category,
        "kind": ticket.kind,
        "category_label": category_label(settings, ticket.category, ticket.kind),
        "priority": ticket.priority,
        "status": ticket.status,
        "description": ticket.description[:200],
        "due_at": ticket.due_at.isoformat(),
        "overdue": ticket.due_at < now,
        "owner": ticket.owner.display_name if ticket.owner else None,
    }


def categories_payload(settings: Settings) -> dict[str, Any]:
    """The ticket form's choices: categories (with kinds and promised hours), priorities."""
    config = settings.tickets
    return {
        "categories": {
            name: {
                "label": c.label,
                "hours": c.hours,
                "kinds": {k: {"label": v.label, "hours": v.hours} for k, v in c.kinds.items()},
            }
            for name, c in config.categories.items()
        },
        "priorities": dict(config.priorities),
        "default_priority": config.default_priority,
        "statuses": list(TICKET_STATUSES),
    }
