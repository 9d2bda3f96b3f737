"""Follow-ups: every caller we missed is called back (pure domain: flushes, never commits).

A follow-up is opened for a caller who hung up while waiting in a queue after more than
`metrics.short_abandon_seconds`, who was cut off after an agent took their call (the line
dropped before they ever spoke), whose voicemail is still unhandled
`followups.voicemail_minutes` after it was left, or whom one of our call-backs did not
reach (busy, no answer, failed). One follow-up per number while it is open: a second miss
from the same number is added to it. Callers whose number cannot be dialed back
(withheld, SIP, invalid) get none.

Agents work the list like the voicemail inbox: take one, call back (:func:`call_back_followup`,
through :func:`callcenter.calls.callbacks.call_back`), close it with an outcome. A voicemail
and the follow-up it is on are closed together, whichever is closed first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.calls.callbacks import call_back
from callcenter.calls.participants import caller_leg
from callcenter.calls.records import log_event
from callcenter.calls.routing import CALL_ENDED, Changes, RoutingError
from callcenter.care.models import Followup, FollowupEvent
from callcenter.config import Settings, localized
from callcenter.messages import N_, Refusal
from callcenter.metrics.facts import QueueEntry
from callcenter.metrics.recorder import latest_entry
from callcenter.models import Agent, Call, Customer, Voicemail
from callcenter.people.worklist import Worklist

OPEN = ("open", "assigned")
# Our call-back did not reach the customer: the leg's final status → the event's reason.
UNREACHED = {"busy": "callback_busy", "no-answer": "callback_no_answer",
             "failed": "callback_failed", "canceled": "callback_canceled"}  # fmt: skip
# The outcome of a follow-up closed because its voicemail was handled.
WITH_VOICEMAIL = "voicemail_handled"
STATUS_FILTERS = {"open": OPEN, "done": ("done",), "all": ("open", "assigned", "done")}


class FollowupError(Refusal):
    """A follow-up action that cannot be done (taken by someone else, already done...)."""


# -- opening ----------------------------------------------------------------------------------


def _dialable(call: Call) -> bool:
    return call.caller_kind == "pstn" and bool(call.caller_number)


def _met_an_agent(call: Call) -> bool:
    """Whether the caller and an agent were ever both in the call's conference."""
    legs = (call.context or {}).get("legs", {})
    agent_joined = any(entry.get("role") == "agent" for entry in legs.values())
    return agent_joined and caller_leg(call) in legs


def missed_reason(
    session: Session, settings: Settings, call: Call
) -> tuple[str, QueueEntry] | None:
    """Why an ended call needs a follow-up (`abandoned` or `cut_off`, with its queue
    wait), or None. The wait is the metrics' own fact (:class:`QueueEntry`), so the list and
    the abandonment figures count the same callers."""
    context = call.context or {}
    if call.enqueued_at is None or context.get("callback") or not _dialable(call):
        return None
    session.flush()  # the recorder closes the entry of a caller who just left the queue
    entry = latest_entry(session, call.call_sid)  # the one it read, if it did
    if entry is None or entry.left_at is None:
        return None
    if entry.outcome == "abandoned":
        if (entry.wait_seconds or 0) > settings.metrics.short_abandon_seconds:
            return "abandoned", entry
        return None
    if (
        settings.followups.cut_off
        and entry.outcome == "answered"
        and call.outcome == "answered"
        and call.ended_at is not None
        and not _met_an_agent(call)
    ):
        return "cut_off", entry
    return None


def unreached_callback(call: Call) -> str | None:
    """The event reason when `call` is one of our call-backs that never reached the
    customer (their leg ended busy, unanswered, failed or cancelled), else None."""
    context = call.context or {}
    if not context.get("callback") or not _dialable(call):
        return None
    return UNREACHED.get(str(context.get("callback_status")))


