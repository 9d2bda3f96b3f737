"""Tables of tickets (with their history and linked calls) and follow-ups of abandoned callers.

They import only :mod:`callcenter.db` (and the fact stamps of :mod:`callcenter.metrics.facts`,
a table module like them), so registering them from ``callcenter.models`` adds no import
cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, inspect
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column, relationship

from callcenter.db import Base, tz_datetime, utcnow
from callcenter.metrics.facts import CARE_STAMP, noted_stamps

if TYPE_CHECKING:
    from callcenter.models import Agent, Customer

TICKET_STATUSES = ("open", "in_progress", "resolved", "closed")
ACTIVE_TICKET = ("open", "in_progress")
"""Statuses of a ticket still being worked on (shown on screen-pops, counted as open)."""


class Ticket(Base):
    """A complaint or work order: category (and kind), priority, owner, promised deadline."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    caller_number: Mapped[str | None] = mapped_column(String(32), index=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    source: Mapped[str] = mapped_column(String(20), default="agent")
    # "req:<agent id>:<client request id>" or "survey:<call sid>": a repeat creates nothing.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(tz_datetime(), index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    closed_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    # When the owner was told the deadline is near / passed (each once per deadline).
    due_soon_sent_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    overdue_sent_at: Mapped[datetime | None] = mapped_column(tz_datetime())

    customer: Mapped[Customer | None] = relationship()
    owner: Mapped[Agent | None] = relationship(foreign_keys=[owner_id])
    created_by: Mapped[Agent | None] = relationship(foreign_keys=[created_by_id])


class TicketEvent(Base):
    """One change of a ticket: created, status, note, reassignment, priority, linked call."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    kind: Mapped[str] = mapped_column(String(20))
    old_value: Mapped[str | None] = mapped_column(String(200))
    new_value: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")

    agent: Mapped[Agent | None] = relationship()


class TicketCall(Base):
    """A call about a ticket (the one it was opened from, later calls linked to it)."""

    __tablename__ = "ticket_calls"
    __table_args__ = (UniqueConstraint("ticket_id", "call_sid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    linked_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))


FOLLOWUP_STATUSES = ("open", "assigned", "done")
FOLLOWUP_REASONS = ("abandoned", "cut_off", "voicemail")


class Followup(Base):
    """A caller we owe a call: abandoned in a queue, cut off, or a voicemail left unhandled.

    One open follow-up per number: ``open_key`` holds the number while the follow-up is not
    done (unique), and is cleared when it is, so a later abandon opens a new one.
    """

    __tablename__ = "followups"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), index=True)
    open_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    language: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow, index=True)
    last_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    callback_call_sid: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    outcome: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str] = mapped_column(Text, default="")
    # The "sorry we missed you" text: None (not wanted), pending, sending, sent, failed.
    sms_status: Mapped[str | None] = mapped_column(String(16), index=True)
    sms_sid: Mapped[str | None] = mapped_column(String(64))
    sms_at: Mapped[datetime | None] = mapped_column(tz_datetime())

    customer: Mapped[Customer | None] = relationship()
    assigned_agent: Mapped[Agent | None] = relationship(foreign_keys=[assigned_agent_id])
    done_by: Mapped[Agent | None] = relationship(foreign_keys=[done_by_id])
    events: Mapped[list[FollowupEvent]] = relationship(
        back_populates="followup", order_by="FollowupEvent.at", cascade="all, delete-orphan"
    )


class FollowupEvent(Base):
    """One thing that made (or kept) a follow-up: a call abandoned or cut off, a voicemail.

    Unique per (reason, call): a retried webhook or a second pass adds nothing.
    """

    __tablename__ = "followup_events"
    __table_args__ = (
        UniqueConstraint("reason", "call_sid"),
        Index("ix_followup_events_voicemail_id", "voicemail_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    followup_id: Mapped[int] = mapped_column(
        ForeignKey("followups.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(20))
    call_sid: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    waited_seconds: Mapped[int | None] = mapped_column(Integer)
    voicemail_id: Mapped[int | None] = mapped_column(ForeignKey("voicemails.id"))
    at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)

    followup: Mapped[Followup] = relationship(back_populates="events")


# What the wallboard counts of tickets and follow-ups (care/board.py): a change to any of
# these columns moves the care stamp as the transaction commits, in whichever process.
_COUNTED = {"Ticket": ("status", "due_at"), "Followup": ("status", "created_at")}


@event.listens_for(Session, "after_flush")
def _note_care_changes(session: Session, _context: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, (Ticket, Followup)):
            continue
        if obj in session.dirty:
            attrs = inspect(obj).attrs
            if not any(attrs[name].history.has_changes() for name in _COUNTED[type(obj).__name__]):
                continue
        noted_stamps(session)[0].add(CARE_STAMP)
        return
