"""Twilio's copies of an erased person's recordings: deleted, and never lost on the way.

Erasure (:mod:`callcenter.crm.erasure`) queues one :class:`RemoteRecordingDeletion` per
recording of the person's calls and voicemails (:func:`queue_deletions`), in its own
transaction. :class:`RemoteDeleter` then deletes them through an adapter (the REST API:
``telephony/recordings.py``), at once from the erase command or route and later from the
download worker: a deletion that fails (Twilio down, a timeout, a rotated API key) is
retried until Twilio says the recording is gone (deleted, or 404), across restarts, with
its own budget, longer than a download's since an erasure is a legal duty: the wait
doubles from ``downloads.backoff_seconds`` up to ``downloads.erasure_max_backoff_seconds``,
for at most ``downloads.erasure_max_attempts`` attempts (about 3 days by default; an
attempt whose process died under its lease counts). While it is retried it is listed for
admins as failing (:func:`deletions_not_done`). Then it is ``failed``: logged as an error,
counted on `/metrics` (`callcenter_remote_deletions`), reported as pending by the erasure,
and sent again only when an admin asks (:func:`retry_failed_deletions`: `callcenter
recordings retry`, or the admin page, which lists them) or the person is erased again.
A claim is a conditional UPDATE committed on its own, with a
lease, so two processes never send the same deletion at once.

A recording Twilio reports after the erasure (its status callback came late) is not
downloaded, and its deletion is sent again, since Twilio now holds it
(:func:`callcenter.media.downloads.enqueue_download`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from callcenter.config import DownloadConfig
from callcenter.db import utcnow
from callcenter.media.models import RemoteRecordingDeletion

log = logging.getLogger("callcenter.recordings")

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"

DeleteRemote = Callable[[str], None]
"""Delete a recording from Twilio by its SID; returns when it is gone (already gone counts),
raises (any exception, its text the reason) when it could not be deleted."""


@dataclass(frozen=True)
class DeletionOutcome:
    """One attempt: ``ok`` once Twilio's copy is gone."""

    recording_sid: str
    ok: bool
    error: str | None = None


def queue_deletions(
    session: Session, recordings: Iterable[tuple[str, str]], now: datetime
) -> list[str]:
    """Queue the deletion of Twilio's copy of each (recording SID, call SID); one per
    recording (a deletion already queued is sent again: erased twice, deleted twice).
    A deletion that failed is sent again with a fresh budget.
    Returns the recording SIDs queued. Flushes, does not commit."""
    queued: list[str] = []
    for recording_sid, call_sid in recordings:
        if not recording_sid or recording_sid in queued:
            continue
        queued.append(recording_sid)
        existing = _by_sid(session, recording_sid)
        if existing is None:
            session.add(RemoteRecordingDeletion(recording_sid=recording_sid, call_sid=call_sid,
                                                status=PENDING, attempts=0,
                                                next_attempt_at=now, requested_at=now))  # fmt: skip
        elif existing.status in (DONE, FAILED):
            existing.status, existing.next_attempt_at = PENDING, now
            existing.attempts = 0
    session.flush()
    return queued


