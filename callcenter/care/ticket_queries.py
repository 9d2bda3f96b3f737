"""Finding tickets: who sees what, the lists, a caller's open tickets, the wallboard's counts.

Who sees what ("team", see docs/care.md): supervisors and admins see every ticket; an agent
sees the tickets they own or opened, those owned by a teammate (an agent sharing one of
their skills), and those of a queue whose calls they can take (they hold all its skills).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from callcenter.care.models import ACTIVE_TICKET, TICKET_STATUSES, Ticket
from callcenter.care.ticket_errors import TicketError, TicketInvalid
from callcenter.config import Settings
from callcenter.messages import N_, Phrase
from callcenter.models import Agent

SCOPES = ("mine", "team", "overdue", "all")


def teammates(session: Session, agent: Agent) -> set[int]:
    """Ids of the agents sharing at least one skill with `agent` (and the agent)."""
    skills = set(agent.skills or [])
    team = {agent.id}
    if not skills:
        return team
    for other_id, other_skills in session.execute(select(Agent.id, Agent.skills)).all():
        if skills & set(other_skills or []):
            team.add(other_id)
    return team


def agent_queues(settings: Settings, agent: Agent) -> list[str]:
    """Queues whose calls `agent` can take (they hold every skill the queue asks for)."""
    skills = set(agent.skills or [])
    return [name for name, queue in settings.queues.items() if set(queue.skills) <= skills]


def _visible(session: Session, settings: Settings, agent: Agent) -> ColumnElement[bool]:
    if agent.is_supervisor:
        return Ticket.id.is_not(None)
    queues = agent_queues(settings, agent)
    return or_(
        Ticket.owner_id.in_(teammates(session, agent)),
        Ticket.created_by_id == agent.id,
        Ticket.queue.in_(queues) if queues else false(),
    )


def may_see(session: Session, settings: Settings, agent: Agent, ticket: Ticket) -> bool:
    """Whether `agent` may see (and work on) `ticket`."""
    if agent.is_supervisor or agent.id in (ticket.owner_id, ticket.created_by_id):
        return True
    if ticket.owner_id is not None and ticket.owner_id in teammates(session, agent):
        return True
    return ticket.queue is not None and ticket.queue in agent_queues(settings, agent)


def get_visible(session: Session, settings: Settings, agent: Agent, ticket_id: int) -> Ticket:
    """The ticket, if `agent` may see it (TicketError 404/403 otherwise)."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketError("no such ticket", 404)
    if not may_see(session, settings, agent, ticket):
        raise TicketError("not a ticket of your team", 403)
    return ticket


def list_tickets(
    session: Session, settings: Settings, agent: Agent, now: datetime, *,
    scope: str = "team", status: str = "active", customer_id: int | None = None,
    limit: int = 100,
) -> list[Ticket]:  # fmt: skip
    """Tickets `agent` may see: `mine` (owned), `team` (all they may see), `overdue` (past
    the deadline, not resolved), `all` (the same as team; supervisors: everyone's).
    `status` is one of the statuses, `active` (open or in progress) or `any`; `customer_id`
    keeps one customer's. Soonest due first.
    """
    if scope not in SCOPES:
        raise TicketInvalid(
            {"scope": Phrase(N_("must be one of {choices}"), choices=", ".join(SCOPES))}
        )
    if status not in (*TICKET_STATUSES, "active", "any"):
        raise TicketInvalid({"status": N_("must be a status, active or any")})
    query = select(Ticket).where(_visible(session, settings, agent))
    if scope == "mine":
        query = query.where(Ticket.owner_id == agent.id)
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    if scope == "overdue":
        query = query.where(Ticket.status.in_(ACTIVE_TICKET), Ticket.due_at < now)
    elif status == "active":
        query = query.where(Ticket.status.in_(ACTIVE_TICKET))
    elif status != "any":
        query = query.where(Ticket.status == status)
    return list(session.scalars(query.order_by(Ticket.due_at, Ticket.id).limit(limit)))


def open_tickets_of_caller(
    session: Session, customer_id: int | None, number: str | None, limit: int = 5
) -> list[Ticket]:
    """The caller's tickets still being worked on (by customer, or by number), soonest due."""
    conditions = []
    if customer_id is not None:
        conditions.append(Ticket.customer_id == customer_id)
    if number:
        conditions.append(Ticket.caller_number == number)
    if not conditions:
        return []
    return list(
        session.scalars(
            select(Ticket)
            .where(or_(*conditions), Ticket.status.in_(ACTIVE_TICKET))
            .order_by(Ticket.due_at, Ticket.id)
            .limit(limit)
        )
    )


def ticket_counts(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """For the wallboard: tickets open (or in progress), overdue, and due within
    `tickets.due_soon_hours`."""
    soon = now + timedelta(hours=settings.tickets.due_soon_hours)
    active = Ticket.status.in_(ACTIVE_TICKET)
    row = session.execute(
        select(
            func.count(),
            func.count().filter(Ticket.due_at < now),
            func.count().filter(and_(Ticket.due_at >= now, Ticket.due_at <= soon)),
        ).where(active)
    ).one()
    return {"open": row[0], "overdue": row[1], "due_soon": row[2]}


def intents_of(tickets: Sequence[Ticket]) -> list[str]:
    """Knowledge-base intents for open tickets (`ticket.<category>`, `ticket.<category>.<kind>`)."""
    intents: list[str] = []
    for ticket in tickets:
        intents.append(f"ticket.{ticket.category}")
        if ticket.kind:
            intents.append(f"ticket.{ticket.category}.{ticket.kind}")
    return list(dict.fromkeys(intents))
