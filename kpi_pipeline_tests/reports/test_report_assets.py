"""The report assets on the store the real chain built: files, index, metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from kpi_pipeline.defs.reports.assets import report_monthly, report_weekly
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.pages import pages_for
from kpi_pipeline_tests.reports.conftest import REPORT_MONTH, REPORT_WEEK


def _materialize(asset, report_store, out: Path, key: str) -> dg.ExecuteInProcessResult:
    result = dg.materialize([asset], resources=report_store.resources(out), partition_key=key)
    assert result.success
    return result


def test_weekly_asset_writes_every_weekly_page_and_the_index(report_store, tmp_path):
    result = _materialize(report_weekly, report_store, tmp_path, REPORT_WEEK.isoformat())
    folder = tmp_path / "week" / REPORT_WEEK.isoformat()
    expected = {f"{page.name}.html" for page in pages_for("week", catalog())}
    assert {p.name for p in folder.iterdir()} == expected
    index = (tmp_path / "index.html").read_text()
    for name in expected:
        assert f"week/{REPORT_WEEK.isoformat()}/{name}" in index
    metadata = result.asset_materializations_for_node("report__weekly")[0].metadata
    assert metadata["page/weekly_review"].value == (folder / "weekly_review.html").as_uri()
    assert metadata["pages_rendered"].value == len(expected)


def test_monthly_asset_writes_every_monthly_page(report_store, tmp_path):
    _materialize(report_monthly, report_store, tmp_path, REPORT_MONTH.isoformat())
    folder = tmp_path / "month" / REPORT_MONTH.isoformat()
    expected = {f"{page.name}.html" for page in pages_for("month", catalog())}
    assert expected and {p.name for p in folder.iterdir()} == expected


def test_index_opens_offline_and_every_link_points_at_a_rendered_page(
        report_store, tmp_path, open_report):
    _materialize(report_weekly, report_store, tmp_path, REPORT_WEEK.isoformat())
    _materialize(report_monthly, report_store, tmp_path, REPORT_MONTH.isoformat())
    opened = open_report(tmp_path / "index.html")
    assert opened.requests == [] and opened.console_errors == [] and opened.dialogs == []
    links = opened.page.locator("table.periods a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(hrefs) == len(pages_for("week", catalog())) + len(pages_for("month", catalog()))
    assert all((tmp_path / href).is_file() for href in hrefs)
    text = opened.text()
    assert "Week 16 2025 (14\u201320 Apr)" in text and "April 2025" in text


@dg.asset_check(asset=dg.AssetKey(["kpi", "weekly"]), name="rates_in_bounds", blocking=True)
def rates_in_bounds() -> dg.AssetCheckResult:
    """A check of the kpi layer in the definitions the report runs are built from: the gate
    reads the evaluations of the checks it finds there."""
    return dg.AssetCheckResult(passed=True)


def _record_check(instance, passed: bool, blocking: bool, severity, partition: str) -> None:
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["kpi", "weekly"]), check_name="rates_in_bounds",
        passed=passed, blocking=blocking, severity=severity, partition=partition,
        description="engagement_rate 1.7 > 1 at all"))


def test_a_failed_blocking_check_on_the_period_stops_the_render(report_store, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    _record_check(instance, False, True, dg.AssetCheckSeverity.ERROR, REPORT_WEEK.isoformat())
    result = dg.materialize([report_weekly, rates_in_bounds],
                            resources=report_store.resources(tmp_path),
                            partition_key=REPORT_WEEK.isoformat(), instance=instance,
                            selection=[report_weekly.key], raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "blocking check(s) failed" in message
    assert f"check rates_in_bounds on kpi/weekly ({REPORT_WEEK.isoformat()}) failed" in message
    assert not (tmp_path / "week").exists()  # nothing rendered


def test_a_passed_blocking_check_lets_the_period_render(report_store, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    _record_check(instance, True, True, dg.AssetCheckSeverity.ERROR, REPORT_WEEK.isoformat())
    _materialize_with(report_weekly, report_store, tmp_path, instance)


def test_a_failed_check_of_another_period_does_not_stop_this_one(report_store, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    _record_check(instance, False, True, dg.AssetCheckSeverity.ERROR, "2025-03-03")
    _materialize_with(report_weekly, report_store, tmp_path, instance)


def test_failed_warnings_show_in_the_data_quality_footer(report_store, tmp_path, open_report):
    instance = dg.DagsterInstance.ephemeral()
    _record_check(instance, False, False, dg.AssetCheckSeverity.WARN, REPORT_WEEK.isoformat())
    result = _materialize_with(report_weekly, report_store, tmp_path, instance)
    metadata = result.asset_materializations_for_node("report__weekly")[0].metadata
    assert metadata["quality_warnings"].value == 1
    opened = open_report(tmp_path / "week" / REPORT_WEEK.isoformat() / "weekly_review.html")
    footer = opened.page.locator("ul.quality-notes").inner_text()
    # a check without KPI rows in its metadata: its own description, in one line
    assert footer == "rates in bounds on kpi/weekly failed: engagement_rate 1.7 > 1 at all"
    assert "Checks that warned about this week's data" in opened.text()


def _materialize_with(asset, report_store, out: Path, instance) -> dg.ExecuteInProcessResult:
    result = dg.materialize([asset, rates_in_bounds], resources=report_store.resources(out),
                            partition_key=REPORT_WEEK.isoformat(), instance=instance,
                            selection=[asset.key])
    assert result.success
    return result
