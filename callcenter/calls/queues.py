"""What happens while a caller waits in a queue, and when the wait ends (pure domain)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from callcenter.calls.records import log_event, mark_left_queue
from callcenter.config import Settings, localized
from callcenter.ivr.engine import (
    Action,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    PlayAudio,
    Record,
    Silence,
    Speak,
)
from callcenter.models import Call

HOLD_PAUSE_SECONDS = 20
# A caller waiting on the line, or one who asked to be called back (keeping their place).
WAITING = ("queued", "callback")
RECENT_CALLS_FOR_AHT = 20
OVERFLOW_RESULTS = {"leave", "queue-full", "error", "system-error"}


def waiting_calls(queues: Iterable[str]) -> Select[tuple[Call]]:
    """Calls waiting in these queues, in the order they are served: priority, then time
    waited (one order across queues)."""
    return (
        select(Call)
        .where(Call.queue.in_(list(queues)), Call.outcome.in_(WAITING), Call.dequeued_at.is_(None))
        .order_by(Call.queue_priority.desc(), Call.enqueued_at, Call.id)
    )


def waiting_in_queue(queue: str) -> Select[tuple[Call]]:
    """Calls waiting in one queue, in the order they are served."""
    return waiting_calls([queue])


def queue_position(session: Session, call: Call) -> int | None:
    """1-based place of a waiting call; VIPs (higher priority) are ahead of earlier callers."""
    if call.outcome not in WAITING or call.queue is None or call.enqueued_at is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Call)
        .where(
            Call.queue == call.queue,
            Call.outcome.in_(WAITING),
            Call.dequeued_at.is_(None),
            Call.id != call.id,
            or_(
                Call.queue_priority > call.queue_priority,
                and_(
                    Call.queue_priority == call.queue_priority,
                    or_(
                        Call.enqueued_at < call.enqueued_at,
                        and_(Call.enqueued_at == call.enqueued_at, Call.id < call.id),
                    ),
                ),
            ),
        )
    )
    return (ahead or 0) + 1


def average_handle_seconds(session: Session, settings: Settings, queue: str) -> float | None:
    """Mean talk time of the queue's recent answered calls plus its wrap-up time."""
    recent = session.execute(
        select(Call.answered_at, Call.ended_at)
        .where(Call.queue == queue, Call.answered_at.is_not(None), Call.ended_at.is_not(None))
        .order_by(Call.ended_at.desc())
        .limit(RECENT_CALLS_FOR_AHT)
    ).all()
    if not recent:
        return None
    talk = sum((ended - answered).total_seconds() for answered, ended in recent) / len(recent)
    config = settings.queues.get(queue)
    return talk + (config.wrapup_seconds if config else 0)


def estimated_wait_seconds(session: Session, settings: Settings, call: Call) -> int | None:
    """Place in line × average handle time ÷ agents logged in with the queue's skills."""
    from callcenter.models import Agent

    position = queue_position(session, call)
    config = settings.queues.get(call.queue or "")
    if position is None or config is None:
        return None
    handle = average_handle_seconds(session, settings, call.queue or "")
    if handle is None:
        return None
    skills = set(config.skills)
    staffed = sum(
        1
        for agent in session.scalars(
            select(Agent).where(
                Agent.active.is_(True), Agent.status.in_(("available", "ringing", "on-call",
                                                          "wrap-up"))
            )
        )
        if skills <= set(agent.skills or [])
    )  # fmt: skip
    if staffed == 0:
        return None
    return int(position * handle / staffed)


def hold_actions(
    settings: Settings,
    queue: str,
    language: str,
    position: int,
    waited: int,
    estimated: int | None = None,
    *,
    callback: bool = True,
) -> list[Action]:
    """The wait loop: place in line, estimated wait, the callback offer and hold audio, or
    leave after the maximum wait. `callback` False: the caller cannot be called back, so
    the call-back is not offered."""
    config = settings.queues.get(queue)
    if config is None or waited >= config.max_wait:
        return [Leave()]
    messages = settings.messages
    default = settings.default_language
    spoken: list[Speak] = []
    if position > 0:
        text = localized(messages.queue_position, language, default) or ""
        spoken.append(Speak(text.replace("{position}", str(position)), language))
    if estimated is not None:
        minutes = max(1, round(estimated / 60))
        text = localized(messages.estimated_wait, language, default) or ""
        spoken.append(Speak(text.replace("{minutes}", str(minutes)), language))
    hold = localized(config.hold_message, language, default)
    if hold:
        spoken.append(Speak(hold, language))
    actions: list[Action] = []
    if config.callback and callback:
        offer = localized(messages.callback_offer, language, default) or ""
        spoken.append(Speak(offer, language))
        actions.append(
            Gather(
                flow="",
                node="",
                attempt=1,
                prompts=tuple(spoken),
                language=language,
                input=("dtmf",),
                timeout=2,
                num_digits=1,
                callback_queue=queue,
            )
        )
    else:
        actions.extend(spoken)
    if config.hold_music:
        actions.append(PlayAudio(config.hold_music))
    else:
        actions.append(Silence(HOLD_PAUSE_SECONDS))
    return actions


def finish_queue_wait(
    session: Session,
    settings: Settings,
    call: Call,
    result: str,
    waited: int | None,
    now: datetime,
) -> list[Action]:
    """Apply Twilio's QueueResult: abandoned on hang-up; after the maximum wait, overflow once
    to the queue's `overflow_queue`, else to its voicemail."""
    queue = call.queue or ""
    log_event(session, call.call_sid, "queue.left", node=call.node, queue=queue, result=result,
              waited=waited)  # fmt: skip
    if call.outcome == "callback":
        return [Hangup()]  # they asked to be called back and keep their place
    if result == "hangup":
        mark_left_queue(call, "abandoned", now, waited)
        return []
    if result == "bridged":
        mark_left_queue(call, "answered", now, waited)
        return [Hangup()]
    config = settings.queues.get(queue)
    if (
        result == "leave"
        and config is not None
        and config.overflow_queue
        and not (call.context or {}).get("overflowed")
    ):
        # Overflow once to another queue: the caller keeps their priority, the wait restarts.
        target = config.overflow_queue
        log_event(session, call.call_sid, "queue.overflow", queue=queue, to=target)
        call.queue = target
        call.enqueued_at = now
        call.context = {**(call.context or {}), "overflowed": True}
        text = localized(settings.messages.transfer_hold, call.language, settings.default_language)
        return [Speak(text or "", call.language), Enqueue(target, call.language)]
    if result in OVERFLOW_RESULTS:
        mark_left_queue(call, "overflow", now, waited)
        mailbox = (config.overflow_mailbox if config else None) or settings.fallback.mailbox
        language = call.language
        text = localized(settings.messages.queue_overflow, language, settings.default_language)
        max_length = settings.mailboxes[mailbox].max_length
        return [Speak(text or "", language), Record(mailbox, max_length, language)]
    return []
