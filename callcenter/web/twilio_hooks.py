"""Twilio voice webhooks. Every route checks X-Twilio-Signature; none ever answers 500.

Routes are thin: they parse Twilio's parameters, call the domain, render TwiML and own
the commit. A retried webhook (same call, same step, same parameters) gets the stored
answer back and changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from functools import wraps

from flask import Blueprint, Response, abort, g, request
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from callcenter.calls.bridge_legs import unmet_agent_leg
from callcenter.calls.callbacks import can_call_back, request_callback
from callcenter.calls.queues import queue_position, waiting_caller
from callcenter.calls.records import (
    CALL_SID,
    FINAL_STATUSES,
    get_call,
    log_event,
    open_call,
    record_status,
)
from callcenter.calls.routing import Changes, call_finished, call_left_queue
from callcenter.config import localized
from callcenter.db import StaleRead, get_database, get_session
from callcenter.ivr.actions import Action, Enqueue, Hangup, Leave, Speak
from callcenter.ivr.queue_wait import finish_queue_wait, hold_actions
from callcenter.ivr.schema import VoicemailNode
from callcenter.media.call_recordings import apply_status
from callcenter.media.downloads import RECORDING_SID
from callcenter.media.voicemail import store_voicemail
from callcenter.models import Call, WebhookResponse, utcnow
from callcenter.people.customers import classify_caller
from callcenter.services import get_services
from callcenter.telephony.bridge import BridgeError
from callcenter.telephony.signature import (
    has_valid_signature,
    public_request_url,
    repeated_key,
    signed_string,
)

log = logging.getLogger("callcenter.twilio")
bp = Blueprint("twilio", __name__, url_prefix="/twilio")

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
XML = "text/xml; charset=utf-8"
MAX_BODY_BYTES = 64 * 1024  # Twilio's parameters take a few kilobytes
MAX_NUMBER = 2**31 - 1  # durations, positions, channels: no count of ours is larger


@bp.before_request
def _check_signature() -> None:
    """Signed by Twilio, of a sane size, and no parameter named twice; else refused."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        abort(413)
    request.max_content_length = MAX_BODY_BYTES  # a body without Content-Length, too
    services = get_services()
    if not has_valid_signature(services.validator, services.settings.public_url, request):
        log.warning("rejected unsigned or forged request to %s", request.path)
        abort(403)
    # Twilio waits 15 s: never wait longer than this for a lock another process holds.
    g.db_lock_timeout = services.database.webhook_lock_timeout
    # The signature covers each distinct value once: a repeated parameter could be added
    # to a captured request without breaking it. Twilio never repeats one.
    repeated = repeated_key(request)
    if repeated is not None:
        log.warning("rejected request to %s repeating %s", request.path, repeated[:64])
        abort(400, "a parameter is repeated")


def _call_sid() -> str:
    sid = request.values.get("CallSid", "")
    if not CALL_SID.fullmatch(sid):
        abort(400, "CallSid is missing or malformed")
    return sid


def _caller_sid_arg() -> str:
    """The original call a leg belongs to (the `call` query argument)."""
    caller = request.args.get("call", "")
    if not CALL_SID.fullmatch(caller):
        abort(400, "call is missing or malformed")
    return caller


def _record_sid() -> str:
    """The call record a leg's request is about: the `call` query argument when the leg is
    not the call itself (a called-back customer waiting after a transfer), else CallSid."""
    if "call" not in request.args:
        return _call_sid()
    return _caller_sid_arg()


def _check_recording_url(url: str) -> None:
    """A download sends our credentials: only ever to the Twilio API we are configured for."""
    if not url.startswith(get_services().settings.twilio_api_url + "/"):
        abort(400, "RecordingUrl is not on the configured Twilio API")


def _name_arg(key: str, required: bool = True) -> str:
    value = request.args.get(key, "")
    if not NAME.fullmatch(value):
        if required:
            abort(400, f"{key} is missing or malformed")
        return ""
    return value


def _int_value(key: str, default: int | None = None) -> int | None:
    raw = request.values.get(key, "")
    try:
        value = int(raw) if raw != "" else default
    except ValueError:
        abort(400, f"{key} is not a number")
    # Clamped: a number no column of ours can hold is not worth refusing the caller for.
    return None if value is None else max(-MAX_NUMBER, min(value, MAX_NUMBER))


