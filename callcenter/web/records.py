"""Call records, recording playback and the voicemail inbox, for logged-in consoles.

- `GET /api/calls` (the agent's own calls; supervisors: everyone's) and `GET /api/calls/<sid>`
  (the call record: timeline, recordings with their pauses, knowledge consulted).
- `GET /api/recordings/<RecordingSid>`: the audio, with HTTP range requests, for the agent
  on that call, supervisors and admins (voicemails: whoever may work them), and only to
  players on our own pages (`Sec-Fetch-Site: same-origin`: a link on another site, opened
  in a logged-in browser, gets 403); every playback is logged.
- `GET /api/voicemails` and `POST /api/voicemails/<id>/{assign,release,handled}` (calling
  the caller back is `call:dial` / `POST /api/calls/dial` with `voicemail_id`).
- `GET /calls/<sid>`: the call record page.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callcenter.calls.records import CALL_SID, get_call, may_see_call
from callcenter.db import get_session
from callcenter.knowledge.usage import consulted
from callcenter.media.call_recordings import describe as describe_recording
from callcenter.media.downloads import RECORDING_SID
from callcenter.media.voicemail import (
    InboxError,
    assign,
    inbox,
    mark_handled,
    may_play,
    release,
)
from callcenter.media.voicemail import describe as describe_voicemail
from callcenter.models import (
    Call,
    CallEvent,
    CallOffer,
    CallRecording,
    RecordingDownload,
    RecordingPlayback,
    Voicemail,
    utcnow,
)
from callcenter.services import get_services
from callcenter.web.audio import audio_response
from callcenter.web.auth import current_agent, json_error, json_object, login_required
from callcenter.web.console import security_headers
from callcenter.web.dial_events import dial_over_http
from callcenter.web.limits import from_own_page, is_id

bp = Blueprint("records", __name__)
bp.after_request(security_headers)

TIMELINE_LIMIT = 500


def _visible_call(session: Session, call_sid: str) -> Call:
    if not CALL_SID.fullmatch(call_sid):
        abort(json_error(404, "no such call"))
    call = get_call(session, call_sid)
    if call is None:
        abort(json_error(404, "no such call"))
    if not may_see_call(session, g.agent, call):
        abort(json_error(403, "not your call"))
    return call


# -- calls ----------------------------------------------------------------------------------


def _call_summary(call: Call) -> dict[str, Any]:
    settings = get_services().settings
    queue = settings.queues.get(call.queue or "")
    return {
        "call_sid": call.call_sid,
        "direction": call.direction,
        "from": call.from_number,
        "customer": call.customer.name if call.customer else None,
        "queue": call.queue,
        "queue_name": queue.display_name if queue else call.queue,
        "outcome": call.outcome,
        "disposition": call.disposition,
        "disposition_label": settings.dispositions.get(call.disposition or "", call.disposition),
        "agent": call.agent.agent_number if call.agent else None,
        "started_at": call.started_at.isoformat(),
        "duration": call.duration_seconds,
        "csat": call.csat,
        "resolved": call.resolved,
    }


@bp.get("/api/calls")
@login_required()
def calls() -> ResponseReturnValue:
    """Recent calls: an agent's own (taken or transferred to them); supervisors see all."""
    session = get_session()
    try:
        limit = max(1, min(int(request.args.get("limit", "20")), 200))
    except ValueError:
        return json_error(400, "limit is not a number")
    query = select(Call).order_by(Call.started_at.desc(), Call.id.desc()).limit(limit)
    everyone = g.agent.is_supervisor and request.args.get("mine") != "1"
    if not everyone:
        offered = select(CallOffer.call_sid).where(
            CallOffer.agent_id == g.agent.id, CallOffer.status == "accepted"
        )
        query = query.where(or_(Call.agent_id == g.agent.id, Call.call_sid.in_(offered)))
    return jsonify({"calls": [_call_summary(call) for call in session.scalars(query)]})


