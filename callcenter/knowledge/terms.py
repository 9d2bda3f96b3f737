"""The terms of the knowledge base's text, the same for every database.

:func:`tokenize` turns text into terms: English words lowercased and lightly stemmed,
stop words dropped; Chinese text into character bigrams (plus single characters for the
index). The index (:mod:`callcenter.knowledge.search_index`) stores each field's terms;
a search (:mod:`callcenter.knowledge.search`) looks up a query's.

>>> tokenize("Repairs shipped")
['repair', 'ship']
>>> tokenize("保修政策")
['保修', '修政', '政策']
>>> tokenize("保修", unigrams=True)
['保修', '保', '修']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from callcenter.knowledge.article_files import Article

MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
_TERM_MAX = 64
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"([{_CJK}]+)|([0-9a-z\u00e0-\u00ff]+)")
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
