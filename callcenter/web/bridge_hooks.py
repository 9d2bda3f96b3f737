"""Twilio webhooks of the bridge: the caller and the agent meet in a conference.

The caller's leg taken out of the queue (`/twilio/bridge/caller`), the agent's leg and its
status, the conference's events, a cold transfer back to a queue, a supervisor's leg and a
call-back leg. Same rules as twilio_hooks.py, whose signature check and step machinery
these routes share: signed requests only, a retried step answered from the store.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.bridge_legs import agent_leg_ended, agent_leg_gone, note_met, unmet_agent_leg
from callcenter.calls.callbacks import callback_ended
from callcenter.calls.participants import conference_ended, note_leg
from callcenter.calls.records import CALL_SID, FINAL_STATUSES, get_call, log_event
from callcenter.calls.routing import Changes, agent_missed_bridge, end_consult
from callcenter.config import localized
from callcenter.ivr.actions import Action, Enqueue, Hangup, JoinConference, Speak
from callcenter.ivr.survey import wants_survey
from callcenter.media.call_recordings import request_recording
from callcenter.models import Call, utcnow
from callcenter.services import get_services
from callcenter.supervision.steps import LABEL_PREFIX
from callcenter.supervision.steps import left as supervisor_left
from callcenter.web.twilio_hooks import (
    after_commit,
    announce_after_commit,
    call_arg_step,
    caller_sid_arg,
    check_signature,
    hang_up_leg,
    load_call,
    name_arg,
    next_step,
    record_step,
    render_twiml,
    request_call_sid,
    twilio_step,
    wake_dispatcher_after_commit,
)

bp = Blueprint("twilio_bridge", __name__, url_prefix="/twilio")
bp.before_request(check_signature)

AGENT_NUMBER = re.compile(r"\d{3,8}")


@bp.post("/bridge/caller")
@twilio_step
def bridge_caller(session: Session, call_sid: str) -> Response:
    """The caller, taken out of the queue: hear the agent's number, then meet them."""
    settings = get_services().settings
    number = request.args.get("agent", "")
    if not AGENT_NUMBER.fullmatch(number):
        abort(400, "agent is missing or malformed")
    conference = request.args.get("conf", call_sid)
    if not CALL_SID.fullmatch(conference):
        abort(400, "conf is malformed")
    # A call-back leg has its own SID; the call record and conference are the original's.
    call = load_call(session, conference)
    if call.agent_id is None and call.outcome == "queued" and call.ended_at is None and call.queue:
        # Twilio carried out the redirect after its accept was undone (it answered too
        # late): nobody is coming to this conference, so the caller waits on in the queue.
        log_event(session, conference, "bridge.stale", agent=number, leg=call_sid)
        leg = None if call_sid == conference else conference
        return render_twiml([Enqueue(call.queue, call.language, call=leg)], next_step(call))
    if agent_leg_gone(call) and call.ended_at is None and call.queue:
        # The agent's leg ended before the caller got here: they wait again, first in line
        # (the accept is undone here, so the dispatcher does not redirect them as well).
        log_event(session, conference, "bridge.agent_gone", agent=number, leg=call_sid)
        announce_after_commit(session, agent_missed_bridge(session, conference, utcnow()))
        leg = None if call_sid == conference else conference
        return render_twiml([Enqueue(call.queue, call.language, call=leg)], next_step(call))
    text = localized(settings.messages.agent_announcement, call.language, settings.default_language)
    announcement = (text or "").replace("{number}", " ".join(number))
    log_event(session, conference, "bridge.caller", agent=number, leg=call_sid)
    # Not recorded here: the caller's leg is recorded once both are in (call_recordings).
    # With a survey, the caller stays on the line when the agent hangs up (survey_hooks.py).
    surveyed = conference if wants_survey(settings, call) else None
    actions: list[Action] = [
        Speak(announcement, call.language, personal=True),
        JoinConference(
            conference, start_on_enter=False, end_on_exit=True, events=True, survey_call=surveyed
        ),
    ]
    return render_twiml(actions, next_step(call))


@bp.post("/transfer")
@record_step
def transfer_to_queue(session: Session, call_sid: str) -> Response:
    """A cold transfer: the caller leaves the conference and waits in a queue again.

    A called-back customer's leg (CallSid) waits as the caller of the call it belongs to
    (the `call` argument): no call record of its own, the queue's webhooks name the call.
    """
    services = get_services()
    settings = services.settings
    queue = name_arg("queue")
    if queue not in settings.queues:
        abort(400, "unknown queue")
    call = load_call(session, call_sid)
    leg = request_call_sid()
    text = localized(settings.messages.transfer_hold, call.language, settings.default_language)
    log_event(session, call_sid, "bridge.transfer", queue=queue, leg=leg)
    enqueue = Enqueue(queue, call.language, call=call_sid if leg != call_sid else None)
    actions: list[Action] = [Speak(text or "", call.language), enqueue]
    return render_twiml(actions, next_step(call))


