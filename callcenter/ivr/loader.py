"""Load `ivr_flows/*.yaml` strictly: every problem is reported as `file:line: node: problem`.

>>> flows = load_flows(sorted(Path("ivr_flows").glob("*.yaml")), catalog)
>>> flows.node("main", "welcome").kind
'message'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from callcenter.ivr.flow_paths import _Checker
from callcenter.ivr.flow_references import FlowCatalog
from callcenter.ivr.reading import SAVE_AS_LINE, Document, FlowProblem, read, unread_flow_names
from callcenter.ivr.schema import Flow
from callcenter.ivr.schema_problems import _Broken, _salvage, _schema_problems

__all__ = ["FlowCatalog", "FlowError", "FlowProblem", "FlowSet", "flow_files", "load_flows"]


class FlowError(Exception):
    """One or more flows are invalid."""

    def __init__(self, problems: Sequence[FlowProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class FlowSet:
    """A validated, immutable set of flows."""

    flows: dict[str, Flow]
    files: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Flow:
        return self.flows[name]

    def node(self, flow: str, name: str) -> Any:
        return self.flows[flow].nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self.flows


def load_flows(paths: Sequence[Path], catalog: FlowCatalog) -> FlowSet:
    """Validate flow files together; raise FlowError listing every problem."""
    problems: list[FlowProblem] = []
    parsed: dict[str, tuple[Flow, Document]] = {}
    broken: dict[str, dict[str, _Broken]] = {}
    unread: set[str] = set()  # flows of files that could not be parsed
    saved: set[str] = set()  # variables their files seem to save
    if not paths:
        raise FlowError([FlowProblem("ivr_flows", 1, "(files)", "no flow files found")])
    for path in paths:
        document, read_problems, text = read(path)
        problems.extend(read_problems)
        if document is not None and not isinstance(document.data, dict):
            problems.append(FlowProblem(document.file, 1, "(file)", "top level must be a mapping"))
            document = None
        if document is None:
            unread |= unread_flow_names(path, text)
            saved.update(SAVE_AS_LINE.findall(text))
            continue
        try:
            flow, broken_nodes = Flow.model_validate(document.data), {}
        except ValidationError as exc:
            # Keep the valid parts, so that their problems are reported in the same pass.
            problems.extend(_schema_problems(document, exc))
            salvaged = _salvage(document.data, exc)
            if salvaged is None:
                unread |= unread_flow_names(path, text)
                saved.update(SAVE_AS_LINE.findall(text))
                continue
            flow, broken_nodes = salvaged
        if flow.flow in parsed:
            problems.append(
                FlowProblem(
                    document.file,
                    document.line(("flow",)),
                    "(flow)",
                    f"flow name {flow.flow!r} is also used by {parsed[flow.flow][1].file}",
                )
            )
            continue
        parsed[flow.flow] = (flow, document)
        broken[flow.flow] = broken_nodes
    problems.extend(_Checker(parsed, catalog, broken, unread, saved).run())
    if problems:
        raise FlowError(problems)
    return FlowSet(
        flows={name: flow for name, (flow, _doc) in parsed.items()},
        files={name: document.file for name, (_flow, document) in parsed.items()},
    )


def flow_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
