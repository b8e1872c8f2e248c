"""Hostile files in the export folder: a stray file holding a secret, links out of the
folder, a pipe, a manifest of exponential aliases. Each run fails within seconds naming
the file and the rule; no byte of the stray file's content reaches the failure, its
causes or any event Dagster stores (the run-failure alert forwards them); and nothing
stored changes."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import yaml

from kpi_pipeline.defs.exports import exports
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline_tests.core.test_yaml_files import billion_laughs
from kpi_pipeline_tests.sources.exports import samples
from kpi_pipeline_tests.sources.exports.conftest import stock_template, store_hashes

SECRET = "laughing-secret-9f3"  # the one billion_laughs plants
CREDENTIALS = (f"aws_access_key_id,aws_secret_access_key\nAKIA{SECRET},{SECRET}-key\n")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Built once: a store holding the rows of two good export files."""
    return stock_template(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def stocked(template, tmp_path) -> tuple[Path, Warehouse]:
    shutil.copytree(template, tmp_path / "copy")
    root = tmp_path / "copy"
    return root, Warehouse(database=str(root / "warehouse.duckdb"))


def _stray_csv(drop: Path, outside: Path) -> None:
    (drop / "prod_credentials.csv").write_text(CREDENTIALS)


def _stray_env(drop: Path, outside: Path) -> None:
    (drop / "prod.env").write_text(f"DATABASE_PASSWORD={SECRET}\n")


def _stray_semicolons(drop: Path, outside: Path) -> None:
    (drop / "keys.txt").write_text(f"user;password\nadmin;{SECRET}\n")


def _link_out(drop: Path, outside: Path) -> None:
    (outside / "secrets.csv").write_text(CREDENTIALS)
    (drop / "linked.csv").symlink_to(outside / "secrets.csv")


def _link_out_to_an_export(drop: Path, outside: Path) -> None:
    (outside / "posts.csv").write_text(samples.META_FACEBOOK.replace("Acme", SECRET))
    (drop / "linked.csv").symlink_to(outside / "posts.csv")


def _link_chain_out(drop: Path, outside: Path) -> None:
    (outside / "secrets.csv").write_text(CREDENTIALS)
    (drop / "hop.csv").symlink_to(outside / "secrets.csv")
    (drop / "linked.csv").symlink_to(drop / "hop.csv")  # inside, but ends outside


def _manifest_link_out(drop: Path, outside: Path) -> None:
    (outside / "exports.yaml").write_text(f"defaults: {{{SECRET}: 1}}\n")
    (drop / "exports.yaml").unlink()
    (drop / "exports.yaml").symlink_to(outside / "exports.yaml")


def _dangling_link(drop: Path, outside: Path) -> None:
    (drop / "linked.csv").symlink_to(drop / "gone.csv")


def _pipe(drop: Path, outside: Path) -> None:
    os.mkfifo(drop / "stream.csv")  # reading it would block for ever


def _laughing_manifest(drop: Path, outside: Path) -> None:
    (drop / "exports.yaml").write_text(billion_laughs("files"))


CASES: dict[str, tuple[Callable[[Path, Path], None], tuple[str, ...]]] = {
    "stray credentials export": (_stray_csv, (
        "prod_credentials.csv, line 1: unknown format", "(88 bytes, 2 column(s)",
        "lacks Post ID, Page ID", "under `ignore:`")),
    "stray env file": (_stray_env, ("prod.env, line 1: unknown format", "1 column(s)")),
    "stray semicolon file": (_stray_semicolons, ("keys.txt, line 1: unknown format",
                                                 "semicolon-separated")),
    "link out of the folder": (_link_out, ("linked.csv: is a link to a file outside the "
                                           "export folder", "not followed")),
    "link out to a real export": (_link_out_to_an_export,
                                  ("linked.csv: is a link to a file outside",
                                   "Copy the export into the folder")),
    "chain of links ending outside": (_link_chain_out, ("hop.csv: is a link to a file "
                                                        "outside", "linked.csv: is a link")),
    "manifest linked from outside": (_manifest_link_out,
                                     ("exports.yaml: is a link to a file outside",)),
    "link to nothing": (_dangling_link, ("linked.csv: is a link to a file that does not "
                                         "exist",)),
    "a named pipe": (_pipe, ("stream.csv: is not a regular file",)),
    "billion laughs manifest": (_laughing_manifest, ("exports.yaml", "100,000 values",
                                                     "aliases")),
}


def _everything(result: dg.ExecuteInPipelineResult, instance: dg.DagsterInstance) -> str:
    """The failure with its causes, and every event the run stored, as text."""
    [failure] = [e for e in result.all_events if e.is_step_failure]
    logs = instance.all_logs(result.run_id)
    return "\n".join([failure.step_failure_data.error.to_string(),
                      *(repr(entry) for entry in logs)])


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_file_fails_fast_without_its_content_and_changes_nothing(stocked, case):
    damage, expected = CASES[case]
    root, warehouse = stocked
    outside = root / "elsewhere"
    outside.mkdir()
    drop = root / "exports"
    damage(drop, outside)
    before = store_hashes(warehouse)
    instance = dg.DagsterInstance.ephemeral()
    started = time.monotonic()
    result = dg.materialize([exports], instance=instance, raise_on_error=False, resources={
        "warehouse": warehouse, "settings": Settings(exports_dir=str(drop))})
    assert time.monotonic() - started < 20, case
    assert not result.success, case
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    for text in expected:
        assert text in message, f"{case}: {text!r} not in {message}"
    assert "nothing was written" in message
    assert SECRET not in _everything(result, instance), case
    assert store_hashes(warehouse) == before, case


def test_a_link_listed_under_ignore_is_skipped_unread(stocked):
    root, warehouse = stocked
    drop = root / "exports"
    (root / "secrets.csv").write_text(CREDENTIALS)
    (drop / "linked.csv").symlink_to(root / "secrets.csv")
    manifest = {**samples.MANIFEST, "ignore": ["linked.csv"]}
    (drop / "exports.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    with dg.build_asset_context() as context:
        result = exports(context=context, warehouse=warehouse,
                         settings=Settings(exports_dir=str(drop)))
    assert "linked.csv" in repr(result.metadata)
    assert SECRET not in repr(result.metadata)


def test_a_link_inside_the_folder_is_read():
    """Only links that leave the folder are refused (see folder.py)."""
    from kpi_pipeline.lib.sources.exports.folder import _leaves

    assert not _leaves(Path(__file__), Path(__file__).parent)


@pytest.mark.parametrize("limit", ["MAX_ROWS", "MAX_FILE_BYTES"])
def test_a_file_past_a_limit_fails_naming_file_and_limit_and_changes_nothing(
        stocked, monkeypatch, limit):
    """The limits are 250,000 rows and 64 MB; lowered here to keep the test small."""
    from kpi_pipeline.lib.sources.exports import reading

    monkeypatch.setattr(reading, limit, {"MAX_ROWS": 1, "MAX_FILE_BYTES": 600}[limit])
    root, warehouse = stocked
    before = store_hashes(warehouse)
    with dg.build_asset_context() as context, pytest.raises(dg.Failure) as err:
        exports(context=context, warehouse=warehouse,
                settings=Settings(exports_dir=str(root / "exports")))
    expected = {"MAX_ROWS": "fb_posts.csv, line 3: has more than 1 rows",
                "MAX_FILE_BYTES": "fb_posts.csv: is 768 bytes, more than the 600 bytes"}[limit]
    assert expected in err.value.description
    assert store_hashes(warehouse) == before