def _step_key() -> str:
    """Identify a webhook delivery by exactly what its signature covers: two requests that
    one signature fits (a retry, or a replay with parameters re-split) are one step."""
    url = public_request_url(get_services().settings.public_url, request)
    return hashlib.sha256(signed_string(url, request.form).encode()).hexdigest()


def _twiml(actions: list[Action], step: int = 0) -> Response:
    body = get_services().renderer.render(actions, step=step)
    return Response(body, content_type=XML)


_ANSWERS = WebhookResponse.__table__
_READ_ANSWER = select(_ANSWERS.c.body, _ANSWERS.c.status_code, _ANSWERS.c.content_type).where(
    _ANSWERS.c.call_sid == bindparam("sid"), _ANSWERS.c.step_key == bindparam("key")
)
_STORE_ANSWER = insert(_ANSWERS)


def _stored_answer(session: Session, call_sid: str, key: str) -> Response | None:
    # A Core statement built once: this runs before every webhook, and there is nothing
    # of the session's to flush yet.
    stored = session.connection().execute(_READ_ANSWER, {"sid": call_sid, "key": key}).first()
    if stored is None:
        return None
    body, status_code, content_type = stored
    return Response(body, status=status_code, content_type=content_type)


def twilio_step(handler: Callable[[Session, str], Response]) -> Callable[[], Response]:
    """Run a webhook once: replay stored answers to retries, apologize instead of failing."""
    return _once(handler, _call_sid)


def call_arg_step(handler: Callable[[Session, str], Response]) -> Callable[[], Response]:
    """:func:`twilio_step` for callbacks without a CallSid: the call is the `call` argument."""
    return _once(handler, _caller_sid_arg)


def record_step(handler: Callable[[Session, str], Response]) -> Callable[[], Response]:
    """:func:`twilio_step` for a caller's leg that may not be the call (see `_record_sid`)."""
    return _once(handler, _record_sid)


def _once(
    handler: Callable[[Session, str], Response], read_sid: Callable[[], str]
) -> Callable[[], Response]:
    @wraps(handler)
    def wrapper() -> Response:
        call_sid = read_sid()
        return _answer(handler, call_sid, _step_key(), retry=True, deferred=True)

    return wrapper


def _answer(
    handler: Callable[[Session, str], Response],
    call_sid: str,
    key: str,
    *,
    retry: bool,
    deferred: bool,
) -> Response:
    session = get_session()
    # On SQLite the look-ups, the flow and the TwiML run in a read snapshot; the process's
    # write lock is taken at the first write (docs/performance.md).
    get_database().defer_write_lock(session, deferred)
    try:
        replay = _stored_answer(session, call_sid, key)
        if replay is not None:
            session.rollback()
            return replay
        response = handler(session, call_sid)
        session.flush()
        session.connection().execute(
            _STORE_ANSWER,
            {
                "call_sid": call_sid,
                "step_key": key,
                "status_code": response.status_code,
                "content_type": response.content_type or XML,
                "body": response.get_data(as_text=True),
                "created_at": utcnow(),
            },
        )
        session.commit()
        for announce in session.info.pop(_AFTER_COMMIT, []):
            announce()
        # Routing changes woke the dispatcher as they were announced; the rest (an IVR
        # step, a status callback) only touch the boards: a pass per webhook would hold
        # the write lock the next webhooks wait for (docs/performance.md).
        announcer = get_services().announcer
        if session.info.pop(_WAKE_DISPATCHER, False):
            announcer.kick()
        else:
            announcer.touch()
        return response
    except HTTPException:
        _forget_after_commit(session)
        raise
    except StaleRead:
        # What it read (the call) was changed before it could write: once more, this time
        # holding the write lock from the start, so nothing can change under it.
        _forget_after_commit(session)
        log.info("webhook %s for call %s ran again under the write lock", request.path, call_sid)
        return _answer(handler, call_sid, key, retry=retry, deferred=False)
    except IntegrityError:
        # A concurrent delivery of the same step won the race: answer as it did.
        _forget_after_commit(session)
        return _stored_answer(session, call_sid, key) or _apologize(call_sid)
    except Exception as exc:
        _forget_after_commit(session)
        if retry and isinstance(exc, DBAPIError) and exc.connection_invalidated:
            # The connection was dropped (opened while the database could not be written):
            # once more on a fresh one, which works if the fault is over.
            log.warning("webhook %s retried on a new connection: %s", request.path, exc.orig)
            return _answer(handler, call_sid, key, retry=False, deferred=deferred)
        log.exception("webhook %s failed for call %s", request.path, call_sid)
        return _apologize(call_sid, database_failed=isinstance(exc, DBAPIError))


