"""The tables of supervision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, tz_datetime, utcnow


class QueueThreshold(Base):
    """A queue's wallboard alert thresholds as a supervisor set them (unset: the default
    of ``wallboard`` in config.yaml)."""

    __tablename__ = "queue_thresholds"

    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    oldest_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    service_level: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
