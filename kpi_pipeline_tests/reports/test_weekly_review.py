"""The weekly review on the demo store, checked against numbers recomputed here from the
KPI table's numerators and denominators (not through the page's SQL) and read back from
the page as a browser shows it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import kpi_change, kpi_value, period_label
from kpi_pipeline.lib.reports.render import ReportPeriod, render_one, render_period
from kpi_pipeline_tests.reports.conftest import PLAIN_CONTEXT, REPORT_WEEK, goals_context

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
        kpi = kpis[name]
        assert kpi_value(expected, kpi) in card, name
        assert f"{kpi_change(expected, previous, kpi).text} vs last week" in card, name
        assert f"{kpi_change(expected, baseline, kpi).text} vs baseline" in card, name
        assert kpi_value(baseline, kpi) in card, name
        assert period_label(REPORT_WEEK, "week") in card
        assert weekly_page.headlines[name] == pytest.approx(expected)


def test_page_opens_offline_with_charts_and_no_errors(weekly_page, open_report):
    opened = open_report(weekly_page.path)
    assert opened.requests == []
    assert opened.console_errors == []
    assert opened.dialogs == []
    text = opened.text()
    for heading in ("Weekly review", "Engagement trend", "Traffic patterns", "Retention",
                    "What moved", "Data quality"):
        assert heading in text
    # three trend charts and one bar chart, drawn as inline SVG with real text labels
    assert opened.page.locator("figure svg").count() == 4
    assert "baseline (trailing mean)" in opened.page.locator("figure svg").first.inner_html()
    assert opened.page.locator("script").count() == 0


def test_no_vanity_metric_headlines(weekly_page):
    kpis = catalog()
    assert weekly_page.spec.headlines
    assert not any(kpis[name].vanity for name in weekly_page.spec.headlines)


def test_what_moved_orders_by_distance_from_baseline(weekly_page, store_conn, open_report):
    """The rows come in order of their relative distance from the baseline, computed here
    from the stored KPI and baseline (shares show their move in points, the rest in
    percent, so the shown changes are not one scale to sort on)."""
    opened = open_report(weekly_page.path)
    kpis = catalog()
    rows = opened.page.locator("h2:has-text('What moved') + p + table tbody tr")
    names = [rows.nth(i).get_attribute("data-kpi") for i in range(rows.count())]
    assert names and all(kpis[n].stage in ("awareness", "engagement", "traffic", "retention")
                         for n in names)
    distance = dict(store_conn.execute("""
        SELECT k.kpi, abs(k.value - coalesce(b.pooled, b.mean))
                      / nullif(abs(coalesce(b.pooled, b.mean)), 0)
        FROM kpi.weekly k JOIN baseline.weekly b
          ON b.as_of = k.period_start AND b.kpi = k.kpi AND b.scope_key = k.scope_key
        WHERE k.scope = 'all' AND k.period_start = ?""", [REPORT_WEEK]).fetchall())
    moves = [distance.get(name) for name in names]
    known = [m for m in moves if m is not None]
    assert len(known) >= 3
    assert known == sorted(known, reverse=True)
    assert moves[:len(known)] == known  # the KPIs without a baseline come last


def test_rates_change_in_points_and_pages_per_session_reads_as_a_number(weekly_page,
                                                                       open_report):
    """What a reader sees in Chromium, written out by hand from the demo store's week 16:
    engagement went from 4.4 % to 4.0 % (a relative -9.2 %, shown as points), pages per
    session from 2.43 to 2.45 (a plain number, changing +0.8 %)."""
    opened = open_report(weekly_page.path)
    card = opened.page.locator('.big-value[data-kpi="engagement_rate"]').inner_text()
    assert "4.0 %" in card and "\u22120.4 pp vs last week (4.4 %)" in card
    assert "%" not in card.split("vs last week")[0].split("\n")[-1]
    callout = opened.page.locator("p.callout").inner_text()
    assert "Engagement rate was 4.0 % (\u22120.4 pp vs last week)" in callout
    row = opened.page.locator("h2:has-text('What moved') + p + table "
                              "tr[data-kpi='pages_per_session'] td")
    assert [row.nth(i).inner_text() for i in range(2, 6)] == ["leading", "2.45", "2.43",
                                                              "+0.8 %"]
    assert "256" not in opened.text() and "245.4 %" not in opened.text()
    bounce = opened.page.locator("[data-chart] + table, table").filter(
        has_text="Bounce rate").first.inner_text()
    assert " pp" in bounce


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


def test_no_kpi_appears_twice_and_leading_ones_are_marked(weekly_page, store_conn,
                                                         open_report):
    """"What moved" and "Leading indicators" were two tables cut from the same rows, so
    about 15 KPIs showed twice. Now one table holds every KPI of the page's stages once,
    each leading indicator marked as such in its row."""
    opened = open_report(weekly_page.path)
    kpis = catalog()
    rows = opened.page.locator("table.kpis tbody tr[data-kpi]")
    names = [rows.nth(i).get_attribute("data-kpi") for i in range(rows.count())]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    stored = {kpi for (kpi,) in store_conn.execute(
        "SELECT DISTINCT kpi FROM kpi.weekly WHERE scope = 'all' AND period_start = ?",
        [REPORT_WEEK]).fetchall()}
    want = {k for k in stored
            if kpis[k].stage in ("awareness", "engagement", "traffic", "retention")}
    assert set(names) == want
    for i, name in enumerate(names):
        marked = rows.nth(i).locator("td").nth(2).inner_text()
        assert marked == kpis[name].indicator, name
    assert opened.page.get_by_role("heading", name="Leading indicators").count() == 0


def test_charts_use_the_width_of_their_card(weekly_page, open_report):
    """The charts were drawn at a fixed 518 points and filled about 60 % of their card;
    in Chromium each chart is now as wide as the card's content box."""
    opened = open_report(weekly_page.path)
    figures = opened.page.locator("figure:has(svg)")
    assert figures.count() == 4
    for i in range(figures.count()):
        inner = figures.nth(i).evaluate(
            "f => f.clientWidth - parseFloat(getComputedStyle(f).paddingLeft)"
            " - parseFloat(getComputedStyle(f).paddingRight)")
        drawn = figures.nth(i).locator("svg").bounding_box()
        assert drawn["width"] >= 0.98 * inner, (i, drawn, inner)
        assert drawn["height"] > 80  # the aspect ratio kept, not squashed


