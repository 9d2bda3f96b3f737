"""Knowledge-base tables: the articles, their full-text index (which lives in each database's
own engine) and the lookups agents make (:class:`KbLookup`).

Terms come from :func:`callcenter.knowledge.terms.tokenize` (stemmed English words,
Chinese bigrams and single characters); the database only matches and ranks them:

* **SQLite**: the FTS5 virtual table ``kb_fts`` (:data:`FTS_DDL`), one row per article
  holding the space-joined terms of each field and the article's language as one token.
  It is not a mapped table: it and the shadow tables ``kb_fts_*`` SQLite keeps its index
  in are skipped by schema comparisons (:func:`include_in_comparison`).
* **PostgreSQL**: the ``kb_articles.search_vector`` column, a ``tsvector`` whose lexemes
  carry the field as weight (title A, tags B, summary C, body D), with a GIN index. On
  SQLite the column exists too (plain text) and stays empty.

Ranking a term that thousands of articles contain would mean scoring each of them, so
``kb_impacts`` (:data:`kb_impacts`, both databases) keeps, per term and language, the
articles with the term's highest precomputed BM25 contributions ("impacts"), at most
``search_index.IMPACTS_PER_TERM`` of them, ordered by an index on (term, language, impact): a
search sums the impacts of its terms to choose a few candidates, which the full-text
index then matches and scores.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, tz_datetime, utcnow

__all__ = [
    "FTS_DDL",
    "FTS_TABLE",
    "KB_TABLES",
    "SEARCH_VECTOR_INDEX",
    "KbArticle",
    "KbLookup",
    "include_in_comparison",
    "is_fts_table",
    "kb_impacts",
    "language_token",
]

FTS_TABLE = "kb_fts"
# The field columns hold terms separated by spaces; the ``ascii`` tokenizer splits on
# ASCII punctuation and spaces only and keeps every non-ASCII character, so a term of
# kb.tokenize is exactly one FTS5 token. ``language_token`` is the article's language as
# one token (:func:`language_token`), so a language filter is part of the full-text match
# rather than a check of every matching row. Positions are kept (detail=full) because
# bm25() counts occurrences.
FTS_DDL = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    "article_id UNINDEXED, language_token, title, tags, summary, body, "
    "tokenize = 'ascii')"
)
_FTS_SHADOWS = ("data", "idx", "content", "docsize", "config")
SEARCH_VECTOR_INDEX = "ix_kb_articles_search_vector"


class KbArticle(Base):
    """An indexed article; ``checksum`` tells ``kb.sync`` whether the file changed.

    ``length`` is the number of terms of the summary and the body.
    """

    __tablename__ = "kb_articles"
    __table_args__ = (
        Index(
            SEARCH_VECTOR_INDEX,
            "search_vector",
            postgresql_using="gin",
            info={"only": "postgresql"},
        ).ddl_if(dialect="postgresql"),
    )

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
    # PostgreSQL's index (see the module docstring); never loaded with the article.
    search_vector: Mapped[str | None] = mapped_column(
        Text().with_variant(TSVECTOR(), "postgresql"), deferred=True
    )


# ``Base.metadata.create_all`` builds a working index on SQLite too.
event.listen(KbArticle.__table__, "after_create", DDL(FTS_DDL).execute_if(dialect="sqlite"))
event.listen(
    KbArticle.__table__,
    "after_drop",
    DDL(f"DROP TABLE IF EXISTS {FTS_TABLE}").execute_if(dialect="sqlite"),
)


class KbLookup(Base):
    """One use of the knowledge base: a search, an article opened, suggested or sent.

    ``source`` is where it came from (``console`` search box, a screen-pop ``suggestion``,
    the ``ivr``); ``call_sid`` links it to the call it helped with, when there was one.
    """

    __tablename__ = "kb_lookups"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(tz_datetime(), default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    article_id: Mapped[str | None] = mapped_column(String(100), index=True)
    query: Mapped[str | None] = mapped_column(String(200))
    results: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def language_token(language: str) -> str:
    """`language` as one FTS5 token of the ``ascii`` tokenizer: its UTF-8 bytes in hex.

    >>> language_token("zh-CN")
    '7a682d434e'
    """
    return language.encode("utf-8", "surrogatepass").hex()


def is_fts_table(name: str | None) -> bool:
    """True for SQLite's FTS5 table ``kb_fts`` and the shadow tables it keeps its index in."""
    return name == FTS_TABLE or name in {f"{FTS_TABLE}_{shadow}" for shadow in _FTS_SHADOWS}


def include_in_comparison(dialect_name: str) -> Callable[..., bool]:
    """An Alembic ``include_object`` hook comparing the models with a `dialect_name` database.

    It skips the FTS5 tables (SQLite creates and owns them; they are not models) and the
    schema items the models declare for another dialect only (the GIN index).
    """

    def include(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
        if type_ == "table" and is_fts_table(name):
            return False
        only = getattr(obj, "info", {}).get("only")
        return only is None or only == dialect_name

    return include


# Per (term, language), the articles where the term weighs most, best first (``position``
# 1, 2, …), and how much: the term's BM25 contribution to the article's score, idf
# included (see kb.sync). No primary key: kb.sync rebuilds the table, and it is only read
# through its one index, which covers every column: a term's first positions in every
# language are one range of it.
kb_impacts = Table(
    "kb_impacts",
    Base.metadata,
    Column("term", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("language", String(20), nullable=False),
    Column("article_id", String(100), nullable=False),
    Column("impact", Float, nullable=False),
    Index("ix_kb_impacts_term_position", "term", "position", "language", "article_id", "impact"),
)

KB_TABLES = (KbArticle.__table__, kb_impacts)
