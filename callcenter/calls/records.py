"""Call records and the append-only call event log (pure domain: takes a session)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, insert, select
from sqlalchemy.orm import Session

from callcenter.metrics.ivr_paths import record_steps
from callcenter.models import Agent, Call, CallEvent, CallOffer, Customer, utcnow
from callcenter.people.customers import classify_caller, find_customer_by_number

FINAL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}
CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
"""A Twilio call SID (also the form of the SIDs this application gives call-backs)."""
MAX_DETAIL_CHARS = 500
TRUNCATED = "…[truncated]"


def _capped(value: Any) -> Any:
    """A text value of the event log, cut to `MAX_DETAIL_CHARS` with a visible marker."""
    if isinstance(value, str) and len(value) > MAX_DETAIL_CHARS:
        return value[: MAX_DETAIL_CHARS - len(TRUNCATED)] + TRUNCATED
    return value


events_log = logging.getLogger("callcenter.events")
# Logged at INFO once committed, one line each; every other event (the IVR path...) at DEBUG.
BUSINESS_EVENTS = frozenset({
    "call.started", "call.ended", "queue.entered", "queue.left", "queue.overflow",
    "queue.closed", "queue.callback_requested", "agent.offered", "agent.accepted",
    "agent.transferred", "agent.transfer_completed", "bridge.agent_answered",
    "agent.bridge_failed", "voicemail.recorded", "callback.from_voicemail", "callback.ended",
    "ivr.transfer_result", "kb.sent", "app.error",
})  # fmt: skip
# Event details that identify the caller or hold what they said stay out of the log.
PRIVATE_DETAILS = frozenset({"number", "from", "body", "text", "query", "name", "transcript"})


def log_event(
    session: Session,
    call_sid: str,
    kind: str,
    *,
    flow: str | None = None,
    node: str | None = None,
    input: str | None = None,
    at: datetime | None = None,
    **detail: Any,
) -> None:
    """Append one event to a call's log; written in one batch when the session commits.

    Text in `detail` is kept to `MAX_DETAIL_CHARS` (webhook values are the caller's)."""
    session.info.setdefault(_PENDING_EVENTS, []).append(
        {
            "call_sid": call_sid,
            "kind": kind,
            "flow": flow,
            "node": node,
            "input": None if input is None else input[:200],
            "detail": {key: _capped(value) for key, value in detail.items()},
            "at": at or utcnow(),
        }
    )


_PENDING_EVENTS = "callcenter.pending_events"


_WRITTEN_EVENTS = "callcenter.written_events"
_INSERT_EVENTS = insert(CallEvent.__table__)


@event.listens_for(Session, "before_commit")
def _write_pending_events(session: Session) -> None:
    rows = session.info.pop(_PENDING_EVENTS, None)
    if rows:
        # Core insert: the event log is write-only here, no need for ORM bookkeeping.
        session.connection().execute(_INSERT_EVENTS, rows)
        record_steps(session, rows)  # the IVR path facts, in the same transaction
        session.info.setdefault(_WRITTEN_EVENTS, []).extend(rows)


@event.listens_for(Session, "after_commit")
def _log_written_events(session: Session) -> None:
    for row in session.info.pop(_WRITTEN_EVENTS, None) or ():
        level = logging.INFO if row["kind"] in BUSINESS_EVENTS else logging.DEBUG
        if events_log.isEnabledFor(level):
            events_log.log(level, "%s %s%s", row["call_sid"], row["kind"], _describe_event(row))


def _describe_event(row: dict[str, Any]) -> str:
    """` flow=main node=x queue=support` — the event's plain details, none of them personal."""
    details = {"flow": row["flow"], "node": row["node"], **row["detail"]}
    return "".join(
        f" {key}={value}"
        for key, value in details.items()
        if value is not None
        and key not in PRIVATE_DETAILS
        and isinstance(value, str | int | float | bool)
    )


@event.listens_for(Session, "after_rollback")
def _drop_pending_events(session: Session) -> None:
    session.info.pop(_PENDING_EVENTS, None)
    session.info.pop(_WRITTEN_EVENTS, None)


_GET_CALL = select(Call).where(Call.call_sid == bindparam("sid"))


def get_call(session: Session, call_sid: str) -> Call | None:
    """The call record of a call SID (every webhook reads it: the statement is built once)."""
    return session.scalar(_GET_CALL, {"sid": call_sid})


def may_see_call(session: Session, agent: Agent, call: Call, *, ringing: bool = False) -> bool:
    """Whether `agent` may see a call's record and recordings.

    Supervisors and admins see every call; an agent sees the calls they took, were
    transferred or consulted on (any offer they accepted). With `ringing`, also the call
    being offered to them (what they look up for it belongs to it; its record and
    recordings stay closed until they accept).
    """
    if agent.is_supervisor:
        return True
    if agent.id in (call.agent_id, call.transfer_agent_id):
        return True
    statuses = ("accepted", "offered") if ringing else ("accepted",)
    accepted = session.scalar(
        select(CallOffer.id)
        .where(
            CallOffer.call_sid == call.call_sid,
            CallOffer.agent_id == agent.id,
            CallOffer.status.in_(statuses),
        )
        .limit(1)
    )
    return accepted is not None


def open_call(
    session: Session,
    *,
    call_sid: str,
    from_raw: str,
    to: str,
    flow: str,
    default_language: str,
    default_region: str | None = None,
) -> Call:
    """Create the call record for a new inbound call, identifying the caller by number."""
    caller = classify_caller(from_raw, default_region)
    customer: Customer | None = None
    if caller.number:
        customer = find_customer_by_number(session, caller.number)
    language_known = bool(customer and customer.language)
    call = Call(
        call_sid=call_sid,
        from_number=from_raw[:128],
        caller_number=caller.number,
        caller_kind=caller.kind,
        to_number=to[:128],
        customer=customer,
        flow=flow,
        node="",
        language=customer.language if customer and customer.language else default_language,
        context={"vars": {}, "language_known": language_known, "looked_up": True},
        status="in-progress",
        step=0,
        queue_priority=0,
        started_at=utcnow(),
    )
    session.add(call)
    log_event(
        session,
        call_sid,
        "call.started",
        flow=flow,
        caller=caller.kind,
        number=caller.number,
        to=to,
        customer_id=customer.id if customer else None,
    )
    return call


def record_status(
    session: Session,
    call: Call,
    status: str,
    duration: int | None,
    now: datetime | None = None,
) -> None:
    """Apply a status callback; a caller still waiting in a queue when the call ends abandoned."""
    now = now or utcnow()
    call.status = status
    if status not in FINAL_STATUSES:
        return
    if call.outcome == "callback":
        # The caller hung up after asking to be called back: they keep their place in line.
        log_event(session, call.call_sid, "call.ended", status=status, callback=True)
        return
    if call.ended_at is None:
        call.ended_at = now
    if duration is not None:
        call.duration_seconds = duration
    if call.outcome == "queued":
        mark_left_queue(call, "abandoned", now)
    log_event(session, call.call_sid, "call.ended", status=status, duration=duration)


def mark_left_queue(call: Call, outcome: str, now: datetime, waited: int | None = None) -> None:
    """Close the queue wait of a call with an outcome (abandoned, bridged, overflow, ...)."""
    call.outcome = outcome
    if call.dequeued_at is None:
        call.dequeued_at = now
    if waited is None and call.enqueued_at is not None:
        waited = max(0, int((now - call.enqueued_at).total_seconds()))
    if waited is not None:
        call.queue_wait_seconds = waited