@bp.get("/api/calls/<call_sid>")
@login_required()
def call_record(call_sid: str) -> ResponseReturnValue:
    """Everything about one call: who, when, how it went, recordings, what was looked up."""
    session = get_session()
    call = _visible_call(session, call_sid)
    events = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_sid == call.call_sid)
        .order_by(CallEvent.id)
        .limit(TIMELINE_LIMIT)
    ).all()
    recordings = session.scalars(
        select(CallRecording)
        .where(CallRecording.call_sid == call.call_sid)
        .order_by(CallRecording.id)
    ).all()
    voicemails = session.scalars(
        select(Voicemail).where(Voicemail.call_sid == call.call_sid).order_by(Voicemail.id)
    ).all()
    payload = {
        **_call_summary(call),
        "caller_number": call.caller_number,
        "to": call.to_number,
        "language": call.language,
        "status": call.status,
        "customer": call.customer.summary() if call.customer else None,
        "agent": call.agent.public() if call.agent else None,
        "queue_wait_seconds": call.queue_wait_seconds,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "notes": call.wrapup_notes,
        "surveyed_at": call.surveyed_at.isoformat() if call.surveyed_at else None,
        "timeline": [
            {
                "at": event.at.isoformat(),
                "kind": event.kind,
                "node": event.node,
                "input": event.input,
                "detail": event.detail,
            }
            for event in events
        ],
        "recordings": [_recording_answer(item) for item in recordings],
        "voicemails": [_inbox_answer(item) for item in voicemails],
        "knowledge": consulted(session, call.call_sid),
    }
    session.rollback()
    return jsonify(payload)


def _recording_answer(recording: CallRecording) -> dict[str, Any]:
    described = describe_recording(recording)
    return {**described, "url": _audio_url(recording.recording_sid, described["playable"])}


def _audio_url(recording_sid: str | None, playable: bool) -> str | None:
    if not recording_sid or not playable:
        return None
    return url_for("records.recording_audio", recording_sid=recording_sid)


# -- playback -------------------------------------------------------------------------------


@bp.get("/api/recordings/<recording_sid>")
@login_required()
def recording_audio(recording_sid: str) -> ResponseReturnValue:
    """The stored audio (ranges supported); only for those who may hear it; logged."""
    if not RECORDING_SID.fullmatch(recording_sid):
        return json_error(404, "no such recording")
    session = get_session()
    download = session.scalar(
        select(RecordingDownload).where(RecordingDownload.recording_sid == recording_sid)
    )
    if download is None:
        return json_error(404, "no such recording")
    purpose = download.purpose
    if purpose == "voicemail":
        voicemail = session.scalar(
            select(Voicemail).where(Voicemail.recording_sid == recording_sid)
        )
        allowed = voicemail is not None and may_play(g.agent, voicemail)
    else:
        call = get_call(session, download.call_sid)
        allowed = call is not None and may_see_call(session, g.agent, call)
    if not allowed:
        return json_error(403, "you may not play this recording")
    if not from_own_page():
        # Every playback is logged, and a link on another site must neither play unlogged
        # nor write rows: audio is served only to the console's own players.
        return json_error(403, "recordings play only in the console")
    if download.status != "done" or download.path is None:
        return json_error(409, "the recording has not been downloaded yet")
    if download.purged_at is not None:
        return json_error(410, "the recording was deleted under the retention policy")
    path = _stored_path(download.path)
    if path is None:
        return json_error(404, "the recording file is missing")
    response = audio_response(path, download.content_type or "audio/x-wav", download.sha256)
    if response.status_code in (200, 206):
        _log_playback(session, recording_sid, purpose)
    session.rollback()
    return response


PLAYBACK_SESSION = timedelta(minutes=5)


def _log_playback(session: Session, recording_sid: str, purpose: str) -> None:
    """One row per listening session: the requests of a player (its seeks, its ranges)
    within five minutes of the last one logged for this agent count as the same playback."""
    now = utcnow()
    recent = session.scalar(
        select(RecordingPlayback.id)
        .where(
            RecordingPlayback.recording_sid == recording_sid,
            RecordingPlayback.agent_id == g.agent.id,
            RecordingPlayback.at >= now - PLAYBACK_SESSION,
        )
        .limit(1)
    )
    if recent is not None:
        return
    session.add(
        RecordingPlayback(
            recording_sid=recording_sid,
            agent_id=g.agent.id,
            purpose=purpose,
            byte_range=(request.headers.get("Range") or "")[:64] or None,
            remote_addr=(request.remote_addr or "")[:64] or None,
            at=now,
        )
    )
    session.commit()


