"""The package's layering, read from the imports of its source files.

``kpi_pipeline/lib`` is one package per layer in the order the data flows (see the
README's architecture note): a module may import its own layer and the layers before
it, never a later one; the sources (real APIs, demo, export files) never import each
other; nothing in ``lib`` imports the Dagster definitions in ``defs``; and no module
imports itself back through others. Imports inside functions count too: a lazy import
hides a cycle from the interpreter, not from the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kpi_pipeline"

# ``dialects`` comes last: it reads the SQL every layer builds, to compile it for other
# warehouses, and no layer reads it.
LAYERS = ("core", "sources", "normalized", "kpis", "baselines", "goals", "diagnostics",
          "reports", "dialects")
# Modules of lib that stand outside the chain: they may use the core only.
BESIDE = {"alerts": 0}
SOURCES = ("api", "demo", "exports")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every kpi_pipeline module ``path`` imports, at any depth of its code."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if base.startswith("kpi_pipeline"):
                found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES
                          else base for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("kpi_pipeline")}
    return found - {module}


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _rank(module: str) -> tuple[int, str | None] | None:
    """(layer rank, source name) of a lib module; None outside lib."""
    parts = module.split(".")
    if parts[:2] != ["kpi_pipeline", "lib"] or len(parts) < 3:
        return None
    top = parts[2]
    if top in BESIDE:
        return BESIDE[top], None
    if top not in LAYERS:
        raise AssertionError(f"{module}: lib/{top} is neither a layer nor beside them")
    source = parts[3] if top == "sources" and len(parts) > 3 and parts[3] in SOURCES else None
    return LAYERS.index(top), source


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that run against the layering, one line each."""
    found = []
    for module, imported in sorted(graph.items()):
        mine = _rank(module)
        for other in sorted(imported):
            if mine is None:
                continue
            if other.startswith("kpi_pipeline.defs") or other == "kpi_pipeline.definitions":
                found.append(f"{module} imports the definitions {other}")
                continue
            theirs = _rank(other)
            if theirs is None:
                continue
            if theirs[0] > mine[0] or (module.split(".")[2] in BESIDE and theirs[0] > 0
                                        and other.split(".")[2] not in BESIDE):
                found.append(f"{module} imports the later layer {other}")
            elif mine[1] and theirs[1] and mine[1] != theirs[1]:
                found.append(f"{module} imports another source {other}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles (strongly connected groups of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_lib_imports_follow_the_data() -> None:
    assert violations(GRAPH) == []


def test_no_import_cycle() -> None:
    assert cycles(GRAPH) == []


def test_every_lib_package_is_a_layer() -> None:
    tops = {name.split(".")[2] for name in MODULES if name.count(".") >= 2
            and name.startswith("kpi_pipeline.lib.")}
    assert tops == set(LAYERS) | set(BESIDE)


@pytest.mark.parametrize(("module", "imported", "expected"), [
    ("kpi_pipeline.lib.core.schemas", "kpi_pipeline.lib.normalized.store", "later layer"),
    ("kpi_pipeline.lib.sources.api.tiktok", "kpi_pipeline.lib.sources.demo.world",
     "another source"),
    ("kpi_pipeline.lib.kpis.compute", "kpi_pipeline.defs.partitions", "the definitions"),
    ("kpi_pipeline.lib.alerts", "kpi_pipeline.lib.kpis.catalog", "later layer"),
])
def test_a_wrong_import_is_named(module: str, imported: str, expected: str) -> None:
    """The checker itself: each kind of wrong import is caught and named."""
    assert [line for line in violations({module: {imported}}) if expected in line]
    assert violations({module: {"kpi_pipeline.lib.core.streams"}}) == []


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
