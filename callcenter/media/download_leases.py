"""The database side of the download jobs: which are due, a claim under a lease, the result.

A claim is a conditional UPDATE committed on its own, so two processes (or threads) never
download the same job at once; it holds the job ``running`` with a lease in
``next_attempt_at``. A ``running`` job whose lease has expired belonged to a process that
died; any fetcher may take it over (counting the attempt it lost). An outcome is saved only
while the lease is still this attempt's (:meth:`DownloadLeases._still_ours`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session, sessionmaker

from callcenter.config import DownloadConfig
from callcenter.media.downloads import (
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    DownloadOutcome,
    backoff,
)
from callcenter.models import RecordingDownload

log = logging.getLogger("callcenter.recordings")


@dataclass(frozen=True)
class Claim:
    """A job this fetcher holds, as read when claiming it."""

    id: int
    recording_sid: str
    source_url: str
    expected_duration: int | None
    created_at: datetime
    attempts: int
    lease_until: datetime


class DownloadLeases:
    """Claiming due jobs under a lease and saving what an attempt did; the base of
    :class:`callcenter.media.recording_fetcher.RecordingFetcher`, which sets these."""

    sessions: sessionmaker[Session]
    recordings_dir: Path
    config: DownloadConfig
    clock: Callable[[], datetime]
    lease: timedelta

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
    ) -> Claim | DownloadOutcome | None:
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
        return Claim(job_id, row[0], row[1], row[2], row[3], attempts, lease_until)

    def _record_failure(self, claim: Claim, error: str) -> DownloadOutcome:
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
    def _still_ours(claim: Claim) -> tuple[object, ...]:
        job = RecordingDownload
        return (
            job.id == claim.id,
            job.status == RUNNING,
            job.next_attempt_at == claim.lease_until,
            job.attempts == claim.attempts,
        )

    def _drop_unsaved(self, job_id: int, relative: str) -> None:
        """Delete a file whose job was taken from this attempt (erased meanwhile, say), unless
        the job now holds that very file (another fetcher saved the same recording)."""
        job = RecordingDownload
        with self.sessions() as session:
            kept = session.execute(select(job.status, job.path).where(job.id == job_id)).first()
            session.rollback()
        if kept is None or tuple(kept) != (DONE, relative):
            (self.recordings_dir / relative).unlink(missing_ok=True)
