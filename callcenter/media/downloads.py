"""Recording downloads: persistent jobs that fetch Twilio's audio into ``recordings/``.

A recording status callback only *enqueues* a job (:func:`enqueue_download`); the webhook
never downloads.  :class:`RecordingFetcher` later claims due jobs, fetches
``RecordingUrl + ".wav"`` with HTTP basic auth, verifies what arrived and stores it as
``recordings/YYYY/MM/DD/<RecordingSid>.wav``.  Failures are retried with exponential
backoff until ``downloads.max_attempts``; then the job is kept as ``failed`` (see
:func:`retry_failed`).  :class:`DownloadWorker` runs the fetcher in a background thread.

Job states: ``pending`` → ``running`` (claimed, with a lease in ``next_attempt_at``) →
``done`` | ``pending`` (retry later) | ``failed``.  A ``running`` job whose lease has
expired belonged to a process that died; any fetcher may take it over.

Claims are a conditional UPDATE committed on its own, so two processes (or threads)
never download the same job at once; downloads happen outside any transaction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import threading
import time
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from sqlalchemy import Row, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from callcenter.config import DownloadConfig, RetentionConfig
from callcenter.media.models import RemoteRecordingDeletion
from callcenter.models import RecordingDownload, utcnow

log = logging.getLogger("callcenter.recordings")

RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
WAV_HEADER_BYTES = 44
MAX_RECORDING_BYTES = 2**31 - 1  # size_bytes is a 32-bit integer column
CHUNK_BYTES = 64 * 1024
DURATION_TOLERANCE_SECONDS = 2.0
DURATION_TOLERANCE_RATIO = 0.10

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
ERASED = "erased on request"
"""The ``last_error`` of a download stopped by an erasure (it is never retried)."""
REMOTE_DELETE_WINDOW = timedelta(days=7)


class DownloadError(Exception):
    """A download attempt failed; the message is stored as the job's ``last_error``."""


@dataclass(frozen=True)
class DownloadOutcome:
    """What one attempt did: ``path`` is the stored file (absolute) when ``ok``."""

    recording_sid: str
    ok: bool
    error: str | None = None
    path: Path | None = None


@dataclass(frozen=True)
class _Claim:
    """A job this fetcher holds, as read when claiming it."""

    id: int
    recording_sid: str
    source_url: str
    expected_duration: int | None
    created_at: datetime
    attempts: int
    lease_until: datetime


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