def test_trend_charts_show_the_goal_target_and_the_baseline_band(report_store, tmp_path,
                                                                 open_report):
    """The store's goals file holds "Engagement rate at least 5 %" across all platforms
    (March to May): the engagement trend draws it as a dotted line at 5.0 % on the value
    axis, read from the tick labels' positions in Chromium. Every trend chart shades the
    baseline ± one standard deviation. The traffic goal is a change against the baseline,
    no value per week, so its chart has no target line."""
    with report_store.warehouse.get_connection(read_only=True) as conn:
        path = render_one(conn, "weekly_review", ReportPeriod("week", REPORT_WEEK), tmp_path,
                          catalog(), goals_context(conn, report_store)).path
    opened = open_report(path, "weekly-review-goal-target")
    engagement = opened.page.locator('figure[data-chart="engagement_rate"]')
    assert engagement.get_attribute("data-goal") == "engagement-level"
    line = engagement.locator("g#target-line")
    assert line.count() == 1
    texts = engagement.locator("svg text").evaluate_all("els => els.map(e => e.textContent)")
    assert "goal: at least 5.0 %" in texts
    assert "Engagement rate at least 5 %" in engagement.locator("figcaption").inner_text()
    # where 5.0 % sits on the axis, from two tick labels' centres
    ticks = {}
    for label in engagement.locator("g[id^='ytick'] text").all():
        box = label.bounding_box()
        value = float(label.text_content().rstrip(" %"))
        ticks[value] = box["y"] + box["height"] / 2
    (v1, y1), (v2, y2) = sorted(ticks.items())[0], sorted(ticks.items())[-1]
    want = y1 + (5.0 - v1) * (y2 - y1) / (v2 - v1)
    box = line.bounding_box()
    assert abs(box["y"] + box["height"] / 2 - want) < 3, (box, want, ticks)
    for kpi in ("engagement_rate", "landing_page_sessions", "repeat_customer_rate"):
        chart = opened.page.locator(f'figure[data-chart="{kpi}"]')
        assert chart.locator("g#baseline-band").count() == 1, kpi
        assert "baseline ± 1 std dev" in chart.locator("svg").text_content()
    sessions = opened.page.locator('figure[data-chart="landing_page_sessions"]')
    assert sessions.locator("g#target-line").count() == 0
