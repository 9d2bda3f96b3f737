"""What a caller hears while waiting in a queue, and where the wait ends (pure domain): the
IVR's actions for Twilio's wait loop and for its QueueResult."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from callcenter.calls.records import log_event, mark_left_queue
from callcenter.config import Settings, localized
from callcenter.ivr.actions import (
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
OVERFLOW_RESULTS = {"leave", "queue-full", "error", "system-error"}


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
        text = (minutes == 1 and messages.estimated_wait_one.get(language)) or (
            localized(messages.estimated_wait, language, default) or ""
        )
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