def retry_failed_deletions(session: Session, now: datetime) -> int:
    """Put the deletions that gave up back in line with a fresh attempt budget (an admin's
    `callcenter recordings retry`). Returns how many. Flushes, does not commit."""
    job = RemoteRecordingDeletion
    return session.execute(
        update(job)
        .where(job.status == FAILED)
        .values(status=PENDING, attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount


def erasure_backoff(config: DownloadConfig, attempts: int) -> timedelta:
    """Delay before a deletion's next try after ``attempts`` failures (1, 2, ...)."""
    seconds = config.backoff_seconds * 2 ** min(max(attempts - 1, 0), 60)
    return timedelta(seconds=min(seconds, config.erasure_max_backoff_seconds))


def deletions_not_done(session: Session, limit: int = 100) -> dict[str, Any]:
    """For admins: the deletions that gave up (``failed``) and those still retried after
    failing (``failing``: each with its next try), each with its recording and call,
    attempts, last error, when it was asked for (the oldest first, at most `limit` of each);
    how many of each there are in all (``failed_count``, ``failing_count``), and how many are
    still being tried (``pending``, the failing ones included)."""
    job = RemoteRecordingDeletion
    failing = (job.status.in_((PENDING, RUNNING)), job.attempts > 0, job.last_error.is_not(None))
    lists: dict[str, list[dict[str, Any]]] = {}
    for name, where in (("failed", (job.status == FAILED,)), ("failing", failing)):
        rows = session.execute(
            select(job.recording_sid, job.call_sid, job.attempts, job.last_error,
                   job.requested_at, job.next_attempt_at)
            .where(*where)
            .order_by(job.requested_at, job.id)
            .limit(limit)
        ).all()  # fmt: skip
        lists[name] = [
            {"recording_sid": sid, "call_sid": call_sid, "attempts": attempts,
             "last_error": error, "requested_at": requested.isoformat(),
             "next_attempt_at": None if name == "failed" else next_at.isoformat()}
            for sid, call_sid, attempts, error, requested, next_at in rows
        ]  # fmt: skip
    failed_count = session.scalar(select(func.count()).where(job.status == FAILED))
    failing_count = session.scalar(select(func.count()).where(*failing))
    pending = session.scalar(select(func.count()).where(job.status.in_((PENDING, RUNNING))))
    return {
        "failed": lists["failed"],
        "failed_count": failed_count or 0,
        "failing": lists["failing"],
        "failing_count": failing_count or 0,
        "pending": pending or 0,
    }


def still_pending(session: Session, recording_sids: Collection[str]) -> list[str]:
    """Those of the recordings whose deletion from Twilio has not succeeded yet (pending,
    or failed)."""
    if not recording_sids:
        return []
    return list(
        session.scalars(
            select(RemoteRecordingDeletion.recording_sid).where(
                RemoteRecordingDeletion.recording_sid.in_(list(recording_sids)),
                RemoteRecordingDeletion.status != DONE,
            )
        )
    )


def _by_sid(session: Session, recording_sid: str) -> RemoteRecordingDeletion | None:
    return session.scalar(
        select(RemoteRecordingDeletion).where(
            RemoteRecordingDeletion.recording_sid == recording_sid
        )
    )


@dataclass(frozen=True)
class _Claim:
    id: int
    recording_sid: str
    attempts: int
    lease_until: datetime


class RemoteDeleter:
    """Claims due deletions and sends them through `delete`; records the result."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        delete: DeleteRemote,
        config: DownloadConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.delete = delete
        self.config = config
        self.clock = clock
        self.lease = timedelta(seconds=2 * config.timeout_seconds + 60)

    def run_due(
        self, limit: int = 20, only: Collection[str] | None = None
    ) -> list[DeletionOutcome]:
        """Send up to `limit` due deletions (of `only` these recordings, if given)."""
        job = RemoteRecordingDeletion
        now = self.clock()
        with self.sessions() as session:
            query = select(job.id, job.status, job.next_attempt_at, job.attempts).where(
                or_(job.status == PENDING, job.status == RUNNING), job.next_attempt_at <= now
            )
            if only is not None:
                if not only:
                    return []
                query = query.where(job.recording_sid.in_(list(only)))
            rows = session.execute(query.order_by(func.random()).limit(limit)).all()
            session.rollback()
        outcomes = []
        for row in rows:
            claim = self._claim(*row)
            if claim is not None:
                outcomes.append(self._attempt(claim))
        return outcomes

    def _claim(
        self, job_id: int, status: str, next_attempt_at: datetime, attempts: int
    ) -> _Claim | None:
        job = RemoteRecordingDeletion
        now = self.clock()
        lease_until = now + self.lease
        values: dict[str, object] = {"status": RUNNING, "next_attempt_at": lease_until}
        counted = attempts
        if status == RUNNING:
            # The process holding the lease died mid-attempt: that attempt counts, so a
            # deletion that kills its process cannot loop forever.
            counted = attempts + 1
            values.update(attempts=counted, last_error=INTERRUPTED)
            if counted >= self.config.erasure_max_attempts:
                values.update(status=FAILED, next_attempt_at=now)
        with self.sessions() as session:
            claimed = session.execute(
                update(job)
                .where(job.id == job_id, job.status == status,
                       job.next_attempt_at == next_attempt_at, job.attempts == attempts)
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount  # fmt: skip
            if claimed != 1:
                session.rollback()
                return None  # another process took it
            sid = session.scalar(select(job.recording_sid).where(job.id == job_id))
            session.commit()
        if values["status"] == FAILED:
            _gave_up(str(sid), counted, INTERRUPTED)
            return None
        return _Claim(job_id, str(sid), counted, lease_until)

    def _attempt(self, claim: _Claim) -> DeletionOutcome:
        error: str | None = None
        try:
            self.delete(claim.recording_sid)
        except Exception as exc:  # the adapter's reason, whatever went wrong
            error = str(exc) or type(exc).__name__
        job = RemoteRecordingDeletion
        now = self.clock()
        attempts = claim.attempts + 1
        gave_up = error is not None and attempts >= self.config.erasure_max_attempts
        values: dict[str, object] = (
            {"status": DONE, "deleted_at": now, "last_error": None, "attempts": attempts}
            if error is None
            else {"status": FAILED, "attempts": attempts, "last_error": error[:500],
                  "next_attempt_at": now}
            if gave_up
            else {"status": PENDING, "attempts": attempts, "last_error": error[:500],
                  "next_attempt_at": now + erasure_backoff(self.config, attempts)}
        )  # fmt: skip
        with self.sessions() as session:
            session.execute(
                update(job)
                .where(job.id == claim.id, job.status == RUNNING,
                       job.next_attempt_at == claim.lease_until)
                .values(**values)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
            session.commit()
        if error is None:
            log.info("recording %s: Twilio's copy deleted (erasure)", claim.recording_sid)
        elif gave_up:
            _gave_up(claim.recording_sid, attempts, error)
        else:
            log.warning("recording %s: deleting Twilio's copy failed (attempt %d, retried): %s",
                        claim.recording_sid, attempts, error)  # fmt: skip
        return DeletionOutcome(claim.recording_sid, error is None, error)


INTERRUPTED = "previous attempt interrupted (lease expired)"


def _gave_up(recording_sid: str, attempts: int, error: str | None) -> None:
    log.error(
        "recording %s: giving up deleting Twilio's copy (erasure) after %d attempts: %s; "
        "`callcenter recordings retry` sends it again",
        recording_sid, attempts, error,
    )  # fmt: skip
