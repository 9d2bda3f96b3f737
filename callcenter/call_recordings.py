"""Recording answered calls: request, start, pause and resume, complete (pure domain).

The life of a :class:`~callcenter.models.CallRecording`:

1. the caller and the agent meet: :func:`request_recording` adds a ``requested`` row (if
   the queue records calls and none is running for the call);
2. the dispatcher starts it through the REST API (:func:`due_requests`, then
   :func:`mark_started` or :func:`mark_start_failed`, which retries with backoff);
3. the agent may pause it while the caller gives card details and resume it after
   (:func:`set_paused`; every pause is kept on the row and in the call's log);
4. Twilio's status callbacks move it on (:func:`apply_status`); ``completed`` schedules
   the verified download (a :class:`~callcenter.models.RecordingDownload`, purpose
   ``call``), exactly once however often the callback comes.

Functions take a session, flush at most and never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls import log_event
from callcenter.config import Settings
from callcenter.models import Agent, Call, CallRecording
from callcenter.recordings import enqueue_download

REQUESTED, RECORDING, PAUSED = "requested", "in-progress", "paused"
COMPLETED, ABSENT, FAILED = "completed", "absent", "failed"
ACTIVE = (REQUESTED, RECORDING, PAUSED)
MAX_START_ATTEMPTS = 5
START_BACKOFF_SECONDS = 2.0


class RecordingError(Exception):
    """A recording action that cannot be done now (nothing recording, already paused...)."""


def active_recording(session: Session, call_sid: str) -> CallRecording | None:
    """The call's recording that is requested, running or paused, if any."""
    return session.scalar(
        select(CallRecording)
        .where(CallRecording.call_sid == call_sid, CallRecording.status.in_(ACTIVE))
        .order_by(CallRecording.id.desc())
        .limit(1)
    )


def request_recording(
    session: Session, settings: Settings, call: Call, leg_sid: str, now: datetime
) -> CallRecording | None:
    """Ask for the call to be recorded from now on, when its queue records calls.

    Returns the new row, or None when the queue does not record or a recording of the
    call is already requested or running (a transfer keeps the one recording going).
    """
    queue = settings.queues.get(call.queue or "")
    if queue is None or not queue.record:
        return None
    if active_recording(session, call.call_sid) is not None:
        return None
    recording = CallRecording(
        call_sid=call.call_sid,
        leg_sid=leg_sid,
        agent_id=call.agent_id,
        customer_id=call.customer_id,
        queue=call.queue,
        channels=2 if queue.recording_channels == "dual" else 1,
        status=REQUESTED,
        attempts=0,
        next_attempt_at=now,
        pauses=[],
        created_at=now,
    )
    session.add(recording)
    session.flush()
    log_event(session, call.call_sid, "recording.requested", channels=recording.channels)
    return recording


def due_requests(session: Session, now: datetime, limit: int = 20) -> list[CallRecording]:
    """Requested recordings whose start is due (first try, or a retry after backoff)."""
    return list(
        session.scalars(
            select(CallRecording)
            .where(CallRecording.status == REQUESTED, CallRecording.next_attempt_at <= now)
            .order_by(CallRecording.next_attempt_at, CallRecording.id)
            .limit(limit)
        )
    )


def mark_started(
    session: Session, recording_id: int, recording_sid: str, now: datetime
) -> CallRecording | None:
    """Twilio accepted the start: remember the recording's SID."""
    recording = session.get(CallRecording, recording_id)
    if recording is None:
        return None
    recording.recording_sid = recording_sid
    if recording.status == REQUESTED:
        recording.status = RECORDING
    recording.started_at = recording.started_at or now
    recording.last_error = None
    log_event(session, recording.call_sid, "recording.started", recording_sid=recording_sid)
    return recording


def mark_start_failed(
    session: Session, recording_id: int, error: str, now: datetime, *, final: bool = False
) -> CallRecording | None:
    """The start failed: retry later with backoff, or give up (``final``, or too many)."""
    recording = session.get(CallRecording, recording_id)
    if recording is None or recording.status != REQUESTED:
        return recording
    recording.attempts += 1
    recording.last_error = error[:500]
    if final or recording.attempts >= MAX_START_ATTEMPTS:
        recording.status = FAILED
        log_event(session, recording.call_sid, "recording.start_failed", error=error[:200],
                  attempts=recording.attempts)  # fmt: skip
    else:
        delay = START_BACKOFF_SECONDS * 2 ** (recording.attempts - 1)
        recording.next_attempt_at = now + timedelta(seconds=delay)
    return recording


