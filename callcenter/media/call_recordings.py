"""Recording answered calls: request, start, pause and resume, complete (pure domain).

The life of a :class:`~callcenter.models.CallRecording`:

1. the caller and the agent meet: :func:`request_recording` adds a ``requested`` row (if
   the queue records calls and none is running for the call);
2. the dispatcher claims it (``starting``, with a lease, so two processes never start
   the same one: :func:`claim_due`) and starts it through the REST API, then
   :func:`mark_started` or :func:`mark_start_failed` (which retries with backoff);
3. the agent may pause it while the caller gives card details and resume it after
   (:func:`set_paused`; every pause is kept on the row and in the call's log);
4. Twilio's status callbacks move it on (:func:`apply_status`); ``completed`` schedules
   the verified download (a :class:`~callcenter.models.RecordingDownload`, purpose
   ``call``), exactly once however often the callback comes.

Functions take a session, flush at most and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from callcenter.calls.records import log_event
from callcenter.config import Settings
from callcenter.media.downloads import ERASED, enqueue_download
from callcenter.media.remote_erasure import queue_deletions
from callcenter.messages import N_, Refusal
from callcenter.models import Agent, Call, CallRecording

REQUESTED, STARTING, RECORDING, PAUSED = "requested", "starting", "in-progress", "paused"
COMPLETED, ABSENT, FAILED = "completed", "absent", "failed"
ACTIVE = (REQUESTED, STARTING, RECORDING, PAUSED)
FINAL = (COMPLETED, ABSENT, FAILED)
MAX_START_ATTEMPTS = 5
START_BACKOFF_SECONDS = 2.0
START_LEASE_SECONDS = 30.0  # a start not reported back by then is tried again


class RecordingError(Refusal):
    """A recording action that cannot be done now (nothing recording, already paused...)."""


def active_recording(
    session: Session, call_sid: str, *, lock: bool = False
) -> CallRecording | None:
    """The call's recording that is requested, running or paused, if any."""
    query = (
        select(CallRecording)
        .where(CallRecording.call_sid == call_sid, CallRecording.status.in_(ACTIVE))
        .order_by(CallRecording.id.desc())
        .limit(1)
    )
    return session.scalar(query.with_for_update() if lock else query)


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


@dataclass(frozen=True)
class StartClaim:
    """A recording this dispatcher has claimed and must now start."""

    id: int
    call_sid: str
    leg_sid: str
    channels: int


def _due_starts(now: datetime) -> Select[tuple[int, str, datetime]]:
    """Recordings whose start is due (and starts whose lease ran out), in order."""
    return (
        select(CallRecording.id, CallRecording.status, CallRecording.next_attempt_at)
        .where(
            CallRecording.status.in_((REQUESTED, STARTING)),
            CallRecording.next_attempt_at <= now,
        )
        .order_by(CallRecording.next_attempt_at, CallRecording.id)
    )


def starts_due(session: Session, now: datetime) -> bool:
    """Whether any recording's start is due: a read, before :func:`claim_due` writes."""
    return session.execute(_due_starts(now).limit(1)).first() is not None


