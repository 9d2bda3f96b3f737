"""Typed SQLAlchemy models shared by the features: agents, customers, calls, the call event
log, offers, voicemail, recordings and their downloads. Every table, these and the features' own,
is registered by :mod:`callcenter.tables`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    or_,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import Base, tz_datetime, utcnow

TIERS = ("vip", "normal", "potential")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(20), default="normal")
    language: Mapped[str | None] = mapped_column(String(20))
    account_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    account_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow, onupdate=utcnow)

    account_manager: Mapped[Agent | None] = relationship()
    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerPhone.id"
    )

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "tier": self.tier,
            "language": self.language,
            "account": self.account_code,
            "notes": self.notes,
            "phones": [phone.number for phone in self.phones],
        }


class CustomerPhone(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(32), unique=True)

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Call(Base):
    """One call: an inbound one and where the IVR has taken it, or one we dialed (a
    call-back or an agent's outbound call: `direction` "outbound")."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_started_at", "started_at"),
        # The callers waiting (`outcome` queued or callback, not dequeued): every
        # dispatcher pass asks whether there are any.
        Index("ix_calls_waiting", "outcome", "dequeued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(128))
    caller_number: Mapped[str | None] = mapped_column(String(32), index=True)
    caller_kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8), default="inbound", server_default="inbound")
    to_number: Mapped[str] = mapped_column(String(128), default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    flow: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(20))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    step: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="in-progress")
    outcome: Mapped[str | None] = mapped_column(String(20))
    queue: Mapped[str | None] = mapped_column(String(64), index=True)
    queue_priority: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    dequeued_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    queue_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(tz_datetime(), index=True)
    # When the next inbound call from the same number started (first-call resolution);
    # kept by callcenter.metrics.recorder as calls arrive.
    next_call_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    agent_leg_sid: Mapped[str | None] = mapped_column(String(64))
    transfer_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    answered_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    disposition: Mapped[str | None] = mapped_column(String(40))
    wrapup_notes: Mapped[str] = mapped_column(Text, default="")
    wrapped_up_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    csat: Mapped[int | None] = mapped_column(Integer)
    """The caller's post-call survey score, 1–5 (None: not surveyed or not answered)."""
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    """The survey's second answer: was the caller's problem solved."""
    surveyed_at: Mapped[datetime | None] = mapped_column(tz_datetime())

    customer: Mapped[Customer | None] = relationship()
    agent: Mapped[Agent | None] = relationship(foreign_keys=[agent_id])


CALL_DEVICES = ("browser", "phone")
# The languages of the consoles (docs/consoles.md#languages-of-the-consoles).
UI_LANGUAGES = ("en", "zh-CN")
"""Where an agent takes calls: the console's softphone, or their own phone."""
AGENT_STATUSES = ("offline", "available", "ringing", "on-call", "wrap-up", "away")
ROLES = ("agent", "supervisor", "admin")


class Agent(Base):
    """A person at the console: identity, skills, and live presence."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    agent_number: Mapped[str] = mapped_column(String(16), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="agent")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="offline", index=True)
    status_reason: Mapped[str | None] = mapped_column(String(120))
    status_since: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    idle_since: Mapped[datetime | None] = mapped_column(tz_datetime())
    last_offer_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    wrapup_until: Mapped[datetime | None] = mapped_column(tz_datetime())
    current_call_sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    # Raised to end every login session of this agent (logout, password, deactivation).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Refreshed while a console is connected on any process (see routing's heartbeat rule).
    console_seen_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    # Where the agent takes calls: "browser" (the console's softphone) or "phone" (`phone`).
    takes_calls_on: Mapped[str] = mapped_column(
        String(16), default="browser", server_default="browser"
    )
    # The softphone answers the bridge's ring by itself.
    auto_answer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The language of the consoles for this agent (UI_LANGUAGES); None follows the browser.
    ui_language: Mapped[str | None] = mapped_column(String(16))
    # Set while the console reports its softphone cannot register (Twilio unreachable): an
    # agent who takes calls in the browser is then not offered calls (`can_ring`).
    softphone_unreachable_since: Mapped[datetime | None] = mapped_column(tz_datetime())

    @hybrid_property
    def can_ring(self) -> bool:
        """Whether the bridge's leg can ring this agent: on their phone, or in a browser
        whose softphone has not reported itself unreachable (in a query too)."""
        return self.takes_calls_on != "browser" or self.softphone_unreachable_since is None

    @can_ring.inplace.expression
    @classmethod
    def _can_ring_expression(cls) -> ColumnElement[bool]:
        return or_(cls.takes_calls_on != "browser", cls.softphone_unreachable_since.is_(None))

    @property
    def is_supervisor(self) -> bool:
        """Supervisors and admins: they see every call, recording and voicemail."""
        return self.role in ("supervisor", "admin")

    def public(self) -> dict[str, Any]:
        """What consoles may see of an agent (never the password hash)."""
        return {
            "id": self.id,
            "username": self.username,
            "name": self.display_name,
            "number": self.agent_number,
            "role": self.role,
            "skills": list(self.skills or []),
            "languages": list(self.languages or []),
            "status": self.status,
            "reason": self.status_reason,
            "since": self.status_since.isoformat() if self.status_since else None,
            "call_sid": self.current_call_sid,
            "softphone_unreachable": not self.can_ring,
        }


class LoginFailures(Base):
    """Failed logins counted per source address, per account, and per both (see
    callcenter/people/login_throttle.py); shared by every process through the database."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(tz_datetime())
    last_at: Mapped[datetime] = mapped_column(tz_datetime(), index=True)
    # An account under attack takes one attempt at a time: the next may start from here.
    next_attempt_at: Mapped[datetime | None] = mapped_column(tz_datetime())


