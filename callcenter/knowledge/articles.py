"""Knowledge base: Markdown articles with YAML front matter, indexed and searched in SQL.

Pure domain code (no Flask): functions that touch the database take a SQLAlchemy
``Session`` and never commit; the caller owns the transaction.

Tokenizing is done here, the same for every database: :func:`tokenize` turns text into
terms (English words lowercased and lightly stemmed, Chinese text into character bigrams
plus single characters). Matching and ranking are left to the database's own full-text
search (see :mod:`callcenter.knowledge.models`): :func:`sync` stores each field's terms in
SQLite's FTS5 table or PostgreSQL's weighted ``tsvector``, and ranking follows FTS5's
``bm25()`` or PostgreSQL's ``ts_rank()``, title and tags counting more than the body.
Query terms only ever reach the engine quoted, as literal terms, or as bound parameters.

So that a search never scores every article a common term matches, :func:`sync` also
keeps, per term and language, the articles where the term's BM25 contribution (its
"impact") is highest (``kb_impacts``; on SQLite FTS5's ``bm25()`` of the term alone).
:func:`search` reads only each query term's best impacts and sums them per article:
on SQLite that sum is the article's ``bm25()``; on PostgreSQL the best sums are the
candidates that the ``tsvector`` matches and ``ts_rank()`` orders.

>>> tokenize("Repairs shipped")
['repair', 'ship']
>>> tokenize("保修政策")
['保修', '修政', '政策']
>>> tokenize("保修", unigrams=True)
['保修', '保', '修']
"""

from __future__ import annotations

import hashlib
import heapq
import html
import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.orm import Session

from callcenter.knowledge.models import FTS_TABLE, KbArticle, kb_impacts, language_token
from callcenter.models import utcnow

__all__ = [
    "DEFAULT_LANGUAGES",
    "FIELD_WEIGHTS",
    "Article",
    "ArticleError",
    "Hit",
    "SyncReport",
    "load_articles",
    "parse_article",
    "search",
    "snippet",
    "sync",
    "tokenize",
]

DEFAULT_LANGUAGES = ("en", "zh-CN")
# How much one occurrence of a term counts, by field.
FIELD_WEIGHTS = {"title": 3.0, "tags": 2.5, "summary": 1.5, "body": 1.0}
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_LIMIT = 100
SNIPPET_CHARS = 220
_TERM_MAX = 64
_LANGUAGE_MAX = KbArticle.__table__.c.language.type.length
# PostgreSQL: a field's weight letter, its lexeme positions' limits (larger ones are clamped).
_PG_WEIGHT_LETTERS = {"title": "A", "tags": "B", "summary": "C", "body": "D"}
_PG_MAX_POSITION = 16383
_PG_MAX_POSITIONS = 256
_CHUNK = 500
# Top-k ranking (see kb_models.kb_impacts): the impacts kept per term and language; how
# many a search of several terms reads in all (shared by its terms); and, PostgreSQL,
# how many candidates ts_rank() orders (``limit`` plus this margin, at least twice it).
IMPACTS_PER_TERM = 1000
IMPACTS_READ = 2000
_CANDIDATE_MARGIN = 10
# BM25's parameters, as FTS5's bm25() has them.
_BM25_K1 = 1.2
_BM25_B = 0.75