def claim_due(session: Session, now: datetime, limit: int = 20) -> list[StartClaim]:
    """Claim requested recordings whose start is due (and starts whose lease ran out).

    Each claim is a conditional update, so of several dispatchers exactly one gets a
    row. A recording whose call has ended meanwhile is given up instead of claimed.
    Flushes; the caller commits before talking to Twilio.
    """
    rows = session.execute(_due_starts(now).limit(limit)).all()
    claims = []
    lease = now + timedelta(seconds=START_LEASE_SECONDS)
    for row_id, status, due in rows:
        taken = session.execute(
            update(CallRecording)
            .where(
                CallRecording.id == row_id,
                CallRecording.status == status,
                CallRecording.next_attempt_at == due,
            )
            .values(status=STARTING, next_attempt_at=lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            continue
        recording = session.get(CallRecording, row_id)
        assert recording is not None
        session.refresh(recording)
        call = session.execute(
            select(Call.ended_at).where(Call.call_sid == recording.call_sid)
        ).first()
        if call is None or call.ended_at is not None:
            mark_start_failed(session, row_id, "the call ended", now, final=True)
            continue
        claims.append(StartClaim(row_id, recording.call_sid, recording.leg_sid, recording.channels))
    return claims


def _locked(session: Session, recording_id: int) -> CallRecording | None:
    return session.scalar(
        select(CallRecording).where(CallRecording.id == recording_id).with_for_update()
    )


def mark_started(
    session: Session, recording_id: int, recording_sid: str, now: datetime
) -> CallRecording | None:
    """Twilio accepted the start: remember the recording's SID."""
    recording = _locked(session, recording_id)
    if recording is None:
        return None
    if recording.recording_sid not in (None, recording_sid):
        # Started twice (a lease ran out mid-request): the other one is stored too, when
        # its callbacks arrive (see apply_status).
        log_event(session, recording.call_sid, "recording.started_twice",
                  recording_sid=recording_sid, first=recording.recording_sid)  # fmt: skip
        return recording
    recording.recording_sid = recording_sid
    if recording.status == FAILED and recording.last_error == ERASED:
        # The caller was erased while this start was on its way: Twilio's copy goes too.
        queue_deletions(session, [(recording_sid, recording.call_sid)], now)
        return recording
    if recording.status in (REQUESTED, STARTING):
        recording.status = RECORDING
    recording.started_at = recording.started_at or now
    recording.last_error = None
    log_event(session, recording.call_sid, "recording.started", recording_sid=recording_sid)
    return recording


def mark_start_failed(
    session: Session, recording_id: int, error: str, now: datetime, *, final: bool = False
) -> CallRecording | None:
    """The start failed: retry later with backoff, or give up (``final``, or too many)."""
    recording = _locked(session, recording_id)
    if recording is None or recording.status not in (REQUESTED, STARTING):
        return recording
    recording.status = REQUESTED
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
    session: Session, call_sid: str, paused: bool, agent_id: int | None, now: datetime,
    reason: str | None = None,
) -> CallRecording:  # fmt: skip
    """Record a pause or a resume that Twilio has carried out (kept on the row and logged;
    `reason` says why when it was not an agent's button, e.g. ``survey``)."""
    recording = active_recording(session, call_sid, lock=True)
    if recording is None or recording.recording_sid is None:
        raise RecordingError(N_("this call is not being recorded"))
    pauses = [dict(item) for item in recording.pauses or []]
    if paused:
        if recording.status == PAUSED:
            raise RecordingError(N_("the recording is already paused"))
        agent = session.get(Agent, agent_id) if agent_id is not None else None
        pauses.append({"paused_at": now.isoformat(), "resumed_at": None, "by": agent_id,
                       "agent": agent.agent_number if agent else None,
                       **({"reason": reason} if reason else {})})  # fmt: skip
        recording.status = PAUSED
    else:
        if recording.status != PAUSED:
            raise RecordingError(N_("the recording is not paused"))
        if pauses and pauses[-1].get("resumed_at") is None:
            pauses[-1]["resumed_at"] = now.isoformat()
        recording.status = RECORDING
    recording.pauses = pauses
    log_event(session, call_sid, "recording.paused" if paused else "recording.resumed",
              recording_sid=recording.recording_sid, agent_id=agent_id,
              **({"reason": reason} if reason else {}))  # fmt: skip
    return recording


def note_stopped(session: Session, call_sid: str, reason: str) -> None:
    """Twilio stopped the call's recording at our request (its `completed` callback follows);
    logged with why (e.g. ``survey``: the pause was refused)."""
    recording = active_recording(session, call_sid)
    log_event(session, call_sid, "recording.stopped", reason=reason,
              recording_sid=recording.recording_sid if recording else None)  # fmt: skip


def survey_pause(session: Session, call_sid: str, now: datetime) -> tuple[str, str] | None:
    """The caller's post-call survey begins: their answers must not be in the recording.

    Returns (leg SID, recording SID) of the running recording to pause now (the caller
    pauses it through Twilio before the first question is played, then records it with
    :func:`set_paused`, reason ``survey``); the pause lasts until the call ends, which
    completes the recording. A recording asked for but not started yet is given up: it is
    never started during the survey. A recording the agent paused stays paused."""
    recording = active_recording(session, call_sid, lock=True)
    if recording is None:
        return None
    if recording.status == REQUESTED:
        mark_start_failed(session, recording.id, "the survey began before it started", now,
                          final=True)  # fmt: skip
        return None
    if recording.status != RECORDING or recording.recording_sid is None:
        return None  # paused already, or its start is under way (see CallUpkeep.start_recordings)
    return recording.leg_sid, recording.recording_sid


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
    # Locked: in-progress and completed of a short call may be handled at the same time.
    recording = session.scalar(
        select(CallRecording).where(CallRecording.recording_sid == recording_sid).with_for_update()
    )
    if recording is None:
        recording = session.scalar(
            select(CallRecording)
            .where(
                CallRecording.call_sid == call_sid,
                CallRecording.leg_sid == leg_sid,
                CallRecording.recording_sid.is_(None),
                CallRecording.status.in_(ACTIVE),
            )
            .order_by(CallRecording.id.desc())
            .limit(1)
            .with_for_update()
        )
        if recording is None:
            # A recording we have no row for (started twice): keep it all the same.
            recording = _adopt(session, call_sid, leg_sid, now)
            log_event(session, call_sid, "recording.unknown", recording_sid=recording_sid,
                      status=status)  # fmt: skip
        recording.recording_sid = recording_sid
    if recording.status in FINAL:
        return recording  # final already: a retried or late callback
    if status == "in-progress":
        if recording.status in (REQUESTED, STARTING):
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


def _adopt(session: Session, call_sid: str, leg_sid: str, now: datetime) -> CallRecording:
    call = session.scalar(select(Call).where(Call.call_sid == call_sid))
    recording = CallRecording(
        call_sid=call_sid,
        leg_sid=leg_sid or call_sid,
        agent_id=call.agent_id if call else None,
        customer_id=call.customer_id if call else None,
        queue=call.queue if call else None,
        channels=1,
        status=RECORDING,
        attempts=0,
        next_attempt_at=now,
        pauses=[],
        started_at=now,
        created_at=now,
    )
    session.add(recording)
    return recording


def _close_open_pause(recording: CallRecording, now: datetime) -> None:
    pauses = [dict(item) for item in recording.pauses or []]
    if pauses and pauses[-1].get("resumed_at") is None:
        pauses[-1]["resumed_at"] = now.isoformat()
        recording.pauses = pauses


def describe(recording: CallRecording) -> dict[str, Any]:
    """A recording as the call record shows it (``playable`` once downloaded and kept)."""
    download = recording.download
    playable = download is not None and download.playable
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
