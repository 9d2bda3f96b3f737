"""Load `ivr_flows/*.yaml` strictly: every problem is reported as `file:line: node: problem`.

>>> flows = load_flows(sorted(Path("ivr_flows").glob("*.yaml")), catalog)
>>> flows.node("main", "welcome").kind
'message'
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from callcenter.ivr.schema import (
    NODE_KINDS,
    BranchNode,
    Flow,
    GotoNode,
    KnowledgeNode,
    LanguageNode,
    LocalizedText,
    MenuNode,
    NodeBase,
    QueueNode,
    VoicemailNode,
    is_template_field,
    template_fields,
)

log = logging.getLogger("callcenter.flows")


@dataclass(frozen=True, order=True)
class FlowProblem:
    file: str
    line: int
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.node}: {self.message}"


class FlowError(Exception):
    """One or more flows are invalid."""

    def __init__(self, problems: Sequence[FlowProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class FlowCatalog:
    """What flows may refer to, from the settings."""

    languages: frozenset[str]
    queues: frozenset[str] = frozenset()
    mailboxes: frozenset[str] = frozenset()
    hours: frozenset[str] = frozenset()
    articles: frozenset[str] | None = None  # knowledge-base ids; None: not checked


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
class _Document:
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


def _read(path: Path) -> tuple[_Document | None, list[FlowProblem]]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [FlowProblem(name, 1, "(file)", f"cannot read: {exc}")]
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return None, [FlowProblem(name, line, "(file)", f"invalid YAML: {exc.problem}")]
    except yaml.YAMLError as exc:
        return None, [FlowProblem(name, 1, "(file)", f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    return _Document(name, data, root), []


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


def _schema_problems(document: _Document, exc: ValidationError) -> list[FlowProblem]:
    problems = []
    for error in exc.errors():
        loc, message = _describe(error)
        where = (*loc, "kind") if error["type"] == "union_tag_invalid" else loc
        problems.append(FlowProblem(document.file, document.line(where), _node_label(loc), message))
    return problems


class _Checker:
    """Cross-reference checks over a set of schema-valid flows."""

    def __init__(self, flows: dict[str, tuple[Flow, _Document]], catalog: FlowCatalog) -> None:
        self.flows = flows
        self.catalog = catalog
        self.problems: list[FlowProblem] = []

    def report(self, flow: str, path: tuple[Any, ...], message: str) -> None:
        _flow, document = self.flows[flow]
        self.problems.append(
            FlowProblem(document.file, document.line(path), _node_label(path), message)
        )

    def run(self) -> list[FlowProblem]:
        for name, (flow, _document) in self.flows.items():
            self.check_flow(name, flow)
        self.check_reachability()
        self.check_input_free_loops()
        return self.problems

    def check_flow(self, name: str, flow: Flow) -> None:
        for language in flow.languages:
            if language not in self.catalog.languages:
                self.report(name, ("languages",), f"language {language!r} has no voice in config")
        if flow.start not in flow.nodes:
            self.report(name, ("start",), f"start node {flow.start!r} does not exist")
        if flow.hours and flow.hours not in self.catalog.hours:
            self.report(name, ("hours",), f"no hours named {flow.hours!r} in config")
        if flow.closed and flow.closed not in flow.nodes:
            self.report(name, ("closed",), f"closed node {flow.closed!r} does not exist")
        for node_name, node in flow.nodes.items():
            path = ("nodes", node_name)
            for field_path, target in node.targets().items():
                if target not in flow.nodes:
                    self.report(
                        name,
                        (*path, *field_path.split(".")),
                        f"{field_path}: target {target!r} does not exist in flow {name!r}",
                    )
            for field_name, text in node.prompts().items():
                self.check_text(name, flow, (*path, field_name), field_name, text)
            self.check_node(name, flow, node_name, node)

    def check_text(
        self, name: str, flow: Flow, path: tuple[Any, ...], label: str, text: LocalizedText
    ) -> None:
        if isinstance(text, str):
            if len(flow.languages) > 1:
                self.report(
                    name, path, f"{label}: needs a text for each of {', '.join(flow.languages)}"
                )
            texts = {flow.languages[0]: text}
        else:
            texts = text
            for language in flow.languages:
                if not texts.get(language, "").strip():
                    self.report(name, path, f"{label}: missing {language} text")
            for language in texts:
                if language not in flow.languages:
                    self.report(
                        name, (*path, language), f"{label}: {language!r} is not a flow language"
                    )
        for language, value in texts.items():
            for template in template_fields(value):
                if not is_template_field(template):
                    self.report(
                        name,
                        (*path, language),
                        f"{label}: unknown placeholder {{{template}}} "
                        "(use name, tier, account, caller, language or var.NAME)",
                    )

    def check_node(self, name: str, flow: Flow, node_name: str, node: NodeBase) -> None:
        path = ("nodes", node_name)
        if isinstance(node, QueueNode) and node.queue not in self.catalog.queues:
            self.report(name, (*path, "queue"), f"queue: no queue named {node.queue!r} in config")
        if isinstance(node, VoicemailNode) and node.mailbox not in self.catalog.mailboxes:
            self.report(
                name, (*path, "mailbox"), f"mailbox: no mailbox named {node.mailbox!r} in config"
            )
        if isinstance(node, KnowledgeNode):
            self.check_articles(name, flow, path, node)
        if isinstance(node, GotoNode):
            target = self.flows.get(node.flow)
            if target is None:
                self.report(name, (*path, "flow"), f"flow: no flow named {node.flow!r}")
            elif node.node is not None and node.node not in target[0].nodes:
                message = f"node: {node.node!r} does not exist in flow {node.flow!r}"
                self.report(name, (*path, "node"), message)
        if isinstance(node, BranchNode):
            for index, rule in enumerate(node.rules):
                hours = rule.when.open or rule.when.closed or rule.when.holiday
                if hours and hours not in self.catalog.hours:
                    self.report(
                        name, (*path, "rules", index, "when"), f"no hours named {hours!r} in config"
                    )
                if rule.when.language and rule.when.language not in flow.languages:
                    self.report(
                        name,
                        (*path, "rules", index, "when"),
                        f"language {rule.when.language!r} is not a flow language",
                    )
        if isinstance(node, LanguageNode):
            for key, language in node.options.items():
                if language not in flow.languages:
                    self.report(
                        name,
                        (*path, "options", key),
                        f"options.{key}: {language!r} is not a flow language",
                    )
        if isinstance(node, MenuNode) and "speech" in node.input:
            for key, option in node.options.items():
                keywords = option.keywords
                if not keywords:
                    self.report(
                        name,
                        (*path, "options", key),
                        f"options.{key}: speech input needs keywords for this option",
                    )
                elif isinstance(keywords, dict):
                    for language in flow.languages:
                        if not keywords.get(language):
                            self.report(
                                name,
                                (*path, "options", key, "keywords"),
                                f"options.{key}.keywords: missing {language} keywords",
                            )

    def check_articles(
        self, name: str, flow: Flow, path: tuple[Any, ...], node: KnowledgeNode
    ) -> None:
        if isinstance(node.article, dict):
            for language in flow.languages:
                if language not in node.article:
                    self.report(name, (*path, "article"), f"article: missing {language!r}")
        known = self.catalog.articles
        if known is None:
            return
        for article_id in node.article_ids():
            if article_id not in known:
                self.report(
                    name, (*path, "article"),
                    f"article: no article {article_id!r} in the knowledge base",
                )  # fmt: skip

    def _edges(self, flow_name: str, node: NodeBase) -> list[tuple[str, str]]:
        edges = [(flow_name, target) for target in node.targets().values()]
        if isinstance(node, GotoNode) and node.flow in self.flows:
            target_flow = self.flows[node.flow][0]
            edges.append((node.flow, node.node or target_flow.start))
        return edges

    def check_reachability(self) -> None:
        seen: set[tuple[str, str]] = set()
        pending = [(name, flow.start) for name, (flow, _doc) in self.flows.items()]
        pending += [(name, flow.closed) for name, (flow, _doc) in self.flows.items() if flow.closed]
        while pending:
            key = pending.pop()
            if key in seen:
                continue
            flow_name, node_name = key
            node = self.flows.get(flow_name, (None, None))[0]
            if node is None or node_name not in node.nodes:
                continue
            seen.add(key)
            pending.extend(self._edges(flow_name, node.nodes[node_name]))
        for name, (flow, _doc) in self.flows.items():
            for node_name in flow.nodes:
                if (name, node_name) not in seen:
                    self.report(
                        name, ("nodes", node_name), "unreachable: no path leads here from start"
                    )

    def check_input_free_loops(self) -> None:
        """A loop of nodes that never wait for the caller would spin forever."""
        graph: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for name, (flow, _doc) in self.flows.items():
            for node_name, node in flow.nodes.items():
                if node.waits_for_input:
                    continue
                graph[(name, node_name)] = [
                    edge
                    for edge in self._edges(name, node)
                    if edge[0] in self.flows and edge[1] in self.flows[edge[0]][0].nodes
                ]
        state: dict[tuple[str, str], int] = {}
        reported: set[frozenset[tuple[str, str]]] = set()

        def visit(start: tuple[str, str]) -> None:
            stack = [(start, iter(graph.get(start, [])))]
            trail = [start]
            state[start] = 1
            while stack:
                current, children = stack[-1]
                child = next(children, None)
                if child is None:
                    state[current] = 2
                    stack.pop()
                    trail.pop()
                    continue
                if child not in graph:
                    continue
                if state.get(child) == 1:
                    cycle = trail[trail.index(child) :]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        names = " -> ".join(f"{f}.{n}" for f, n in [*cycle, child])
                        self.report(
                            child[0],
                            ("nodes", child[1]),
                            f"loop without input: {names} never waits for the caller",
                        )
                elif state.get(child) is None:
                    state[child] = 1
                    trail.append(child)
                    stack.append((child, iter(graph.get(child, []))))

        for key in graph:
            if key not in state:
                visit(key)


def load_flows(paths: Sequence[Path], catalog: FlowCatalog) -> FlowSet:
    """Validate flow files together; raise FlowError listing every problem."""
    problems: list[FlowProblem] = []
    parsed: dict[str, tuple[Flow, _Document]] = {}
    if not paths:
        raise FlowError([FlowProblem("ivr_flows", 1, "(files)", "no flow files found")])
    for path in paths:
        document, read_problems = _read(path)
        problems.extend(read_problems)
        if document is None:
            continue
        if not isinstance(document.data, dict):
            problems.append(FlowProblem(document.file, 1, "(file)", "top level must be a mapping"))
            continue
        try:
            flow = Flow.model_validate(document.data)
        except ValidationError as exc:
            problems.extend(_schema_problems(document, exc))
            continue
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
    problems.extend(_Checker(parsed, catalog).run())
    if problems:
        raise FlowError(problems)
    return FlowSet(
        flows={name: flow for name, (flow, _doc) in parsed.items()},
        files={name: document.file for name, (_flow, document) in parsed.items()},
    )


def flow_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


class FlowRegistry:
    """The flows in use. Reloads changed files; a broken change keeps the last good flows."""

    def __init__(self, directory: Path, catalog: FlowCatalog, check_interval: float = 1.0) -> None:
        self.directory = directory
        self.catalog = catalog
        self.check_interval = check_interval
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._signature = self._files_signature()
        self._flows = load_flows(flow_files(directory), catalog)

    @property
    def flows(self) -> FlowSet:
        """Current flows, reloading first if files changed (checked at most once a second)."""
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            self.reload_if_changed(now)
        return self._flows

    def _files_signature(self) -> tuple[tuple[str, float, int], ...]:
        signature = []
        for path in flow_files(self.directory):
            try:
                stat = path.stat()
            except OSError:
                continue
            signature.append((str(path), stat.st_mtime, stat.st_size))
        return tuple(signature)

    def reload_if_changed(self, now: float | None = None) -> bool:
        """Reload when files changed; returns True when new flows were taken."""
        with self._lock:
            self._checked_at = time.monotonic() if now is None else now
            signature = self._files_signature()
            if signature == self._signature:
                return False
            self._signature = signature
            return self._reload()

    def reload(self) -> bool:
        with self._lock:
            self._signature = self._files_signature()
            return self._reload()

    def _reload(self) -> bool:
        try:
            flows = load_flows(flow_files(self.directory), self.catalog)
        except FlowError as exc:
            self.last_error = str(exc)
            log.error("flow reload rejected, keeping the last good flows:\n%s", exc)
            return False
        self._flows = flows
        self.last_error = None
        log.info("flows reloaded: %s", ", ".join(sorted(flows.flows)))
        return True
