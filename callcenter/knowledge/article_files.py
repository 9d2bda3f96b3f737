"""Article files: Markdown with a YAML front matter, parsed and checked strictly.

A file that cannot be read, lacks its front matter, has unknown or wrongly typed fields,
a language not configured, or no text is an :class:`ArticleError` naming the file and
the field; :func:`load_articles` reports those and duplicate ids, and loads the rest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

DEFAULT_LANGUAGES = ("en", "zh-CN")

_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_INTENT = r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$"
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)

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