def apology_response() -> Response:
    """The apology TwiML for a request that failed before its call could be read."""
    services = get_services()
    return _twiml(services.engine.apology(services.settings.default_language))


def _apologize(call_sid: str, *, database_failed: bool = False) -> Response:
    """A caller never hears an application error: apologize and take a message.

    When the database failed (locked, unwritable) the apology only reads the caller's
    language, which never waits for a lock; otherwise the failure is logged on the call.
    """
    services = get_services()
    language = services.settings.default_language
    database = services.database
    try:
        if database_failed:
            with database.read_session() as session:
                call = get_call(session, call_sid)
                language = call.language if call is not None else language
        else:
            with database.new_session(database.webhook_lock_timeout) as session:
                call = get_call(session, call_sid)
                if call is not None:
                    language = call.language
                    log_event(session, call_sid, "app.error", path=request.path)
                    session.commit()
    except Exception:
        log.exception("could not record the failure of call %s", call_sid)
    return _twiml(services.engine.apology(language))


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
    return _twiml(actions, _next_step(call))


@bp.post("/gather")
@twilio_step
def gather(session: Session, call_sid: str) -> Response:
    """The caller pressed keys or spoke (or did nothing) at a menu, input or language node."""
    flow, node = _name_arg("flow"), _name_arg("node")
    attempt = max(1, min(_int_value("attempt", 1) or 1, 10))
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
    return _twiml(actions, _next_step(call))


@bp.post("/dial/done")
@twilio_step
def dial_done(session: Session, call_sid: str) -> Response:
    """A transfer ended: answered, or on to the node's on_fail."""
    flow, node = _name_arg("flow"), _name_arg("node")
    call = _load_call(session, call_sid)
    status = request.form.get("DialCallStatus", "failed")
    actions = get_services().engine.after_dial(session, call, flow, node, status)
    _announce_queue_entry(session, call, actions)
    return _twiml(actions, _next_step(call))


@bp.post("/queue/wait")
def queue_wait() -> Response:
    """Twilio's waitUrl, fetched in a loop while the caller waits: read-only."""
    call_sid = _record_sid()
    settings = get_services().settings
    queue = _name_arg("queue")
    language = request.args.get("lang", "")
    if language not in settings.voices:
        language = settings.default_language
    position = _int_value("QueuePosition", 0) or 0
    waited = _int_value("QueueTime", 0) or 0
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
    return _twiml(actions)


@bp.post("/queue/moved")
def queue_moved() -> Response:
    """A supervisor moved the waiting caller to another queue (`CallBridge.rejoin_queue`
    redirected the leg out of its old <Enqueue>): they wait on in the queue the call is in
    now (moved again meanwhile: the latest), else the `queue` it was moved to, with its
    wait loop. Read-only: the move and the wait were recorded when it was made."""
    call_sid = _record_sid()
    leg = _call_sid()
    settings = get_services().settings
    queue, language = _name_arg("queue"), request.args.get("lang", "")
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
    return _twiml([Enqueue(queue, language, call=call_sid if leg != call_sid else None)])


@bp.post("/queue/callback")
@twilio_step
def queue_callback(session: Session, call_sid: str) -> Response:
    """A key pressed in the wait loop: `*` asks to be called back, keeping one's place."""
    settings = get_services().settings
    _name_arg("queue")
    call = _load_call(session, call_sid)
    if request.form.get("Digits") != "*" or not request_callback(session, call, utcnow()):
        return _twiml([])  # back to waiting
    _announce_after_commit(session, Changes(calls={call_sid}))  # a call-back now, not a caller
    text = localized(settings.messages.callback_confirmed, call.language, settings.default_language)
    return _twiml([Speak(text or "", call.language), Leave()], _next_step(call))


@bp.post("/queue/done")
@record_step
def queue_done(session: Session, call_sid: str) -> Response:
    """The <Enqueue> ended: answered, hung up, or overflowed to voicemail."""
    services = get_services()
    call = _load_call(session, call_sid)
    result = request.form.get("QueueResult", "error")
    waited = _int_value("QueueTime")
    now = utcnow()
    actions = finish_queue_wait(session, services.settings, call, result, waited, now)
    # "redirected": a supervisor's move took the caller out to wait in another queue.
    if result not in ("bridged", "redirected"):
        _announce_after_commit(session, call_left_queue(session, call_sid, now))
    return _twiml(actions, _next_step(call))


