"""The post-call survey's webhooks (see callcenter/ivr/survey.py), signed like every
Twilio callback and run once per delivery (a retry gets the stored answer back).

- `POST /twilio/survey?call=SID` — the caller's `<Dial><Conference>` ended (Twilio's Dial
  `action`): the agent hung up, so the agent goes to wrap-up, the call's recording is
  paused (before this answer is sent: the survey is not in the audio; refused twice, it is
  stopped; if even that fails, the caller only hears the thanks: no survey) and the caller
  hears the first question; a caller who hung up first (`CallStatus` completed) is not
  surveyed.
- `POST /twilio/survey/answer?call=SID&question=rate|resolved&attempt=N` — the caller's
  keys or words (`Digits`, `SpeechResult`), or nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from sqlalchemy.orm import Session

from callcenter.calls.records import get_call, log_event
from callcenter.calls.routing import agent_left
from callcenter.ivr import survey
from callcenter.media.call_recordings import survey_pause
from callcenter.models import utcnow
from callcenter.services import get_services
from callcenter.web.twilio_hooks import (
    after_commit,
    announce_after_commit,
    call_arg_step,
    check_signature,
    int_value,
    next_step,
    render_twiml,
)

bp = Blueprint("twilio_survey", __name__, url_prefix="/twilio/survey")
bp.before_request(check_signature)


@bp.post("")
@call_arg_step
def survey_start(session: Session, call_sid: str) -> Response:
    """The conference ended for the caller: the agent is off the call, the survey begins."""
    settings = get_services().settings
    call = get_call(session, call_sid)
    if call is None:
        abort(400, "unknown call")
    now = utcnow()
    status = request.form.get("CallStatus", "")
    dial_status = request.form.get("DialCallStatus", "")[:20]
    leg = request.form.get("CallSid", "")[:64]
    log_event(session, call_sid, "survey.dial_ended", leg=leg, status=status[:20],
              dial_status=dial_status)  # fmt: skip
    actions = survey.begin(session, settings, call, status, now)
    if actions:  # the caller is still on the line: their agent is not
        announce_after_commit(session, agent_left(session, settings, call, now))
    answer = render_twiml(actions, next_step(call))
    if survey.in_survey(call):
        running = survey_pause(session, call_sid, now)
        if running is not None:
            realtime = get_services().extras["realtime"]

            def keep_out_of_the_recording() -> None:
                # Before this answer is sent: a survey that would be recorded is skipped.
                if not realtime.call_upkeep.pause_for_survey(call_sid, *running):
                    thanks = realtime.call_upkeep.skip_survey(call_sid)
                    answer.set_data(render_twiml(thanks).get_data())

            after_commit(session, keep_out_of_the_recording)
    return answer


@bp.post("/answer")
@call_arg_step
def survey_answer(session: Session, call_sid: str) -> Response:
    """An answer to a survey question: stored, then the next question or the thanks."""
    settings = get_services().settings
    question = request.args.get("question", "")
    if question not in survey.QUESTIONS:
        abort(400, "question is missing or malformed")
    attempt = max(1, min(int_value("attempt", 1) or 1, 10))
    call = get_call(session, call_sid)
    if call is None:
        abort(400, "unknown call")
    actions = survey.answer(
        session,
        settings,
        call,
        question,
        attempt,
        digits=request.form.get("Digits"),
        speech=request.form.get("SpeechResult"),
        now=utcnow(),
    )
    return render_twiml(actions, next_step(call))
