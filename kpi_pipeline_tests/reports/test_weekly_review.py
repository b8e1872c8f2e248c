"""The weekly review on the demo store, checked against numbers recomputed here from the
KPI table's numerators and denominators (not through the page's SQL) and read back from
the page as a browser shows it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import delta_pct, for_unit, period_label
from kpi_pipeline.lib.reports.render import ReportPeriod, render_period
from kpi_pipeline_tests.reports.conftest import PLAIN_CONTEXT, REPORT_WEEK

CONTEXT = PLAIN_CONTEXT


@pytest.fixture(scope="module")
def weekly_page(report_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("weekly")
    with report_store.warehouse.get_connection(read_only=True) as conn:
        pages = render_period(conn, ReportPeriod("week", REPORT_WEEK), out, catalog(), CONTEXT)
    return next(p for p in pages if p.spec.name == "weekly_review")


def pooled(conn, kpi: str, first, last) -> float:
    """sum(numerator) / sum(denominator) over weeks first..last, all platforms; for a
    count KPI the mean week."""
    num, den, mean = conn.execute(
        """SELECT sum(numerator), sum(denominator), avg(value) FROM kpi.weekly
           WHERE kpi = ? AND scope = 'all' AND period_start BETWEEN ? AND ?""",
        [kpi, first, last]).fetchone()
    return mean if den is None else num / den


def test_headlines_show_value_last_week_and_baseline(weekly_page, store_conn, open_report):
    opened = open_report(weekly_page.path)
    kpis = catalog()
    for name in weekly_page.spec.headlines:
        num, den, value = store_conn.execute(
            """SELECT numerator, denominator, value FROM kpi.weekly
               WHERE kpi = ? AND scope = 'all' AND period_start = ?""",
            [name, REPORT_WEEK]).fetchone()
        expected = value if den is None else num / den
        previous = pooled(store_conn, name, REPORT_WEEK - timedelta(weeks=1),
                          REPORT_WEEK - timedelta(weeks=1))
        baseline = pooled(store_conn, name, REPORT_WEEK - timedelta(weeks=12),
                          REPORT_WEEK - timedelta(weeks=1))
        card = opened.page.locator(f'.big-value[data-kpi="{name}"]').inner_text()
        unit = kpis[name].unit
        assert for_unit(expected, unit) in card, name
        assert f"{delta_pct((expected - previous) / previous)} vs last week" in card, name
        assert f"{delta_pct((expected - baseline) / baseline)} vs baseline" in card, name
        assert for_unit(baseline, unit) in card, name
        assert period_label(REPORT_WEEK, "week") in card
        assert weekly_page.headlines[name] == pytest.approx(expected)


def test_page_opens_offline_with_charts_and_no_errors(weekly_page, open_report):
    opened = open_report(weekly_page.path)
    assert opened.requests == []
    assert opened.console_errors == []
    assert opened.dialogs == []
    text = opened.text()
    for heading in ("Weekly review", "Engagement trend", "Traffic patterns", "Retention",
                    "What moved", "Leading indicators", "Data quality"):
        assert heading in text
    # three trend charts and one bar chart, drawn as inline SVG with real text labels
    assert opened.page.locator("figure svg").count() == 4
    assert "baseline (trailing mean)" in opened.page.locator("figure svg").first.inner_html()
    assert opened.page.locator("script").count() == 0


def test_no_vanity_metric_headlines(weekly_page):
    kpis = catalog()
    assert weekly_page.spec.headlines
    assert not any(kpis[name].vanity for name in weekly_page.spec.headlines)


def test_what_moved_orders_by_distance_from_baseline(weekly_page, open_report):
    opened = open_report(weekly_page.path)
    kpis = catalog()
    rows = opened.page.locator("h2:has-text('What moved') + p + table tbody tr")
    names = [rows.nth(i).get_attribute("data-kpi") for i in range(rows.count())]
    assert names and all(kpis[n].stage in ("engagement", "traffic", "retention") for n in names)
    moves = []
    for i in range(rows.count()):
        cell = rows.nth(i).locator("td").nth(6).inner_text()
        if cell != "\u2013":
            moves.append(abs(float(cell.replace("\u2212", "-").replace("+", "")
                                   .replace("\u00b1", "").replace(" %", "").replace(",", ""))))
    assert moves == sorted(moves, reverse=True)


def test_quality_footer_counts_rows_of_the_week(weekly_page, store_conn, open_report):
    opened = open_report(weekly_page.path)
    footer = opened.page.locator("table.quality").inner_text()
    count = store_conn.execute(
        "SELECT count(*) FROM normalized.post_daily WHERE report_date BETWEEN ? AND ?",
        [REPORT_WEEK, REPORT_WEEK + timedelta(days=6)]).fetchone()[0]
    latest = store_conn.execute("SELECT max(report_date) FROM normalized.post_daily"
                                ).fetchone()[0]
    assert count > 0 and latest == date(2025, 5, 4)  # the last ingest week's Sunday
    assert f"normalized.post_daily\t{latest}\t{count:,}\tcomplete for the week" in footer
