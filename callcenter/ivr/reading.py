"""Read a flow file: YAML without duplicate keys, and its syntax errors in plain words.

PyYAML's own messages ("mapping values are not allowed here", "expected <block end>, but
found '<block mapping start>'") describe the parser's state, not the author's mistake;
:func:`explain` says what to fix, on the line to look at.

>>> document, problems, text = read(Path("ivr_flows/main.yaml"))  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, order=True)
class FlowProblem:
    """One problem of a flow file, printed as `file:line: node: message`."""

    file: str
    line: int
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.node}: {self.message}"


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<:` merges are resolved (and may be overridden) by SafeLoader
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise _DuplicateKey(
                    problem="unhashable key: a key must be a plain value",
                    problem_mark=key_node.start_mark,
                ) from None
            if key in seen:
                raise _DuplicateKey(
                    problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


@dataclass
class Document:
    file: str
    data: Any
    root: yaml.Node | None

    def line(self, path: Iterable[Any]) -> int:
        """Line of the deepest YAML node found along a validation path."""
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if str(key_node.value) == str(part):
                        line = key_node.start_mark.line + 1
                        node = value_node
                        break
                else:
                    continue  # a tag pydantic adds to the path (e.g. the node kind)
            elif isinstance(node, yaml.SequenceNode) and str(part).isdigit():
                if int(part) >= len(node.value):
                    break
                node = node.value[int(part)]
                line = node.start_mark.line + 1
        return line


def read(path: Path) -> tuple[Document | None, list[FlowProblem], str]:
    """Parse one file; on failure, no document but the problem and the text (maybe empty)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [FlowProblem(name, 1, "(file)", f"cannot read: {exc}")], ""
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        if isinstance(exc, _DuplicateKey):
            mark = exc.problem_mark
            line, message = (mark.line + 1 if mark else 1), str(exc.problem)
        else:
            line, message = explain(exc, text)
        problem = FlowProblem(name, line, "(file)", message + _not_checked(path, text))
        return None, [problem], text
    except yaml.YAMLError as exc:
        return None, [FlowProblem(name, 1, "(file)", f"invalid YAML: {exc}")], text
    finally:
        loader.dispose()
    return Document(name, data, root), [], text


_FLOW_LINE = re.compile(r"^flow:[ \t]*[\"']?([a-z][a-z0-9_]{0,63})[\"']?[ \t]*(?:#.*)?$", re.M)
SAVE_AS_LINE = re.compile(r"\bsave_as:[ \t]*[\"']?([a-z][a-z0-9_]{0,39})\b")


def unread_flow_names(path: Path, text: str) -> set[str]:
    """The flow a file that could not be parsed probably declares: its `flow:` line, its name."""
    found = _FLOW_LINE.search(text)
    return {found.group(1), path.stem} if found else {path.stem}


def _not_checked(path: Path, text: str) -> str:
    found = _FLOW_LINE.search(text)
    return f" (flow {found.group(1) if found else path.stem!r} is not checked until this is fixed)"


BAD_INDENT = "bad indentation: this line is indented differently from the lines around it"


def _line_text(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line] if 0 <= line < len(lines) else ""


def explain(error: yaml.MarkedYAMLError, text: str) -> tuple[int, str]:
    """(1-based line, message) for a YAML error in `text`."""
    problem = error.problem or ""
    context = error.context or ""
    mark = error.problem_mark or error.context_mark
    opened = error.context_mark if error.context_mark is not None else mark
    line = mark.line if mark else 0
    here = _line_text(text, line)
    column = mark.column if mark else 0

    if problem == "mapping values are not allowed here":
        if ": " in here[:column] or here[:column].rstrip().endswith(":"):
            return line + 1, "a value containing ': ' must be quoted"
        return line + 1, BAD_INDENT
    if "while scanning a quoted scalar" in context and opened is not None:
        quote = _line_text(text, opened.line)[opened.column : opened.column + 1] or "quote"
        if "end of stream" in problem or "document separator" in problem:
            message = f"unclosed quote: the {quote} opened on this line is never closed"
            return opened.line + 1, message
        if "escape" in problem:
            return line + 1, f"{problem} in a double-quoted text (use single quotes)"
    if "while parsing a flow sequence" in context and opened is not None:
        return opened.line + 1, "unclosed '[': the list opened on this line has no ']'"
    if "while parsing a flow mapping" in context and opened is not None:
        return opened.line + 1, "unclosed '{': the mapping opened on this line has no '}'"
    if "'\\t'" in problem or "\t" in problem:
        return line + 1, "a tab character: indent with spaces"
    if problem.startswith("found character") and "cannot start any token" in problem:
        found = re.search(r"'(.+?)'", problem)
        char = found.group(1) if found else "this character"
        return line + 1, f"a value cannot start with {char!r}: put it in quotes"
    if "while scanning a simple key" in context and opened is not None:
        return opened.line + 1, "missing ':' after a key (or an unclosed quote above)"
    if problem.startswith("expected <block end>") or problem.startswith("expected <block"):
        if re.search(r":\s*[\[{]", here):
            return line + 1, "a value starting with '{' or '[' must be quoted"
        if "'<scalar>'" in problem:
            return line + 1, "text after a quoted value: quote the whole value"
        return line + 1, BAD_INDENT
    if problem == "but found another document":
        return line + 1, "a second document ('---'): a flow file holds one"
    if problem.startswith("found undefined alias"):
        name = problem.removeprefix("found undefined alias").strip()
        return line + 1, f"unknown alias *{name.strip(chr(39))}: no anchor with that name above"
    return line + 1, f"invalid YAML: {problem or context or error}"
