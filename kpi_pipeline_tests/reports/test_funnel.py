"""The funnel page on the demo store, checked against stage counts recomputed here
straight from the normalized tables (posts' lifetime snapshots telescoped per post, GA4
sessions, orders and revenue of social sources), not through the KPI tables or the page's
SQL, and read back from the page as a browser shows it."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from kpi_pipeline.lib.core.periods import period_last_day
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import delta_pct, for_unit, num0, period_label
from kpi_pipeline.lib.reports.render import ReportPeriod, render_one
from kpi_pipeline_tests.reports.conftest import PLAIN_CONTEXT, REPORT_MONTH, REPORT_WEEK

CONTEXT = PLAIN_CONTEXT
STAGES = ("exposure", "interactions", "sessions", "orders", "revenue")
LABELS = {"exposure": "Exposure", "interactions": "Interactions",
          "sessions": "Landing-page sessions", "orders": "Orders", "revenue": "Revenue"}
TRAILING = {"week": 12, "month": 6}

# Post metrics are lifetime snapshots: what happened in a window is, per post, the last
# snapshot in the window minus the snapshot of the day before it (nothing when the post
# had no snapshot that day). Exposure is views, impressions on LinkedIn.
POSTS = """
WITH snap AS (
    SELECT platform, account_id, post_id, report_date,
           CASE WHEN platform = 'linkedin' THEN impressions ELSE views END AS exposure,
           coalesce(likes, 0) AS likes, coalesce(comments, 0) AS comments,
           coalesce(shares, 0) AS shares, coalesce(saves, 0) AS saves
    FROM normalized.post_daily
), last_in AS (
    SELECT platform, account_id, post_id,
           arg_max(exposure, report_date) AS exposure,
           arg_max(likes + comments + shares + saves, report_date) AS interactions
    FROM snap WHERE report_date BETWEEN ? AND ? GROUP BY ALL
), before AS (
    SELECT platform, account_id, post_id, exposure,
           likes + comments + shares + saves AS interactions
    FROM snap WHERE report_date = CAST(? AS DATE) - 1
)
SELECT sum(l.exposure - coalesce(b.exposure, 0)),
       sum(l.interactions - coalesce(b.interactions, 0))
