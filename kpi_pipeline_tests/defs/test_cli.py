"""The command line: which weeks and months `make run` builds and renders, and that what
it builds is recorded for the UI."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from kpi_pipeline.cli import closed_periods, daily_range, main, plan, report_periods


def test_closed_periods_are_whole_weeks_and_months_inside_the_range():
    # 2025-03-05 is a Wednesday, 2025-04-30 a Wednesday
    assert closed_periods(date(2025, 3, 5), date(2025, 4, 30), "week") == (
        date(2025, 3, 10), date(2025, 4, 21))
    assert closed_periods(date(2025, 3, 5), date(2025, 4, 30), "month") == (
        date(2025, 4, 1), date(2025, 4, 1))
    assert closed_periods(date(2025, 3, 5), date(2025, 3, 20), "month") is None


def test_report_periods_keep_the_last_n_closed_periods():
    first, last = date(2024, 12, 2), date(2026, 11, 29)  # a Monday and a Sunday
    assert report_periods(first, last, "week", 8) == (date(2026, 10, 5), date(2026, 11, 23))
    assert report_periods(first, last, "month", 3) == (date(2026, 8, 1), date(2026, 10, 1))
    assert report_periods(first, last, "week", 0) == (date(2024, 12, 2), date(2026, 11, 23))
    assert report_periods(first, last, "month", -1) is None
    # fewer closed periods than asked for: all of them
    assert report_periods(date(2026, 11, 2), last, "week", 8) == (
        date(2026, 11, 2), date(2026, 11, 23))


def test_the_plan_runs_every_job_once_from_the_first_week(monkeypatch):
    first, last = daily_range(10, date(2025, 3, 16))  # a Sunday: 7 March is a Friday
    assert (first, last) == (date(2025, 3, 3), date(2025, 3, 16))  # the ingest is by week
    assert [(job, str(lo), str(hi)) for job, lo, hi in plan(first, last, 4)] == [
        ("daily_ingest_job", "2025-03-03", "2025-03-10"),
        ("weekly_kpi_job", "2025-03-03", "2025-03-10"),
        ("goal_attainment_job", "2025-03-03", "2025-03-16"),
        ("weekly_report_job", "2025-03-03", "2025-03-10")]


@pytest.mark.slow
def test_a_run_is_recorded_for_the_ui(tmp_path, monkeypatch):
    """What `make run` builds shows in the instance the UI reads: runs, every asset's
    materialized partitions and the checks' evaluations."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for name, value in {"DAGSTER_HOME": home, "KPI_PIPELINE_DUCKDB": tmp_path / "s.duckdb",
                        "KPI_PIPELINE_LANDING": tmp_path / "landing",
                        "KPI_PIPELINE_REPORTS": tmp_path / "reports"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--days", "7", "--end", "2025-03-09", "--report-periods", "-1"]) == 0
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["daily_ingest_job", "goal_attainment_job",
                                                   "weekly_kpi_job"]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        for key in (["raw", "facebook"], ["normalized", "post_daily"], ["kpi", "weekly"]):
            assert instance.get_materialized_partitions(dg.AssetKey(key)) == {"2025-03-03"}
        days = instance.get_materialized_partitions(dg.AssetKey(["goal", "attainment"]))
        assert days == {f"2025-03-0{d}" for d in range(3, 10)}
        check = dg.AssetCheckKey(dg.AssetKey(["normalized", "post_daily"]), "unique_key")
        [record] = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [check]).values()
        assert record.evaluation is not None and record.evaluation.passed


def test_partial_reports_are_asked_for_in_the_report_runs_only():
    """``--partial-reports`` reaches the report assets' run config, in a shape Dagster
    accepts, and no other job's."""
    from kpi_pipeline.cli import run_config
    from kpi_pipeline.definitions import defs as load_defs

    defs = load_defs()
    assert "ops" not in run_config("weekly_report_job")
    assert "ops" not in run_config("weekly_kpi_job", partial_reports=True)
    for job, op in (("weekly_report_job", "report__weekly"),
                    ("monthly_report_job", "report__monthly")):
        config = run_config(job, partial_reports=True)
        assert config["ops"] == {op: {"config": {"partial": True}}}
        dg.validate_run_config(defs.resolve_job_def(job), config)
