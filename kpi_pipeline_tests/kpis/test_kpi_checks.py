"""The Great Expectations checks of kpi/weekly and kpi/monthly on a demo chain: clean
data passes, tampered rows fail naming the KPI, scope and period, a readable (escaped)
page is written, and a blocking failure stops the baselines in the same run."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.baselines.assets import baseline_weekly
from kpi_pipeline.defs.kpis.assets import kpi_monthly, kpi_weekly
from kpi_pipeline.defs.kpis.checks import (
    KPI_EXPECTATIONS,
    KPI_PERIOD_JUMPS,
    kpi_monthly_expectations,
    kpi_weekly_expectations,
    kpi_weekly_jumps,
)
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.kpis import expectations
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.expectations import expected_at_scope_all
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY, INGEST_ASSETS

WEEK = "2025-03-10"


def days(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last}


def make_resources(root: Path) -> dict[str, object]:
    return {"warehouse": Warehouse(database=str(root / "warehouse.duckdb")),
            "settings": Settings(landing_dir=str(root / "landing"),
                                 reports_dir=str(root / "reports")),
            "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                       today=DEMO_TODAY.isoformat())}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Two demo weeks (3-16 March 2025) from raw to kpi.weekly, and March's kpi.monthly."""
    root = tmp_path_factory.mktemp("kpi_chain")
    resources = make_resources(root)
    assert dg.materialize(INGEST_ASSETS, resources=resources,
                          tags=days("2025-03-03", "2025-03-16")).success
    assert dg.materialize([kpi_weekly], resources=resources,
                          tags=days("2025-03-03", WEEK)).success
    assert dg.materialize([kpi_monthly], resources=resources,
                          partition_key="2025-03-01").success
    return root


