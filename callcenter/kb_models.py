"""Knowledge-base tables: one row per article and a postings table for the search index.

The index is plain SQL so it works the same on SQLite and PostgreSQL: ``kb_terms`` holds,
for every article, each term of each field (title, tags, summary, body) with its count.
Terms come from :func:`callcenter.kb.tokenize` (stemmed English words, Chinese bigrams
and single characters).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import Base
from callcenter.models import tz_datetime, utcnow

__all__ = ["KB_TABLES", "KbArticle", "KbTerm"]


class KbArticle(Base):
    """An indexed article; ``checksum`` tells ``kb.sync`` whether the file changed."""

    __tablename__ = "kb_articles"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(20), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    intents: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(String(500), default="")
    length: Mapped[int] = mapped_column(Integer, default=0)
    checksum: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow, onupdate=utcnow)

    terms: Mapped[list[KbTerm]] = relationship(
        back_populates="article", cascade="all, delete-orphan", passive_deletes=True
    )


class KbTerm(Base):
    """One posting: ``count`` occurrences of ``term`` in ``field`` of an article."""

    __tablename__ = "kb_terms"
    __table_args__ = (Index("ix_kb_terms_term_article", "term", "article_id"),)

    article_id: Mapped[str] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    field: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)

    article: Mapped[KbArticle] = relationship(back_populates="terms")


KB_TABLES = (KbArticle.__table__, KbTerm.__table__)