class RecordingFetcher:
    """Claims due download jobs, downloads and verifies them, records the result."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        recordings_dir: Path,
        account_sid: str,
        auth_token: str,
        config: DownloadConfig,
        http: requests.Session | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.recordings_dir = Path(recordings_dir)
        self.auth = (account_sid, auth_token)
        self.config = config
        self.clock = clock
        self._owns_http = http is None
        self.http = http if http is not None else requests.Session()
        # The lease must outlast a whole attempt: the download (bounded by
        # ``download_deadline``), one more blocked read, and writing the file.
        self.lease = timedelta(seconds=2 * config.timeout_seconds + 60)
        self.download_deadline = config.timeout_seconds + 30

    def close(self) -> None:
        """Close the HTTP session if this fetcher created it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> RecordingFetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the loop -------------------------------------------------------------------------

    def run_due(self, limit: int = 20) -> list[DownloadOutcome]:
        """Download up to ``limit`` due jobs, one at a time; return what happened."""
        outcomes: list[DownloadOutcome] = []
        due = self._due(limit)
        # Fetchers in other processes read the same rows: taking them in a random order
        # spares most of the claims that would fail against each other.
        random.shuffle(due)
        for row in due:
            claim = self._claim(row.id, row.status, row.next_attempt_at, row.attempts)
            if isinstance(claim, _Claim):
                outcomes.append(self._attempt(claim))
            elif claim is not None:
                outcomes.append(claim)  # gave up on a job that kept interrupting attempts
            # None: another fetcher got there first
        return outcomes

    def remove_stale_parts(self) -> int:
        """Delete partial downloads untouched for longer than a lease (their process died:
        a live attempt writes on, or gives up, within its lease); return how many."""
        if not self.recordings_dir.is_dir():
            return 0
        cutoff = time.time() - self.lease.total_seconds()
        removed = 0
        for path in self.recordings_dir.rglob(".*.part"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another process removed it first
        if removed:
            log.info("removed %d partial download(s) left by a stopped process", removed)
        return removed

    def retry_failed(self, session: Session, recording_sid: str | None = None) -> int:
        """See :func:`retry_failed`; uses this fetcher's clock."""
        return retry_failed(session, recording_sid=recording_sid, now=self.clock())

    def _due(self, limit: int) -> list[Row[tuple[int, str, datetime, int]]]:
        now = self.clock()
        job = RecordingDownload
        with self.sessions() as session:
            rows = session.execute(
                select(job.id, job.status, job.next_attempt_at, job.attempts)
                .where(job.status.in_((PENDING, RUNNING)), job.next_attempt_at <= now)
                .order_by(job.next_attempt_at, job.id)
                .limit(limit)
            ).all()
            session.rollback()
        return list(rows)

    def _claim(
        self, job_id: int, status: str, next_attempt_at: datetime, attempts: int
    ) -> _Claim | DownloadOutcome | None:
        """Take a job if nobody changed it since it was read; committed on its own.

        Returns None when the job was taken (or changed) by someone else.
        """
        now = self.clock()
        if next_attempt_at > now:
            return None
        lease_until = now + self.lease
        seen_attempts = attempts
        values: dict[str, object] = {"status": RUNNING, "next_attempt_at": lease_until}
        if status == RUNNING:
            # The process holding the lease died mid-attempt: count that attempt, so a
            # recording that kills the process cannot loop forever.
            attempts += 1
            values["attempts"] = attempts
            values["last_error"] = "previous attempt interrupted (lease expired)"
            if attempts >= self.config.max_attempts:
                values["status"] = FAILED
                values["next_attempt_at"] = now
        job = RecordingDownload
        with self.sessions() as session:
            result = session.execute(
                update(job)
                .where(
                    job.id == job_id,
                    job.status == status,
                    job.next_attempt_at == next_attempt_at,
                    job.attempts == seen_attempts,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                session.rollback()
                return None
            row = session.execute(
                select(
                    job.recording_sid, job.source_url, job.expected_duration, job.created_at
                ).where(job.id == job_id)
            ).one()
            session.commit()
        if values["status"] == FAILED:
            log.error("recording %s: giving up after %d attempts", row[0], attempts)
            return DownloadOutcome(row[0], False, str(values["last_error"]), None)
        return _Claim(job_id, row[0], row[1], row[2], row[3], attempts, lease_until)

    def _attempt(self, claim: _Claim) -> DownloadOutcome:
        try:
            relative, size, digest, content_type = self._download(claim)
        except DownloadError as exc:
            return self._record_failure(claim, str(exc))
        except Exception as exc:  # a bug or a full disk must not strand the job
            log.exception("recording %s: unexpected error", claim.recording_sid)
            return self._record_failure(claim, f"unexpected error: {_describe(exc)}")
        job = RecordingDownload
        with self.sessions() as session:
            result = session.execute(
                update(job)
                .where(*self._still_ours(claim))
                .values(
                    status=DONE,
                    path=relative,
                    size_bytes=size,
                    sha256=digest,
                    content_type=content_type,
                    completed_at=self.clock(),
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
        path = self.recordings_dir / relative
        if result.rowcount != 1:
            log.warning("recording %s: lease lost before the result was saved", claim.recording_sid)
            self._drop_unsaved(claim.id, relative)
            return DownloadOutcome(claim.recording_sid, False, "lease lost before saving", None)
        log.info("recording %s: saved %s (%d bytes)", claim.recording_sid, relative, size)
        if self.config.delete_remote:
            self.delete_remote_copy(claim.recording_sid, claim.source_url)
        return DownloadOutcome(claim.recording_sid, True, None, path)

    def _drop_unsaved(self, job_id: int, relative: str) -> None:
        """Delete a file whose job was taken from this attempt (erased meanwhile, say), unless
        the job now holds that very file (another fetcher saved the same recording)."""
        job = RecordingDownload
        with self.sessions() as session:
            kept = session.execute(select(job.status, job.path).where(job.id == job_id)).first()
            session.rollback()
        if kept is None or tuple(kept) != (DONE, relative):
            (self.recordings_dir / relative).unlink(missing_ok=True)

    def delete_remote_copy(self, recording_sid: str, source_url: str) -> bool:
        """Delete Twilio's copy of a recording we hold verified; True once it is gone.

        Only ever for a ``done`` job; a failure is logged and retried by
        :meth:`delete_remote_copies` on a later pass.
        """
        job = RecordingDownload
        try:
            response = self.http.delete(
                resource_url(source_url), auth=self.auth, timeout=self.config.timeout_seconds
            )
        except requests.RequestException as exc:
            log.warning("recording %s: could not delete Twilio's copy: %s", recording_sid,
                        _describe(exc))  # fmt: skip
            return False
        if response.status_code not in (204, 404):
            log.warning("recording %s: deleting Twilio's copy answered HTTP %d", recording_sid,
                        response.status_code)  # fmt: skip
            return False
        with self.sessions() as session:
            session.execute(
                update(job)
                .where(job.recording_sid == recording_sid, job.status == DONE)
                .values(remote_deleted_at=self.clock())
                .execution_options(synchronize_session=False)
            )
            session.commit()
        log.info("recording %s: Twilio's copy deleted", recording_sid)
        return True

    def delete_remote_copies(self, limit: int = 20) -> int:
        """Retry deleting Twilio's copies of verified downloads (when configured; for a week)."""
        if not self.config.delete_remote:
            return 0
        job = RecordingDownload
        # Random order, within a week of the download: a few copies that can never be
        # deleted (gone from an old sub-account, say) do not block all the others.
        since = self.clock() - REMOTE_DELETE_WINDOW
        with self.sessions() as session:
            rows = session.execute(
                select(job.recording_sid, job.source_url)
                .where(
                    job.status == DONE,
                    job.remote_deleted_at.is_(None),
                    job.completed_at >= since,
                )
                .order_by(func.random())
                .limit(limit)
            ).all()
            session.rollback()
        return sum(self.delete_remote_copy(sid, url) for sid, url in rows)

    def _record_failure(self, claim: _Claim, error: str) -> DownloadOutcome:
        attempts = claim.attempts + 1
        now = self.clock()
        gave_up = attempts >= self.config.max_attempts
        job = RecordingDownload
        with self.sessions() as session:
            result = session.execute(
                update(job)
                .where(*self._still_ours(claim))
                .values(
                    status=FAILED if gave_up else PENDING,
                    attempts=attempts,
                    last_error=error[:500],
                    next_attempt_at=now if gave_up else now + backoff(self.config, attempts),
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
        if result.rowcount != 1:
            log.warning(
                "recording %s: lease lost before the failure was saved", claim.recording_sid
            )
        elif gave_up:
            log.error(
                "recording %s: giving up after %d attempts: %s",
                claim.recording_sid,
                attempts,
                error,
            )
        else:
            log.warning("recording %s: attempt %d failed: %s", claim.recording_sid, attempts, error)
        return DownloadOutcome(claim.recording_sid, False, error, None)

    @staticmethod
    def _still_ours(claim: _Claim) -> tuple[object, ...]:
        job = RecordingDownload
        return (
            job.id == claim.id,
            job.status == RUNNING,
            job.next_attempt_at == claim.lease_until,
            job.attempts == claim.attempts,
        )

    # -- one download ---------------------------------------------------------------------

    def _download(self, claim: _Claim) -> tuple[str, int, str, str]:
        """Fetch, verify and store one recording; return (relative path, size, sha256, type)."""
        if not RECORDING_SID.fullmatch(claim.recording_sid):
            raise DownloadError(f"refusing unsafe recording SID {claim.recording_sid!r}")
        created = claim.created_at
        folder = self.recordings_dir / f"{created:%Y}" / f"{created:%m}" / f"{created:%d}"
        folder.mkdir(parents=True, exist_ok=True)
        # This attempt holds the lease: any other partial file of the recording is left by
        # an attempt that died (kill -9 skips the cleanup below) and is never finished.
        for leftover in folder.glob(f".{claim.recording_sid}.*.part"):
            leftover.unlink(missing_ok=True)
        temp = folder / f".{claim.recording_sid}.{uuid.uuid4().hex}.part"
        try:
            size, digest = self._fetch_to(temp, media_url(claim.source_url))
            content_type, extension = _check_audio(temp, size, claim.expected_duration)
            final = folder / f"{claim.recording_sid}{extension}"
            os.replace(temp, final)
            _fsync_dir(folder)
        finally:
            temp.unlink(missing_ok=True)
        if _sha256(final) != digest:
            final.unlink(missing_ok=True)
            raise DownloadError("file on disk does not match what was downloaded")
        return final.relative_to(self.recordings_dir).as_posix(), size, digest, content_type

    def _fetch_to(self, temp: Path, url: str) -> tuple[int, str]:
        """Stream ``url`` into ``temp`` (fsynced); return (size, sha256)."""
        digest = hashlib.sha256()
        received = 0
        expected: int | None = None
        deadline = time.monotonic() + self.download_deadline
        try:
            with self.http.get(
                url,
                auth=self.auth,
                stream=True,
                timeout=self.config.timeout_seconds,
                headers={"Accept-Encoding": "identity"},
            ) as response:
                if response.status_code != 200:
                    raise DownloadError(f"HTTP {response.status_code} from {_where(url)}")
                encoding = response.headers.get("Content-Encoding", "identity").lower()
                if encoding != "identity":
                    raise DownloadError(f"unexpected Content-Encoding {encoding!r}")
                length = response.headers.get("Content-Length")
                if length is None or not length.strip().isdigit():
                    raise DownloadError("response has no valid Content-Length")
                expected = int(length)
                if expected > MAX_RECORDING_BYTES:
                    raise DownloadError(f"recording too large ({expected} bytes)")
                with temp.open("wb") as handle:
                    for chunk in response.iter_content(CHUNK_BYTES):
                        received += len(chunk)
                        if received > expected:
                            raise DownloadError(
                                f"body longer than Content-Length ({expected} bytes)"
                            )
                        digest.update(chunk)
                        handle.write(chunk)
                        if time.monotonic() > deadline:
                            raise DownloadError(
                                f"download too slow: {received} of {expected} bytes "
                                f"after {self.download_deadline:.0f} s"
                            )
                    handle.flush()
                    os.fsync(handle.fileno())
        except requests.exceptions.ChunkedEncodingError as exc:
            raise DownloadError(
                f"truncated: connection broke after {received} of {expected} bytes"
            ) from exc
        except requests.Timeout as exc:
            raise DownloadError(f"timed out talking to {_where(url)}") from exc
        except requests.ConnectionError as exc:
            raise DownloadError(f"cannot connect to {_where(url)}: {_describe(exc)}") from exc
        except requests.RequestException as exc:
            raise DownloadError(f"request failed: {_describe(exc)}") from exc
        if received != expected:
            raise DownloadError(f"truncated: received {received} of {expected} bytes")
        return received, digest.hexdigest()


def _check_audio(path: Path, size: int, expected_duration: int | None) -> tuple[str, str]:
    """Check the file is WAV or MP3 (and, for WAV, its length); return (type, extension)."""
    if size < WAV_HEADER_BYTES:
        raise DownloadError(f"too small to be a recording ({size} bytes)")
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        try:
            with path.open("rb") as handle, wave.open(handle, "rb") as reader:
                channels, width, rate = (
                    reader.getnchannels(),
                    reader.getsampwidth(),
                    reader.getframerate(),
                )
                frames = reader.getnframes()
        except (wave.Error, EOFError) as exc:
            if str(exc).startswith("unknown format"):
                return "audio/x-wav", ".wav"  # a valid header for a codec wave cannot read
            raise DownloadError(f"corrupt WAV header: {exc or 'unexpected end'}") from exc
        if rate <= 0 or channels <= 0:
            raise DownloadError("corrupt WAV header: no channels or sample rate")
        if frames * channels * width > size - WAV_HEADER_BYTES:
            raise DownloadError("corrupt WAV: header promises more audio than the file holds")
        if expected_duration is not None:
            actual = frames / rate
            tolerance = DURATION_TOLERANCE_SECONDS + DURATION_TOLERANCE_RATIO * expected_duration
            if abs(actual - expected_duration) > tolerance:
                raise DownloadError(
                    f"duration mismatch: audio is {actual:.1f} s, Twilio said {expected_duration} s"
                )
        return "audio/x-wav", ".wav"
    if head[:3] == b"ID3" or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg", ".mp3"
    raise DownloadError("not audio: neither a WAV nor an MP3 header")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _where(url: str) -> str:
    """Scheme and host of a URL, for error messages (never credentials or paths)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


@dataclass
class PurgeReport:
    """What :func:`purge_expired` removed (or would remove, in a dry run)."""

    purged: list[str]
    kept_unhandled: list[str]
    bytes_freed: int
    dry_run: bool

    def __str__(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        text = f"{verb} {len(self.purged)} recording(s), {self.bytes_freed} bytes"
        if self.kept_unhandled:
            text += f"; kept {len(self.kept_unhandled)} voicemail(s) not yet handled"
        return text


def purge_expired(
    session: Session,
    recordings_dir: Path,
    retention: RetentionConfig,
    now: datetime,
    *,
    dry_run: bool = False,
    checkpoint: Callable[[], None] | None = None,
) -> PurgeReport:
    """Delete stored audio older than the retention policy; the rows stay, marked purged.

    Call recordings go after ``call_recordings_days``, voicemails after ``voicemail_days``
    — but never a voicemail nobody has handled yet. Flushes, does not commit;
    `checkpoint` (e.g. the caller's commit) is called after every :data:`PURGE_BATCH`
    recordings, so the write lock is never held for long.
    """
    from callcenter.models import Voicemail  # the inbox status decides for voicemails

    job = RecordingDownload
    limits = {"call": retention.call_recordings_days, "voicemail": retention.voicemail_days}
    report = PurgeReport([], [], 0, dry_run)
    root = Path(recordings_dir).resolve()
    for purpose, days in limits.items():
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        expired = session.scalars(
            select(job).where(
                job.purpose == purpose,
                job.status == DONE,
                job.purged_at.is_(None),
                job.completed_at < cutoff,
            )
        ).all()
        for download in expired:
            if purpose == "voicemail":
                status = session.scalar(
                    select(Voicemail.status).where(
                        Voicemail.recording_sid == download.recording_sid
                    )
                )
                if status is not None and status != "handled":
                    report.kept_unhandled.append(download.recording_sid)
                    continue
            report.purged.append(download.recording_sid)
            report.bytes_freed += download.size_bytes or 0
            if dry_run:
                continue
            if download.path:
                path = (root / download.path).resolve()
                if path.is_relative_to(root):
                    path.unlink(missing_ok=True)
            download.purged_at = now
            if checkpoint is not None and len(report.purged) % PURGE_BATCH == 0:
                session.flush()
                checkpoint()
    return report


# Recordings marked purged per checkpoint (each deletes a file: keep the batches short).
PURGE_BATCH = 100


class RemoteDeleterLike(Protocol):
    """What the worker runs beside the downloads (:class:`remote_erasure.RemoteDeleter`)."""

    def run_due(self, limit: int = 20) -> list[Any]: ...


class DownloadWorker:
    """A daemon thread running :meth:`RecordingFetcher.run_due` every ``poll_seconds``
    (and the deletions from Twilio of erased recordings, when given a `deleter`).

    >>> worker = DownloadWorker(fetcher, settings.downloads.poll_seconds)
    >>> worker.start()
    >>> worker.wake()  # after enqueueing, to skip the wait
    >>> worker.stop(timeout=10)
    """

    def __init__(
        self,
        fetcher: RecordingFetcher,
        poll_seconds: float,
        limit: int = 20,
        deleter: RemoteDeleterLike | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.deleter = deleter
        self.poll_seconds = poll_seconds
        self.limit = limit
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="recording-downloads", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for due jobs now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the thread to finish its current job and exit; True once it has."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self) -> None:
        log.info("download worker started (poll every %.1f s)", self.poll_seconds)
        try:
            self.fetcher.remove_stale_parts()
        except OSError:
            log.exception("download worker: could not remove stale partial downloads")
        while not self._stop.is_set():
            busy = False
            try:
                outcomes = self.fetcher.run_due(self.limit)
                if self.deleter is not None:  # an erased person's recordings, from Twilio
                    outcomes += self.deleter.run_due(self.limit)
                # Something was due: look again at once (other workers may have taken
                # part of the backlog, so fewer than `limit` says nothing about the rest).
                busy = bool(outcomes)
                if not busy:
                    self.fetcher.delete_remote_copies()
            except Exception:
                log.exception("download worker: run_due failed; retrying after the poll delay")
            if not busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
        log.info("download worker stopped")