def _stored_path(relative: str) -> Path | None:
    """The file under recordings/ (never outside it, whatever the database says)."""
    settings = get_services().settings
    root = settings.path(settings.recordings_dir).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


# -- voicemail inbox ------------------------------------------------------------------------


def _inbox_answer(voicemail: Voicemail) -> dict[str, Any]:
    """A voicemail as this agent sees it: its audio and handling notes only if they may
    listen to it (supervisors; agents while it is unassigned or theirs)."""
    described = describe_voicemail(voicemail)
    allowed = may_play(g.agent, voicemail)
    described["playable"] = described["playable"] and allowed
    if not allowed:
        described["notes"] = None
    return {**described, "url": _audio_url(voicemail.recording_sid, described["playable"])}


@bp.get("/api/voicemails")
@login_required()
def voicemails() -> ResponseReturnValue:
    """`?status=open|handled|all&mailbox=NAME` → `{"voicemails": [...]}` (oldest open first)."""
    settings = get_services().settings
    mailbox = request.args.get("mailbox") or None
    if mailbox is not None and mailbox not in settings.mailboxes:
        return json_error(400, "unknown mailbox")
    session = get_session()
    try:
        found = inbox(
            session,
            mailboxes=[mailbox] if mailbox else None,
            status=request.args.get("status", "open"),
        )
    except InboxError as exc:
        return json_error(400, str(exc))
    payload = {
        "mailboxes": {name: box.display_name for name, box in settings.mailboxes.items()},
        "voicemails": [_inbox_answer(item) for item in found],
    }
    session.rollback()
    return jsonify(payload)


def _inbox_action(step: Any) -> ResponseReturnValue:
    session = get_session()
    try:
        voicemail = step(session)
    except InboxError as exc:
        session.rollback()
        message = str(exc)
        return json_error(404 if message == "no such voicemail" else 409, message)
    session.commit()
    return jsonify({"voicemail": _inbox_answer(voicemail)})


@bp.post("/api/voicemails/<id:voicemail_id>/assign")
@login_required()
def assign_voicemail(voicemail_id: int) -> ResponseReturnValue:
    """Take it (`{}`), or as a supervisor give it to someone (`{"agent_id": N}`)."""
    body = json_object()
    to_agent = body.get("agent_id")
    if to_agent is not None and not is_id(to_agent):
        return json_error(400, "agent_id must be an agent id (a positive 64-bit integer)")
    return _inbox_action(
        lambda session: assign(session, voicemail_id, g.agent, utcnow(), to_agent_id=to_agent)
    )


@bp.post("/api/voicemails/<id:voicemail_id>/release")
@login_required()
def release_voicemail(voicemail_id: int) -> ResponseReturnValue:
    json_object()
    return _inbox_action(lambda session: release(session, voicemail_id, g.agent))


@bp.post("/api/voicemails/<id:voicemail_id>/handled")
@login_required()
def handle_voicemail(voicemail_id: int) -> ResponseReturnValue:
    """Close it: `{"notes": "..."}`."""
    notes = json_object().get("notes", "")
    if not isinstance(notes, str):
        return json_error(400, "notes must be text")
    answer = _inbox_action(
        lambda session: mark_handled(session, voicemail_id, g.agent, notes, utcnow())
    )
    care = get_services().extras.get("care")
    if care is not None:  # the follow-up it was on, if any, is closed with it
        care.followups_changed()
    return answer


@bp.post("/api/calls/dial")
@login_required()
def dial() -> ResponseReturnValue:
    """Place an outbound call now, as the console's `call:dial` (docs/agent-protocol.md)."""
    answer, status = dial_over_http(get_services(), g.agent.id, json_object())
    return jsonify(answer), status


# -- pages ------------------------------------------------------------------------------------


@bp.get("/calls/<call_sid>")
def call_page(call_sid: str) -> ResponseReturnValue:
    """The call record page (it reads `/api/calls/<sid>`)."""
    agent = current_agent()
    if agent is None:
        return redirect(url_for("console.login_page", next=request.path))
    if not CALL_SID.fullmatch(call_sid):
        abort(404)
    return render_template("call.html", agent=agent, call_sid=call_sid)
