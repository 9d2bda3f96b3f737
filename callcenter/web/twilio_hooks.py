"""Twilio voice webhooks. Every route checks X-Twilio-Signature; none ever answers 500.

Routes are thin: they parse Twilio's parameters, call the domain, render TwiML and own
the commit. A retried webhook (same call, same step, same parameters) gets the stored
answer back and changes nothing (the plumbing for all of it is in twilio_steps.py).
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, abort, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from callcenter.calls.bridge_legs import unmet_agent_leg
from callcenter.calls.callbacks import can_call_back, request_callback
from callcenter.calls.queues import queue_position, waiting_caller
from callcenter.calls.records import (
    FINAL_STATUSES,
    get_call,
    log_event,
    open_call,
    record_status,
)
from callcenter.calls.routing import Changes, call_finished, call_left_queue
from callcenter.config import localized
from callcenter.ivr.actions import Action, Enqueue, Hangup, Leave, Speak
from callcenter.ivr.queue_wait import finish_queue_wait, hold_actions
from callcenter.ivr.schema import VoicemailNode
from callcenter.media.call_recordings import apply_status
from callcenter.media.downloads import RECORDING_SID
from callcenter.media.voicemail import store_voicemail
from callcenter.models import Call, utcnow
from callcenter.people.customers import classify_caller
from callcenter.services import get_services
from callcenter.telephony.bridge import BridgeError
from callcenter.web.twilio_steps import (
    after_commit,
    announce_after_commit,
    apology_response,
    call_arg_step,
    caller_sid_arg,
    check_recording_url,
    check_signature,
    int_value,
    name_arg,
    record_sid,
    record_step,
    render_twiml,
    request_call_sid,
    twilio_step,
    wake_dispatcher_after_commit,
)

log = logging.getLogger("callcenter.twilio")
bp = Blueprint("twilio", __name__, url_prefix="/twilio")
bp.before_request(check_signature)


def _load_call(session: Session, call_sid: str) -> Call:
    """The call record, created on the fly if this app has never seen the call."""
    call = get_call(session, call_sid)
    if call is None:
        call = _open(session, call_sid)
    return call


def _open(session: Session, call_sid: str) -> Call:
    settings = get_services().settings
    to = request.values.get("To", "")
    dialed = classify_caller(to).number
    flow = settings.numbers.get(dialed or to, settings.default_flow)
    return open_call(
        session,
        call_sid=call_sid,
        from_raw=request.values.get("From", ""),
        to=to,
        flow=flow,
        default_language=settings.default_language,
    )


def _next_step(call: Call) -> int:
    call.step += 1
    return call.step


@bp.post("/voice")
@twilio_step
def voice(session: Session, call_sid: str) -> Response:
    """A new inbound call: open its record and run its flow from the start."""
    call = get_call(session, call_sid) or _open(session, call_sid)
    actions = get_services().engine.start(session, call)
    _announce_queue_entry(session, call, actions)
    return render_twiml(actions, _next_step(call))


@bp.post("/gather")
@twilio_step
def gather(session: Session, call_sid: str) -> Response:
    """The caller pressed keys or spoke (or did nothing) at a menu, input or language node."""
    flow, node = name_arg("flow"), name_arg("node")
    attempt = max(1, min(int_value("attempt", 1) or 1, 10))
    call = _load_call(session, call_sid)
    actions = get_services().engine.resume(
        session,
        call,
        flow,
        node,
        attempt,
        digits=request.form.get("Digits"),
        speech=request.form.get("SpeechResult"),
    )
    _announce_queue_entry(session, call, actions)
    return render_twiml(actions, _next_step(call))


@bp.post("/dial/done")
@twilio_step
def dial_done(session: Session, call_sid: str) -> Response:
    """A transfer ended: answered, or on to the node's on_fail."""
    flow, node = name_arg("flow"), name_arg("node")
    call = _load_call(session, call_sid)
    status = request.form.get("DialCallStatus", "failed")
    actions = get_services().engine.after_dial(session, call, flow, node, status)
    _announce_queue_entry(session, call, actions)
    return render_twiml(actions, _next_step(call))


