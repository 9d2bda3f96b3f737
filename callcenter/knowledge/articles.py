"""Knowledge base: Markdown articles with YAML front matter, indexed and searched in SQL.

The knowledge base's public names, gathered from the modules that hold them:

- :mod:`callcenter.knowledge.article_files`: the article files, parsed and loaded
  (:class:`Article`, :class:`ArticleError`, :func:`parse_article`, :func:`load_articles`);
- :mod:`callcenter.knowledge.terms`: text to terms (:func:`tokenize`, :func:`query_terms`),
  the same for every database;
- :mod:`callcenter.knowledge.search_index`: the index and its per-term impacts kept in
  step with the files (:func:`sync`, :class:`SyncReport`, :data:`FIELD_WEIGHTS`);
- :mod:`callcenter.knowledge.search`: ranked search (:func:`search`, :class:`Hit`);
- :mod:`callcenter.knowledge.snippets`: the HTML-safe snippet of a hit (:func:`snippet`).

Pure domain code (no Flask): functions that touch the database take a SQLAlchemy
``Session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from callcenter.knowledge.article_files import (
    DEFAULT_LANGUAGES,
    Article,
    ArticleError,
    load_articles,
    parse_article,
)
from callcenter.knowledge.search import Hit, search
from callcenter.knowledge.search_index import FIELD_WEIGHTS, SyncReport, sync
from callcenter.knowledge.snippets import SNIPPET_CHARS, snippet
from callcenter.knowledge.terms import query_terms, tokenize

__all__ = [
    "DEFAULT_LANGUAGES",
    "FIELD_WEIGHTS",
    "SNIPPET_CHARS",
    "Article",
    "ArticleError",
    "Hit",
    "SyncReport",
    "load_articles",
    "parse_article",
    "query_terms",
    "search",
    "snippet",
    "sync",
    "tokenize",
]
