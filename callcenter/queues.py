"""What happens while a caller waits in a queue, and when the wait ends (pure domain)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from callcenter.calls import log_event, mark_left_queue
from callcenter.config import Settings, localized
from callcenter.ivr.engine import Action, Hangup, Leave, PlayAudio, Record, Silence, Speak
from callcenter.models import Call

HOLD_PAUSE_SECONDS = 20
OVERFLOW_RESULTS = {"leave", "queue-full", "error", "system-error"}


def waiting_in_queue(queue: str) -> Select[tuple[Call]]:
    """Calls waiting in a queue, in the order they are served: priority, then time waited."""
    return (
        select(Call)
        .where(Call.queue == queue, Call.outcome == "queued", Call.dequeued_at.is_(None))
        .order_by(Call.queue_priority.desc(), Call.enqueued_at, Call.id)
    )


def queue_position(session: Session, call: Call) -> int | None:
    """1-based place of a waiting call; VIPs (higher priority) are ahead of earlier callers."""
    if call.outcome != "queued" or call.queue is None or call.enqueued_at is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Call)
        .where(
            Call.queue == call.queue,
            Call.outcome == "queued",
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


def hold_actions(
    settings: Settings, queue: str, language: str, position: int, waited: int
) -> list[Action]:
    """The wait loop: position announcement and hold audio, or leave after the maximum wait."""
    config = settings.queues.get(queue)
    if config is None or waited >= config.max_wait:
        return [Leave()]
    actions: list[Action] = []
    if position > 0:
        text = localized(settings.messages.queue_position, language, settings.default_language)
        actions.append(Speak((text or "").replace("{position}", str(position)), language))
    hold = localized(config.hold_message, language, settings.default_language)
    if hold:
        actions.append(Speak(hold, language))
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
    """Apply Twilio's QueueResult: abandoned on hang-up, overflow to voicemail otherwise."""
    queue = call.queue or ""
    log_event(session, call.call_sid, "queue.left", node=call.node, queue=queue, result=result,
              waited=waited)  # fmt: skip
    if result == "hangup":
        mark_left_queue(call, "abandoned", now, waited)
        return []
    if result == "bridged":
        mark_left_queue(call, "answered", now, waited)
        return [Hangup()]
    if result in OVERFLOW_RESULTS:
        mark_left_queue(call, "overflow", now, waited)
        config = settings.queues.get(queue)
        mailbox = (config.overflow_mailbox if config else None) or settings.fallback.mailbox
        language = call.language
        text = localized(settings.messages.queue_overflow, language, settings.default_language)
        max_length = settings.mailboxes[mailbox].max_length
        return [Speak(text or "", language), Record(mailbox, max_length, language)]
    return []