@bp.post("/bridge/agent")
@twilio_step
def bridge_agent(session: Session, call_sid: str) -> Response:
    """The agent's leg answered: join the caller's conference."""
    caller = caller_sid_arg()
    log_event(session, caller, "bridge.agent_answered", leg=call_sid)
    call = get_call(session, caller)
    if call is not None and call.ended_at is not None:  # the caller left meanwhile
        log_event(session, caller, "bridge.caller_gone", leg=call_sid)
        return render_twiml([Hangup()])
    return render_twiml(
        [JoinConference(caller, start_on_enter=True, end_on_exit=True, events=True)]
    )


@bp.post("/bridge/agent-status")
@twilio_step
def bridge_agent_status(session: Session, call_sid: str) -> Response:
    """Status of the agent's leg, for the call's log."""
    caller = caller_sid_arg()
    status = request.form.get("CallStatus", "")
    log_event(session, caller, "bridge.agent_leg", leg=call_sid, status=status[:20])
    call = session.scalar(select(Call).where(Call.call_sid == caller).with_for_update())
    if agent_leg_ended(call, call_sid, status):
        # The agent never picked up, or hung up before the caller was in: the dispatcher
        # moves the caller back to the queue (a REST request, so not inside the webhook).
        wake_dispatcher_after_commit(session)
    return Response(status=204)


@bp.post("/bridge/conference")
@call_arg_step
def bridge_conference(session: Session, caller: str) -> Response:
    """Conference events: once the caller and the agent are both in, the console hears it."""
    event = request.form.get("StatusCallbackEvent", "")
    member = request.form.get("CallSid", "")
    # Join events of both legs arrive together: lock the row so neither update is lost.
    call = session.scalar(select(Call).where(Call.call_sid == caller).with_for_update())
    if call is None:
        return Response(status=204)
    log_event(session, caller, "conference." + event[:30], member=member[:64])
    announce = False
    # A supervisor's leg is neither of the two parties whose meeting connects the call.
    supervisor = request.form.get("ParticipantLabel", "").startswith(LABEL_PREFIX) or (
        (call.context or {}).get("legs", {}).get(member, {}).get("role") == "supervisor"
    )
    if event == "participant-join" and CALL_SID.fullmatch(member) and not supervisor:
        context = dict(call.context or {})
        joined = sorted({*context.get("joined", []), member})
        context["joined"] = joined
        announce = len(joined) >= 2 and not context.get("connected")
        context["connected"] = context.get("connected") or announce
        call.context = context
        note_met(call, member)
        if announce:
            leg = context.get("caller_leg") or caller
            request_recording(session, get_services().settings, call, leg, utcnow())
    elif event == "conference-end":
        call.context = {**(call.context or {}), "joined": [], "connected": False}
    if supervisor and event == "participant-join" and CALL_SID.fullmatch(member):
        note_leg(call, member, role="supervisor")
    announce_after_commit(session, _note_participant(session, call, event, member))
    if announce:  # after the commit, the dispatcher is woken: it starts the recording
        after_commit(session, lambda: get_services().announcer.call_connected(caller))
        wake_dispatcher_after_commit(session)
    return Response(status=204)


def _note_participant(session: Session, call: Call, event: str, member: str) -> Changes:
    """Keep the call's participants list; a consulted agent who hangs up ends the consult."""
    changes = Changes(participants={call.call_sid})
    if event == "participant-join" and CALL_SID.fullmatch(member):
        note_leg(call, member, state="connected")
    elif event == "participant-leave" and CALL_SID.fullmatch(member):
        note_leg(call, member, state="left")
        if member == (call.context or {}).get("consult_leg"):
            changes.merge(end_consult(session, call, "left", utcnow()))
    elif event == "conference-end":
        conference_ended(call)
    else:
        return Changes()
    return changes


@bp.post("/supervise/status")
@twilio_step
def supervise_status(session: Session, call_sid: str) -> Response:
    """Status of a supervisor's leg: once it has ended it is off the call's participants."""
    caller = caller_sid_arg()
    status = request.form.get("CallStatus", "")
    log_event(session, caller, "supervisor.leg", leg=call_sid, status=status[:20])
    if status in FINAL_STATUSES:
        gone = supervisor_left(session, caller, call_sid, status, ended=True)
        announce_after_commit(session, gone)
    return Response(status=204)


@bp.post("/bridge/callback-status")
@twilio_step
def bridge_callback_status(session: Session, call_sid: str) -> Response:
    """Status of a call-back leg: when it ends, the original call ends (wrap-up follows)."""
    caller = caller_sid_arg()
    status = request.form.get("CallStatus", "")
    call = get_call(session, caller)
    log_event(session, caller, "bridge.callback_leg", leg=call_sid, status=status[:20])
    if call is not None and status in FINAL_STATUSES:
        settings = get_services().settings
        announce_after_commit(session, callback_ended(session, settings, call, status, utcnow()))
        agent_leg = unmet_agent_leg(call)
        if agent_leg is not None:  # the customer never got to them (no answer, ...)
            after_commit(session, lambda: hang_up_leg(caller, agent_leg))
    return Response(status=204)
