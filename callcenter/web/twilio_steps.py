"""What every Twilio webhook shares: the signature check, reading Twilio's parameters, and
running a webhook once (`twilio_step`): a retry gets the stored answer back and changes
nothing, a failure is an apology, and what a step announces waits for its commit.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from functools import wraps

from flask import Response, abort, g, request
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from callcenter.calls.records import CALL_SID, get_call, log_event
from callcenter.db import get_session
from callcenter.ivr.actions import Action
from callcenter.models import WebhookResponse, utcnow
from callcenter.services import get_services
from callcenter.telephony.signature import (
    has_valid_signature,
    public_request_url,
    repeated_key,
    signed_string,
)

log = logging.getLogger("callcenter.twilio")

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
XML = "text/xml; charset=utf-8"
MAX_BODY_BYTES = 64 * 1024  # Twilio's parameters take a few kilobytes
MAX_NUMBER = 2**31 - 1  # durations, positions, channels: no count of ours is larger


def check_signature() -> None:
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


def request_call_sid() -> str:
    """The request's CallSid; 400 when missing or malformed."""
    sid = request.values.get("CallSid", "")
    if not CALL_SID.fullmatch(sid):
        abort(400, "CallSid is missing or malformed")
    return sid


def caller_sid_arg() -> str:
    """The original call a leg belongs to (the `call` query argument)."""
    caller = request.args.get("call", "")
    if not CALL_SID.fullmatch(caller):
        abort(400, "call is missing or malformed")
    return caller


def record_sid() -> str:
    """The call record a leg's request is about: the `call` query argument when the leg is
    not the call itself (a called-back customer waiting after a transfer), else CallSid."""
    if "call" not in request.args:
        return request_call_sid()
    return caller_sid_arg()


def check_recording_url(url: str) -> None:
    """A download sends our credentials: only ever to the Twilio API we are configured for."""
    if not url.startswith(get_services().settings.twilio_api_url + "/"):
        abort(400, "RecordingUrl is not on the configured Twilio API")


def name_arg(key: str, required: bool = True) -> str:
    """A name in the query string (a flow, a node, a queue); 400, or "" when not `required`."""
    value = request.args.get(key, "")
    if not NAME.fullmatch(value):
        if required:
            abort(400, f"{key} is missing or malformed")
        return ""
    return value


def int_value(key: str, default: int | None = None) -> int | None:
    """A number among Twilio's parameters, clamped to what a column holds; 400 if not one."""
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


def render_twiml(actions: list[Action], step: int = 0) -> Response:
    """The TwiML answer for `actions` at the call's `step`."""
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
    return _once(handler, request_call_sid)


def call_arg_step(handler: Callable[[Session, str], Response]) -> Callable[[], Response]:
    """:func:`twilio_step` for callbacks without a CallSid: the call is the `call` argument."""
    return _once(handler, caller_sid_arg)


def record_step(handler: Callable[[Session, str], Response]) -> Callable[[], Response]:
    """:func:`twilio_step` for a caller's leg that may not be the call (see `record_sid`)."""
    return _once(handler, record_sid)


def _once(
    handler: Callable[[Session, str], Response], read_sid: Callable[[], str]
) -> Callable[[], Response]:
    @wraps(handler)
    def wrapper() -> Response:
        call_sid = read_sid()
        return _answer(handler, call_sid, _step_key(), retry=True)

    return wrapper


def _answer(
    handler: Callable[[Session, str], Response], call_sid: str, key: str, *, retry: bool
) -> Response:
    session = get_session()
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
            return _answer(handler, call_sid, key, retry=False)
        log.exception("webhook %s failed for call %s", request.path, call_sid)
        return _apologize(call_sid, database_failed=isinstance(exc, DBAPIError))


def apology_response() -> Response:
    """The apology TwiML for a request that failed before its call could be read."""
    services = get_services()
    return render_twiml(services.engine.apology(services.settings.default_language))


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
    return render_twiml(services.engine.apology(language))


_AFTER_COMMIT = "callcenter.after_commit"
_WAKE_DISPATCHER = "callcenter.wake_dispatcher"


def _forget_after_commit(session: Session) -> None:
    """Roll back, and drop what was to be announced after a commit that never came."""
    session.rollback()
    session.info.pop(_AFTER_COMMIT, None)
    session.info.pop(_WAKE_DISPATCHER, None)


def wake_dispatcher_after_commit(session: Session) -> None:
    """After the commit, wake the dispatcher for work of its own that this step made due
    (a recording to start, a caller to move back to the queue): changes announced through
    `announce_after_commit` wake it already when they concern calls or agents."""
    session.info[_WAKE_DISPATCHER] = True


def announce_after_commit(session: Session, changes: object) -> None:
    """Consoles hear about a change only once it is committed."""
    if changes:
        after_commit(session, lambda: get_services().announcer.publish(changes))


def after_commit(session: Session, step: Callable[[], object]) -> None:
    """Run `step` once this webhook's transaction is committed, before its answer is sent
    (a REST request that must happen before the caller hears the answer, ...)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(step)
