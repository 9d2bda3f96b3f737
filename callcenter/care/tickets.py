"""Tickets: complaints and work orders with a promised deadline (pure domain).

Functions take a session, flush at most and never commit. Every change of a ticket (its
creation, status, priority, owner, a note, a linked call) is kept as a :class:`TicketEvent`.

Who sees what ("team", see docs/care.md): supervisors and admins see every ticket; an agent
sees the tickets they own or opened, those owned by a teammate (an agent sharing one of
their skills), and those of a queue whose calls they can take (they hold all its skills).

>>> ticket, created = create_ticket(session, settings, agent, {"category": "repair",
...     "description": "Screen flickers", "call_sid": call.call_sid}, now)
>>> promise_text(settings, ticket)
'Repair: we promise an answer within 72 hours, by Sat 28 Nov 10:00.'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.calls.records import CALL_SID, get_call, log_event, may_see_call
from callcenter.care.models import ACTIVE_TICKET, TICKET_STATUSES, Ticket, TicketCall, TicketEvent
from callcenter.config import Settings
from callcenter.models import Agent, Call, Customer

MAX_DESCRIPTION = 4000
MAX_NOTE = 4000
MAX_REQUEST_ID = 64
# Allowed status moves. Reopening a closed ticket is for supervisors only.
TRANSITIONS = {
    "open": {"in_progress", "resolved", "closed"},
    "in_progress": {"open", "resolved", "closed"},
    "resolved": {"in_progress", "closed"},
    "closed": {"in_progress"},
}
SCOPES = ("mine", "team", "overdue", "all")


class TicketInvalid(Exception):
    """Fields that cannot be accepted: ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = dict(errors)