@bp.post("/voicemail/done")
@twilio_step
def voicemail_done(session: Session, call_sid: str) -> Response:
    """The <Record> ended: thank the caller (the audio arrives by the recording callback)."""
    services = get_services()
    settings = services.settings
    call = _load_call(session, call_sid)
    language = call.language
    duration = _int_value("RecordingDuration", 0) or 0
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
    return _twiml([Speak(text or "", language), Hangup()], _next_step(call))


@bp.post("/recording")
@twilio_step
def recording(session: Session, call_sid: str) -> Response:
    """Recording status callback: store the voicemail and schedule the verified download."""
    settings = get_services().settings
    mailbox = _name_arg("mailbox")
    if mailbox not in settings.mailboxes:
        mailbox = settings.fallback.mailbox
    status = request.form.get("RecordingStatus", "")
    recording_sid = request.form.get("RecordingSid", "")
    if status != "completed":
        kind = "recording." + (status or "unknown")[:20]
        error = request.form.get("ErrorCode")
        log_event(session, call_sid, kind, recording_sid=recording_sid[:64], error=error)
        return Response(status=204)
    duration = _int_value("RecordingDuration")
    if duration == 0:  # the caller said nothing: no voicemail to work
        log_event(session, call_sid, "recording.empty", recording_sid=recording_sid[:64])
        return Response(status=204)
    url = request.form.get("RecordingUrl", "")
    if not RECORDING_SID.fullmatch(recording_sid):
        abort(400, "RecordingSid is missing or malformed")
    _check_recording_url(url)
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
    record_status(session, call, call_status, _int_value("CallDuration"), now)
    if call.status in FINAL_STATUSES:
        _announce_after_commit(session, call_finished(session, get_services().settings, call, now))
        agent_leg = unmet_agent_leg(call)
        if agent_leg is not None:  # the caller left before meeting them: nobody is coming
            _after_commit(session, lambda: _hang_up_leg(call_sid, agent_leg))
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
        _check_recording_url(url)
    duration = _int_value("RecordingDuration")
    apply_status(
        session,
        call_sid=call_sid,
        leg_sid=request.form.get("CallSid", "")[:64],
        recording_sid=recording_sid,
        status=status[:20],
        duration=duration if duration is not None and duration >= 0 else None,
        channels=_int_value("RecordingChannels"),
        url=url,
        now=utcnow(),
    )
    return Response(status=204)


_AFTER_COMMIT = "callcenter.after_commit"
_WAKE_DISPATCHER = "callcenter.wake_dispatcher"


def _forget_after_commit(session: Session) -> None:
    """Roll back, and drop what was to be announced after a commit that never came."""
    session.rollback()
    session.info.pop(_AFTER_COMMIT, None)
    session.info.pop(_WAKE_DISPATCHER, None)


def _wake_dispatcher_after_commit(session: Session) -> None:
    """After the commit, wake the dispatcher for work of its own that this step made due
    (a recording to start, a caller to move back to the queue): changes announced through
    `_announce_after_commit` wake it already when they concern calls or agents."""
    session.info[_WAKE_DISPATCHER] = True


def _announce_queue_entry(session: Session, call: Call, actions: list[Action]) -> None:
    """A caller sent to a queue changes its count, whether or not an agent is free."""
    if any(isinstance(action, Enqueue) for action in actions):
        _announce_after_commit(session, Changes(calls={call.call_sid}))


def _announce_after_commit(session: Session, changes: object) -> None:
    """Consoles hear about a change only once it is committed."""
    if changes:
        _after_commit(session, lambda: get_services().announcer.publish(changes))


def _after_commit(session: Session, step: Callable[[], object]) -> None:
    """Run `step` once this webhook's transaction is committed, before its answer is sent
    (a REST request that must happen before the caller hears the answer, ...)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(step)


# What the other Twilio blueprints (bridge_hooks.py, survey_hooks.py, client_hooks.py)
# share with this one.
check_signature = _check_signature
render_twiml = _twiml
next_step = _next_step
int_value = _int_value
name_arg = _name_arg
request_call_sid = _call_sid
caller_sid_arg = _caller_sid_arg
load_call = _load_call
hang_up_leg = _hang_up_leg
announce_after_commit = _announce_after_commit
after_commit = _after_commit
wake_dispatcher_after_commit = _wake_dispatcher_after_commit
