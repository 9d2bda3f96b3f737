"""Load `ivr_flows/*.yaml` strictly: every problem is reported as `file:line: node: problem`.

>>> flows = load_flows(sorted(Path("ivr_flows").glob("*.yaml")), catalog)
>>> flows.node("main", "welcome").kind
'message'
"""

from __future__ import annotations

import difflib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError

from callcenter.ivr.reading import SAVE_AS_LINE, Document, FlowProblem, read, unread_flow_names
from callcenter.ivr.schema import (
    NODE_KINDS,
    BranchNode,
    Flow,
    GotoNode,
    InputNode,
    KnowledgeNode,
    LanguageNode,
    LocalizedText,
    LookupNode,
    MenuNode,
    Node,
    NodeBase,
    QueueNode,
    VoicemailNode,
    is_template_field,
    template_fields,
)

log = logging.getLogger("callcenter.flows")


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
_KIND_MODELS: dict[str, type[NodeBase]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model
    for model in get_args(get_args(Node)[0])
}
_TEXT_FIELDS = ("say", "prompt", "invalid", "no_input", "goodbye")
_TARGET_FIELDS = ("next", "fallback", "found", "not_found", "otherwise", "on_fail", "agent")


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


def _strings(value: Any) -> list[str]:
    """Every string in a YAML value (a broken node's possible targets)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    )


def _did_you_mean(name: str, known: Iterable[str], template: str) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {template.format(close[0])}?)" if close else ""


class _Checker:
    """Cross-reference checks over a set of schema-valid flows."""

    def __init__(
        self,
        flows: dict[str, tuple[Flow, Document]],
        catalog: FlowCatalog,
        broken: dict[str, dict[str, _Broken]] | None = None,
        unread: Iterable[str] = (),
        saved: Iterable[str] = (),
    ) -> None:
        self.flows = flows
        self.catalog = catalog
        self.broken = broken or {}
        self.unread = frozenset(unread)  # gotos into these are not checked
        self.saved = set(saved)  # variables that some input node saves (across flows)
        for flow, _doc in flows.values():
            self.saved.update(
                node.save_as for node in flow.nodes.values() if isinstance(node, InputNode)
            )
        for nodes in self.broken.values():
            for node in nodes.values():
                if isinstance(node.raw, dict) and isinstance(node.raw.get("save_as"), str):
                    self.saved.add(node.raw["save_as"])
        self.problems: list[FlowProblem] = []

    def known_flow(self, flow: str) -> bool:
        """A flow that was loaded, or whose file could not be parsed (so it is not known)."""
        return flow in self.flows or flow in self.unread

    def exists(self, flow: str, node: str) -> bool:
        """Whether a flow has the node (valid, or broken and reported already)."""
        return node in self.flows[flow][0].nodes or node in self.broken.get(flow, {})

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
        if flow.start and not self.exists(name, flow.start):
            self.report(name, ("start",), f"start node {flow.start!r} does not exist")
        if flow.hours and flow.hours not in self.catalog.hours:
            self.report(name, ("hours",), f"no hours named {flow.hours!r} in config")
        if flow.closed and not self.exists(name, flow.closed):
            self.report(name, ("closed",), f"closed node {flow.closed!r} does not exist")
        for node_name, node in flow.nodes.items():
            path = ("nodes", node_name)
            for field_path, target in node.targets().items():
                if not self.exists(name, target):
                    self.report(
                        name,
                        (*path, *field_path.split(".")),
                        f"{field_path}: target {target!r} does not exist in flow {name!r}",
                    )
            for field_name, text in node.prompts().items():
                self.check_text(name, flow, (*path, field_name), field_name, text)
            self.check_node(name, flow, node_name, node)
        for node_name, broken in self.broken.get(name, {}).items():
            self.check_broken_node(name, flow, node_name, broken)

    def check_broken_node(self, name: str, flow: Flow, node_name: str, broken: _Broken) -> None:
        """Check what is usable of a node that failed the schema: its texts and targets."""
        raw = broken.raw
        model = _KIND_MODELS.get(raw.get("kind")) if isinstance(raw, dict) else None
        if model is None:
            return
        path = ("nodes", node_name)
        usable = {
            key: value
            for key, value in raw.items()
            if key in model.model_fields and key not in broken.bad_fields
        }
        for field_name in _TEXT_FIELDS:
            if _is_text(usable.get(field_name)):
                self.check_text(name, flow, (*path, field_name), field_name, usable[field_name])
        targets = {key: usable[key] for key in _TARGET_FIELDS if key in usable}
        if model is MenuNode and isinstance(usable.get("options"), dict):
            for key, option in usable["options"].items():
                if isinstance(option, dict) and "goto" in option:
                    targets[f"options.{key}.goto"] = option["goto"]
        for field_path, target in targets.items():
            if isinstance(target, str) and not self.exists(name, target):
                self.report(
                    name,
                    (*path, *field_path.split(".")),
                    f"{field_path}: target {target!r} does not exist in flow {name!r}",
                )
        target_flow = usable.get("flow")
        if model is GotoNode and isinstance(target_flow, str) and not self.known_flow(target_flow):
            self.report(name, (*path, "flow"), f"flow: no flow named {target_flow!r}")

    def check_variable(self, name: str, path: tuple[Any, ...], label: str, variable: str) -> None:
        if variable not in self.saved:
            hint = _did_you_mean(variable, self.saved, "{}")
            self.report(name, path, f"{label}: no input node saves {variable!r}{hint}")

    def check_text(
        self, name: str, flow: Flow, path: tuple[Any, ...], label: str, text: LocalizedText
    ) -> None:
        # languages is empty when the flow's own `languages` failed the schema
        if isinstance(text, str):
            if len(flow.languages) > 1:
                self.report(
                    name, path, f"{label}: needs a text for each of {', '.join(flow.languages)}"
                )
            texts = {flow.languages[0] if flow.languages else "": text}
        else:
            texts = text
            for language in flow.languages:
                if not texts.get(language, "").strip():
                    self.report(name, path, f"{label}: missing {language} text")
            for language in texts if flow.languages else ():
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
                elif template.startswith("var.") and template[4:] not in self.saved:
                    hint = _did_you_mean(template[4:], self.saved, "{{var.{}}}")
                    self.report(
                        name,
                        (*path, language),
                        f"{label}: unknown placeholder {{{template}}}: no input node saves "
                        f"{template[4:]!r}{hint}",
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
                if not self.known_flow(node.flow):
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
                if rule.when.var is not None:
                    where = (*path, "rules", index, "when", "var")
                    self.check_variable(name, where, f"rules.{index}.when.var", rule.when.var)
                if rule.when.language and rule.when.language not in flow.languages:
                    self.report(
                        name,
                        (*path, "rules", index, "when"),
                        f"language {rule.when.language!r} is not a flow language",
                    )
        if isinstance(node, LookupNode) and node.account_var is not None:
            self.check_variable(name, (*path, "account_var"), "account_var", node.account_var)
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

    def _broken_edges(self, flow_name: str, broken: _Broken) -> list[tuple[str, str]]:
        """Where a broken node may lead: any node it names (its fields are not known)."""
        edges = [(flow_name, text) for text in _strings(broken.raw) if self.exists(flow_name, text)]
        raw = broken.raw
        if isinstance(raw, dict) and raw.get("kind") == "goto" and raw.get("flow") in self.flows:
            target = self.flows[raw["flow"]][0]
            node = raw.get("node")
            edges.append((raw["flow"], node if isinstance(node, str) else target.start))
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
            flow = self.flows.get(flow_name, (None, None))[0]
            if flow is None or not self.exists(flow_name, node_name):
                continue
            seen.add(key)
            if node_name in flow.nodes:
                pending.extend(self._edges(flow_name, flow.nodes[node_name]))
            else:
                pending.extend(self._broken_edges(flow_name, self.broken[flow_name][node_name]))
        for name, (flow, _doc) in self.flows.items():
            if not flow.start or self.broken.get(name):
                # A node that failed the schema may lack the field that leads somewhere.
                continue
            for node_name in [*flow.nodes, *self.broken.get(name, {})]:
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
