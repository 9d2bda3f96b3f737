"""Media's own table: Twilio's copies of erased recordings, deleted durably.

It imports only :mod:`callcenter.db`, like every feature's tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, tz_datetime, utcnow


class RemoteRecordingDeletion(Base):
    """A recording of an erased person still to be deleted from Twilio (or deleted).

    ``pending`` → ``running`` (claimed, with a lease in ``next_attempt_at``) → ``done`` |
    ``pending`` (retried later, with backoff) | ``failed`` (after ``downloads.max_attempts``:
    shown to admins, sent again when one asks).
    """

    __tablename__ = "remote_recording_deletions"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(tz_datetime())