@bp.post("/queue/wait")
def queue_wait() -> Response:
    """Twilio's waitUrl, fetched in a loop while the caller waits: read-only."""
    call_sid = record_sid()
    settings = get_services().settings
    queue = name_arg("queue")
    language = request.args.get("lang", "")
    if language not in settings.voices:
        language = settings.default_language
    position = int_value("QueuePosition", 0) or 0
    waited = int_value("QueueTime", 0) or 0
    # Twilio's position is first-in-first-out; ours counts VIPs and priorities ahead.
    estimated = None
    callback = True  # an unknown call (or no database): as before, offer it
    try:
        with get_services().database.read_session() as session:
            call = waiting_caller(session, call_sid)
            if call is not None:
                callback = can_call_back(call)
                place = queue_position(session, call)
                position = place or position
                if place is not None:
                    estimated = get_services().wait_estimates.seconds(
                        session, settings, call, place
                    )
    except DBAPIError:
        log.exception("queue/wait for call %s: no estimate without the database", call_sid)
    actions = hold_actions(settings, queue, language, position, waited, estimated,
                           callback=callback)  # fmt: skip
    return render_twiml(actions)


@bp.post("/queue/moved")
def queue_moved() -> Response:
    """A supervisor moved the waiting caller to another queue (`CallBridge.rejoin_queue`
    redirected the leg out of its old <Enqueue>): they wait on in the queue the call is in
    now (moved again meanwhile: the latest), else the `queue` it was moved to, with its
    wait loop. Read-only: the move and the wait were recorded when it was made."""
    call_sid = record_sid()
    leg = request_call_sid()
    settings = get_services().settings
    queue, language = name_arg("queue"), request.args.get("lang", "")
    if queue not in settings.queues:
        abort(400, "unknown queue")
    try:
        with get_services().database.read_session() as session:
            call = get_call(session, call_sid)
            if call is not None and call.queue in settings.queues:
                queue, language = call.queue, call.language
    except DBAPIError:
        log.exception("queue/moved for call %s: the queue it was moved to", call_sid)
    if language not in settings.voices:
        language = settings.default_language
    log.info("call %s waits on in queue %s after a move", call_sid, queue)
    return render_twiml([Enqueue(queue, language, call=call_sid if leg != call_sid else None)])


@bp.post("/queue/callback")
@twilio_step
def queue_callback(session: Session, call_sid: str) -> Response:
    """A key pressed in the wait loop: `*` asks to be called back, keeping one's place."""
    settings = get_services().settings
    name_arg("queue")
    call = _load_call(session, call_sid)
    if request.form.get("Digits") != "*" or not request_callback(session, call, utcnow()):
        return render_twiml([])  # back to waiting
    announce_after_commit(session, Changes(calls={call_sid}))  # a call-back now, not a caller
    text = localized(settings.messages.callback_confirmed, call.language, settings.default_language)
    return render_twiml([Speak(text or "", call.language), Leave()], _next_step(call))


@bp.post("/queue/done")
@record_step
def queue_done(session: Session, call_sid: str) -> Response:
    """The <Enqueue> ended: answered, hung up, or overflowed to voicemail."""
    services = get_services()
    call = _load_call(session, call_sid)
    result = request.form.get("QueueResult", "error")
    waited = int_value("QueueTime")
    now = utcnow()
    actions = finish_queue_wait(session, services.settings, call, result, waited, now)
    # "redirected": a supervisor's move took the caller out to wait in another queue.
    if result not in ("bridged", "redirected"):
        announce_after_commit(session, call_left_queue(session, call_sid, now))
    return render_twiml(actions, _next_step(call))


@bp.post("/voicemail/done")
@twilio_step
def voicemail_done(session: Session, call_sid: str) -> Response:
    """The <Record> ended: thank the caller (the audio arrives by the recording callback)."""
    services = get_services()
    settings = services.settings
    call = _load_call(session, call_sid)
    language = call.language
    duration = int_value("RecordingDuration", 0) or 0
    recorded = bool(request.form.get("RecordingUrl")) and duration > 0
    log_event(session, call_sid, "voicemail.recorded" if recorded else "voicemail.empty",
              mailbox=request.args.get("mailbox"), duration=duration)  # fmt: skip
    messages = settings.messages
    text = localized(
        messages.voicemail_saved if recorded else messages.voicemail_empty,
        language,
        settings.default_language,
    )
    node = services.flows.flows.flows.get(call.flow)
    current = node.nodes.get(call.node) if node else None
    if recorded and isinstance(current, VoicemailNode) and current.goodbye is not None:
        text = localized(current.goodbye, language, node.languages[0] if node else language)
    return render_twiml([Speak(text or "", language), Hangup()], _next_step(call))


