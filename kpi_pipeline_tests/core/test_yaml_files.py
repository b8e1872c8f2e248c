"""One bounded YAML loader for every file the pipeline reads: a document whose aliases
expand past the bound, or refer to themselves, is refused within a second naming the
file, and the refusal never quotes the document."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import yaml

from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.core.yaml_files import MAX_NODES, YamlRefused, load_yaml, load_yaml_file
from kpi_pipeline.lib.diagnostics.rules import load_rules
from kpi_pipeline.lib.goals.findings import GoalsError
from kpi_pipeline.lib.goals.loading import load_goals
from kpi_pipeline.lib.kpis.catalog import load_catalog
from kpi_pipeline.lib.normalized.utm import load_mapping
from kpi_pipeline.lib.reports.pages import split_front_matter
from kpi_pipeline.lib.sources.api.accounts_file import AccountsFileError, load_accounts
from kpi_pipeline.lib.sources.exports.manifest import load_manifest
from kpi_pipeline.lib.sources.exports.reading import ExportError

SECRET = "laughing-secret-9f3"


def billion_laughs(top: str = "goals") -> str:
    """Nine levels of nine aliases: under 500 bytes, 9**9 values once expanded."""
    lines = [f'a: &a ["{SECRET}","{SECRET}","{SECRET}","{SECRET}","{SECRET}","{SECRET}",'
             f'"{SECRET}","{SECRET}","{SECRET}"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append(f"{top}: *i")
    return "\n".join(lines) + "\n"


def test_the_hostile_file_is_small():
    assert len(billion_laughs().encode()) < 800


SHIPPED = ["kpi_catalog.yaml", "diagnostic_rules.yaml", "meta_metrics.yaml",
           "utm_sources.yaml", "goals.example.yaml", "exports.example.yaml",
           "accounts.example.yaml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_file_reads_as_with_pyyaml(name):
    path = data_file(name)
    assert load_yaml_file(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


def test_an_alias_within_the_bound_reads_as_usual():
    text = "base: &base {brand: acme, timezone: Europe/Berlin}\nfiles:\n  - <<: *base\n"
    assert load_yaml(text)["files"] == [{"brand": "acme", "timezone": "Europe/Berlin"}]


def test_a_billion_laughs_is_refused_quickly_naming_the_file(tmp_path):
    path = tmp_path / "hostile.yaml"
    path.write_text(billion_laughs())
    started = time.monotonic()
    with pytest.raises(YamlRefused) as err:
        load_yaml_file(path)
    assert time.monotonic() - started < 2
    assert str(path) in str(err.value) and f"{MAX_NODES:,}" in str(err.value)
    assert SECRET not in str(err.value)
    assert isinstance(err.value, yaml.YAMLError)  # callers' YAML handling catches it


def test_a_self_referring_alias_and_deep_nesting_are_refused():
    with pytest.raises(YamlRefused, match="cycle"):
        load_yaml("&a [x, *a]", "loop.yaml")
    with pytest.raises(YamlRefused, match="nested too deeply"):
        load_yaml("[" * 20_000 + "]" * 20_000, "deep.yaml")


def _goals(path: Path) -> None:
    load_goals(path, date(2025, 3, 10))


def _manifest(path: Path) -> None:
    folder = path.parent / "drop"
    folder.mkdir()
    (folder / "exports.yaml").write_text(path.read_text())
    load_manifest(folder)


LOADERS: dict[str, tuple[Callable[[Path], object], str, type[Exception]]] = {
    "goals file": (_goals, "goals", GoalsError),
    "exports manifest": (_manifest, "files", ExportError),
    "accounts file": (load_accounts, "accounts", AccountsFileError),
    "kpi catalogue": (load_catalog, "kpis", YamlRefused),
    "diagnostic rules": (load_rules, "rules", YamlRefused),
    "utm mapping": (load_mapping, "platforms", YamlRefused),
}


@pytest.mark.parametrize("what", sorted(LOADERS))
def test_every_reader_refuses_a_billion_laughs_within_seconds(tmp_path, what):
    loader, top, error = LOADERS[what]
    path = tmp_path / "hostile.yaml"
    path.write_text(billion_laughs(top))
    started = time.monotonic()
    with pytest.raises(error) as err:
        loader(path)
    assert time.monotonic() - started < 2, what
    chain, seen = [], err.value
    while seen is not None:
        chain.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    text = "\n".join(chain)
    assert "hostile.yaml" in text or "exports.yaml" in text, text
    assert "alias" in text, text
    assert SECRET not in text, what


def test_report_front_matter_is_bounded_too():
    with pytest.raises(YamlRefused, match="front matter"):
        split_front_matter("---\n" + billion_laughs("title") + "---\nbody\n")
