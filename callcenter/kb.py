"""Knowledge base: Markdown articles with YAML front matter, indexed and searched in SQL.

Pure domain code (no Flask): functions that touch the database take a SQLAlchemy
``Session`` and never commit; the caller owns the transaction.

Tokenizing is done here, the same for every database: :func:`tokenize` turns text into
terms (English words lowercased and lightly stemmed, Chinese text into character bigrams
plus single characters). Matching and ranking are left to the database's own full-text
search (see :mod:`callcenter.kb_models`): :func:`sync` stores each field's terms in
SQLite's FTS5 table or PostgreSQL's weighted ``tsvector``, and :func:`search` ranks with
FTS5's ``bm25()`` or PostgreSQL's ``ts_rank()``, title and tags counting more than the
body. Query terms only ever reach the engine quoted, as literal terms.

>>> tokenize("Repairs shipped")
['repair', 'ship']
>>> tokenize("保修政策")
['保修', '修政', '政策']
>>> tokenize("保修", unigrams=True)
['保修', '保', '修']
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.orm import Session

from callcenter.kb_models import FTS_TABLE, KbArticle, language_token
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


def _index_rows(article: Article, postgresql: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``kb_articles`` row of `article` and, for SQLite, its ``kb_fts`` row."""
    fields = _field_terms(article)
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
    the ones that are gone. Idempotent; flushes but does not commit.
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
    for article_id in sorted(wanted):
        article = wanted[article_id]
        if article_id in existing and existing[article_id] == article.checksum():
            report.unchanged += 1
            continue
        row, fts = _index_rows(article, postgresql)
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
    session.flush()
    return report


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
    ``s / (1 + s)`` where ``s`` is FTS5's BM25 over the fields weighted by FIELD_WEIGHTS.
    PostgreSQL: ``ts_rank`` with the same relative field weights.

    >>> [hit.id for hit in search(session, "warranty", language="en")]  # doctest: +SKIP
    ['warranty-coverage', 'extended-warranty', ...]
    """
    terms = query_terms(query or "")
    limit = max(0, min(int(limit), MAX_LIMIT))
    if not terms or limit == 0 or (language is not None and len(language) > _LANGUAGE_MAX):
        return []
    rank = _rank_postgresql if _is_postgresql(session) else _rank_sqlite
    scores = rank(session, terms, language, limit)
    if not scores:
        return []
    articles = {
        row.id: row
        for row in session.execute(
            select(
                KbArticle.id, KbArticle.title, KbArticle.language, KbArticle.summary, KbArticle.body
            ).where(KbArticle.id.in_(scores))
        )
    }
    return [
        Hit(
            id=article_id,
            title=articles[article_id].title,
            snippet=snippet(articles[article_id].body, terms, articles[article_id].summary),
            score=round(score, 4),
            language=articles[article_id].language,
            summary=articles[article_id].summary,
        )
        for article_id, score in scores.items()
        if article_id in articles
    ]


def _rank_sqlite(
    session: Session, terms: list[str], language: str | None, limit: int
) -> dict[str, float]:
    """Best `limit` article ids and scores, best first, from FTS5 ``bm25()``.

    The match expression is the terms OR-ed, each a double-quoted string, within the
    field columns, AND the language's token when there is a filter: no FTS5 syntax
    (operators, column filters, prefixes, NEAR) can come from the query or the language.
    """
    match = "{" + " ".join(FIELD_WEIGHTS) + "} : (" + " OR ".join(_quote(t, '"') for t in terms)
    match += ")"
    if language is not None:
        match += ' AND language_token : "' + language_token(language) + '"'
    weights = ", ".join(str(FIELD_WEIGHTS[name]) for name in FIELD_WEIGHTS)
    # The best rows by rowid first, then their article ids: a sort that carries only the
    # rowid never reads the stored columns of the rows it drops.
    rows = session.execute(
        text(
            "SELECT fts.article_id, best.rank FROM ("
            f"SELECT rowid, rank FROM {FTS_TABLE} "
            f"WHERE {FTS_TABLE} MATCH :match AND rank MATCH :ranking "
            "ORDER BY rank, rowid LIMIT :limit"
            f") AS best JOIN {FTS_TABLE} AS fts ON fts.rowid = best.rowid "
            "ORDER BY best.rank, best.rowid"
        ),
        {"match": match, "ranking": f"bm25(0.0, 0.0, {weights})", "limit": limit},
    )
    return {article_id: -rank / (1 - rank) for article_id, rank in rows}


def _rank_postgresql(
    session: Session, terms: list[str], language: str | None, limit: int
) -> dict[str, float]:
    """Best `limit` article ids and scores, best first, from ``ts_rank()`` with the field
    weights (title 1, tags and summary and body in FIELD_WEIGHTS' proportions): per term
    its best-weighted occurrence plus quickly diminishing credit for more, averaged over
    the terms; already in (0, 1]. (``ts_rank_cd`` ranked as well on the shipped articles
    but costs three times as much per matching article on queries of several terms.)

    The query is a ``tsquery`` literal of the terms OR-ed, each single-quoted (cast, not
    parsed by a text search configuration), so no query syntax comes from the user.
    """
    top = max(FIELD_WEIGHTS.values())
    weights = [FIELD_WEIGHTS[name] / top for name in ("body", "summary", "tags", "title")]
    where = " AND language = :language" if language is not None else ""
    rows = session.execute(
        text(
            "SELECT id, ts_rank(CAST(:weights AS real[]), search_vector, query) AS rank "
            "FROM kb_articles, CAST(:query AS tsquery) AS query "
            f"WHERE search_vector @@ query{where} "
            "ORDER BY rank DESC, id LIMIT :limit"
        ),
        {
            "weights": weights,
            "query": " | ".join(_quote(term, "'") for term in terms),
            "language": language,
            "limit": limit,
        },
    )
    return {article_id: float(rank) for article_id, rank in rows}


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
