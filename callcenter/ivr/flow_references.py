"""Cross-reference checks of flows: what each node names must exist.

Targets and start nodes in the flow, other flows, queues, mailboxes, hours and languages
in the configuration (:class:`FlowCatalog`), articles in the knowledge base, variables
some input node saves, and texts in every language of the flow.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, get_args

from callcenter.ivr.reading import Document, FlowProblem
from callcenter.ivr.schema import (
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
from callcenter.ivr.schema_problems import _Broken, _node_label


@dataclass(frozen=True)
class FlowCatalog:
    """What flows may refer to, from the settings."""

    languages: frozenset[str]
    queues: frozenset[str] = frozenset()
    mailboxes: frozenset[str] = frozenset()
    hours: frozenset[str] = frozenset()
    articles: frozenset[str] | None = None  # knowledge-base ids; None: not checked


_KIND_MODELS: dict[str, type[NodeBase]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model
    for model in get_args(get_args(Node)[0])
}
_TEXT_FIELDS = ("say", "prompt", "invalid", "no_input", "goodbye")
_TARGET_FIELDS = ("next", "fallback", "found", "not_found", "otherwise", "on_fail", "agent")


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    )


def _did_you_mean(name: str, known: Iterable[str], template: str) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {template.format(close[0])}?)" if close else ""


class _ReferenceChecks:
    """Cross-reference checks over a set of schema-valid flows (and the usable parts of
    broken nodes); :class:`callcenter.ivr.flow_paths._Checker` adds the paths."""

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
