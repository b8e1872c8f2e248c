"""A report period whose KPIs the data covers only partly is refused, unless a partial
report is asked for; then it is marked as incomplete wherever it shows.

A copy of the report store loses the social web sessions of the report week after its
Tuesday (a GA4 pull that has not caught up), and the week's KPIs are computed again. The
expected days are counted here in plain SQL from the normalized table, not read from the
KPI rows.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from kpi_pipeline.defs.reports.assets import report_weekly
from kpi_pipeline.defs.reports.gate import completeness_gate
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.kpis.compute import replace_kpis
from kpi_pipeline.lib.reports.coverage import Coverage, SourceCoverage
from kpi_pipeline_tests.reports.conftest import REPORT_WEEK

WEEK_END = REPORT_WEEK + timedelta(days=6)
CUT = REPORT_WEEK + timedelta(days=2)  # the web data stops before Wednesday
PARTIAL = {"ops": {"report__weekly": {"config": {"partial": True}}}}


@dataclass(frozen=True)
class CutStore:
    warehouse: Warehouse
    settings: Settings
    web_days: int  # the report week's days holding social sessions, counted here


@pytest.fixture(scope="module")
def cut_store(report_store, tmp_path_factory: pytest.TempPathFactory) -> CutStore:
    """The report store with the week's web sessions cut from Wednesday, KPIs recomputed."""
    root = tmp_path_factory.mktemp("cut_store")
    source = report_store.warehouse.path()
    shutil.copyfile(source, root / "warehouse.duckdb")
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, root / "warehouse.duckdb.wal")
    with duckdb.connect(str(root / "warehouse.duckdb")) as conn:
        conn.execute("DELETE FROM normalized.web_daily WHERE report_date >= ?", [CUT])
        replace_kpis(conn, "week", REPORT_WEEK, WEEK_END)
        (web_days,) = conn.execute(
            "SELECT count(DISTINCT report_date) FROM normalized.web_daily "
            "WHERE is_social AND report_date BETWEEN ? AND ?", [REPORT_WEEK, WEEK_END]
        ).fetchone()
    assert web_days == 2  # Monday and Tuesday
    settings = Settings(landing_dir=report_store.settings.landing_dir,
                        goals_file=report_store.settings.goals_file,
                        reports_dir=str(root / "reports"), reporting_currency="USD")
    return CutStore(Warehouse(database=str(root / "warehouse.duckdb")), settings, web_days)


def _run(store: CutStore, out: Path, run_config: dict | None = None
         ) -> dg.ExecuteInProcessResult:
    settings = Settings(**{**store.settings.model_dump(), "reports_dir": str(out)})
    return dg.materialize([report_weekly], partition_key=REPORT_WEEK.isoformat(),
                          resources={"warehouse": store.warehouse, "settings": settings},
                          run_config=run_config or {}, raise_on_error=False)


def test_an_incomplete_week_is_not_published(cut_store: CutStore, tmp_path: Path) -> None:
    result = _run(cut_store, tmp_path)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert f"week {REPORT_WEEK}: normalized.web_daily {cut_store.web_days} of 7 days" in message
    assert "partial: true" in message
    assert not (tmp_path / "week").exists()  # nothing written


def test_a_partial_report_is_marked_wherever_the_week_shows(
        cut_store: CutStore, tmp_path: Path, open_report) -> None:
    result = _run(cut_store, tmp_path, PARTIAL)
    assert result.success
    metadata = result.asset_materializations_for_node("report__weekly")[0].metadata
    assert metadata["partial_periods"].value == [REPORT_WEEK.isoformat()]
    page = tmp_path / "week" / REPORT_WEEK.isoformat() / "weekly_review.html"
    opened = open_report(page, "partial-weekly-review")
    assert opened.console_errors == [] and opened.requests == []
    box = opened.page.locator("section.incomplete")
    assert box.get_attribute("data-partial-report") == "true"
    assert "Partial report: incomplete week" in box.inner_text()
    items = box.locator("li")
    lines = [" ".join(items.nth(i).inner_text().split()) for i in range(items.count())]
    last_day = (CUT - timedelta(days=1)).isoformat()
    assert lines == [f"normalized.web_daily covers {cut_store.web_days} of 7 days: "
                     f"its data ends {last_day}"]
    # the KPI table: web KPIs marked with their days, post KPIs not
    sessions = opened.page.locator("table.kpis tr[data-kpi='bounce_rate']")
    assert sessions.get_attribute("class") == "incomplete"
    assert sessions.get_attribute("data-coverage") == f"{cut_store.web_days}/7"
    assert f"(incomplete: {cut_store.web_days} of 7 days)" in sessions.inner_text()
    engagement = opened.page.locator("table.kpis tr[data-kpi='engagement_rate']")
    assert engagement.get_attribute("class") is None
    # the headline of sessions says it, the engagement headline does not
    headline = opened.page.locator(".big-value[data-kpi='landing_page_sessions']")
    assert f"the data covers {cut_store.web_days} of 7 days" in headline.inner_text()
    assert opened.page.locator(
        ".big-value[data-kpi='engagement_rate'] [data-incomplete]").count() == 0
    # the trend charts: the week's point of sessions is hollow, engagement's are not
    chart = opened.page.locator("figure[data-chart='landing_page_sessions']")
    assert chart.get_attribute("data-incomplete-points") == "1"
    assert chart.locator("#incomplete-points").count() == 1
    assert REPORT_WEEK.isoformat() in chart.locator("figcaption").inner_text()
    assert opened.page.locator(
        "figure[data-chart='engagement_rate']").get_attribute("data-incomplete-points") == "0"
    # the index marks the week
    index = open_report(tmp_path / "index.html", "partial-index")
    row = index.page.locator("table.periods tr[data-incomplete='true']")
    assert row.count() == 1 and "incomplete" in row.inner_text()
    assert "Week 16 2025" in row.inner_text()


def _coverage(web_days: int | None) -> Coverage:
    sources = (SourceCoverage("post_daily", 7, 7, True),
               SourceCoverage("web_daily", web_days, 7, True))
    incomplete = () if web_days == 7 else (("landing_page_sessions", web_days),)
    return Coverage(7, sources, incomplete, 2)


def test_the_gate_refuses_incomplete_or_unknown_coverage_unless_partial() -> None:
    whole, cut, unknown = date(2025, 4, 7), date(2025, 4, 14), date(2025, 4, 21)
    coverages = {whole: _coverage(7), cut: _coverage(3), unknown: _coverage(None)}
    with pytest.raises(dg.Failure) as refused:
        completeness_gate(coverages, "week", partial=False)
    text = refused.value.description
    assert "week 2025-04-14: normalized.web_daily 3 of 7 days" in text
    assert "week 2025-04-21: normalized.web_daily coverage unknown" in text
    assert "2025-04-07" not in text
    assert completeness_gate(coverages, "week", partial=True) == [cut, unknown]
    assert completeness_gate({whole: _coverage(7)}, "week", partial=False) == []