def note_ended_call(
    session: Session, settings: Settings, call: Call, now: datetime
) -> Followup | None:
    """The call ended: open (or add to) the caller's follow-up when we missed them, or
    when our call-back did not reach them (the follow-up it came from keeps it).

    Safe to call again for the same call (a retried status callback): nothing is added.
    Returns the follow-up when this call was newly added to one."""
    unreached = unreached_callback(call)
    if unreached is not None:
        voicemail_id = (call.context or {}).get("voicemail")
        return add_miss(
            session, number=call.caller_number or "", customer_id=call.customer_id,
            language=call.language, reason=unreached, call_sid=call.call_sid, queue=call.queue,
            waited=None, voicemail_id=voicemail_id if isinstance(voicemail_id, int) else None,
            at=now,
        )  # fmt: skip
    found = missed_reason(session, settings, call)
    if found is None:
        return None
    reason, entry = found
    queue = settings.queues.get(entry.queue)
    return add_miss(
        session,
        number=call.caller_number or "",
        customer_id=call.customer_id,
        language=call.language,
        reason=reason,
        call_sid=call.call_sid,
        queue=entry.queue,
        waited=entry.wait_seconds,
        voicemail_id=None,
        at=now,
        text=bool(queue and queue.missed_call_sms),
    )


def add_miss(
    session: Session, *, number: str, customer_id: int | None, language: str, reason: str,
    call_sid: str, queue: str | None, waited: int | None, voicemail_id: int | None,
    at: datetime, text: bool = False,
) -> Followup | None:  # fmt: skip
    """Record one missed contact: on the number's open follow-up, else on a new one (with
    the "sorry we missed you" text pending when `text`). None if already recorded."""
    if session.scalar(
        select(FollowupEvent.id).where(
            FollowupEvent.reason == reason, FollowupEvent.call_sid == call_sid
        )
    ):
        return None
    followup = session.scalar(select(Followup).where(Followup.open_key == number))
    if followup is None:
        followup = Followup(
            number=number, open_key=number, customer_id=customer_id, language=language,
            status="open", created_at=at, last_at=at, occurrences=0, notes="",
            sms_status="pending" if text else None,
        )  # fmt: skip
        try:
            with session.begin_nested():
                session.add(followup)
        except IntegrityError:  # another process opened it a moment ago
            followup = session.scalars(select(Followup).where(Followup.open_key == number)).one()
    event = FollowupEvent(
        followup_id=followup.id, reason=reason, call_sid=call_sid, queue=queue,
        waited_seconds=waited, voicemail_id=voicemail_id, at=at,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        return None  # a concurrent delivery of the same callback recorded it
    followup.occurrences = (followup.occurrences or 0) + 1
    followup.last_at = max(followup.last_at, at) if followup.last_at else at
    followup.customer_id = followup.customer_id or customer_id
    log_event(session, call_sid, "followup.opened", followup=followup.id, reason=reason)
    return followup


def _unhandled_voicemails(settings: Settings, now: datetime) -> Select[tuple[Voicemail, Call]]:
    cutoff = now - timedelta(minutes=settings.followups.voicemail_minutes)
    recorded = exists().where(FollowupEvent.voicemail_id == Voicemail.id)
    return (
        select(Voicemail, Call)
        .join(Call, Call.call_sid == Voicemail.call_sid)
        .where(Voicemail.status != "handled", Voicemail.created_at <= cutoff, ~recorded)
        .order_by(Voicemail.created_at)
    )


def _pending_texts() -> Select[tuple[Followup]]:
    return select(Followup).where(Followup.sms_status == "pending").order_by(Followup.id)


def housekeeping_due(session: Session, settings: Settings, now: datetime) -> bool:
    """Whether :func:`unhandled_voicemails` or :func:`claim_texts` has anything to do, in
    a read (they write): a voicemail to turn into a follow-up, or a text to send."""
    voicemails = _unhandled_voicemails(settings, now).where(
        Call.caller_kind == "pstn", Call.caller_number.is_not(None), Call.caller_number != ""
    )  # only the dialable ones become follow-ups (`_dialable`)
    due = or_(voicemails.exists(), _pending_texts().exists())
    return bool(session.scalar(select(due)))


def unhandled_voicemails(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Voicemails still unhandled `followups.voicemail_minutes` after they were left become
    follow-ups (the dispatcher's housekeeping runs this). Returns the follow-ups' ids."""
    rows = session.execute(_unhandled_voicemails(settings, now).limit(100)).all()
    opened: list[int] = []
    for voicemail, call in rows:
        if not _dialable(call):
            continue
        followup = add_miss(
            session, number=call.caller_number or "", customer_id=voicemail.customer_id,
            language=call.language, reason="voicemail", call_sid=voicemail.call_sid,
            queue=call.queue, waited=None, voicemail_id=voicemail.id, at=voicemail.created_at,
        )  # fmt: skip
        if followup is not None:
            opened.append(followup.id)
    return opened


# -- the list ---------------------------------------------------------------------------------


def rank(customer: Customer | None) -> str:
    """`vip`, `known` (a customer on file) or `unknown`: the list's order, in that order."""
    if customer is None:
        return "unknown"
    return "vip" if customer.tier == "vip" else "known"


def worklist(session: Session, *, status: str = "open", limit: int = 100) -> list[Followup]:
    """Follow-ups to work: VIPs first, then known customers, then unknown callers; oldest
    first within each (done ones: most recently done first)."""
    wanted = STATUS_FILTERS.get(status)
    if wanted is None:
        raise FollowupError(
            N_("status must be one of {choices}"), choices=", ".join(STATUS_FILTERS)
        )
    order_rank = case(
        (Customer.tier == "vip", 0), (Customer.id.is_not(None), 1), else_=2
    )  # fmt: skip
    query = (
        select(Followup)
        .outerjoin(Customer, Customer.id == Followup.customer_id)
        .where(Followup.status.in_(wanted))
    )
    if status == "done":
        query = query.order_by(Followup.done_at.desc(), Followup.id.desc())
    else:
        query = query.order_by(order_rank, Followup.created_at, Followup.id)
    return list(session.scalars(query.limit(limit)))


def followup_counts(session: Session, now: datetime) -> dict[str, Any]:
    """For the wallboard: open follow-ups, and since when the oldest has waited."""
    count, oldest = session.execute(
        select(func.count(), func.min(Followup.created_at)).where(Followup.status.in_(OPEN))
    ).one()
    return {
        "open": count,
        "oldest_since": oldest.isoformat() if oldest else None,
        "oldest_seconds": max(0, int((now - oldest).total_seconds())) if oldest else 0,
    }


# -- working it -------------------------------------------------------------------------------


def locked(session: Session, followup_id: int) -> Followup:
    followup = session.scalar(select(Followup).where(Followup.id == followup_id).with_for_update())
    if followup is None:
        raise FollowupError(N_("no such follow-up"))
    return followup


FOLLOWUPS = Worklist("follow-up", "follow-ups", "open", "done", FollowupError)


def assign(
    session: Session, followup_id: int, agent: Agent, now: datetime, *,
    to_agent_id: int | None = None,
) -> Followup:  # fmt: skip
    """Take a follow-up (or, for supervisors, give it to `to_agent_id`)."""
    followup = locked(session, followup_id)
    FOLLOWUPS.take(session, followup, agent, now, to_agent_id)
    return followup


def release(session: Session, followup_id: int, agent: Agent) -> Followup:
    """Give a follow-up back to the list."""
    followup = locked(session, followup_id)
    FOLLOWUPS.give_back(followup, agent)
    return followup


def mark_done(
    session: Session, settings: Settings, followup_id: int, agent: Agent, outcome: str,
    notes: str, now: datetime,
) -> Followup:  # fmt: skip
    """Close a follow-up with its outcome (one of `followups.outcomes`) and notes."""
    if outcome not in settings.followups.outcomes:
        raise FollowupError(
            N_("outcome must be one of {choices}"), choices=", ".join(settings.followups.outcomes)
        )
    followup = locked(session, followup_id)
    FOLLOWUPS.check_open(followup)
    FOLLOWUPS.check_not_taken(followup, agent, agent.id)
    followup.status = "done"
    followup.open_key = None  # a later miss from this number opens a new follow-up
    followup.done_at = now
    followup.done_by_id = agent.id
    followup.assigned_agent_id = followup.assigned_agent_id or agent.id
    followup.outcome = outcome
    followup.notes = notes.strip()[:4000]
    why = f"Follow-up {followup.id} closed: {settings.followups.outcomes[outcome]}"
    for closed in FOLLOWUP_CLOSED:
        closed(session, followup, agent, why, now)
    return followup


FOLLOWUP_CLOSED: list[Callable[[Session, Followup, Agent, str, datetime], object]] = []
"""Told when a follow-up is closed, with why in words (media handles its voicemails)."""


def voicemail_ids(followup: Followup) -> set[int]:
    """The voicemails that are part of a follow-up."""
    return {event.voicemail_id for event in followup.events if event.voicemail_id is not None}


def close_with_voicemail(
    session: Session, voicemail: Voicemail, agent: Agent, now: datetime
) -> Followup | None:
    """The voicemail was handled: close the open follow-up it is on (outcome
    ``voicemail_handled``, the voicemail's notes). See callcenter/media/voicemail.py."""
    followup = session.scalar(
        select(Followup)
        .join(FollowupEvent, FollowupEvent.followup_id == Followup.id)
        .where(FollowupEvent.voicemail_id == voicemail.id, Followup.status.in_(OPEN))
        .with_for_update()
    )
    if followup is None:
        return None
    followup.status = "done"
    followup.open_key = None
    followup.done_at = now
    followup.done_by_id = agent.id
    followup.assigned_agent_id = followup.assigned_agent_id or agent.id
    followup.outcome = WITH_VOICEMAIL
    followup.notes = (voicemail.notes or "").strip()[:4000]
    log_event(session, voicemail.call_sid, "followup.closed", followup=followup.id,
              voicemail=voicemail.id, by=agent.id)  # fmt: skip
    for closed in FOLLOWUP_CLOSED:
        closed(session, followup, agent, f"Follow-up {followup.id} closed", now)
    return followup


# -- the "sorry we missed you" text -----------------------------------------------------------


def claim_texts(
    session: Session, settings: Settings, limit: int = 20
) -> list[tuple[int, str, str]]:
    """Claim the pending texts: (follow-up id, number, text in the caller's language). A
    claim is a guarded update, so with several processes each text is sent once."""
    claimed = []
    for followup in session.scalars(_pending_texts().limit(limit)).all():
        won = session.execute(
            update(Followup)
            .where(Followup.id == followup.id, Followup.sms_status == "pending")
            .values(sms_status="sending")
        ).rowcount
        if won == 1:
            text = localized(
                settings.messages.missed_call, followup.language, settings.default_language
            )
            claimed.append((followup.id, followup.number, text or ""))
    return claimed


def text_sent(session: Session, followup_id: int, sid: str | None, now: datetime) -> None:
    """Record how the text went (`sid` None: it failed; it is not sent again)."""
    followup = session.get(Followup, followup_id)
    if followup is None:
        return
    followup.sms_status = "sent" if sid else "failed"
    followup.sms_sid = sid
    followup.sms_at = now


# -- describing -------------------------------------------------------------------------------


def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return "an unknown time"
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")


def what_happened(settings: Settings, event: FollowupEvent) -> str:
    """One missed contact in words: "Waited 3 min in Repairs and warranty, hung up"."""
    queue = settings.queues.get(event.queue or "")
    where = queue.display_name if queue else (event.queue or "the queue")
    if event.reason == "abandoned":
        return f"Waited {_minutes(event.waited_seconds)} in {where}, hung up"
    if event.reason == "cut_off":
        return f"Cut off in {where}: the line dropped before the agent could speak"
    if event.reason in UNREACHED.values():
        how = {"callback_busy": "the line was busy", "callback_no_answer": "no answer",
               "callback_failed": "the call failed",
               "callback_canceled": "hung up before they answered"}[event.reason]  # fmt: skip
        return f"Called back, not reached: {how}"
    return f"Left a voicemail, still unhandled after {settings.followups.voicemail_minutes} min"


def event_facts(settings: Settings, event: FollowupEvent) -> dict[str, Any]:
    """One missed contact as facts the consoles phrase in the agent's language (`reason`,
    the queue's name, the wait, the voicemail delay), with `text`: the same in English."""
    queue = settings.queues.get(event.queue or "")
    return {
        "at": event.at.isoformat(),
        "reason": event.reason,
        "call_sid": event.call_sid,
        "queue": event.queue,
        "queue_name": queue.display_name if queue else event.queue,
        "waited_seconds": event.waited_seconds,
        "voicemail_id": event.voicemail_id,
        "voicemail_minutes": settings.followups.voicemail_minutes,
        "text": what_happened(settings, event),
    }


def outcome_label(settings: Settings, outcome: str | None) -> str | None:
    """An outcome's label (`followups.outcomes`; ``voicemail_handled`` is built in)."""
    if outcome == WITH_VOICEMAIL:
        return "Closed with its voicemail"
    return settings.followups.outcomes.get(outcome or "", outcome)


def describe(settings: Settings, followup: Followup) -> dict[str, Any]:
    """A follow-up for the list, with the caller's record and what happened."""
    agent = followup.assigned_agent
    return {
        "id": followup.id,
        "number": followup.number,
        "customer": followup.customer.summary() if followup.customer else None,
        "rank": rank(followup.customer),
        "language": followup.language,
        "status": followup.status,
        "created_at": followup.created_at.isoformat(),
        "last_at": followup.last_at.isoformat(),
        "occurrences": followup.occurrences,
        "events": [event_facts(settings, event) for event in followup.events],
        "assigned_to": agent.public() if agent else None,
        "callback_call_sid": followup.callback_call_sid,
        "done_at": followup.done_at.isoformat() if followup.done_at else None,
        "done_by": followup.done_by.agent_number if followup.done_by else None,
        "outcome": followup.outcome,
        "outcome_label": outcome_label(settings, followup.outcome),
        "notes": followup.notes,
        "sms": followup.sms_status,
    }


def followups_for_ended_call(
    session: Session, settings: Settings, call: Call, now: datetime
) -> Changes:
    """The follow-up side of a call ending (registered with the routing's CALL_ENDED)."""
    followup = note_ended_call(session, settings, call, now)
    return Changes(followups={followup.id}) if followup is not None else Changes()


CALL_ENDED.append(followups_for_ended_call)


def call_back_followup(
    session: Session, settings: Settings, followup: Followup, agent: Agent, now: datetime
) -> tuple[Changes, str]:
    """Ring the agent with a call-back to the caller of `followup` (the same path as a
    voicemail's: accepting dials the agent, then the customer, exactly once)."""
    if followup.status == "done":
        raise RoutingError(N_("this follow-up is already done"))
    latest = followup.events[-1] if followup.events else None
    changes, call_sid = call_back(
        session, settings, agent, now, original_sid=latest.call_sid if latest else None,
        pending_sid=followup.callback_call_sid, queue_name=latest.queue if latest else None,
        customer_id=followup.customer_id, context={"followup": followup.id},
        what="follow-up", number=followup.number,
    )  # fmt: skip
    followup.callback_call_sid = call_sid
    log_event(session, call_sid, "callback.from_followup", followup=followup.id,
              original=latest.call_sid if latest else None, agent=agent.username)  # fmt: skip
    return changes, call_sid
