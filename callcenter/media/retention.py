"""Retention: stored recordings deleted once older than the policy (``retention`` in the config).

The download rows stay, marked ``purged_at``; a voicemail nobody has handled yet is kept.
Run by ``callcenter recordings purge``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.config import RetentionConfig
from callcenter.media.downloads import DONE
from callcenter.models import RecordingDownload


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
