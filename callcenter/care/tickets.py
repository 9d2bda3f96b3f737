"""Tickets: complaints and work orders with a promised deadline (pure domain).

Opening a ticket (by an agent, or after a bad survey score) and changing it (its status
along :data:`TRANSITIONS`, priority, owner, description, a note, a linked call). Functions
take a session, flush at most and never commit. Every change of a ticket (its creation,
status, priority, owner, a note, a linked call) is kept as a :class:`TicketEvent`.

Beside it: the promise and deadline (:mod:`.ticket_deadlines`), who sees what and the lists
(:mod:`.ticket_queries`), the reminders as deadlines pass (:mod:`.ticket_reminders`), the
errors (:mod:`.ticket_errors`) and how the API shows a ticket (:mod:`.ticket_views`).

>>> ticket, created = create_ticket(session, settings, agent, {"category": "repair",
...     "description": "Screen flickers", "call_sid": call.call_sid}, now)
>>> promise_text(settings, ticket)
'Repair: we promise an answer within 72 hours, by Sat 28 Nov 10:00.'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.calls.records import CALL_SID, get_call, log_event, may_see_call
from callcenter.care.models import ACTIVE_TICKET, TICKET_STATUSES, Ticket, TicketCall, TicketEvent
from callcenter.care.ticket_deadlines import deadline
from callcenter.care.ticket_errors import TicketError, TicketInvalid
from callcenter.care.ticket_queries import may_see, teammates
from callcenter.config import Settings
from callcenter.messages import N_, Phrase
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


# -- creating ---------------------------------------------------------------------------------


@dataclass
class _Checked:
    errors: dict[str, str]

    def text(self, body: Mapping[str, Any], name: str, *, required: bool, limit: int) -> str | None:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip() and not required):
            if required:
                self.errors[name] = N_("is required")
            return None
        if not isinstance(value, str):
            self.errors[name] = N_("must be text")
            return None
        value = value.strip()
        if required and not value:
            self.errors[name] = N_("is required")
        elif len(value) > limit:
            self.errors[name] = Phrase(N_("must be at most {limit} characters"), limit=limit)
        return value

    def ident(self, body: Mapping[str, Any], name: str) -> int | None:
        value = body.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            self.errors[name] = N_("must be an id (a positive integer)")
            return None
        return value


def _category(
    checked: _Checked, settings: Settings, body: Mapping[str, Any]
) -> tuple[str, str | None]:
    categories = settings.tickets.categories
    category = checked.text(body, "category", required=True, limit=40)
    if category is not None and category not in categories:
        checked.errors["category"] = Phrase(
            N_("must be one of {choices}"), choices=", ".join(categories)
        )
    kind = checked.text(body, "kind", required=False, limit=40)
    config = categories.get(category or "")
    if config is not None and config.kinds:
        if kind is None and "kind" not in checked.errors:
            checked.errors["kind"] = Phrase(
                N_("is required for {category}: {choices}"),
                category=config.label.lower(),
                choices=", ".join(config.kinds),
            )
        elif kind is not None and kind not in config.kinds:
            checked.errors["kind"] = Phrase(
                N_("must be one of {choices}"), choices=", ".join(config.kinds)
            )
    elif kind is not None and config is not None:
        checked.errors["kind"] = Phrase(
            N_("{category} tickets have no kind"), category=config.label.lower()
        )
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
        checked.errors[field] = N_("no such agent")
        return None
    if not agent.is_supervisor and owner.id not in teammates(session, agent):
        checked.errors[field] = N_(
            "agents give tickets only to their team (agents sharing a skill)"
        )
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
        checked.errors["priority"] = Phrase(
            N_("must be one of {choices}"), choices=", ".join(priorities)
        )
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
        checked.errors["call_sid"] = N_("must be a call SID (CA + 32 hex digits)")
        return None
    call = get_call(session, call_sid)
    if call is None or not may_see_call(session, agent, call, ringing=True):
        checked.errors["call_sid"] = N_("no such call of yours")
        return None
    return call


def _customer(session: Session, checked: _Checked, customer_id: int | None) -> Customer | None:
    if customer_id is None:
        return None
    customer = session.get(Customer, customer_id)
    if customer is None:
        checked.errors["customer_id"] = N_("no such customer")
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
        checked.errors["status"] = Phrase(
            N_("must be one of {choices}"), choices=", ".join(TICKET_STATUSES)
        )
    elif status is not None and status != ticket.status:
        if status not in TRANSITIONS[ticket.status]:
            checked.errors["status"] = Phrase(
                N_("cannot go from {old} to {new}"), old=ticket.status, new=status
            )
        elif ticket.status == "closed" and not agent.is_supervisor:
            checked.errors["status"] = N_("only supervisors reopen a closed ticket")
    priority = (
        checked.text(body, "priority", required=False, limit=20) if "priority" in body else None
    )
    if priority is not None and priority not in settings.tickets.priorities:
        checked.errors["priority"] = Phrase(
            N_("must be one of {choices}"), choices=", ".join(settings.tickets.priorities)
        )
    description = None
    if "description" in body:
        description = checked.text(body, "description", required=True, limit=MAX_DESCRIPTION)
    note = checked.text(body, "note", required=False, limit=MAX_NOTE)
    owner = None
    if "owner_id" in body:
        owner = _owner(session, checked, agent, checked.ident(body, "owner_id"))
        if "owner_id" not in checked.errors and body.get("owner_id") is None:
            checked.errors["owner_id"] = N_("is required (an agent id)")
        handing_over = owner is not None and owner.id not in (ticket.owner_id, agent.id)
        if handing_over and not agent.is_supervisor and ticket.owner_id != agent.id:
            checked.errors["owner_id"] = N_("only supervisors reassign someone else's ticket")
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
