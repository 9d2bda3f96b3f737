"""Snippets: the sentence of an article's body that best shows why it matched a query."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from callcenter.knowledge.terms import (
    _FULLWIDTH_PUNCTUATION_RE,
    _STOPWORDS,
    _TERM_MAX,
    _TOKEN_RE,
    _nfkc,
    _plain,
    _stem,
    tokenize,
)

SNIPPET_CHARS = 220
_SENTENCE_RE = re.compile(r"[^\n.!?。！？；;]+(?:[.!?。！？；;]+|$)", re.M)


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
