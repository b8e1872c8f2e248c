"""The code location loads, and every asset carries what a user needs to read it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import yaml

from kpi_pipeline.definitions import defs
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.core.streams import platforms

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_and_workspace_name_the_same_code_location():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    target = workspace["load_from"][0]["python_module"]
    assert project["tool"]["dg"]["project"]["root_module"] == "kpi_pipeline"
    assert target["module_name"] == project["tool"]["dagster"]["module_name"]
    assert target["module_name"] == "kpi_pipeline.definitions"
    assert target["location_name"] == project["tool"]["dagster"]["code_location_name"]


def test_definitions_load_with_every_layer():
    loaded = defs()
    keys = {key.to_user_string() for key in loaded.resolve_asset_graph().get_all_asset_keys()}
    assert {f"raw/{p}" for p in platforms()} <= keys
    assert {f"normalized/{t}" for t in TABLES} <= keys
    assert {"kpi/weekly", "kpi/monthly", "baseline/weekly", "baseline/monthly"} <= keys
    assert {"report/weekly", "report/monthly"} <= keys
    assert loaded.resolve_sensor_def("period_automation_sensor") is not None
    for job in ("weekly_kpi_job", "monthly_kpi_job", "goal_attainment_job",
                "weekly_report_job", "monthly_report_job"):  # for backfills and by hand
        assert loaded.resolve_job_def(job) is not None
    assert loaded.resolve_job_def("daily_ingest_job") is not None
    assert loaded.resolve_schedule_def("daily_ingest_schedule") is not None


def test_every_asset_is_documented_owned_and_grouped():
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.description and len(node.description) > 40, name
        assert node.owners, name
        assert node.kinds, name
        assert node.group_name == key.path[0], name
        assert node.code_version, name
        # the export drop folder and the goals file: one file each, read whole, no partitions
        if name in ("normalized/exports", "goal/definitions"):
            assert node.partitions_def is None, name
            continue
        assert isinstance(node.partitions_def, dg.TimeWindowPartitionsDefinition), name


def test_writers_share_the_duckdb_pool_and_pulls_a_pool_per_platform():
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] == "raw":
            assert set(node.pools or ()) == {f"pull_{key.path[1]}"}, key
        else:
            assert set(node.pools or ()) == {"duckdb"}, key
        if node.partitions_def is not None:  # normalized/exports has none
            assert node.backfill_policy.max_partitions_per_run is None, key  # single run


def test_the_ingest_job_backfills_a_range_in_one_run_in_one_process():
    """Every asset of the daily ingest shares one single-run policy (a backfill of the job
    from the UI is one run, not one per partition) and jobs run in-process."""
    loaded = defs()
    job = loaded.resolve_job_def("daily_ingest_job")
    assert job.executor_def.name == "in_process"
    graph = loaded.resolve_asset_graph()
    policies = {graph.get(key).backfill_policy for key in job.asset_layer.selected_asset_keys}
    assert policies == {dg.BackfillPolicy.single_run()}
    # freshness judges today, not the run's weeks: its own schedule runs it, not the ingest
    checks = {k.name for k in job.asset_layer.asset_graph.asset_check_keys}
    assert "source_fresh" not in checks and "landing_files_valid" in checks


# Libraries whose import costs tenths of a CPU second to seconds, which only some runs need
HEAVY_IMPORTS = ("great_expectations", "matplotlib", "scipy")


def test_loading_the_code_location_imports_none_of_the_heavy_libraries():
    """Every run process loads the code location: Great Expectations (about 2 CPU s, with
    scipy) and matplotlib (about 0.3) are imported by the check and the chart that use
    them, not by the load. A fresh process, as a run's."""
    probe = ("import json, sys\n"
             "from kpi_pipeline.definitions import defs\n"
             "defs().get_repository_def().load_all_definitions()\n"
             f"print(json.dumps(sorted(m for m in {HEAVY_IMPORTS!r} if m in sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _dg_check_defs(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`dg check defs` as the README runs it: the dg installed beside this interpreter, from
    the project's root, against a scratch instance (the project's dagster.yaml: telemetry
    off) and scratch data paths, so nothing under data/ or dagster_home/ is touched."""
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "KPI_PIPELINE_DUCKDB": str(home / "kpi_pipeline.duckdb"),
        "KPI_PIPELINE_LANDING": str(home / "landing"),
        "KPI_PIPELINE_REPORTS": str(home / "reports"),
    }
    dg_cli = Path(sys.executable).parent / "dg"
    return subprocess.run(
        [str(dg_cli), "check", "defs"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dg_check_defs_validates_the_code_location(tmp_path):
    result = _dg_check_defs(ROOT, tmp_path / "home")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully." in result.stdout
    assert "project_and_activated_venv_mismatch" not in result.stdout + result.stderr


def test_dg_check_defs_fails_on_a_broken_definition(tmp_path):
    """The same command exits 1 on a project whose definitions do not load (two assets
    with one key), so the test above would catch a broken code location."""
    project = tmp_path / "broken"
    (project / "broken_defs").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "broken_defs"\nversion = "0"\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "broken_defs"\n'
        'code_location_target_module = "broken_defs.definitions"\n'
    )
    (project / "broken_defs" / "__init__.py").write_text("")
    (project / "broken_defs" / "definitions.py").write_text(
        "import dagster as dg\n\n\n"
        "@dg.asset(key='same')\ndef one(): ...\n\n\n"
        "@dg.asset(key='same')\ndef two(): ...\n\n\n"
        "defs = dg.Definitions(assets=[one, two])\n"
    )
    result = _dg_check_defs(project, tmp_path / "home")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Duplicate asset key" in result.stdout + result.stderr
    assert "All definitions loaded successfully." not in result.stdout
