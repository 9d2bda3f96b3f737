"""Where flows lead: every node reachable from a start, and no loop that never waits for input."""

from __future__ import annotations

from typing import Any

from callcenter.ivr.flow_references import _ReferenceChecks
from callcenter.ivr.reading import FlowProblem
from callcenter.ivr.schema import GotoNode, NodeBase
from callcenter.ivr.schema_problems import _Broken


def _strings(value: Any) -> list[str]:
    """Every string in a YAML value (a broken node's possible targets)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


class _Checker(_ReferenceChecks):
    """Every cross-check of a set of flows: the references, then the paths."""

    def run(self) -> list[FlowProblem]:
        for name, (flow, _document) in self.flows.items():
            self.check_flow(name, flow)
        self.check_reachability()
        self.check_input_free_loops()
        return self.problems

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
