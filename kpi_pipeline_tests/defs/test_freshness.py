"""``source_fresh``: each platform's streams' newest landing files against their lags."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.definitions import defs
from kpi_pipeline.defs.freshness import (
    SOURCE_FRESH,
    daily_freshness_job,
    lag_days,
    source_freshness_checks,
)
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings
from kpi_pipeline.lib.core.landing import write_envelope
from kpi_pipeline.lib.core.streams import STREAMS, platforms
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline.lib.sources.landing_checks import latest_landing_day
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY

NEWEST = date(2025, 3, 5)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """Two days of every stream, written straight from the demo client (no run needed)."""
    root = tmp_path_factory.mktemp("landing")
    client = DemoClient(seed=DEMO_SEED, n_brands=DEMO_BRANDS, today=DEMO_TODAY)
    for stream in STREAMS:
        for day in (NEWEST - timedelta(days=1), NEWEST):
            write_envelope(root, client.pull_envelope(stream, day))
    return root


def evaluate(root: Path, today: date) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [*raw_assets, source_freshness_checks],
        selection=dg.AssetSelection.checks(source_freshness_checks),
        resources={"settings": Settings(landing_dir=str(root)), "platforms": DemoPlatforms()},
        run_config={"ops": {"source_freshness_checks": {"config": {"today": str(today)}}}})
    assert result.success  # a stale source warns, it never fails the run
    return {e.asset_key.path[1]: e for e in result.get_asset_check_evaluations()}


def test_latest_landing_day_ignores_temporary_files(landing, tmp_path):
    assert latest_landing_day(landing, "meta_ads") == NEWEST
    assert latest_landing_day(tmp_path, "meta_ads") is None


def test_every_stream_is_fresh_the_day_after_its_newest_file(landing):
    evaluations = evaluate(landing, NEWEST + timedelta(days=1))
    assert set(evaluations) == set(platforms())
    for name, evaluation in evaluations.items():
        assert evaluation.passed, (name, evaluation.description)
        assert evaluation.check_name == SOURCE_FRESH and not evaluation.blocking
        streams = evaluation.metadata["streams"].value
        assert {v["latest_landing_day"] for v in streams.values()} == {str(NEWEST)}, name
    assert sum(len(e.metadata["streams"].value) for e in evaluations.values()) == len(STREAMS)


def test_a_stale_source_warns_within_its_own_lag(landing):
    evaluations = evaluate(landing, NEWEST + timedelta(days=3))
    stale = evaluations["facebook"]
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    assert "facebook_page: newest landing file is for 2025-03-05, 3 day(s) before " \
        "2025-03-08" in stale.description
    assert stale.metadata["streams"].value["facebook_page"]["days_behind"] == 3
    assert lag_days("linkedin_posts") == 3
    assert evaluations["linkedin"].passed  # LinkedIn may trail 3 days


def test_a_source_without_files_warns(tmp_path):
    evaluation = evaluate(tmp_path, NEWEST)["ga4"]
    assert not evaluation.passed and "ga4_sessions: no landing file" in evaluation.description


def test_a_schedule_runs_the_checks_alone_every_day():
    loaded = defs()
    schedule = loaded.resolve_schedule_def("daily_freshness_schedule")
    assert schedule.job_name == daily_freshness_job.name
    job = loaded.resolve_job_def(daily_freshness_job.name)
    assert not job.asset_layer.executable_asset_keys  # checks only, no materialization
    assert len(job.asset_layer.asset_graph.asset_check_keys) >= len(platforms())
