"""A period the data covers only partly is marked on every page that shows it.

The periods here lie before the store's KPIs (December 2024: the data begins on Monday
30 December, the KPIs in January), so the box falls back on each table's own days with
rows, all of them days of its span in this dense demo. The expected lines are computed
here from each normalized table's first and last day, read in plain SQL, against the
period's bounds. ``test_partial_reports.py`` checks the marks a period with KPI rows gets
from their coverage.
"""

from __future__ import annotations

from datetime import date

import pytest

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.render import ReportPeriod, render_period
from kpi_pipeline_tests.reports.conftest import PLAIN_CONTEXT, REPORT_MONTH

TABLES = ("account_daily", "ad_daily", "email_daily", "post_daily", "web_daily")


def expected_lines(conn, period: ReportPeriod) -> list[str]:
    lines = []
    days = (period.end - period.start).days + 1
    for table in TABLES:
        first, last = conn.execute(
            f"SELECT min(report_date), max(report_date) FROM normalized.{table}").fetchone()
        if first is None or (first <= period.start and last >= period.end):
            continue
        covered = max((min(last, period.end) - max(first, period.start)).days + 1, 0)
        line = f"normalized.{table} covers {covered} of {days} days"
        if first > period.start:
            line += f": its data begins {first.isoformat()}"
        if last < period.end:
            line += f": its data ends {last.isoformat()}"
        lines.append(line)
    return lines


@pytest.mark.parametrize("period", [ReportPeriod("month", date(2024, 12, 1)),
                                    ReportPeriod("week", date(2024, 12, 23)),
                                    ReportPeriod("month", REPORT_MONTH)])
def test_every_page_marks_a_period_the_data_covers_partly(report_store, store_conn, tmp_path,
                                                          open_report, period):
    expected = expected_lines(store_conn, period)
    if period.start == REPORT_MONTH:
        assert expected == []  # April: every source covers it whole
    else:
        assert expected  # the store's history begins on 30 December 2024
    pages = render_period(store_conn, period, tmp_path, catalog(), PLAIN_CONTEXT)
    assert pages
    for page in pages:
        opened = open_report(page.path, f"incomplete-{period.grain}-{page.spec.name}")
        items = opened.page.locator("section.incomplete li")
        shown = [" ".join(items.nth(i).inner_text().split()) for i in range(items.count())]
        assert shown == expected, page.spec.name
        if expected:
            assert f"Incomplete {period.noun}" in opened.text()
        assert opened.console_errors == []


def test_an_open_cohort_is_marked_on_its_row_and_leaves_the_period_complete(
        store_conn, tmp_path):
    """April's customers are followed for 180 days (the default window), past the store's
    data: the lifetime value row says its cohort is still open, and April stays a complete
    month (no incomplete box, the report gate would publish it)."""
    from kpi_pipeline.lib.reports.coverage import incomplete_periods

    period = ReportPeriod("month", REPORT_MONTH)
    assert REPORT_MONTH not in incomplete_periods(store_conn, "month")
    pages = render_period(store_conn, period, tmp_path, catalog(), PLAIN_CONTEXT)
    marked = [page for page in pages
              if 'data-kpi="lifetime_value"' in page.path.read_text(encoding="utf-8")]
    assert marked
    for page in marked:
        html = page.path.read_text(encoding="utf-8")
        assert "cohort still open, its window has closed for 0 of 30 days" in html
        assert "Incomplete month" not in html
