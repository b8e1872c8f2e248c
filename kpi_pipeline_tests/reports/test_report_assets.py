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