_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_INTENT = r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$"
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"([{_CJK}]+)|([0-9a-z\u00e0-\u00ff]+)")
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_SENTENCE_RE = re.compile(r"[^\n.!?。！？；;]+(?:[.!?。！？；;]+|$)", re.M)
# Headings, quotes and list markers at line start go; then links keep their text, and
# emphasis stars, strong underscores and backticks go. Other characters (``<``, ``>``,
# ``&``) stay, escaped later. Two passes, each pattern starting with a plain character
# (a line start is the newline before it; ``\*\**`` rather than ``\*+``), which the regex
# engine finds fast.
_MARKDOWN_LINE_RE = re.compile(r"\n[ \t]*(?:#{1,6}|>|[-+*]|\d+\.)[ \t]+")
_MARKDOWN_INLINE_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)|\*\**|__|``*")
_FULLWIDTH_PUNCTUATION_RE = re.compile(
    r"[\u3000\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff5e]"
)
_STOPWORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for"),
        *("from", "how", "i", "if", "in", "is", "it", "me", "my", "of", "on", "or", "our"),
        *("the", "this", "to", "we", "what", "when", "where", "which", "who", "will"),
        *("with", "you", "your"),
    }
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class FrontMatter(BaseModel):
    """The YAML header of an article; unknown keys and wrong types are rejected."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=_SLUG, max_length=100)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    tags: Annotated[list[Annotated[Text, StringConstraints(max_length=50)]], Field(min_length=1)]
    language: str
    intents: list[Annotated[str, StringConstraints(pattern=_INTENT, max_length=100)]] = []
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]


class Article(FrontMatter):
    """A parsed article: its front matter, its Markdown body and the file it came from."""

    body: Text
    path: str = ""

    def checksum(self) -> str:
        data = self.model_dump(exclude={"path"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class ArticleError(Exception):
    """A problem with one article file: ``str()`` is ``file: field: message``."""

    def __init__(self, path: str | Path, field: str, message: str) -> None:
        super().__init__(f"{path}: {field}: {message}")
        self.path = str(path)
        self.field = field
        self.message = message


def parse_article(path: str | Path, languages: Sequence[str] = DEFAULT_LANGUAGES) -> Article:
    """Read one Markdown file with YAML front matter.

    >>> parse_article("knowledge_base/en/warranty-coverage.md").id  # doctest: +SKIP
    'warranty-coverage'
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArticleError(path, "file", f"cannot read: {exc}") from exc
    match = _FRONT_MATTER_RE.match(text.lstrip("\ufeff"))
    if match is None:
        raise ArticleError(path, "front_matter", "missing YAML front matter between '---' lines")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise ArticleError(path, "front_matter", f"invalid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise ArticleError(path, "front_matter", "must be a mapping of fields")
    try:
        front = FrontMatter.model_validate(meta)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "front_matter"
        raise ArticleError(path, where, error["msg"]) from None
    if front.language not in languages:
        raise ArticleError(
            path, "language", f"{front.language!r} is not one of {', '.join(languages)}"
        )
    body = text.lstrip("\ufeff")[match.end() :].strip()
    if not body:
        raise ArticleError(path, "body", "the article has no text after the front matter")
    return Article(**front.model_dump(), body=body, path=str(path))


def load_articles(
    directory: str | Path, languages: Sequence[str] = DEFAULT_LANGUAGES
) -> tuple[list[Article], list[ArticleError]]:
    """Parse every ``*.md`` under `directory` (README.md excepted).

    Invalid files and duplicate ids are reported; every other article still loads.
    """
    articles: list[Article] = []
    errors: list[ArticleError] = []
    seen: dict[str, str] = {}
    for path in sorted(Path(directory).rglob("*.md")):
        if path.name.lower() == "readme.md" or not path.is_file():
            continue
        try:
            article = parse_article(path, languages)
        except ArticleError as exc:
            errors.append(exc)
            continue
        if article.id in seen:
            errors.append(
                ArticleError(path, "id", f"duplicate id {article.id!r} (see {seen[article.id]})")
            )
            continue
        seen[article.id] = str(path)
        articles.append(article)
    return articles, errors


# --- tokenizer -------------------------------------------------------------------------


def _stem(word: str) -> str:
    """Light English stemming: plural s/es/ies, -ing and -ed (with consonant doubling)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix, minimum in (("ing", 6), ("ed", 5)):
        if len(word) >= minimum and word.endswith(suffix) and not word.endswith("eed"):
            stem = word[: -len(suffix)]
            if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                stem = stem[:-1]
            return stem
    return word


def _nfkc(text: str) -> str:
    """NFKC normalization, except that fullwidth punctuation and the ideographic space
    become spaces (NFKC makes ASCII punctuation of them: never part of a term either).
    Chinese text then usually passes NFKC's quick check, which is far faster."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", _FULLWIDTH_PUNCTUATION_RE.sub(" ", text))


def _terms(text: str, unigrams: bool) -> Iterable[str]:
    text = _nfkc(text).lower()
    for match in _TOKEN_RE.finditer(text):
        cjk, word = match.groups()
        if word:
            if word not in _STOPWORDS:
                yield _stem(word)[:_TERM_MAX]
            continue
        for i in range(len(cjk) - 1):
            yield cjk[i : i + 2]
        if unigrams or len(cjk) == 1:
            yield from cjk


def tokenize(text: str, *, unigrams: bool = False) -> list[str]:
    """Terms of `text` in order, repeats kept.

    English words are lowercased, stemmed and stop words dropped; each run of Chinese
    characters gives its bigrams, and its single characters when `unigrams` is true
    (the index keeps them so one-character queries work) or when the run is one
    character long. Other symbols (punctuation, emoji, SQL) are not terms.
    """
    return list(_terms(text, unigrams))


def query_terms(query: str) -> list[str]:
    """Distinct search terms of a query, in order, bounded in length and number."""
    terms = dict.fromkeys(tokenize(query[:MAX_QUERY_CHARS]))
    return list(terms)[:MAX_QUERY_TERMS]


def _plain(markdown: str) -> str:
    text = _MARKDOWN_LINE_RE.sub("\n", "\n" + markdown)[1:]
    if any(mark in text for mark in "[*_`"):
        text = _MARKDOWN_INLINE_RE.sub(lambda m: m.group(1) or "", text)
    return text


def _field_terms(article: Article) -> dict[str, list[str]]:
    """The index terms of each field, in order, repeats kept."""
    return {
        "title": tokenize(article.title, unigrams=True),
        "tags": tokenize(" ; ".join(article.tags), unigrams=True),
        "summary": tokenize(article.summary, unigrams=True),
        "body": tokenize(_plain(article.body), unigrams=True),
    }


def _quote(term: str, quote: str) -> str:
    """`term` as a quoted literal: the quote character doubled inside (and, for
    PostgreSQL's ``'``, backslashes doubled too), so it can only ever be one term."""
    if quote == "'":
        term = term.replace("\\", "\\\\")
    return quote + term.replace(quote, quote * 2) + quote


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


# --- index -----------------------------------------------------------------------------


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


# --- search ----------------------------------------------------------------------------


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
    (see :func:`_fts5_impacts`), as ``s / (1 + s)``."""
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


# --- snippets --------------------------------------------------------------------------


def _match_spans(text: str, terms: set[str]) -> list[tuple[int, int]]:
    """Character spans of `text` whose terms are in `terms`, merged and in order."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = text
    spans: list[tuple[int, int]] = []
    for match in _TOKEN_RE.finditer(lowered):
        cjk, word = match.groups()
        start = match.start()
        if word:
            normalized = unicodedata.normalize("NFKC", word)
            if normalized not in _STOPWORDS and _stem(normalized)[:_TERM_MAX] in terms:
                spans.append((start, match.end()))
            continue
        for i, char in enumerate(cjk):
            if cjk[i : i + 2] in terms and i + 1 < len(cjk):
                spans.append((start + i, start + i + 2))
            elif char in terms:
                spans.append((start + i, start + i + 1))
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    position = 0
    for begin, end in spans:
        out.append(html.escape(text[position:begin]))
        out.append(f"<mark>{html.escape(text[begin:end])}</mark>")
        position = end
    out.append(html.escape(text[position:]))
    return "".join(out)


def _clue(term: str) -> str:
    """A string that any text with `term` among its terms contains, once NFKC-normalized
    and lowercased: the term, or for a longer English word its stem less the last letter
    (the stem of "warranties" is "warranty", of "shipping" "ship")."""
    return term[:-1] if len(term) > 3 and term.isascii() else term


def snippet(body: str, terms: Sequence[str], fallback: str = "") -> str:
    """The body sentence with the most distinct query terms, HTML-escaped, matches in
    ``<mark>``; the escaped `fallback` (the summary) when no sentence matches.

    >>> snippet("Returns are free. <b>Warranty</b> lasts two years.", ["warranty"])
    '&lt;b&gt;<mark>Warranty</mark>&lt;/b&gt; lasts two years.'
    """
    wanted = set(terms)
    clues = [_clue(term) for term in wanted]
    text = "\n".join(_plain(body).splitlines())
    # A sentence is tokenized only when the clues it holds (an upper bound of its terms)
    # could beat the best so far. When the text is NFKC-normalized but for fullwidth
    # punctuation and lowercasing keeps its length, the probe lines up with it.
    probe = text if text.isascii() else _FULLWIDTH_PUNCTUATION_RE.sub(" ", text)
    aligned = unicodedata.is_normalized("NFKC", probe)
    probe = probe.lower()
    aligned = aligned and len(probe) == len(text)
    if aligned and not any(clue in probe for clue in clues):
        text = ""
    best: tuple[int, str] | None = None
    for match in _SENTENCE_RE.finditer(text):
        part = probe[match.start() : match.end()] if aligned else _nfkc(match.group(0)).lower()
        bound = sum(clue in part for clue in clues)
        sentence = match.group(0).strip()
        if not bound or not sentence or (best is not None and bound <= best[0]):
            continue
        found = {term for term in tokenize(sentence, unigrams=True) if term in wanted}
        if found and (best is None or len(found) > best[0]):
            best = (len(found), sentence)
            if len(found) == len(wanted):
                break  # no sentence can hold more
    if best is None:
        text = fallback.strip()
        return html.escape(text[:SNIPPET_CHARS])
    sentence = best[1]
    spans = _match_spans(sentence, wanted)
    if len(sentence) > SNIPPET_CHARS:
        first = spans[0][0] if spans else 0
        begin = max(0, min(first - SNIPPET_CHARS // 4, len(sentence) - SNIPPET_CHARS))
        end = begin + SNIPPET_CHARS
        # Never cut a highlight in half.
        spans = [
            (max(b, begin) - begin, min(e, end) - begin) for b, e in spans if b < end and e > begin
        ]
        sentence = sentence[begin:end]
        return ("…" if begin else "") + _highlight(sentence, spans) + "…"
    return _highlight(sentence, spans)
