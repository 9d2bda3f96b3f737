"""Search: the articles that match a query's terms, best first, with a snippet each.

Only each query term's best stored impacts (see :mod:`callcenter.knowledge.search_index`)
are read and summed per article: on SQLite that sum is the article's ``bm25()``; on
PostgreSQL the best sums are the candidates that the ``tsvector`` matches and
``ts_rank()`` orders. Query terms only ever reach the engine quoted, as literal terms, or
as bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from callcenter.knowledge.models import KbArticle
from callcenter.knowledge.search_index import FIELD_WEIGHTS, _is_postgresql
from callcenter.knowledge.snippets import snippet
from callcenter.knowledge.terms import _quote, query_terms

MAX_LIMIT = 100
_LANGUAGE_MAX = KbArticle.__table__.c.language.type.length
# How many impacts a search of several terms reads in all (shared by its terms); and,
# PostgreSQL, how many candidates ts_rank() orders (``limit`` plus this margin, at least
# twice it).
IMPACTS_READ = 2000
_CANDIDATE_MARGIN = 10


@dataclass(frozen=True)
class Hit:
    """One search result; `snippet` is HTML-safe, matches wrapped in ``<mark>``."""

    id: str
    title: str
    snippet: str
    score: float
    language: str = ""
    summary: str = ""


def search(session: Session, query: str, language: str | None = None, limit: int = 10) -> list[Hit]:
    """Articles matching any term of `query`, best first; ``[]`` when it has no terms.

    Score: between 0 and 1, higher is better, comparable within one query. SQLite:
    ``s / (1 + s)`` where ``s`` is FTS5's BM25 over the fields weighted by FIELD_WEIGHTS,
    summed from the terms' stored impacts. PostgreSQL: ``ts_rank`` with the same relative
    field weights, of the candidates the impacts choose.

    >>> [hit.id for hit in search(session, "warranty", language="en")]  # doctest: +SKIP
    ['warranty-coverage', 'extended-warranty', ...]
    """
    terms = query_terms(query or "")
    limit = max(0, min(int(limit), MAX_LIMIT))
    if not terms or limit == 0 or (language is not None and len(language) > _LANGUAGE_MAX):
        return []
    rank = _rank_postgresql if _is_postgresql(session) else _rank_sqlite
    return [
        Hit(
            id=row.id,
            title=row.title,
            snippet=snippet(row.body, terms, row.summary),
            score=round(score, 4),
            language=row.language,
            summary=row.summary,
        )
        for row, score in rank(session, terms, language, limit)
    ]


def _best_by_impact(
    terms: list[str], language: str | None, count: int
) -> tuple[str, dict[str, Any]]:
    """SQL and parameters of the `count` articles with the highest sums (``total``) of
    the terms' stored impacts, in `language` if given. Only each term's best rows are
    read, through the index: the first `count` of a query's only term, else an equal
    share of IMPACTS_READ (at most IMPACTS_PER_TERM) per term and language, however many
    articles hold the terms."""
    where = " AND language = :language" if language is not None else ""
    names = [f":term_{i}" for i in range(len(terms))]
    sql = (
        "SELECT article_id, SUM(impact) AS total FROM kb_impacts "
        f"WHERE term IN ({', '.join(names)}) AND position <= :depth{where} "
        "GROUP BY article_id ORDER BY total DESC, article_id LIMIT :count"
    )
    params: dict[str, Any] = {f"term_{i}": term for i, term in enumerate(terms)}
    # One term's best `count` are the answer; more terms share IMPACTS_READ.
    params["depth"] = count if len(terms) == 1 else max(count, IMPACTS_READ // len(terms))
    params["language"] = language
    params["count"] = count
    return sql, params


_ARTICLE_COLUMNS = "a.id, a.title, a.language, a.summary, a.body"


def _rank_sqlite(
    session: Session, terms: list[str], language: str | None, limit: int
) -> list[tuple[Any, float]]:
    """The best `limit` articles (rows of :data:`_ARTICLE_COLUMNS`) and their scores,
    best first: BM25 summed from the impacts, which are FTS5's ``bm25()`` of each term
    (see :func:`callcenter.knowledge.search_index._fts5_impacts`), as ``s / (1 + s)``."""
    best, params = _best_by_impact(terms, language, limit)
    rows = session.execute(
        text(
            f"SELECT {_ARTICLE_COLUMNS}, best.total FROM ({best}) AS best "
            "JOIN kb_articles AS a ON a.id = best.article_id "
            "ORDER BY best.total DESC, best.article_id"
        ),
        params,
    )
    return [(row, row.total / (1 + row.total)) for row in rows]


def _rank_postgresql(
    session: Session, terms: list[str], language: str | None, limit: int
) -> list[tuple[Any, float]]:
    """The best `limit` articles (rows of :data:`_ARTICLE_COLUMNS`) and their scores,
    best first: of the candidates with the best impact sums (twice `limit`, at least
    `limit` plus a margin), the ones the ``tsvector`` matches, ranked by ``ts_rank()``
    with the field weights (title 1, tags and summary and body in FIELD_WEIGHTS'
    proportions): per term its best-weighted occurrence plus quickly diminishing credit
    for more, averaged over the terms; already in (0, 1]. One statement.

    The query is a ``tsquery`` literal of the terms OR-ed, each single-quoted (cast, not
    parsed by a text search configuration), so no query syntax comes from the user.
    """
    top = max(FIELD_WEIGHTS.values())
    weights = [FIELD_WEIGHTS[name] / top for name in ("body", "summary", "tags", "title")]
    where = " AND language = :language" if language is not None else ""
    count = max(2 * limit, limit + _CANDIDATE_MARGIN)
    candidates, params = _best_by_impact(terms, language, count)
    # Lateral lookups by primary key (OFFSET 0 keeps them so): whatever plan PostgreSQL
    # caches for the prepared statement, only the candidates are read and ranked (never
    # every article the tsquery matches), and only the hits' bodies are read.
    rows = session.execute(
        text(
            f"WITH candidates AS ({candidates}), best AS ("
            "SELECT r.id, r.rank FROM candidates AS c CROSS JOIN LATERAL ("
            "SELECT id, "
            "ts_rank(CAST(:weights AS real[]), search_vector, CAST(:query AS tsquery)) AS rank "
            "FROM kb_articles WHERE id = c.article_id "
            f"AND search_vector @@ CAST(:query AS tsquery){where} OFFSET 0) AS r "
            "ORDER BY r.rank DESC, r.id LIMIT :limit) "
            "SELECT a.id, a.title, a.language, a.summary, a.body, best.rank "
            "FROM best CROSS JOIN LATERAL ("
            "SELECT id, title, language, summary, body FROM kb_articles "
            "WHERE id = best.id OFFSET 0) AS a "
            "ORDER BY best.rank DESC, best.id"
        ),
        {
            **params,
            "weights": weights,
            "query": " | ".join(_quote(term, "'") for term in terms),
            "limit": limit,
        },
    )
    return [(row, float(row.rank)) for row in rows]