FROM last_in l LEFT JOIN before b USING (platform, account_id, post_id)
"""
WEB = """
SELECT sum(sessions), sum(orders), sum(revenue_reporting)
FROM normalized.web_daily WHERE is_social AND report_date BETWEEN ? AND ?
"""


def stage_counts(conn, start: date, grain: str) -> dict[str, float | None]:
    end = period_last_day(start, grain)
    exposure, interactions = conn.execute(POSTS, [start, end, start]).fetchone()
    sessions, orders, revenue = conn.execute(WEB, [start, end]).fetchone()
    return dict(zip(STAGES, (exposure, interactions, sessions, orders, revenue), strict=True))


def expected_funnel(conn, period: ReportPeriod) -> dict[str, dict[str, float | None]]:
    """Per stage from the second on: rate, pooled trailing rate and relative change."""
    current = stage_counts(conn, period.start, period.grain)
    # the trailing periods the store holds whole: from its first day on (the ingest starts
    # on a Monday, so the month before it holds a few days only)
    [(first,)] = conn.execute("SELECT min(report_date) FROM normalized.web_daily").fetchall()
    trailing = [stage_counts(conn, p.start, period.grain)
                for p in (period.shifted(-i) for i in range(1, TRAILING[period.grain] + 1))
                if p.start >= first]
    trailing = [t for t in trailing if t["sessions"] is not None]  # periods with data
    out = {"exposure": {"value": current["exposure"]}}
    for before, stage in pairwise(STAGES):
        rate = current[stage] / current[before]
        pooled = sum(t[stage] for t in trailing) / sum(t[before] for t in trailing)
        out[stage] = {"value": current[stage], "rate": rate, "trailing": pooled,
                      "vs": (rate - pooled) / pooled, "before": before}
    return out


def expected_leak(funnel: dict[str, dict[str, float | None]]) -> str | None:
    shortfalls = {stage: row["vs"] for stage, row in funnel.items()
                  if row.get("vs") is not None and row["vs"] < 0}
    return min(shortfalls, key=shortfalls.get) if shortfalls else None


def render(conn, period: ReportPeriod, out: Path) -> Path:
    """Render only the funnel page (other pages of the grain are not this test's)."""
    return render_one(conn, "funnel", period, out, catalog(), CONTEXT).path


@pytest.fixture(scope="module")
def funnel_pages(report_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("funnel")
    periods = {"month": ReportPeriod("month", REPORT_MONTH),
               "week": ReportPeriod("week", REPORT_WEEK)}
    with report_store.warehouse.get_connection(read_only=True) as conn:
        return {grain: (period, render(conn, period, out), expected_funnel(conn, period))
                for grain, period in periods.items()}


def money_or_count(stage: str, value: float) -> str:
    return for_unit(value, "currency") if stage == "revenue" else num0(value)


def rate_text(stage: str, value: float) -> str:
    return for_unit(value, "currency" if stage == "revenue" else "ratio")


@pytest.mark.parametrize("grain", ["month", "week"])
def test_stage_counts_rates_and_trailing_rates(grain, funnel_pages, open_report):
    period, path, funnel = funnel_pages[grain]
    opened = open_report(path, f"funnel-{grain}")
    for stage in STAGES:
        row = opened.page.locator(f'table.funnel tr[data-stage="{stage}"]').inner_text()
        expected = funnel[stage]
        assert money_or_count(stage, expected["value"]) in row, (stage, row)
        card = opened.page.locator(f'.funnel-stages [data-stage="{stage}"]').inner_text()
        assert money_or_count(stage, expected["value"]) in card
        assert period.label in card  # every count says its period ...
        assert ("USD" if stage == "revenue" else "count") in card  # ... and its unit
        if stage == "exposure":
            continue
        assert rate_text(stage, expected["rate"]) in row, (stage, row)
        assert rate_text(stage, expected["trailing"]) in row, (stage, row)
        assert delta_pct(expected["vs"]) in row, (stage, row)
    assert opened.console_errors == []
    assert opened.requests == []
    assert opened.dialogs == []


@pytest.mark.parametrize("grain", ["month", "week"])
def test_names_the_leak_computed_independently(grain, funnel_pages, open_report):
    _, path, funnel = funnel_pages[grain]
    opened = open_report(path, f"funnel-leak-{grain}")
    leak = expected_leak(funnel)
    callout = opened.page.locator("p.callout[data-leak]")
    assert callout.count() == 1
    text = callout.inner_text()
    if leak is None:
        assert callout.get_attribute("data-leak") == "none"
        assert "No step falls short" in text
        return
    assert callout.get_attribute("data-leak") == leak
    before = funnel[leak]["before"]
    assert f"leaks most between {LABELS[before].lower()} and {LABELS[leak].lower()}" in text
    assert rate_text(leak, funnel[leak]["rate"]) in text
    assert rate_text(leak, funnel[leak]["trailing"]) in text
    assert f"trailing {TRAILING[grain]} {grain}s" in text
    # exactly one table row is marked as the leak, the same step
    marked = opened.page.locator("table.funnel tr.leak")
    assert marked.count() == 1 and marked.get_attribute("data-stage") == leak


def test_week_page_reads_well(funnel_pages, open_report):
    _, path, _ = funnel_pages["week"]
    opened = open_report(path, "funnel-week-page")
    text = opened.text()
    assert "Funnel" in opened.page.locator("h1").inner_text()
    assert period_label(REPORT_WEEK, "week") in text
    for heading in ("Stages", "What each stage counts"):
        assert opened.page.get_by_role("heading", name=heading).count() == 1
    # the stage chart and the rate-against-trailing chart are inline SVG with real text
    assert opened.page.locator("figure svg").count() == 2
    for label in LABELS.values():
        assert label in text
    # definitions come from the catalogue
    assert catalog()["landing_page_sessions"].description in text
    assert "linkedin (likes + comments + shares) / impressions" in text
    assert f"{REPORT_WEEK - timedelta(weeks=12):%Y}" in text
    assert opened.console_errors == [] and opened.requests == [] and opened.dialogs == []


@pytest.mark.parametrize("grain", ["month", "week"])
def test_stage_chart_shows_every_stage_with_its_count(grain, funnel_pages, open_report):
    """Exposure runs to millions and orders to dozens: on a linear axis the orders bar was
    invisible (0.001 % of the exposure bar). Each bar as the browser draws it is at least a
    tenth of the longest, and carries its count."""
    _, path, funnel = funnel_pages[grain]
    opened = open_report(path, f"funnel-stages-{grain}")
    chart = opened.page.locator('figure[data-chart="funnel-stages"]')
    bars = chart.locator('g[id^="bar-"]')
    assert bars.count() == 4  # the four counted stages; revenue is money
    widths = [bars.nth(i).bounding_box()["width"] for i in range(4)]
    assert min(widths) / max(widths) > 0.1, widths
    assert widths == sorted(widths, reverse=True)
    labels = chart.locator("svg text").evaluate_all("els => els.map(e => e.textContent)")
    for stage in ("exposure", "interactions", "sessions", "orders"):
        assert num0(funnel[stage]["value"]) in labels, (stage, labels)
    assert any("log scale" in label for label in labels)


def test_first_month_has_nothing_to_compare_with(report_store, tmp_path, open_report):
    with report_store.warehouse.get_connection(read_only=True) as conn:
        path = render(conn, ReportPeriod("month", date(2025, 1, 1)), tmp_path)
    opened = open_report(path, "funnel-first-month")
    callout = opened.page.locator("p.callout[data-leak]")
    assert callout.get_attribute("data-leak") == "unknown"
    assert "No trailing months to compare with" in callout.inner_text()
    assert opened.page.locator("table.funnel tr.leak").count() == 0
    assert opened.console_errors == [] and opened.requests == [] and opened.dialogs == []
