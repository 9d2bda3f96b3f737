"""The history of customer records: every change, who made it and when (old → new)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, tz_datetime, utcnow


class CustomerChange(Base):
    """One change of a customer record: ``field`` (``name``, ``phones``, ``tier``, ...,
    or ``created``, ``merged``, ``erased``) went from ``old_value`` to ``new_value``."""

    __tablename__ = "customer_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
