"""Article Markdown to safe HTML: raw HTML in the source is escaped, unsafe links dropped."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # CommonMark with raw HTML disabled; markdown-it refuses javascript:, vbscript:,
    # file: and data: links on its own.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> Markup:
    """HTML for an article body, safe to put in a page as is."""
    return Markup(_parser().render(text))
