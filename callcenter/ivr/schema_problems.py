"""A flow that fails the schema: its errors as `file:line: node: problem`, and its valid parts.

The valid parts of a broken flow (:func:`_salvage`) still go through the cross-checks, so
that one pass of `flows check` reports every problem.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from callcenter.ivr.reading import Document, FlowProblem
from callcenter.ivr.schema import NODE_KINDS, Flow, Node


def _node_label(loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "nodes":
        return str(loc[1])
    return "(flow)"


def _describe(error: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    loc = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[0] == "nodes" and len(loc) >= 3 and loc[2] in NODE_KINDS:
        field_path = loc[3:]
    elif loc and loc[0] == "nodes" and len(loc) > 1:
        field_path = loc[2:]
    else:
        field_path = loc
    where = ".".join(str(part) for part in field_path)
    if kind == "missing":
        message = f"{where}: required field is missing"
    elif kind == "extra_forbidden":
        message = f"unknown field {str(loc[-1])!r}"
    elif kind == "union_tag_invalid":
        given = error.get("ctx", {}).get("tag")
        message = f"unknown node kind {given!r} (expected one of {', '.join(NODE_KINDS)})"
    elif kind == "union_tag_not_found":
        message = "kind is missing (one of " + ", ".join(NODE_KINDS) + ")"
    else:
        text = error["msg"].removeprefix("Value error, ")
        message = f"{where}: {text}" if where else text
    return loc, message


def _schema_problems(document: Document, exc: ValidationError) -> list[FlowProblem]:
    problems = []
    for error in exc.errors():
        loc, message = _describe(error)
        where = (*loc, "kind") if error["type"] == "union_tag_invalid" else loc
        problems.append(FlowProblem(document.file, document.line(where), _node_label(loc), message))
    return problems


_NODE: TypeAdapter[Any] = TypeAdapter(Node)


@dataclass(frozen=True)
class _Broken:
    """A node that failed the schema: its YAML data and the fields that were wrong."""

    raw: Any
    bad_fields: frozenset[str]


def _salvage(data: dict[str, Any], exc: ValidationError) -> tuple[Flow, dict[str, _Broken]] | None:
    """The valid parts of a flow that failed the schema, for the cross-checks; None if unnamed."""
    bad: set[str] = set()
    bad_fields: dict[str, set[str]] = defaultdict(set)
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        if loc:
            bad.add(loc[0])
        if len(loc) >= 2 and loc[0] == "nodes":
            rest = loc[3:] if len(loc) >= 3 and loc[2] in NODE_KINDS else loc[2:]
            bad_fields[loc[1]].update(rest[:1])
    name = data.get("flow")
    whole_nodes = any(tuple(error["loc"]) == ("nodes",) for error in exc.errors())
    if "flow" in bad or not isinstance(name, str) or whole_nodes:
        return None
    nodes: dict[str, Any] = {}
    broken: dict[str, _Broken] = {}
    raw_nodes = data.get("nodes")
    for key, raw in raw_nodes.items() if isinstance(raw_nodes, dict) else ():
        try:
            if str(key) in bad_fields:
                raise ValueError(key)
            nodes[str(key)] = _NODE.validate_python(raw)
        except (ValueError, ValidationError):
            broken[str(key)] = _Broken(raw, frozenset(bad_fields.get(str(key), ())))

    def valid(key: str, default: Any) -> Any:
        return default if key in bad else data.get(key, default)

    flow = Flow.model_construct(
        flow=name, description=None, languages=valid("languages", []), start=valid("start", ""),
        hours=valid("hours", None), closed=valid("closed", None), nodes=nodes,
    )  # fmt: skip
    return flow, broken
