"""The search index: :func:`sync` makes the database's copy of the articles match the files.

Matching and ranking are left to the database's own full-text search (see
:mod:`callcenter.knowledge.models`): :func:`sync` stores each field's terms (from
:mod:`callcenter.knowledge.terms`) in SQLite's FTS5 table or PostgreSQL's weighted
``tsvector``, and ranking follows FTS5's ``bm25()`` or PostgreSQL's ``ts_rank()``, title
and tags counting more than the body.

So that a search never scores every article a common term matches, :func:`sync` also
keeps, per term and language, the articles where the term's BM25 contribution (its
"impact") is highest (``kb_impacts``; on SQLite FTS5's ``bm25()`` of the term alone).
Domain code: it takes a ``Session``, flushes, and never commits.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.orm import Session

from callcenter.knowledge.article_files import Article
from callcenter.knowledge.models import FTS_TABLE, KbArticle, kb_impacts, language_token
from callcenter.knowledge.terms import _field_terms, _quote
from callcenter.models import utcnow

# How much one occurrence of a term counts, by field.
FIELD_WEIGHTS = {"title": 3.0, "tags": 2.5, "summary": 1.5, "body": 1.0}
# PostgreSQL: a field's weight letter, its lexeme positions' limits (larger ones are clamped).
_PG_WEIGHT_LETTERS = {"title": "A", "tags": "B", "summary": "C", "body": "D"}
_PG_MAX_POSITION = 16383
_PG_MAX_POSITIONS = 256
_CHUNK = 500
# Top-k ranking (see kb_models.kb_impacts): the impacts kept per term and language.
IMPACTS_PER_TERM = 1000
# BM25's parameters, as FTS5's bm25() has them.
_BM25_K1 = 1.2
_BM25_B = 0.75


def _tsvector(fields: dict[str, list[str]]) -> str:
    """PostgreSQL ``tsvector`` text of the fields' terms: positions in field order, each
    position weighted with its field's letter (title A, tags B, summary C, body D).

    >>> _tsvector({"title": ["repair"], "body": ["repair", "ship"]})
    "'repair':1A,2D 'ship':3D"
    """
    positions: dict[str, list[str]] = defaultdict(list)
    position = 0
    for name, terms in fields.items():
        letter = _PG_WEIGHT_LETTERS[name]
        for term in terms:
            position = min(position + 1, _PG_MAX_POSITION)
            kept = positions[term]
            if len(kept) < _PG_MAX_POSITIONS:
                kept.append(f"{position}{letter}")
    return " ".join(_quote(term, "'") + ":" + ",".join(kept) for term, kept in positions.items())


@dataclass
class SyncReport:
    """What :func:`sync` changed; ``changes == 0`` when the index already matched."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.updated) + len(self.deleted)

    def __str__(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.deleted)} deleted, {self.unchanged} unchanged"
        )


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _index_rows(
    article: Article, fields: dict[str, list[str]], postgresql: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``kb_articles`` row of `article` and, for SQLite, its ``kb_fts`` row."""
    row = {
        "id": article.id,
        "title": article.title,
        "language": article.language,
        "tags": list(article.tags),
        "intents": list(article.intents),
        "summary": article.summary,
        "body": article.body,
        "path": article.path[:500],
        "length": len(fields["body"]) + len(fields["summary"]),
        "checksum": article.checksum(),
        "search_vector": _tsvector(fields) if postgresql else None,
        "updated_at": utcnow(),
    }
    fts = {"article_id": article.id, "language_token": language_token(article.language)}
    fts.update((name, " ".join(terms)) for name, terms in fields.items())
    return row, fts


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def sync(session: Session, articles: Iterable[Article]) -> SyncReport:
    """Make the index match `articles`: insert new ones, re-index changed ones, delete
    the ones that are gone, and when anything changed (or the impacts are missing)
    recompute every term's impacts. Idempotent; flushes but does not commit.
    """
    report = SyncReport()
    postgresql = _is_postgresql(session)
    wanted = {article.id: article for article in articles}
    existing = {
        row.id: row.checksum for row in session.execute(select(KbArticle.id, KbArticle.checksum))
    }
    report.deleted = sorted(set(existing) - set(wanted))
    added: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    fts_rows: list[dict[str, Any]] = []
    fields: dict[str, dict[str, list[str]]] = {}
    for article_id in sorted(wanted):
        article = wanted[article_id]
        if article_id in existing and existing[article_id] == article.checksum():
            report.unchanged += 1
            continue
        fields[article_id] = _field_terms(article)
        row, fts = _index_rows(article, fields[article_id], postgresql)
        if article_id in existing:
            updated.append(row)
            report.updated.append(article_id)
        else:
            added.append(row)
            report.added.append(article_id)
        fts_rows.append(fts)
    session.flush()
    if not postgresql:
        # One scan of the FTS table per chunk: article_id is stored, not indexed.
        for ids in _chunks(report.deleted + report.updated):
            session.execute(
                text(f"DELETE FROM {FTS_TABLE} WHERE article_id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            )
    for ids in _chunks(report.deleted):
        session.execute(delete(KbArticle).where(KbArticle.id.in_(ids)))
    if added:
        session.execute(insert(KbArticle), added)
    if updated:
        session.execute(update(KbArticle), updated)
    if fts_rows and not postgresql:
        columns = ("article_id", "language_token", *FIELD_WEIGHTS)
        session.execute(
            text(
                f"INSERT INTO {FTS_TABLE} ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + name for name in columns)})"
            ),
            fts_rows,
        )
    if report.changes or (
        wanted and session.execute(select(kb_impacts.c.term).limit(1)).first() is None
    ):
        _rebuild_impacts(session, wanted, fields, postgresql)
    session.flush()
    return report


def _rebuild_impacts(
    session: Session,
    articles: dict[str, Article],
    known: dict[str, dict[str, list[str]]],
    postgresql: bool,
) -> None:
    """Refill ``kb_impacts``: per term and language, the IMPACTS_PER_TERM articles where
    the term's BM25 contribution is highest. Every impact depends on the whole knowledge
    base (idf, average length), so all are recomputed whenever an article changes.
    """
    session.execute(delete(kb_impacts))
    if not articles:
        return
    rows = _bm25_impacts(articles, known) if postgresql else _fts5_impacts(session)
    rows.sort(key=lambda row: (row[0], row[1], -row[2], row[3]))
    ranked: list[tuple[str, int, str, str, float]] = []
    last, position = ("", ""), 0
    for term, language, impact, article_id in rows:
        position = position + 1 if (term, language) == last else 1
        last = (term, language)
        if position <= IMPACTS_PER_TERM:
            ranked.append((term, position, language, article_id, impact))
    _bulk_insert_impacts(session, ranked)


def _fts5_impacts(session: Session) -> list[tuple[str, str, float, str]]:
    """Impact rows from FTS5 itself: for each term of its vocabulary, ``bm25()`` of the
    term alone, which is the term's share of any query's ``bm25()``. A term in at most
    IMPACTS_PER_TERM articles is ranked in one query; a commoner one once per language,
    keeping the best IMPACTS_PER_TERM."""
    connection = session.connection().connection.driver_connection
    cursor = connection.cursor()
    try:
        documents = {
            rowid: (article_id, bytes.fromhex(token).decode("utf-8", "surrogatepass"))
            for rowid, article_id, token in cursor.execute(
                f"SELECT rowid, article_id, language_token FROM {FTS_TABLE}"
            )
        }
        tokens = sorted({language_token(language) for _, language in documents.values()})
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{FTS_TABLE}_terms "
            f"USING fts5vocab(main, {FTS_TABLE}, 'row')"
        )
        vocabulary = cursor.execute(f"SELECT term, doc FROM temp.{FTS_TABLE}_terms").fetchall()
        cursor.execute(f"DROP TABLE temp.{FTS_TABLE}_terms")
        weights = ", ".join(str(FIELD_WEIGHTS[name]) for name in FIELD_WEIGHTS)
        columns = "{" + " ".join(FIELD_WEIGHTS) + "} : "
        every = (
            f"SELECT rowid, bm25({FTS_TABLE}, 0, 0, {weights}) "
            f"FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
        )
        best = every + " ORDER BY 2 LIMIT ?"
        rows: list[tuple[str, str, float, str]] = []
        for term, count in vocabulary:
            match = columns + _quote(term, '"')
            if count <= IMPACTS_PER_TERM:
                found = cursor.execute(every, (match,)).fetchall()
            else:
                found = []
                for token in tokens:
                    found += cursor.execute(
                        best, (f'{match} AND language_token : "{token}"', IMPACTS_PER_TERM)
                    ).fetchall()
            for rowid, rank in found:
                article_id, language = documents[rowid]
                rows.append((term, language, -rank, article_id))
        return rows
    finally:
        cursor.close()


def _bm25_impacts(
    articles: dict[str, Article], known: dict[str, dict[str, list[str]]]
) -> list[tuple[str, str, float, str]]:
    """Impact rows computed here with BM25 as FTS5 computes it: weighted term frequency,
    document length over all fields and the language token, idf over every article.
    `known` holds the field terms already computed for changed articles."""
    weighted: list[tuple[str, str, dict[str, float], int]] = []
    frequency: Counter[str] = Counter()
    total_length = 0
    for article_id, article in articles.items():
        fields = known.get(article_id) or _field_terms(article)
        length = 1  # the language token
        weights: dict[str, float] = {}
        for name, terms in fields.items():
            length += len(terms)
            weight = FIELD_WEIGHTS[name]
            for term, count in Counter(terms).items():
                weights[term] = weights.get(term, 0.0) + weight * count
        frequency.update(weights.keys())
        total_length += length
        weighted.append((article_id, article.language, weights, length))
    count = len(articles)
    average = total_length / count
    idf = {
        term: max(math.log((count - n + 0.5) / (n + 0.5)), 1e-6) for term, n in frequency.items()
    }
    k1 = _BM25_K1
    postings: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for article_id, language, weights, length in weighted:
        norm = k1 * (1 - _BM25_B + _BM25_B * length / average)
        for term, w in weights.items():
            postings[term, language].append((idf[term] * w * (k1 + 1) / (w + norm), article_id))
    rows: list[tuple[str, str, float, str]] = []
    for (term, language), impacts in postings.items():
        if len(impacts) > IMPACTS_PER_TERM:
            impacts = heapq.nlargest(IMPACTS_PER_TERM, impacts)
        rows.extend((term, language, impact, article_id) for impact, article_id in impacts)
    return rows


def _bulk_insert_impacts(session: Session, rows: list[tuple[str, int, str, str, float]]) -> None:
    """Insert `rows` (in index order) the fastest way the driver has: COPY on psycopg,
    the driver's executemany otherwise."""
    columns = ("term", "position", "language", "article_id", "impact")
    connection = session.connection()
    if connection.dialect.driver == "psycopg":
        copy_sql = f"COPY kb_impacts ({', '.join(columns)}) FROM STDIN"
        with (
            connection.connection.driver_connection.cursor() as cursor,
            cursor.copy(copy_sql) as copy,
        ):
            for row in rows:
                copy.write_row(row)
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"INSERT INTO kb_impacts ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?)", rows
        )
    else:
        for start in range(0, len(rows), 10_000):
            chunk = rows[start : start + 10_000]
            connection.execute(
                insert(kb_impacts), [dict(zip(columns, row, strict=True)) for row in chunk]
            )
