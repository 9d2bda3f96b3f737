"""The recording fetcher: claims due download jobs, downloads and verifies them, saves them.

It fetches ``RecordingUrl + ".wav"`` with HTTP basic auth (:mod:`.download_http`), under a
claim with a lease (:mod:`.download_leases`), and stores the audio as
``recordings/YYYY/MM/DD/<RecordingSid>.wav``. Failures are retried with exponential backoff
until ``downloads.max_attempts``; then the job is kept as ``failed`` (see
:func:`callcenter.media.downloads.retry_failed`). Downloads happen outside any transaction.
With ``downloads.delete_remote``, Twilio's copy of a verified download is deleted.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from callcenter.config import DownloadConfig
from callcenter.media.download_http import (
    DownloadError,
    check_audio,
    describe,
    fetch_to,
    file_sha256,
    fsync_dir,
)
from callcenter.media.download_leases import Claim, DownloadLeases
from callcenter.media.downloads import (
    DONE,
    RECORDING_SID,
    DownloadOutcome,
    media_url,
    resource_url,
    retry_failed,
)
from callcenter.models import RecordingDownload, utcnow

log = logging.getLogger("callcenter.recordings")

REMOTE_DELETE_WINDOW = timedelta(days=7)
"""How long after a download the deletion of Twilio's copy is retried."""


class RecordingFetcher(DownloadLeases):
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
            if isinstance(claim, Claim):
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

    def _attempt(self, claim: Claim) -> DownloadOutcome:
        try:
            relative, size, digest, content_type = self._download(claim)
        except DownloadError as exc:
            return self._record_failure(claim, str(exc))
        except Exception as exc:  # a bug or a full disk must not strand the job
            log.exception("recording %s: unexpected error", claim.recording_sid)
            return self._record_failure(claim, f"unexpected error: {describe(exc)}")
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
                        describe(exc))  # fmt: skip
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

    # -- one download ---------------------------------------------------------------------

    def _download(self, claim: Claim) -> tuple[str, int, str, str]:
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
            size, digest = fetch_to(
                self.http,
                media_url(claim.source_url),
                temp,
                auth=self.auth,
                timeout_seconds=self.config.timeout_seconds,
                deadline_seconds=self.download_deadline,
            )
            content_type, extension = check_audio(temp, size, claim.expected_duration)
            final = folder / f"{claim.recording_sid}{extension}"
            os.replace(temp, final)
            fsync_dir(folder)
        finally:
            temp.unlink(missing_ok=True)
        if file_sha256(final) != digest:
            final.unlink(missing_ok=True)
            raise DownloadError("file on disk does not match what was downloaded")
        return final.relative_to(self.recordings_dir).as_posix(), size, digest, content_type
