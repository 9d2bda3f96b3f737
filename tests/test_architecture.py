"""The package's layout keeps its layers: no import cycles, features that import one way, a
domain free of web and telephony libraries, and a simulator that reaches the application
only over HTTP (docs/architecture.md).

The import graph is read from the source with :mod:`ast`; nothing is imported to check it.
Every import counts, at the top of a module or inside a function: a function-level import
only postpones a dependency, so a cycle through one is still a cycle. Imports under
``if TYPE_CHECKING:`` never run and are left out. Importing ``a.b.c`` runs ``a`` and
``a.b`` first, so an import of a module is also an import of the packages above it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

PACKAGE = "callcenter"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

DOMAIN = (
    "callcenter.calls",
    "callcenter.care",
    "callcenter.crm",
    "callcenter.ivr",
    "callcenter.knowledge",
    "callcenter.media",
    "callcenter.messages",
    "callcenter.metrics",
    "callcenter.models",
    "callcenter.people",
    "callcenter.reports",
    "callcenter.screenpop",
    "callcenter.supervision",
    "callcenter.tables",
)
"""The domain: these modules and every module of these packages take a database session and
import no web or telephony library; adapters (telephony/, web/) wrap them. A new feature
package is added here."""

WEB_AND_TELEPHONY = ("flask", "flask_socketio", "socketio", "engineio", "twilio", "werkzeug")
"""Libraries the domain must not import."""

ALLOWED = {"callcenter.people.agents": {"werkzeug.security"}}
"""Named exceptions: password hashing comes from ``werkzeug.security`` (no request, no
routing; the hashes in the database are in its format)."""

COMMAND_LINE = "command line"
"""Where a feature's ``cli`` module is counted when features are compared: it is the
feature's face on the command line, above every feature, like ``callcenter.cli``."""

FACES = ("callcenter.app", "callcenter.cli", "callcenter.commands", "callcenter.serving")
"""The entry points: the app factory and the command line. They may import anything."""

SIMULATOR = "callcenter.simulator"
"""Twilio's stand-in: it reaches the application over HTTP only, never through its code."""

KNOWN_CYCLES: list[list[str]] = []
KNOWN_SIMULATOR_IMPORTS: dict[str, list[str]] = {}
"""Known exceptions to the two rules, each listed until it is gone (none today)."""


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


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, skipping the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(other)
        else:
            yield from _imports(child)


def imported_names(module: str, source: str, is_package: bool) -> set[str]:
    """The absolute dotted names a module imports (``from a import b``: ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in _imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def read_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Module of the package -> every dotted name it imports."""
    return {
        module_name(path, root): imported_names(
            module_name(path, root), path.read_text(encoding="utf-8"), path.stem == "__init__"
        )
        for path in sorted(root.rglob("*.py"))
    }


def import_graph(imports: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (with the packages above each)."""
    graph: dict[str, set[str]] = {}
    for module, names in imports.items():
        targets: set[str] = set()
        for name in names:
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in imports and prefix != module:
                    targets.add(prefix)
        graph[module] = targets
    return graph


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every import cycle: the strongly connected components of more than one node, or of
    one node that imports itself, each sorted (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    nodes = set(graph) | {target for targets in graph.values() for target in targets}
    for start in sorted(nodes):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    cycles.append(sorted(component))
    return sorted(cycles)


def feature_of(module: str) -> str:
    """The part of the application a module belongs to when features are compared: a
    feature's ``cli`` module and the entry points are the command line; a module of a
    subpackage belongs to the subpackage; a top-level module stands alone."""
    if module in FACES or module.endswith(".cli"):
        return COMMAND_LINE
    parts = module.split(".")
    return ".".join(parts[:2])


def feature_graph(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Feature -> the other features it imports."""
    features: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = feature_of(module)
        features.setdefault(mine, set())
        for target in targets:
            theirs = feature_of(target)
            if theirs != mine and target != PACKAGE:
                features[mine].add(theirs)
    return features


def in_any(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


# -- the checker checks -------------------------------------------------------------------------


def test_find_cycles_on_synthetic_graphs() -> None:
    assert find_cycles({}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"a"}}) == [["a"]]
    assert find_cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    # Two separate loops, one of three, and a tail into a loop that is not part of it.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e", "a"}, "e": {"d"}, "f": {"d"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["d", "e"]]
    # A long chain must not hit the recursion limit.
    chain = {f"m{i}": {f"m{i + 1}"} for i in range(5000)}
    assert find_cycles(chain) == []
    assert find_cycles({**chain, "m5000": {"m0"}}) == [sorted([*chain, "m5000"])]


