"""The package's layout keeps its layers apart: no import cycles, a simulator that talks to the
application only over HTTP, and a domain free of web and telephony libraries.

The import graph is read with :mod:`ast` from the source, so nothing is imported to check it.
Every import counts, at the top of a module or inside a function, except those under
``if TYPE_CHECKING:`` (they never run).  A function-level import postpones a dependency but
does not remove it: a cycle through one is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = "callcenter"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

DOMAIN = (
    "callcenter.agents",
    "callcenter.call_recordings",
    "callcenter.calls",
    "callcenter.care",
    "callcenter.customers",
    "callcenter.hours",
    "callcenter.ivr",
    "callcenter.kb",
    "callcenter.kb_models",
    "callcenter.kb_usage",
    "callcenter.models",
    "callcenter.queues",
    "callcenter.routing",
    "callcenter.supervision",
    "callcenter.voicemail",
)
"""The domain: these modules (and the modules of these packages) take a database session and
know nothing of the web, Twilio or Socket.IO.  Keep this list up to date as modules move."""

KNOWN_DOMAIN_IMPORTS = {"callcenter.agents": ["werkzeug"]}
"""Exceptions found when this check was written, to be removed (not added to): ``agents``
hashes passwords with ``werkzeug.security``."""

KNOWN_CYCLES = [["callcenter.kb_models", "callcenter.models"]]
"""Cycles found when this check was written, to be removed (not added to): ``models`` imports
``kb_models`` at its end to register the knowledge base's tables, and ``kb_models`` takes
``models``' column helpers."""

WEB_AND_TELEPHONY = ("flask", "flask_socketio", "socketio", "engineio", "twilio", "werkzeug")
"""Libraries the domain must not import (adapters and routes wrap it instead)."""

SIMULATOR = "callcenter.simulator"
"""Twilio's stand-in: it reaches the application over HTTP only, never through its code."""


# -- reading the import graph ------------------------------------------------------------------


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for other in node.orelse:
                yield from _imports_in(other)
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


def imported_names(module: str, source: str, is_package: bool) -> set[str]:
    """The absolute names a module's source imports (``from a import b``: ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in _imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            if not is_package:
                anchor = anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (importing ``a.b.c`` runs ``a`` and ``a.b``
    too, so those count)."""
    sources = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        targets: set[str] = set()
        for name in imported_names(
            module, path.read_text(encoding="utf-8"), path.stem == "__init__"
        ):
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in sources and prefix != module:
                    targets.add(prefix)
        graph[module] = targets
    return graph


def external_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the top-level names of everything it imports."""
    result: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        names = imported_names(module, path.read_text(encoding="utf-8"), path.stem == "__init__")
        result[module] = {name.split(".")[0] for name in names}
    return result


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a self-import),
    each sorted: every one of them is an import cycle (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


# -- the checker can fail ----------------------------------------------------------------------


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert find_cycles(graph) == [["a", "b", "c"], ["e"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_reads_every_kind_of_import(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("from . import leaf\n")
    (root / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.top import Thing\n"
        "def late():\n    from ..top import other\n"
    )
    (root / "top.py").write_text("import pkg.sub.leaf\nfrom pkg.sub import leaf\n")
    graph = import_graph(root)
    assert graph["pkg.sub"] == {"pkg", "pkg.sub.leaf"}
    assert graph["pkg.sub.leaf"] == {"pkg", "pkg.top"}  # the function's import, not the type's
    assert graph["pkg.top"] == {"pkg", "pkg.sub", "pkg.sub.leaf"}
    assert find_cycles(graph) == [["pkg.sub", "pkg.sub.leaf", "pkg.top"]]


# -- the package -------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    assert find_cycles(import_graph()) == KNOWN_CYCLES


def test_the_simulator_talks_to_the_application_only_over_http() -> None:
    graph = import_graph()
    leaks = {
        module: sorted(target for target in targets if not _within(target, SIMULATOR))
        for module, targets in graph.items()
        if _within(module, SIMULATOR)
    }
    assert {module: found for module, found in leaks.items() if set(found) - {PACKAGE}} == {}


@pytest.mark.parametrize("domain", DOMAIN)
def test_the_domain_imports_no_web_or_telephony_library(domain: str) -> None:
    modules = {m: names for m, names in external_imports().items() if _within(m, domain)}
    assert modules, f"{domain} is not a module of the package: update DOMAIN"
    found = {m: sorted(names & set(WEB_AND_TELEPHONY)) for m, names in modules.items()}
    expected = {m: names for m, names in KNOWN_DOMAIN_IMPORTS.items() if _within(m, domain)}
    assert {m: names for m, names in found.items() if names} == expected