@pytest.fixture
def chain(built: Path, tmp_path: Path) -> dict[str, object]:
    """A private copy of the built chain (warehouse and landing), free to tamper with."""
    shutil.copy(built / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    shutil.copytree(built / "landing", tmp_path / "landing")
    return make_resources(tmp_path)


def run_checks(resources, checks, partition_key=WEEK, assets=(kpi_weekly,), config=None):
    result = dg.materialize(
        [*assets, *checks], resources=resources, tags=days(partition_key, partition_key),
        selection=dg.AssetSelection.checks(*checks), raise_on_error=False,
        run_config=config or {})
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def execute(resources, sql: str, params=()) -> None:
    with resources["warehouse"].get_connection() as conn:
        conn.execute(sql, list(params))


def test_reach_is_not_expected_at_scope_all():
    assert "reach" not in expected_at_scope_all(catalog(), "week")  # account scope only


def test_clean_weeks_and_month_pass_with_metadata_and_page(chain):
    evaluations = run_checks(chain, [kpi_weekly_expectations])
    evaluation = evaluations[KPI_EXPECTATIONS]
    assert evaluation.passed, evaluation.description
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert meta["partition_window"] == "2025-03-10..2025-03-16"
    assert meta["expectations_evaluated"] >= 12 and meta["expectations_failed"] == 0
    assert meta["failed_expectations"] == []
    page = Path(chain["settings"].reports_root()) / "quality" / "kpi_week_2025-03-10.html"
    assert meta["validation_page"] == page.resolve().as_uri()
    text = page.read_text(encoding="utf-8")
    assert "All expectations met" in text and "engagement_rate is a rate between 0 and 1" in text
    assert "<script" not in text  # self-contained, no scripts

    monthly = run_checks(chain, [kpi_monthly_expectations], partition_key="2025-03-01",
                         assets=(kpi_monthly,))[KPI_EXPECTATIONS]
    assert monthly.passed, monthly.description
    assert (Path(chain["settings"].reports_root()) / "quality"
            / "kpi_month_2025-03-01.html").exists()


def test_a_rate_above_one_and_a_null_value_fail_naming_kpi_scope_and_period(chain):
    execute(chain, "UPDATE kpi.weekly SET value = 1.7 WHERE kpi = 'engagement_rate' "
                   "AND scope_key = 'instagram' AND period_start = ?", [WEEK])
    execute(chain, "UPDATE kpi.weekly SET value = NULL, scope_key = '<b>bold</b>' "
                   "WHERE kpi = 'cost_per_click' AND scope = 'all' AND period_start = ?",
            [WEEK])
    evaluation = run_checks(chain, [kpi_weekly_expectations])[KPI_EXPECTATIONS]
    assert not evaluation.passed
    assert evaluation.blocking and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "engagement_rate at instagram = 1.7" in evaluation.description
    assert f"{WEEK}:" in evaluation.description
    failures = evaluation.metadata["failed_expectations"].value
    rate = next(f for f in failures if f["kpi"] == "engagement_rate")
    assert rate["unexpected_count"] == 1 and rate["period"] == WEEK
    assert rate["examples"][0]["scope_key"] == "instagram"
    nulls = next(f for f in failures if f["rule"].startswith("value not NULL"))
    assert nulls["examples"] == [{"value": None, "period": WEEK, "kpi": "cost_per_click",
                                  "scope_key": "<b>bold</b>"}]
    assert evaluation.metadata["expectations_failed"].value == 2
    page = Path(evaluation.metadata["validation_page"].value.removeprefix("file://"))
    text = page.read_text(encoding="utf-8")
    assert "Expectations failed" in text and "engagement_rate at instagram = 1.7" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text


def test_a_two_week_run_validates_once_and_names_the_bad_week_only(chain, monkeypatch):
    """One Great Expectations validation covers the run's two weeks; its result is split
    by week: the failure names the tampered week, each week has its own page."""
    runs: list[int] = []
    original = expectations._run_suite
    monkeypatch.setattr(expectations, "_run_suite", lambda name, expectations, rows: (
        runs.append(len(rows)) or original(name, expectations, rows)))
    execute(chain, "UPDATE kpi.weekly SET value = 1.7 WHERE kpi = 'engagement_rate' "
                   "AND scope_key = 'instagram' AND period_start = ?", [WEEK])
    with chain["warehouse"].get_connection(read_only=True) as conn:
        (stored,) = conn.execute("SELECT count(*) FROM kpi.weekly WHERE period_start "
                                 "BETWEEN '2025-03-03' AND ?", [WEEK]).fetchone()
    result = dg.materialize(
        [kpi_weekly, kpi_weekly_expectations], resources=chain,
        tags=days("2025-03-03", WEEK),
        selection=dg.AssetSelection.checks(kpi_weekly_expectations), raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert runs == [stored]
    assert not evaluation.passed
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert meta["partition_window"] == "2025-03-03..2025-03-16" and meta["periods"] == 2
    assert meta["rows_validated"] == stored
    assert meta["expectations_failed"] == 1 and meta["expectations_evaluated"] % 2 == 0
    assert [(f["period"], f["kpi"]) for f in meta["failed_expectations"]] == [
        (WEEK, "engagement_rate")]
    assert f"{WEEK}: rate between 0 and 1" in evaluation.description
    assert "2025-03-03:" not in evaluation.description
    pages = {period: Path(path).read_text(encoding="utf-8")
             for period, path in meta["validation_pages"].items()}
    assert sorted(pages) == ["2025-03-03", WEEK]
    assert "All expectations met" in pages["2025-03-03"]
    assert "instagram = 1.7" not in pages["2025-03-03"]
    assert "Expectations failed" in pages[WEEK]
    assert "engagement_rate at instagram = 1.7 (2025-03-10)" in pages[WEEK]
    assert meta["validation_page"] == Path(meta["validation_pages"][WEEK]).as_uri()


def test_a_kpi_missing_for_a_period_is_named(chain):
    execute(chain, "DELETE FROM kpi.weekly WHERE kpi = 'lead_quality' AND period_start = ?",
            [WEEK])
    evaluations = run_checks(chain, [kpi_weekly_expectations],
                             assets=(kpi_weekly,))
    evaluation = evaluations[KPI_EXPECTATIONS]
    assert not evaluation.passed
    assert f"{WEEK}: KPI(s) missing at scope all: lead_quality" in evaluation.description
    (failure,) = evaluation.metadata["failed_expectations"].value
    assert failure["missing"] == ["lead_quality"]


def test_kpis_of_a_source_without_rows_are_not_expected(chain):
    """A deployment that does not pull a source (no Mailchimp connector) has no rows in
    its table: its KPIs cannot exist, and the presence rule leaves them out, saying so."""
    email_kpis = sorted(k.name for k in catalog().values() if k.source == "email")
    assert email_kpis == ["email_list_growth_rate", "email_opt_ins"]
    execute(chain, "DELETE FROM normalized.email_daily")
    # the week's KPIs rebuilt from the tables as they now are, its checks with them
    result = dg.materialize([kpi_weekly, kpi_weekly_expectations], resources=chain,
                            partition_key=WEEK, raise_on_error=False)
    with chain["warehouse"].get_connection(read_only=True) as conn:
        built = {r[0] for r in conn.execute("SELECT DISTINCT kpi FROM kpi.weekly "
                                            "WHERE period_start = ?", [WEEK]).fetchall()}
    assert not built & set(email_kpis)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed, evaluation.description
    left_out = evaluation.metadata["not_expected_without_source_rows"].value
    assert left_out == {WEEK: {"empty_tables": ["email_daily"],
                               "kpis": ["email_list_growth_rate", "email_opt_ins"]}}


def test_a_kpi_missing_while_its_source_has_rows_still_fails(chain):
    """The exemption follows the source's rows, not the KPI's: with email rows stored,
    a missing email KPI is still a failure."""
    execute(chain, "DELETE FROM kpi.weekly WHERE kpi = 'email_opt_ins' AND period_start = ?",
            [WEEK])
    evaluation = run_checks(chain, [kpi_weekly_expectations])[KPI_EXPECTATIONS]
    assert not evaluation.passed
    assert f"{WEEK}: KPI(s) missing at scope all: email_opt_ins" in evaluation.description
    assert evaluation.metadata["not_expected_without_source_rows"].value == {}


def test_period_jumps_warn_without_blocking(chain):
    config = {"ops": {"kpi__weekly_kpi_period_jumps": {"config": {"scopes": ["all"]}}}}
    clean = run_checks(chain, [kpi_weekly_jumps], config=config)[KPI_PERIOD_JUMPS]
    assert clean.passed and not clean.blocking
    execute(chain, "UPDATE kpi.weekly SET change_vs_previous = 4.5 WHERE kpi = 'leads' "
                   "AND scope = 'all' AND period_start = ?", [WEEK])
    jumped = run_checks(chain, [kpi_weekly_jumps], config=config)[KPI_PERIOD_JUMPS]
    assert not jumped.passed and jumped.severity == dg.AssetCheckSeverity.WARN
    assert "leads at all = 4.5" in jumped.description
    assert jumped.metadata["band"].value == 3.0


def test_a_blocking_failure_stops_the_baseline_in_the_same_run(chain):
    # no email data from the week on: the list growth rate has a denominator, no value
    execute(chain, "DELETE FROM normalized.email_daily WHERE report_date >= ?", [WEEK])
    result = dg.materialize([kpi_weekly, kpi_weekly_expectations, baseline_weekly],
                            resources=chain, partition_key=WEEK, raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and "email_list_growth_rate at all" in evaluation.description
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["kpi", "weekly"]) in materialized
    assert dg.AssetKey(["baseline", "weekly"]) not in materialized