def set_paused(
    session: Session, call_sid: str, paused: bool, agent_id: int | None, now: datetime
) -> CallRecording:
    """Record a pause or a resume that Twilio has carried out (kept on the row and logged)."""
    recording = active_recording(session, call_sid)
    if recording is None or recording.recording_sid is None:
        raise RecordingError("this call is not being recorded")
    pauses = [dict(item) for item in recording.pauses or []]
    if paused:
        if recording.status == PAUSED:
            raise RecordingError("the recording is already paused")
        agent = session.get(Agent, agent_id) if agent_id is not None else None
        pauses.append({"paused_at": now.isoformat(), "resumed_at": None, "by": agent_id,
                       "agent": agent.agent_number if agent else None})  # fmt: skip
        recording.status = PAUSED
    else:
        if recording.status != PAUSED:
            raise RecordingError("the recording is not paused")
        if pauses and pauses[-1].get("resumed_at") is None:
            pauses[-1]["resumed_at"] = now.isoformat()
        recording.status = RECORDING
    recording.pauses = pauses
    log_event(session, call_sid, "recording.paused" if paused else "recording.resumed",
              recording_sid=recording.recording_sid, agent_id=agent_id)  # fmt: skip
    return recording


def apply_status(
    session: Session,
    *,
    call_sid: str,
    leg_sid: str,
    recording_sid: str,
    status: str,
    duration: int | None,
    channels: int | None,
    url: str,
    now: datetime,
) -> CallRecording | None:
    """A recording status callback: ``in-progress``, ``completed``, ``absent`` or ``failed``.

    Idempotent: a repeated callback changes nothing and never schedules a second download.
    A callback may also arrive before the REST answer was saved; the requested row of the
    leg is then adopted.
    """
    recording = session.scalar(
        select(CallRecording).where(CallRecording.recording_sid == recording_sid)
    )
    if recording is None:
        recording = session.scalar(
            select(CallRecording)
            .where(
                CallRecording.call_sid == call_sid,
                CallRecording.leg_sid == leg_sid,
                CallRecording.recording_sid.is_(None),
            )
            .order_by(CallRecording.id.desc())
            .limit(1)
        )
        if recording is None:
            log_event(session, call_sid, "recording.unknown", recording_sid=recording_sid,
                      status=status)  # fmt: skip
            return None
        recording.recording_sid = recording_sid
    if recording.status in (COMPLETED, ABSENT, FAILED):
        return recording  # final already: a retried or late callback
    if status == "in-progress":
        if recording.status == REQUESTED:
            recording.status = RECORDING
        recording.started_at = recording.started_at or now
        return recording
    if status == "completed":
        recording.status = COMPLETED
        recording.ended_at = now
        recording.duration_seconds = duration
        if channels:
            recording.channels = channels
        _close_open_pause(recording, now)
        enqueue_download(
            session,
            recording_sid=recording_sid,
            call_sid=call_sid,
            source_url=url,
            expected_duration=duration,
            purpose="call",
        )
        log_event(session, call_sid, "recording.completed", recording_sid=recording_sid,
                  duration=duration, channels=recording.channels)  # fmt: skip
        return recording
    if status in (ABSENT, FAILED):
        recording.status = status
        recording.ended_at = now
        _close_open_pause(recording, now)
        log_event(session, call_sid, f"recording.{status}", recording_sid=recording_sid)
        return recording
    log_event(session, call_sid, "recording.status", recording_sid=recording_sid,
              status=status[:20])  # fmt: skip
    return recording


def _close_open_pause(recording: CallRecording, now: datetime) -> None:
    pauses = [dict(item) for item in recording.pauses or []]
    if pauses and pauses[-1].get("resumed_at") is None:
        pauses[-1]["resumed_at"] = now.isoformat()
        recording.pauses = pauses


def describe(recording: CallRecording) -> dict[str, Any]:
    """A recording as the call record shows it (``playable`` once downloaded and kept)."""
    download = recording.download
    playable = (
        download is not None
        and download.status == "done"
        and download.purged_at is None
        and recording.recording_sid is not None
    )
    return {
        "recording_sid": recording.recording_sid,
        "status": recording.status,
        "channels": recording.channels,
        "duration": recording.duration_seconds,
        "started_at": recording.started_at.isoformat() if recording.started_at else None,
        "ended_at": recording.ended_at.isoformat() if recording.ended_at else None,
        "pauses": list(recording.pauses or []),
        "agent": recording.agent.agent_number if recording.agent else None,
        "download": download.status if download else None,
        "purged": bool(download and download.purged_at),
        "playable": playable,
        "size_bytes": download.size_bytes if download and playable else None,
        "sha256": download.sha256 if download and playable else None,
    }