class TicketError(Exception):
    """A ticket action refused: ``status`` is 403 (not allowed), 404 (none) or 409."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


# -- deadlines --------------------------------------------------------------------------------


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


# -- who sees what ----------------------------------------------------------------------------


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
        raise TicketInvalid({"scope": f"must be one of {', '.join(SCOPES)}"})
    if status not in (*TICKET_STATUSES, "active", "any"):
        raise TicketInvalid({"status": "must be a status, active or any"})
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


# -- creating ---------------------------------------------------------------------------------


@dataclass
class _Checked:
    errors: dict[str, str]

    def text(self, body: Mapping[str, Any], name: str, *, required: bool, limit: int) -> str | None:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip() and not required):
            if required:
                self.errors[name] = "is required"
            return None
        if not isinstance(value, str):
            self.errors[name] = "must be text"
            return None
        value = value.strip()
        if required and not value:
            self.errors[name] = "is required"
        elif len(value) > limit:
            self.errors[name] = f"must be at most {limit} characters"
        return value

    def ident(self, body: Mapping[str, Any], name: str) -> int | None:
        value = body.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            self.errors[name] = "must be an id (a positive integer)"
            return None
        return value


def _category(
    checked: _Checked, settings: Settings, body: Mapping[str, Any]
) -> tuple[str, str | None]:
    categories = settings.tickets.categories
    category = checked.text(body, "category", required=True, limit=40)
    if category is not None and category not in categories:
        checked.errors["category"] = f"must be one of {', '.join(categories)}"
    kind = checked.text(body, "kind", required=False, limit=40)
    config = categories.get(category or "")
    if config is not None and config.kinds:
        if kind is None and "kind" not in checked.errors:
            checked.errors["kind"] = f"is required for {config.label.lower()}: " + ", ".join(
                config.kinds
            )
        elif kind is not None and kind not in config.kinds:
            checked.errors["kind"] = f"must be one of {', '.join(config.kinds)}"
    elif kind is not None and config is not None:
        checked.errors["kind"] = f"{config.label.lower()} tickets have no kind"
    return category or "", kind


def _owner(
    session: Session,
    checked: _Checked,
    agent: Agent,
    owner_id: int | None,
    *,
    field: str = "owner_id",
) -> Agent | None:
    """The owner named by `owner_id`: an active agent; agents may name themselves or a teammate."""
    if owner_id is None:
        return None
    owner = session.get(Agent, owner_id)
    if owner is None or not owner.active:
        checked.errors[field] = "no such agent"
        return None
    if not agent.is_supervisor and owner.id not in teammates(session, agent):
        checked.errors[field] = "agents give tickets only to their team (agents sharing a skill)"
        return None
    return owner


def create_ticket(
    session: Session, settings: Settings, agent: Agent, body: Mapping[str, Any], now: datetime
) -> tuple[Ticket, bool]:
    """Open a ticket from the fields an agent sent; returns (ticket, created).

    Fields: `category` (and `kind` for a category with kinds), `priority`, `description`,
    `owner_id` (default: the agent), `call_sid` (the call it is about: its caller and queue
    are taken from it), `customer_id`, `caller_number`, and `request_id` (the form's own id
    for this submission: sending it again returns the ticket already opened).
    """
    checked = _Checked({})
    category, kind = _category(checked, settings, body)
    priorities = settings.tickets.priorities
    priority = checked.text(body, "priority", required=False, limit=20) or (
        settings.tickets.default_priority
    )
    if priority not in priorities:
        checked.errors["priority"] = f"must be one of {', '.join(priorities)}"
    description = checked.text(body, "description", required=True, limit=MAX_DESCRIPTION)
    request_id = checked.text(body, "request_id", required=False, limit=MAX_REQUEST_ID)
    owner = _owner(session, checked, agent, checked.ident(body, "owner_id"))
    call = _call(session, checked, agent, body.get("call_sid"))
    customer = _customer(session, checked, checked.ident(body, "customer_id"))
    number = checked.text(body, "caller_number", required=False, limit=32)
    if checked.errors:
        raise TicketInvalid(checked.errors)
    key = f"req:{agent.id}:{request_id}" if request_id else None
    if key is not None:
        existing = session.scalar(select(Ticket).where(Ticket.dedupe_key == key))
        if existing is not None:
            return existing, False
    if customer is None and call is not None:
        customer = call.customer
    if number is None and call is not None:
        number = call.caller_number
    if number is None and customer is not None and customer.phones:
        number = customer.phones[0].number
    ticket = Ticket(
        category=category,
        kind=kind,
        priority=priority,
        status="open",
        description=description or "",
        customer_id=customer.id if customer else None,
        caller_number=number,
        queue=call.queue if call else None,
        owner_id=(owner or agent).id,
        created_by_id=agent.id,
        source="agent",
        dedupe_key=key,
        created_at=now,
        updated_at=now,
        due_at=deadline(settings, category, kind, now),
    )
    saved = _insert(session, ticket, key)
    if saved is not ticket:
        return saved, False
    _history(session, ticket, agent.id, "created", new=ticket.status, now=now)
    if call is not None:
        link_call(session, ticket, call.call_sid, agent.id, now)
    return ticket, True


def _insert(session: Session, ticket: Ticket, key: str | None) -> Ticket:
    """Add the ticket; a concurrent twin with the same dedupe key wins (double click)."""
    try:
        with session.begin_nested():
            session.add(ticket)
    except IntegrityError:
        if key is None:
            raise
        return session.scalars(select(Ticket).where(Ticket.dedupe_key == key)).one()
    return ticket


def _call(session: Session, checked: _Checked, agent: Agent, call_sid: Any) -> Call | None:
    if call_sid is None:
        return None
    if not isinstance(call_sid, str) or not CALL_SID.fullmatch(call_sid):
        checked.errors["call_sid"] = "must be a call SID (CA + 32 hex digits)"
        return None
    call = get_call(session, call_sid)
    if call is None or not may_see_call(session, agent, call, ringing=True):
        checked.errors["call_sid"] = "no such call of yours"
        return None
    return call


def _customer(session: Session, checked: _Checked, customer_id: int | None) -> Customer | None:
    if customer_id is None:
        return None
    customer = session.get(Customer, customer_id)
    if customer is None:
        checked.errors["customer_id"] = "no such customer"
    return customer


def open_survey_ticket(
    session: Session, settings: Settings, call: Call, score: int, now: datetime
) -> Ticket | None:
    """A post-call survey scored 1 or 2: open (once per call) a follow-up ticket for the
    call's agent, of category `tickets.survey_category`. Returns it (None for a good score).
    """
    if score > 2:
        return None
    key = f"survey:{call.call_sid}"
    existing = session.scalar(select(Ticket).where(Ticket.dedupe_key == key))
    if existing is not None:
        return existing
    config = settings.tickets
    category = config.survey_category
    ticket = Ticket(
        category=category,
        kind=None,
        priority=config.survey_priority,
        status="open",
        description=f"The caller scored the call {score} of 5 in the post-call survey: "
        "call them back and find out what went wrong.",
        customer_id=call.customer_id,
        caller_number=call.caller_number,
        queue=call.queue,
        owner_id=call.agent_id,
        created_by_id=None,
        source="survey",
        dedupe_key=key,
        created_at=now,
        updated_at=now,
        due_at=deadline(settings, category, None, now),
    )
    saved = _insert(session, ticket, key)
    if saved is ticket:
        _history(
            session, ticket, None, "created", new="open", note=f"survey score {score}", now=now
        )
        link_call(session, ticket, call.call_sid, None, now)
    return saved


# -- changing ---------------------------------------------------------------------------------


def _history(
    session: Session, ticket: Ticket, agent_id: int | None, kind: str, *,
    old: str | None = None, new: str | None = None, note: str = "", now: datetime,
) -> None:  # fmt: skip
    session.add(
        TicketEvent(
            ticket_id=_flushed_id(session, ticket),
            at=now,
            agent_id=agent_id,
            kind=kind,
            old_value=old,
            new_value=new,
            note=note,
        )
    )
    ticket.updated_at = now


def _flushed_id(session: Session, ticket: Ticket) -> int:
    if ticket.id is None:
        session.flush()
    return ticket.id


def link_call(
    session: Session, ticket: Ticket, call_sid: str, agent_id: int | None, now: datetime
) -> bool:
    """Link a call to the ticket (once); True when newly linked."""
    ticket_id = _flushed_id(session, ticket)
    exists = session.scalar(
        select(TicketCall.id).where(
            TicketCall.ticket_id == ticket_id, TicketCall.call_sid == call_sid
        )
    )
    if exists is not None:
        return False
    session.add(
        TicketCall(ticket_id=ticket_id, call_sid=call_sid, linked_at=now, linked_by_id=agent_id)
    )
    session.add(TicketEvent(ticket_id=ticket_id, at=now, agent_id=agent_id, kind="call",
                            new_value=call_sid, note=""))  # fmt: skip
    log_event(session, call_sid, "ticket.linked", ticket=ticket_id, agent_id=agent_id)
    return True


PATCH_FIELDS = ("status", "priority", "owner_id", "note", "call_sid", "description")


def update_ticket(
    session: Session, settings: Settings, agent: Agent, ticket_id: int,
    body: Mapping[str, Any], now: datetime,
) -> Ticket:  # fmt: skip
    """Apply an agent's changes: `status`, `priority`, `owner_id` (reassign), `description`,
    a `note`, a `call_sid` to link. Each change is kept in the ticket's history.

    Agents may take a team ticket or hand their own to a teammate; handing someone else's
    ticket to another agent is for supervisors. Reopening a closed ticket too.
    """
    unknown = sorted(set(body) - set(PATCH_FIELDS))
    checked = _Checked({name: "cannot be changed" for name in unknown})
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None:
        raise TicketError("no such ticket", 404)
    if not may_see(session, settings, agent, ticket):
        raise TicketError("not a ticket of your team", 403)
    status = checked.text(body, "status", required=False, limit=20) if "status" in body else None
    if status is not None and status not in TICKET_STATUSES:
        checked.errors["status"] = f"must be one of {', '.join(TICKET_STATUSES)}"
    elif status is not None and status != ticket.status:
        if status not in TRANSITIONS[ticket.status]:
            checked.errors["status"] = f"cannot go from {ticket.status} to {status}"
        elif ticket.status == "closed" and not agent.is_supervisor:
            checked.errors["status"] = "only supervisors reopen a closed ticket"
    priority = (
        checked.text(body, "priority", required=False, limit=20) if "priority" in body else None
    )
    if priority is not None and priority not in settings.tickets.priorities:
        checked.errors["priority"] = f"must be one of {', '.join(settings.tickets.priorities)}"
    description = None
    if "description" in body:
        description = checked.text(body, "description", required=True, limit=MAX_DESCRIPTION)
    note = checked.text(body, "note", required=False, limit=MAX_NOTE)
    owner = None
    if "owner_id" in body:
        owner = _owner(session, checked, agent, checked.ident(body, "owner_id"))
        if "owner_id" not in checked.errors and body.get("owner_id") is None:
            checked.errors["owner_id"] = "is required (an agent id)"
        handing_over = owner is not None and owner.id not in (ticket.owner_id, agent.id)
        if handing_over and not agent.is_supervisor and ticket.owner_id != agent.id:
            checked.errors["owner_id"] = "only supervisors reassign someone else's ticket"
    call = _call(session, checked, agent, body.get("call_sid"))
    if checked.errors:
        raise TicketInvalid(checked.errors)
    if status is not None and status != ticket.status:
        _history(session, ticket, agent.id, "status", old=ticket.status, new=status, now=now)
        ticket.status = status
        if status == "resolved":
            ticket.resolved_at = now
        if status == "closed":
            ticket.closed_at = now
            ticket.resolved_at = ticket.resolved_at or now
        if status in ACTIVE_TICKET:
            ticket.resolved_at = ticket.closed_at = None
    if priority is not None and priority != ticket.priority:
        _history(session, ticket, agent.id, "priority", old=ticket.priority, new=priority, now=now)
        ticket.priority = priority
    if description is not None and description != ticket.description:
        _history(session, ticket, agent.id, "description", note=ticket.description, now=now)
        ticket.description = description
    if owner is not None and owner.id != ticket.owner_id:
        old = session.get(Agent, ticket.owner_id) if ticket.owner_id else None
        _history(session, ticket, agent.id, "reassigned", old=old.username if old else None,
                 new=owner.username, now=now)  # fmt: skip
        ticket.owner_id = owner.id
        ticket.due_soon_sent_at = ticket.overdue_sent_at = None  # the new owner is told too
    if note:
        _history(session, ticket, agent.id, "note", note=note, now=now)
    if call is not None:
        link_call(session, ticket, call.call_sid, agent.id, now)
    return ticket


# -- deadlines passing ------------------------------------------------------------------------


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
