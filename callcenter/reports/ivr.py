"""Where callers go in the IVR: per node of each flow, the callers who reached it, how many
left by each of its exits (a key, a phrase, a timeout, an invalid answer, or the node's own
continuation) and how many hung up there.

Summed by the database from the IVR path facts (:class:`~callcenter.metrics.facts.IvrVisit`:
each caller's stays at nodes and how they left each, written as the IVR logs its steps by
:mod:`callcenter.metrics.ivr_paths`): one pass over the period's stays grouped by their way
(a small integer: the node and how the caller left it), and one for where each ended
call's path stopped. The flows (their YAML, validated) name the exits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from callcenter.ivr.loader import FlowSet
from callcenter.ivr.schema import (
    GotoNode,
    InputNode,
    KnowledgeNode,
    LanguageNode,
    MenuNode,
    Prompting,
)
from callcenter.metrics.definitions import N_
from callcenter.metrics.facts import IvrVisit, IvrWay
from callcenter.metrics.ivr_paths import WAY_FIELDS
from callcenter.models import Call

WAITING_KINDS = ("menu", "input", "language", "knowledge")  # nodes that wait for the caller

IVR_DEFINITIONS: dict[str, str] = {
    "reached": N_("Calls (started in the period) that came to the node, each counted once."),
    "exits": N_(
        "For each way out of the node, how many times callers took it: a key, a "
        "recognized phrase (speech), a timeout or an invalid answer after the last retry, or "
        "the node's own continuation."
    ),
    "timeouts": N_("Times callers said nothing before the node's timeout (each attempt)."),
    "invalid": N_("Answers the node refused (each attempt)."),
    "hung_up": N_(
        "Callers whose last IVR step was this node, waiting for their answer, and "
        "who hung up there."
    ),
    "ended": N_(
        "Calls whose IVR ended at this node by design: sent to a queue, a voicemail "
        "box, an outside number or a goodbye."
    ),
}


@dataclass
class _Exit:
    exit: str
    kind: str
    label: str
    to: str
    count: int = 0
    in_flow: bool = True

    def public(self) -> dict[str, Any]:
        return {"exit": self.exit, "kind": self.kind, "label": self.label, "to": self.to,
                "count": self.count, "in_flow": self.in_flow}  # fmt: skip


@dataclass
class _Node:
    flow: str
    node: str
    kind: str | None
    description: str | None
    exits: dict[str, _Exit] = field(default_factory=dict)
    reached: int = 0
    timeouts: int = 0
    invalid: int = 0
    hung_up: int = 0
    ended: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "flow": self.flow, "node": self.node, "kind": self.kind,
            "description": self.description, "reached": self.reached,
            "exits": [e.public() for e in self.exits.values()], "timeouts": self.timeouts,
            "invalid": self.invalid, "hung_up": self.hung_up, "ended": self.ended,
        }  # fmt: skip


def _target(flow: str, target: str, flows: FlowSet) -> str:
    return target if target in flows.get(flow).nodes else f"{flow}.{target}"


def node_exits(flows: FlowSet, flow: str, name: str) -> dict[str, _Exit]:
    """Every way out of one node, as its YAML defines it (in order)."""
    node = flows.node(flow, name)
    exits: dict[str, _Exit] = {}

    def add(exit_id: str, kind: str, label: str, to: str) -> None:
        exits[exit_id] = _Exit(exit_id, kind, label, to)

    if isinstance(node, MenuNode):
        for key, option in node.options.items():
            if "dtmf" in node.input:
                add(f"key:{key}", "key", f"key {key}", option.goto)
            if "speech" in node.input:
                words = option.keywords
                first = words[:1] if isinstance(words, list) else next(iter(words.values()), [])
                label = f"said “{first[0]}”" if first else f"said option {key}"
                add(f"speech:{key}", "speech", label, option.goto)
    elif isinstance(node, LanguageNode):
        for key, language in node.options.items():
            add(f"key:{key}", "key", f"key {key} ({language})", node.next)
        add("next", "next", "language known", node.next)
    elif isinstance(node, KnowledgeNode):
        add("agent", "key", "asked for an agent", node.agent)
        add("next", "next", "done", node.next)
    elif isinstance(node, GotoNode):
        target = flows.get(node.flow)
        add("goto", "next", f"to flow {node.flow}", f"{node.flow}.{node.node or target.start}")
    else:
        for name_, target in node.targets().items():
            label = name_.replace("_", " ").replace(".goto", "").replace("rules.", "rule ")
            add(name_, "next", "entered" if isinstance(node, InputNode) else label,
                _target(flow, target, flows))  # fmt: skip
    if isinstance(node, Prompting):
        after = node.next if isinstance(node, LanguageNode) else node.fallback  # type: ignore[attr-defined]
        add("timeout", "timeout", "no answer", after)
        add("invalid", "invalid", "invalid answer", after)
    return exits


def _classify(
    flows: FlowSet, flow: str, node_name: str, step: tuple[Any, ...], to: str
) -> tuple[str, str, str]:
    """(exit id, kind, label) of one observed move from a node to `to`."""
    kind, via, digit, found, before = step
    known = flow in flows and node_name in flows.get(flow).nodes
    node = flows.node(flow, node_name) if known else None
    if kind == "ivr.retries_exhausted":
        if before == "ivr.no_input":
            return "timeout", "timeout", "no answer"
        return "invalid", "invalid", "invalid answer"
    if kind == "ivr.input" and isinstance(node, MenuNode | LanguageNode):
        if via == "speech" and isinstance(node, MenuNode):
            for key, option in node.options.items():
                if _target(flow, option.goto, flows) == to:
                    return f"speech:{key}", "speech", f"said option {key}"
        return f"key:{digit}", "key", f"key {digit}"
    if kind == "ivr.lookup":
        if str(found).lower() in ("1", "true"):  # JSON true as SQLite and PostgreSQL read it
            return "found", "next", "found"
        return "not_found", "next", "not found"
    if node is not None:
        exits = node_exits(flows, flow, node_name).values()
        for wanted in ("next", "key"):  # a language already known moves on by "next"
            for exit_ in exits:
                if exit_.to == to and exit_.kind == wanted:
                    return exit_.exit, exit_.kind, exit_.label
    return f"to:{to}", "next", f"to {to}"


def _paths(session: Session, start: datetime, end: datetime) -> Any:
    """Per node and way out, the stays of calls started in [start, end): how many, first
    arrivals, timeouts, refused answers. One pass over the facts' covering index, grouped
    by the small integer of each stay's way, then named by the ways' table (on PostgreSQL,
    a short period reads its index led by the call's start instead)."""
    visit = IvrVisit
    sums = (
        select(
            visit.way_id,
            func.count().label("stays"),
            func.sum(case((visit.first_arrival.is_(True), 1), else_=0)).label("arrivals"),
            func.sum(visit.timeouts).label("timeouts"),
            func.sum(visit.invalid).label("invalid"),
        )
        .where(visit.call_started_at >= start, visit.call_started_at < end)
        .group_by(visit.way_id)
        .subquery()
    )
    return session.execute(
        select(
            *(getattr(IvrWay, name) for name in WAY_FIELDS),
            sums.c.stays,
            sums.c.arrivals,
            sums.c.timeouts,
            sums.c.invalid,
        ).join_from(sums, IvrWay, IvrWay.id == sums.c.way_id)
    )


def _ends(session: Session, start: datetime, end: datetime) -> Any:
    """Per node, the calls (started in [start, end), ended) whose IVR path stopped there:
    the calls of the period, each with its latest stay's way."""
    ends = (
        select(IvrVisit.way_id, func.count().label("calls"))
        .join_from(Call, IvrVisit, Call.call_sid == IvrVisit.call_sid)
        .where(
            Call.started_at >= start,
            Call.started_at < end,
            Call.ended_at.is_not(None),
            IvrVisit.is_current.is_(True),
        )
        .group_by(IvrVisit.way_id)
        .subquery()
    )
    return session.execute(
        select(IvrWay.flow, IvrWay.node, ends.c.calls).join_from(
            ends, IvrWay, IvrWay.id == ends.c.way_id
        )
    )


def ivr_report(
    session: Session, flows: FlowSet, start: datetime, end: datetime, flow: str | None = None
) -> list[dict[str, Any]]:
    """Per flow (or only `flow`), its nodes in YAML order with their counts (see
    :data:`IVR_DEFINITIONS`); a node of the log that the flow no longer has is listed last."""
    names = [flow] if flow is not None else list(flows.flows)
    nodes: dict[tuple[str, str], _Node] = {}
    for name in names:
        for node_name, node in flows.get(name).nodes.items():
            item = _Node(name, node_name, node.kind, node.description)
            item.exits = node_exits(flows, name, node_name)
            nodes[(name, node_name)] = item

    def node_of(flow_name: str, node_name: str) -> _Node | None:
        if flow_name not in names:
            return None
        return nodes.setdefault((flow_name, node_name), _Node(flow_name, node_name, None, None))

    for row in _paths(session, start, end):
        flow_name, node_name, *step, to_flow, to_node, stays, arrivals, timeouts, invalid = row
        origin = node_of(flow_name, node_name)
        if origin is None:
            continue
        origin.reached += arrivals or 0
        origin.timeouts += timeouts or 0
        origin.invalid += invalid or 0
        if to_node is None:
            continue
        to = to_node if to_flow == flow_name else f"{to_flow}.{to_node}"
        exit_id, kind, label = _classify(flows, flow_name, node_name, tuple(step), to)
        exit_ = origin.exits.get(exit_id)
        if exit_ is None or exit_.to != to:  # not (or no longer) a way out in the YAML
            exit_id = exit_id if exit_ is None else f"{exit_id}>{to}"
            exit_ = origin.exits.setdefault(exit_id, _Exit(exit_id, kind, label, to, in_flow=False))
        exit_.count += stays
    for flow_name, node_name, count in _ends(session, start, end):
        item = node_of(flow_name, node_name)
        if item is None:
            continue
        if item.kind in WAITING_KINDS or item.kind is None:
            item.hung_up += count
        else:
            item.ended += count
    by_flow: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (flow_name, _), item in nodes.items():
        by_flow[flow_name].append(item.public())
    return [
        {"flow": name, "start": flows.get(name).start, "description": flows.get(name).description,
         "nodes": by_flow[name]}
        for name in names
    ]  # fmt: skip
