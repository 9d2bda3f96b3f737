"""The post-call survey (pure domain): what a caller hears when their agent hung up first,
and what their answers change.

In a queue with `survey: true`, the caller's leg joins the agent's conference with a
`<Dial action>`: when the agent leaves (their leg ends the conference), the caller's
`<Dial>` ends and Twilio asks what next. :func:`begin` answers with the first question,
"rate this call from 1 to 5" (keys or speech, in the caller's language), and
:func:`answer` stores each answer on the call (`csat`, `resolved`), asks the second
question (`survey.second_question`: was your problem solved, 1 yes 2 no) and thanks the
caller. A caller who hung up first is not surveyed (Twilio's request says the call is
over). A score of 1 or 2 opens a follow-up ticket (:func:`open_survey_ticket`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from callcenter.calls.records import log_event
from callcenter.care.tickets import open_survey_ticket
from callcenter.config import Settings, localized
from callcenter.ivr.actions import Action, Gather, Hangup, Prompt, Speak
from callcenter.ivr.spoken import digits_from_speech
from callcenter.metrics.recorder import record_survey_score
from callcenter.models import Call

RATE = "rate"
RESOLVED = "resolved"
QUESTIONS = (RATE, RESOLVED)
SCORES = "12345"

# Spoken answers to "was your problem solved" (a "no" is looked for first: "没有解决").
_NO_WORDS = ("no", "not", "nope", "没有", "未解决", "没解决", "不是", "否")
_YES_WORDS = ("yes", "yeah", "yep", "solved", "是", "解决了", "已解决", "对")


def wants_survey(settings: Settings, call: Call) -> bool:
    """Whether the call's caller is surveyed when their agent hangs up first: the queue
    they were answered from has `survey: true`, and the call is not rated yet."""
    queue = settings.queues.get(call.queue or "")
    return queue is not None and queue.survey and call.csat is None


def begin(
    session: Session, settings: Settings, call: Call, caller_status: str, now: datetime
) -> list[Action]:
    """The conference ended for the caller: the first question, or nothing when the caller
    is gone (they hung up first), the call was never answered or is already rated."""
    if caller_status != "in-progress":
        log_event(session, call.call_sid, "survey.skipped", reason="caller hung up")
        return []
    if call.answered_at is None or not wants_survey(settings, call):
        return [Hangup()]
    log_event(session, call.call_sid, "survey.started", language=call.language)
    call.context = {**(call.context or {}), "survey": "started"}
    return [_question(settings, call, RATE, 1)]


def in_survey(call: Call) -> bool:
    """The caller is in (or past) the survey: the agent has left the call."""
    return (call.context or {}).get("survey") == "started"


def skip(session: Session, settings: Settings, call: Call, reason: str) -> list[Action]:
    """Give up the survey of a caller already in it (e.g. it could not be kept out of the
    recording): no answer is stored from now on; what they hear instead is the thanks."""
    if not skipped(call):
        call.context = {**(call.context or {}), "survey_skipped": reason}
        log_event(session, call.call_sid, "survey.skipped", reason=reason)
    return _thanks(settings, call)


def skipped(call: Call) -> bool:
    """The survey was given up after it began (:func:`skip`)."""
    return bool((call.context or {}).get("survey_skipped"))


def answer(
    session: Session,
    settings: Settings,
    call: Call,
    question: str,
    attempt: int,
    digits: str | None,
    speech: str | None,
    now: datetime,
) -> list[Action]:
    """One answer (or none) to a question: stored, then the next question or the thanks;
    never stored once the survey is skipped (see :func:`skip`)."""
    if skipped(call):
        return _thanks(settings, call)
    said = (digits or "").strip() or digits_from_speech(speech or "")
    if question == RATE:
        first = said[:1]
        if not first or first not in SCORES:
            return _again(session, settings, call, question, attempt, bool(digits or speech))
        rate(session, settings, call, int(first), "speech" if not digits else "dtmf", now)
        if settings.survey.second_question:
            return [_question(settings, call, RESOLVED, 1)]
        return _thanks(settings, call)
    solved = _yes_or_no(digits or "", speech or "")
    if solved is None:
        return _again(session, settings, call, question, attempt, bool(digits or speech))
    if call.resolved is None:
        call.resolved = solved
        log_event(session, call.call_sid, "survey.resolved", resolved=solved)
    return _thanks(settings, call)


def rate(
    session: Session, settings: Settings, call: Call, score: int, via: str, now: datetime
) -> None:
    """Store the caller's score once (a later one is logged and ignored); 1 or 2 opens a
    follow-up ticket for the agent."""
    if call.csat is not None:
        log_event(session, call.call_sid, "survey.ignored", score=score, kept=call.csat)
        return
    call.csat = score
    call.surveyed_at = now
    record_survey_score(session, call, score)
    ticket = open_survey_ticket(session, settings, call, score, now)
    log_event(session, call.call_sid, "survey.rated", score=score, via=via,
              ticket=ticket.id if ticket is not None else None)  # fmt: skip


def _yes_or_no(digits: str, speech: str) -> bool | None:
    if digits:
        return {"1": True, "2": False}.get(digits[:1])
    said = speech.casefold()
    spoken = digits_from_speech(said)[:1]
    if spoken in ("1", "2"):
        return spoken == "1"
    words = set(said.replace(",", " ").replace(".", " ").split())
    if any(word in words or (not word.isascii() and word in said) for word in _NO_WORDS):
        return False
    if any(word in words or (not word.isascii() and word in said) for word in _YES_WORDS):
        return True
    return None


def _again(
    session: Session, settings: Settings, call: Call, question: str, attempt: int, heard: bool
) -> list[Action]:
    """No answer (or not one of the choices): ask once more, then thank and let go."""
    log_event(session, call.call_sid, "survey.no_answer" if not heard else "survey.invalid",
              question=question, attempt=attempt)  # fmt: skip
    if attempt > settings.survey.retries:
        return _thanks(settings, call)
    sorry = _text(settings, settings.messages.survey_invalid, call)
    return [_question(settings, call, question, attempt + 1, before=(Speak(sorry, call.language),))]


def _question(
    settings: Settings, call: Call, question: str, attempt: int, before: tuple[Prompt, ...] = ()
) -> Gather:
    messages = settings.messages
    text = _text(settings, messages.survey_rate if question == RATE else messages.survey_resolved,
                 call)  # fmt: skip
    return Gather(
        flow="",
        node=question,
        attempt=attempt,
        prompts=(*before, Speak(text, call.language)),
        language=call.language,
        input=("dtmf", "speech"),
        timeout=settings.survey.timeout,
        num_digits=1,
        hints=tuple(SCORES) if question == RATE else ("yes", "no"),
        survey_call=call.call_sid,
    )


def _thanks(settings: Settings, call: Call) -> list[Action]:
    return [Speak(_text(settings, settings.messages.survey_thanks, call), call.language), Hangup()]


def _text(settings: Settings, text: dict[str, str], call: Call) -> str:
    return localized(text, call.language, settings.default_language) or ""
