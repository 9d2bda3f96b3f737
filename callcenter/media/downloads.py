"""Recording downloads: persistent jobs that fetch Twilio's audio into ``recordings/``.

A recording status callback only *enqueues* a job (:func:`enqueue_download`); the webhook
never downloads. The job queue is here: its states, enqueueing, reviving failed jobs
(:func:`retry_failed`) and the backoff between attempts. The rest of a download lives
beside it:

- :mod:`.download_leases`: which jobs are due, a claim under a lease, saving the outcome;
- :mod:`.download_http`: one recording over HTTP, its checksum, and the audio checks;
- :mod:`.recording_fetcher`: :class:`RecordingFetcher`, which claims due jobs, downloads
  them and stores ``recordings/YYYY/MM/DD/<RecordingSid>.wav``;
- :mod:`.download_worker`: :class:`DownloadWorker`, the fetcher in a background thread;
- :mod:`.retention`: :func:`purge_expired`, stored audio deleted after the retention period.

Job states: ``pending`` → ``running`` (claimed, with a lease in ``next_attempt_at``) →
``done`` | ``pending`` (retry later) | ``failed``.  A ``running`` job whose lease has
expired belonged to a process that died; any fetcher may take it over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.config import DownloadConfig
from callcenter.media.models import RemoteRecordingDeletion
from callcenter.models import RecordingDownload, utcnow

RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
ERASED = "erased on request"
"""The ``last_error`` of a download stopped by an erasure (it is never retried)."""


@dataclass(frozen=True)
class DownloadOutcome:
    """What one attempt did: ``path`` is the stored file (absolute) when ``ok``."""

    recording_sid: str
    ok: bool
    error: str | None = None
    path: Path | None = None


def enqueue_download(
    session: Session,
    *,
    recording_sid: str,
    call_sid: str,
    source_url: str,
    expected_duration: int | None,
    purpose: str = "voicemail",
    now: datetime | None = None,
) -> RecordingDownload:
    """Create the download job for a recording, or return the one that already exists.

    Idempotent: Twilio may deliver the same status callback twice (even concurrently);
    the unique ``recording_sid`` decides, inside a savepoint so the caller's transaction
    survives.  Flushes, does not commit.  ``now`` (default: the current time) is when the
    first attempt becomes due.
    """
    if not RECORDING_SID.fullmatch(recording_sid or ""):
        raise ValueError(f"not a recording SID: {recording_sid!r}")
    if urlsplit(source_url).scheme not in ("http", "https"):
        raise ValueError(f"recording URL must be http(s): {source_url!r}")
    if expected_duration is not None and expected_duration < 0:
        expected_duration = None
    erased = _erased(session, recording_sid, now or utcnow())
    existing = _job_by_sid(session, recording_sid)
    if existing is not None:
        return existing
    job = RecordingDownload(
        recording_sid=recording_sid,
        call_sid=call_sid,
        purpose=purpose,
        source_url=source_url,
        expected_duration=expected_duration,
        status=FAILED if erased else PENDING,
        attempts=0,
        next_attempt_at=now or utcnow(),
        last_error=ERASED if erased else None,
        purged_at=(now or utcnow()) if erased else None,
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        existing = _job_by_sid(session, recording_sid)
        if existing is None:
            raise
        return existing
    return job


def _erased(session: Session, recording_sid: str, now: datetime) -> bool:
    """Whether the recording is an erased person's (never to be downloaded); if so, its
    deletion from Twilio is due again: Twilio reported it after the erasure."""
    deletion = session.scalar(
        select(RemoteRecordingDeletion).where(
            RemoteRecordingDeletion.recording_sid == recording_sid
        )
    )
    if deletion is None:
        return False
    if deletion.status == DONE:
        deletion.status, deletion.next_attempt_at = PENDING, now
        session.flush()
    return True


def _job_by_sid(session: Session, recording_sid: str) -> RecordingDownload | None:
    return session.scalar(
        select(RecordingDownload).where(RecordingDownload.recording_sid == recording_sid)
    )


def retry_failed(
    session: Session, *, recording_sid: str | None = None, now: datetime | None = None
) -> int:
    """Put failed jobs (or one of them) back to pending with a fresh attempt budget.

    Returns how many were revived (never an erased person's).  Flushes, does not commit.
    """
    statement = (
        update(RecordingDownload)
        .where(RecordingDownload.status == FAILED, RecordingDownload.purged_at.is_(None))
        .values(status=PENDING, attempts=0, next_attempt_at=now or utcnow())
    )
    if recording_sid is not None:
        statement = statement.where(RecordingDownload.recording_sid == recording_sid)
    return session.execute(statement).rowcount


def media_url(source_url: str) -> str:
    """Twilio's RecordingUrl has no extension; ``.wav`` asks for the default format."""
    path = urlsplit(source_url).path.lower()
    return source_url if path.endswith((".wav", ".mp3")) else source_url + ".wav"


def resource_url(source_url: str) -> str:
    """The REST resource of a recording (what DELETE goes to): ``.../RE....json``."""
    base = source_url
    for extension in (".wav", ".mp3", ".json"):
        if base.lower().endswith(extension):
            base = base[: -len(extension)]
    return base + ".json"


def backoff(config: DownloadConfig, attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failures (1, 2, ...)."""
    seconds = config.backoff_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, config.max_backoff_seconds))