class CallOffer(Base):
    """A call offered to an agent: accepted, declined, expired or withdrawn."""

    __tablename__ = "call_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="offered", index=True)
    offered_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(tz_datetime())
    closed_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    reason: Mapped[str | None] = mapped_column(String(40))

    agent: Mapped[Agent] = relationship()


class CallEvent(Base):
    """Append-only log of every step a call takes (read by reports and screen-pops)."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    flow: Mapped[str | None] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(64))
    input: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WebhookResponse(Base):
    """The answer given to one webhook step, replayed when Twilio retries it."""

    __tablename__ = "webhook_responses"
    __table_args__ = (UniqueConstraint("call_sid", "step_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    step_key: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer, default=200)
    content_type: Mapped[str] = mapped_column(String(64), default="text/xml")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)


class Voicemail(Base):
    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(64), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    from_number: Mapped[str] = mapped_column(String(128), default="")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    created_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    handled_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    callback_call_sid: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")

    customer: Mapped[Customer | None] = relationship()
    assigned_agent: Mapped[Agent | None] = relationship(foreign_keys=[assigned_agent_id])
    handled_by: Mapped[Agent | None] = relationship(foreign_keys=[handled_by_id])
    download: Mapped[RecordingDownload | None] = relationship(
        primaryjoin="Voicemail.recording_sid == foreign(RecordingDownload.recording_sid)",
        viewonly=True,
    )


class RecordingDownload(Base):
    """A persistent job: fetch a recording from Twilio into recordings/, verified."""

    __tablename__ = "recording_downloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="voicemail")
    source_url: Mapped[str] = mapped_column(String(500))
    expected_duration: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    remote_deleted_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    purged_at: Mapped[datetime | None] = mapped_column(tz_datetime())

    @property
    def playable(self) -> bool:
        """Downloaded, verified and still kept (not purged under the retention policy)."""
        return self.status == "done" and self.path is not None and self.purged_at is None


class CallRecording(Base):
    """The recording of an answered call: requested, started, paused, completed.

    A row is created (``requested``) when the caller and the agent meet; the dispatcher
    starts the recording through the REST API and fills in ``recording_sid``. Status
    callbacks move it on; the audio itself is a :class:`RecordingDownload`.
    """

    __tablename__ = "call_recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    leg_sid: Mapped[str] = mapped_column(String(64))
    recording_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    channels: Mapped[int] = mapped_column(Integer, default=2)
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    ended_at: Mapped[datetime | None] = mapped_column(tz_datetime())
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)

    agent: Mapped[Agent | None] = relationship()
    customer: Mapped[Customer | None] = relationship()
    download: Mapped[RecordingDownload | None] = relationship(
        primaryjoin="CallRecording.recording_sid == foreign(RecordingDownload.recording_sid)",
        viewonly=True,
    )


class RecordingPlayback(Base):
    """Who listened to which recording (or voicemail), when, and which bytes."""

    __tablename__ = "recording_playbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    byte_range: Mapped[str | None] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)


class AuditEntry(Base):
    """One action taken on someone else's work, for admins to review: who did what, when,
    to which agent or call (``action`` such as ``supervisor.monitor``; ``result`` is
    ``ok`` or why it was refused; ``details`` what else was asked or changed)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40), index=True)
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    result: Mapped[str] = mapped_column(String(200), default="ok")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor_id": self.actor_id,
            "actor": self.actor,
            "action": self.action,
            "agent_id": self.agent_id,
            "call_sid": self.call_sid,
            "result": self.result,
            "details": dict(self.details or {}),
        }
