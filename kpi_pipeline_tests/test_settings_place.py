"""One place reads the environment, and nothing leans on Dagster's private modules.

``defs/settings.py`` names every environment variable with its default and meaning; any
other module that reads ``os.environ``/``os.getenv`` hides a setting from that list and
from the launchpad. ``dagster._*`` modules change without notice between releases, so
only the one adapter for which Dagster has no public API may import them. Read from the
source with ``ast``, imports and reads inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kpi_pipeline"
SETTINGS_PLACE = PACKAGE / "defs" / "settings.py"
ENV_READS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
# Dagster 1.13 exposes no public API for asset-check execution records: check_records.py
# is their one reader, for the alert sensor and the report gate alike.
PRIVATE_DAGSTER_ALLOWED = {
    PACKAGE / "defs" / "check_records.py":
        {"dagster._core.storage.asset_check_execution_record"},
}
SOURCES = sorted(PACKAGE.rglob("*.py"))


def environment_reads(tree: ast.AST) -> list[str]:
    """``os.environ``, ``os.getenv`` and the like, however ``os`` or they are imported."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in ENV_READS
                and isinstance(node.value, ast.Name) and node.value.id == "os"):
            found.append(f"line {node.lineno}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in {"os", "posix"}:
            found += [f"line {node.lineno}: from {node.module} import {a.name}"
                      for a in node.names if a.name in ENV_READS]
    return found


def private_dagster_imports(tree: ast.AST) -> set[str]:
    """Modules under ``dagster._`` (or any ``dagster_*._`` package) that ``tree`` imports."""
    found = set()
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                 else [])
        for name in names:
            top, _, rest = name.partition(".")
            if top.startswith("dagster") and rest.startswith("_"):
                found.add(name)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_settings_place_reads_the_environment(path: Path):
    if path == SETTINGS_PLACE:
        return
    reads = environment_reads(ast.parse(path.read_text(encoding="utf-8")))
    assert not reads, (f"{path.relative_to(PACKAGE)} reads the environment ({reads}): name "
                       "the variable in defs/settings.py and pass the value in")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_dagster_import(path: Path):
    imports = private_dagster_imports(ast.parse(path.read_text(encoding="utf-8")))
    unexpected = imports - PRIVATE_DAGSTER_ALLOWED.get(path, set())
    assert not unexpected, (f"{path.relative_to(PACKAGE)} imports Dagster's private "
                            f"{sorted(unexpected)}: use the public dagster API")


def test_the_settings_place_reads_the_environment():
    """The guard above would pass vacuously if the settings moved: they read os.environ."""
    assert environment_reads(ast.parse(SETTINGS_PLACE.read_text(encoding="utf-8")))


@pytest.mark.parametrize("source, expected", [
    ("import os\nos.environ.get('X')", 1),
    ("import os\nos.getenv('X')", 1),
    ("from os import environ\n", 1),
    ("from os import getenv as g\n", 1),
    ("import os\nos.path.join('a')", 0),
])
def test_the_environment_guard_sees_reads(source: str, expected: int):
    assert len(environment_reads(ast.parse(source))) == expected


@pytest.mark.parametrize("source, expected", [
    ("from dagster._utils.backoff import backoff", {"dagster._utils.backoff"}),
    ("import dagster._check as check", {"dagster._check"}),
    ("from dagster_duckdb._x import y", {"dagster_duckdb._x"}),
    ("import dagster as dg\nfrom dagster_duckdb import DuckDBResource", set()),
])
def test_the_private_import_guard_sees_imports(source: str, expected: set[str]):
    assert private_dagster_imports(ast.parse(source)) == expected