def test_imports_are_read_as_python_runs_them(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import leaf\n")
    (package / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..top import thing\n"
        "if TYPE_CHECKING:\n    import pkg.only_for_types\n"
        "def later():\n    import flask\n    from pkg import other\n"
    )
    (package / "top.py").write_text("import pkg.sub.leaf\n")
    (package / "other.py").write_text("")
    (package / "only_for_types.py").write_text("")
    imports = read_imports(package)
    assert imports["pkg.sub.leaf"] == {"typing", "typing.TYPE_CHECKING", "pkg.top",
                                       "pkg.top.thing", "flask", "pkg", "pkg.other"}  # fmt: skip
    graph = import_graph(imports)
    assert graph["pkg.sub"] == {"pkg", "pkg.sub.leaf"}
    assert graph["pkg.top"] == {"pkg", "pkg.sub", "pkg.sub.leaf"}
    assert find_cycles(graph) == [["pkg.sub", "pkg.sub.leaf", "pkg.top"]]
    assert feature_of("pkg.sub.leaf") == "pkg.sub"


def test_feature_graph_puts_the_command_line_on_top() -> None:
    graph = {
        "callcenter.calls.routing": {"callcenter.people.agents"},
        "callcenter.people.agents": {"callcenter.models"},
        "callcenter.people.cli": {"callcenter.people.agents", "callcenter.app"},
        "callcenter.app": {"callcenter.calls.routing"},
    }
    assert feature_graph(graph) == {
        "callcenter.calls": {"callcenter.people"},
        "callcenter.people": {"callcenter.models"},
        COMMAND_LINE: {"callcenter.people", "callcenter.calls"},
    }
    assert find_cycles(feature_graph(graph)) == []
    graph["callcenter.people.agents"].add("callcenter.calls.routing")
    assert find_cycles(feature_graph(graph)) == [["callcenter.calls", "callcenter.people"]]


# -- the package --------------------------------------------------------------------------------


def test_the_package_has_no_import_cycle() -> None:
    cycles = find_cycles(import_graph(read_imports()))
    assert [cycle for cycle in cycles if cycle not in KNOWN_CYCLES] == [], (
        f"modules that import each other: {cycles}"
    )
    assert [cycle for cycle in KNOWN_CYCLES if cycle not in cycles] == [], "gone: unlist it"


def test_features_import_one_way() -> None:
    """No two features (subpackages, top-level modules) import each other, even through
    others: each feature sits on those below it."""
    cycles = find_cycles(feature_graph(import_graph(read_imports())))
    assert cycles == [], f"features that import each other: {cycles}"


def test_the_domain_imports_no_web_or_telephony_library() -> None:
    imports = read_imports()
    found = {
        module: sorted(
            name
            for name in names
            if name.split(".")[0] in WEB_AND_TELEPHONY and not in_any(name, ALLOWED.get(module, ()))
        )
        for module, names in imports.items()
        if in_any(module, DOMAIN)
    }
    assert {module: names for module, names in found.items() if names} == {}
    assert all(in_any(module, DOMAIN) for module in ALLOWED), "an exception outside the domain"


def test_the_simulator_imports_nothing_of_the_application() -> None:
    imports = read_imports()
    found = {
        module: sorted(
            name
            for name in names
            if name.split(".")[0] == PACKAGE
            and name != PACKAGE
            and not in_any(name, [SIMULATOR, *KNOWN_SIMULATOR_IMPORTS.get(module, ())])
        )
        for module, names in imports.items()
        if in_any(module, [SIMULATOR])
    }
    assert {module: names for module, names in found.items() if names} == {}
    for module, known in KNOWN_SIMULATOR_IMPORTS.items():
        assert set(known) <= imports.get(module, set()), f"{module} no longer imports {known}"


def test_the_lists_name_what_is_there() -> None:
    """A renamed package must not leave a check that silently checks nothing."""
    modules = set(read_imports())
    missing = [name for name in (*DOMAIN, *FACES, SIMULATOR) if not in_any_module(name, modules)]
    assert missing in ([], ["callcenter.supervision"])


def in_any_module(prefix: str, modules: set[str]) -> bool:
    return any(in_any(module, [prefix]) for module in modules)