@bp.post("/recording")
@twilio_step
def recording(session: Session, call_sid: str) -> Response:
    """Recording status callback: store the voicemail and schedule the verified download."""
    settings = get_services().settings
    mailbox = name_arg("mailbox")
    if mailbox not in settings.mailboxes:
        mailbox = settings.fallback.mailbox
    status = request.form.get("RecordingStatus", "")
    recording_sid = request.form.get("RecordingSid", "")
    if status != "completed":
        kind = "recording." + (status or "unknown")[:20]
        error = request.form.get("ErrorCode")
        log_event(session, call_sid, kind, recording_sid=recording_sid[:64], error=error)
        return Response(status=204)
    duration = int_value("RecordingDuration")
    if duration == 0:  # the caller said nothing: no voicemail to work
        log_event(session, call_sid, "recording.empty", recording_sid=recording_sid[:64])
        return Response(status=204)
    url = request.form.get("RecordingUrl", "")
    if not RECORDING_SID.fullmatch(recording_sid):
        abort(400, "RecordingSid is missing or malformed")
    check_recording_url(url)
    store_voicemail(
        session,
        call_sid=call_sid,
        mailbox=mailbox,
        recording_sid=recording_sid,
        recording_url=url,
        duration=duration,
    )
    return Response(status=204)


MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


@bp.post("/sms/status")
@call_arg_step
def sms_status(session: Session, call_sid: str) -> Response:
    """Delivery status of a text message sent for a call (an article's link)."""
    message_sid = request.form.get("MessageSid", "")
    if not MESSAGE_SID.fullmatch(message_sid):
        abort(400, "MessageSid is missing or malformed")
    status = request.form.get("MessageStatus", "")[:20]
    log_event(session, call_sid, "kb.sms_status", message_sid=message_sid, status=status,
              error=request.form.get("ErrorCode"))  # fmt: skip
    return Response(status=204)


@bp.post("/status")
@twilio_step
def status(session: Session, call_sid: str) -> Response:
    """Call status callback: status, duration, and abandonment of callers left in a queue."""
    call = get_call(session, call_sid)
    call_status = request.form.get("CallStatus", "")
    if not call_status:
        abort(400, "CallStatus is missing")
    if call is None:
        log_event(session, call_sid, "status.unknown_call", status=call_status)
        return Response(status=204)
    now = utcnow()
    record_status(session, call, call_status, int_value("CallDuration"), now)
    if call.status in FINAL_STATUSES:
        announce_after_commit(session, call_finished(session, get_services().settings, call, now))
        agent_leg = unmet_agent_leg(call)
        if agent_leg is not None:  # the caller left before meeting them: nobody is coming
            after_commit(session, lambda: _hang_up_leg(call_sid, agent_leg))
    return Response(status=204)


def _hang_up_leg(call_sid: str, leg: str) -> None:
    """After the commit: end an agent's leg left alone in (or on its way to) a conference."""
    bridge = get_services().extras.get("bridge")
    if bridge is None:
        return
    try:
        bridge.hang_up(leg)
    except BridgeError as exc:
        if not exc.call_gone:  # over already: nothing to do
            log.warning("could not hang up %s, alone in the conference of %s: %s",
                        leg, call_sid, exc)  # fmt: skip


@bp.post("/recording/call")
@call_arg_step
def call_recording_status(session: Session, call_sid: str) -> Response:
    """Status of an answered call's recording; ``completed`` schedules the download."""
    recording_sid = request.form.get("RecordingSid", "")
    if not RECORDING_SID.fullmatch(recording_sid):
        abort(400, "RecordingSid is missing or malformed")
    status = request.form.get("RecordingStatus", "")
    if not status:
        abort(400, "RecordingStatus is missing")
    url = request.form.get("RecordingUrl", "")
    if status == "completed":
        check_recording_url(url)
    duration = int_value("RecordingDuration")
    apply_status(
        session,
        call_sid=call_sid,
        leg_sid=request.form.get("CallSid", "")[:64],
        recording_sid=recording_sid,
        status=status[:20],
        duration=duration if duration is not None and duration >= 0 else None,
        channels=int_value("RecordingChannels"),
        url=url,
        now=utcnow(),
    )
    return Response(status=204)


def _announce_queue_entry(session: Session, call: Call, actions: list[Action]) -> None:
    """A caller sent to a queue changes its count, whether or not an agent is free."""
    if any(isinstance(action, Enqueue) for action in actions):
        announce_after_commit(session, Changes(calls={call.call_sid}))


# What the other Twilio blueprints (bridge_hooks.py, survey_hooks.py, client_hooks.py)
# import from here, besides twilio_steps' own names.
next_step = _next_step
load_call = _load_call
hang_up_leg = _hang_up_leg
__all__ = [
    "after_commit",
    "announce_after_commit",
    "apology_response",
    "bp",
    "call_arg_step",
    "caller_sid_arg",
    "check_signature",
    "hang_up_leg",
    "int_value",
    "load_call",
    "name_arg",
    "next_step",
    "record_step",
    "render_twiml",
    "request_call_sid",
    "twilio_step",
    "wake_dispatcher_after_commit",
]
