"""Call-backs: a waiting caller who asks to be called back keeps their place; an agent calls
back a caller who left a voicemail or a follow-up (pure domain).

A call-back is a call record we dial: offered to an agent like a queued call, accepting it
dials the agent, then the customer, once. Whether one is still to be dialed is
:func:`callcenter.calls.routing.callback_pending` (routing's requeue needs it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.changes import Changes, RoutingError
from callcenter.calls.records import get_call, log_event, mark_left_queue
from callcenter.calls.routing import _offer, call_finished
from callcenter.config import Settings
from callcenter.messages import N_
from callcenter.models import Agent, Call, Voicemail


class Reachable(Protocol):
    """What :func:`can_call_back` looks at: a :class:`Call`, or its wait loop's row."""

    @property
    def context(self) -> dict[str, Any] | None: ...
    @property
    def caller_kind(self) -> str: ...
    @property
    def caller_number(self) -> str | None: ...


def can_call_back(call: Reachable) -> bool:
    """Whether the caller's number can be dialed back (not withheld, SIP, a client, or a
    number that is not valid), and they are not on a call-back already: a customer we
    called, waiting again after a transfer, is on our call (asking again would end it)."""
    dialed = bool((call.context or {}).get("caller_leg"))
    return call.caller_kind == "pstn" and bool(call.caller_number) and not dialed


def request_callback(session: Session, call: Call, now: datetime) -> bool:
    """The waiting caller asks to be called back: they keep their place, once."""
    if call.outcome != "queued" or not can_call_back(call):
        return False
    call.outcome = "callback"
    call.context = {**(call.context or {}), "callback": True,
                    "callback_requested_at": now.isoformat()}  # fmt: skip
    log_event(session, call.call_sid, "queue.callback_requested", queue=call.queue,
              number=call.caller_number)  # fmt: skip
    return True


def callback_ended(
    session: Session, settings: Settings, call: Call, status: str, now: datetime
) -> Changes:
    """The call-back leg ended: answered and finished, or never reached (no redial)."""
    if call.ended_at is None:
        call.ended_at = now
    # How the customer's leg ended (busy, no-answer...): whoever follows the call up reads it.
    call.context = {**(call.context or {}), "callback_status": status}
    if status != "completed" and call.answered_at is not None and call.outcome == "answered":
        call.outcome = "callback-failed"
    elif call.outcome == "queued":  # hung up while waiting again after a transfer
        mark_left_queue(call, "abandoned", now)
    log_event(session, call.call_sid, "callback.ended", status=status)
    call.status = "completed"
    return call_finished(session, settings, call, now)


def call_back_voicemail(
    session: Session, settings: Settings, voicemail: Voicemail, agent: Agent, now: datetime
) -> tuple[Changes, str]:
    """Ring the agent with a call-back to the caller who left `voicemail`.

    A new call record (a call-back, like one asked for in a queue) is offered to this
    agent; accepting it dials the agent, then the customer, exactly once. Declined or
    missed, it waits in the mailbox's queue for the next agent. Returns the changes and
    the new call's SID.
    """
    if voicemail.status == "handled":
        raise RoutingError(N_("this voicemail is already handled"))
    queue_name = next(
        (name for name, queue in settings.queues.items()
         if queue.overflow_mailbox == voicemail.mailbox),
        None,
    )  # fmt: skip
    changes, call_sid = call_back(
        session, settings, agent, now, original_sid=voicemail.call_sid,
        pending_sid=voicemail.callback_call_sid, queue_name=queue_name,
        customer_id=voicemail.customer_id, context={"voicemail": voicemail.id},
        what="voicemail",
    )  # fmt: skip
    voicemail.callback_call_sid = call_sid
    log_event(session, call_sid, "callback.from_voicemail", voicemail=voicemail.id,
              original=voicemail.call_sid, agent=agent.username)  # fmt: skip
    log_event(session, voicemail.call_sid, "voicemail.callback", call=call_sid,
              agent=agent.username)  # fmt: skip
    return changes, call_sid


def call_back(
    session: Session, settings: Settings, agent: Agent, now: datetime, *,
    original_sid: str | None, pending_sid: str | None, queue_name: str | None,
    customer_id: int | None, context: dict[str, Any], what: str, number: str | None = None,
) -> tuple[Changes, str]:  # fmt: skip
    """Create a call-back call record for `agent` (dialed on accept) and offer it to them:
    a new call we dial, so an outbound one (`direction`)."""
    original = get_call(session, original_sid) if original_sid else None
    number = number or (original.caller_number if original else None)
    if not number or (original and original.caller_kind != "pstn"):
        raise RoutingError(N_("the caller left no number to call back"))
    if pending_sid:
        pending = get_call(session, pending_sid)
        if pending is not None and pending.ended_at is None:
            raise RoutingError(N_("a call-back for this {what} is already under way"), what=what)
    locked = session.scalar(select(Agent).where(Agent.id == agent.id).with_for_update())
    if locked is None or locked.status != "available":
        raise RoutingError(N_("go available first: the call-back rings your console"))
    if queue_name not in settings.queues:
        queue_name = next(iter(settings.queues), None)
    if queue_name is None:
        raise RoutingError(N_("no queue to place the call-back in"))
    queue = settings.queues[queue_name]
    call = Call(
        call_sid="CA" + uuid.uuid4().hex,
        from_number=number,
        caller_number=number,
        caller_kind="pstn",
        direction="outbound",
        to_number=original.to_number if original else settings.main_number,
        customer_id=customer_id,
        flow=original.flow if original else settings.default_flow,
        node="",
        language=original.language if original else settings.default_language,
        context={"callback": True, **context, "vars": {}},
        status="queued",
        outcome="callback",
        queue=queue_name,
        queue_priority=original.queue_priority if original else 0,
        enqueued_at=now,
        started_at=now,
        step=0,
    )
    session.add(call)
    session.flush()
    changes = Changes()
    _offer(session, call, locked, queue, now, changes)
    return changes, call.call_sid
