"""The quarter as a grain, on the shared demo store (January to April 2025: the first
quarter whole, the second its April): the quarterly KPIs against their months recomputed
here in plain SQL, the trailing-quarter baselines, and the quarterly review page opened
in the browser."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kpi_pipeline.lib.core.periods import (
    period_first_day,
    period_last_day,
    shift_period,
)
from kpi_pipeline.lib.kpis.catalog import catalog, formula_terms
from kpi_pipeline.lib.kpis.facts import SOURCES
from kpi_pipeline.lib.reports.formats import for_unit, kpi_value, period_label
from kpi_pipeline.lib.reports.render import ReportPeriod, render_one
from kpi_pipeline_tests.reports.conftest import PLAIN_CONTEXT

Q1, Q2 = date(2025, 1, 1), date(2025, 4, 1)


def test_quarter_arithmetic_by_hand():
    assert period_first_day(date(2025, 5, 17), "quarter") == Q2
    assert period_last_day(date(2025, 5, 17), "quarter") == date(2025, 6, 30)
    assert period_last_day(date(2024, 11, 2), "quarter") == date(2024, 12, 31)
    assert shift_period(Q1, "quarter", -1) == date(2024, 10, 1)
    assert shift_period(Q1, "quarter", -4) == date(2024, 1, 1)
    assert shift_period(date(2024, 10, 1), "quarter", 2) == Q2
    assert period_label(Q2, "quarter") == "Q2 2025 (Apr\N{EN DASH}Jun)"
    assert period_label(date(2025, 10, 1), "quarter") == "Q4 2025 (Oct\N{EN DASH}Dec)"
    with pytest.raises(ValueError, match="unknown grain 'year'"):
        period_first_day(Q1, "year")


def same(a: float | None, b: float | None) -> bool:
    """Equal up to the order of the additions, or both missing."""
    return (a is None and b is None) or (a is not None and b is not None
                                       and a == pytest.approx(b, rel=1e-9))


def _summed(kpi) -> bool:
    """Whether the KPI's numerator and denominator are sums over days (no level read on
    a period's first or last day), so a quarter's are the sums of its months'."""
    source = SOURCES[kpi.source]
    levels = set(source.at_end) | set(source.at_start)
    terms = set(formula_terms(kpi.numerator))
    if kpi.denominator:
        terms |= set(formula_terms(kpi.denominator))
    return kpi.reaggregable and not terms & levels


def test_quarterly_kpis_are_the_sums_and_ratios_of_their_months(store_conn):
    """Q1 2025 per KPI and scope against January + February + March, summed here."""
    kpis = {name: k for name, k in catalog().items() if "quarter" in k.grains}
    summed = sorted(name for name, k in kpis.items() if _summed(k))
    assert len(summed) > 20
    rows = store_conn.execute("""
        WITH months AS (
            SELECT kpi, scope_key, sum(numerator) AS numerator,
                   sum(denominator) AS denominator, count(*) AS months
            FROM kpi.monthly WHERE period_start BETWEEN DATE '2025-01-01' AND DATE '2025-03-01'
            GROUP BY kpi, scope_key)
        SELECT q.kpi, q.scope_key, q.period_end, q.numerator, m.numerator, q.denominator,
               m.denominator, q.value, m.months
        FROM kpi.quarterly q JOIN months m USING (kpi, scope_key)
        WHERE q.period_start = DATE '2025-01-01' AND list_contains($kpis, q.kpi)""",
        {"kpis": summed}).fetchall()
    assert {r[0] for r in rows} == set(summed)
    for kpi, key, end, q_num, m_num, q_den, m_den, value, months in rows:
        assert end == date(2025, 3, 31)
        assert same(q_num, m_num), (kpi, key, q_num, m_num)
        if kpis[kpi].denominator is None:
            assert q_den is None and same(value, q_num), (kpi, key)
        else:
            assert same(q_den, m_den), (kpi, key, q_den, m_den)
            assert same(value, m_num / m_den if m_den and m_num is not None else None), (
                kpi, key)
        assert months <= 3
    # and nothing the months hold is missing from the quarter
    [(missing,)] = store_conn.execute("""
        SELECT count(*) FROM (SELECT DISTINCT kpi, scope_key FROM kpi.monthly
                              WHERE period_start BETWEEN DATE '2025-01-01' AND DATE '2025-03-01'
                                AND list_contains($kpis, kpi)) m
        ANTI JOIN (SELECT kpi, scope_key FROM kpi.quarterly
                   WHERE period_start = DATE '2025-01-01') q USING (kpi, scope_key)""",
        {"kpis": summed}).fetchall()
    assert missing == 0


def test_a_quarter_s_level_is_read_on_its_last_day(store_conn):
    """Followers at the quarter's end are March's end; the quarter's follower growth
    divides by the level on the day before 1 January, which January's row also reads."""
    rows = dict(store_conn.execute("""
        SELECT grain || ':' || strftime(period_start, '%Y-%m'), value FROM (
            FROM kpi.monthly UNION ALL BY NAME FROM kpi.quarterly)
        WHERE kpi = 'followers' AND scope_key = 'all'""").fetchall())
    assert rows["quarter:2025-01"] == pytest.approx(rows["month:2025-03"], rel=1e-12)
    growth = dict(store_conn.execute("""
        SELECT grain || ':' || strftime(period_start, '%Y-%m'), denominator FROM (
            FROM kpi.monthly UNION ALL BY NAME FROM kpi.quarterly)
        WHERE kpi = 'follower_growth_rate' AND scope_key = 'all'""").fetchall())
    if growth.get("month:2025-01") is not None:
        assert growth["quarter:2025-01"] == pytest.approx(growth["month:2025-01"], rel=1e-12)
    # the data stops on 30 April: the second quarter's last day, where its level is read,
    # has no row yet, so the level is unknown rather than April's
    assert rows["month:2025-04"] is not None and rows["quarter:2025-04"] is None


def test_quarter_coverage_counts_all_its_days(store_conn):
    """A quarter has up to 92 days, more bits than a week's or month's mask holds: the
    first quarter is covered on all 90 of its days, the second (the data ends with the
    ingest week of 28 April) only on the days the web table holds, so it is not compared
    with the first."""
    rows = dict(((start, kpi), (cov, days, prev)) for start, kpi, cov, days, prev in
                store_conn.execute("""
        SELECT period_start, kpi, coverage_days, period_days, previous_value
        FROM kpi.quarterly WHERE scope_key = 'all'
          AND kpi IN ('landing_page_sessions', 'engagement_rate', 'cost_per_lead')
        """).fetchall())
    [(q2_days,)] = store_conn.execute("""
        SELECT count(DISTINCT report_date) FROM normalized.web_daily
        WHERE report_date BETWEEN DATE '2025-04-01' AND DATE '2025-06-30'""").fetchall()
    assert 30 <= q2_days < 91
    for kpi in ("landing_page_sessions", "engagement_rate", "cost_per_lead"):
        assert rows[(Q1, kpi)][:2] == (90, 90), kpi
    assert rows[(Q2, "landing_page_sessions")] == (q2_days, 91, None)
    [(march_days,)] = store_conn.execute("""
        SELECT count(DISTINCT report_date) FROM normalized.web_daily
        WHERE report_date BETWEEN DATE '2025-03-01' AND DATE '2025-03-31'""").fetchall()
    assert march_days == 31  # the days past bit 63 are there to count


def test_trailing_quarter_baselines(store_conn):
    """The baseline as of Q2 pools the quarters before it (only Q1 here)."""
    rows = store_conn.execute("""
        SELECT b.periods, b.mean, k.value FROM baseline.quarterly b
        JOIN kpi.quarterly k ON k.kpi = b.kpi AND k.scope_key = b.scope_key
         AND k.period_start = DATE '2025-01-01'
        WHERE b.as_of = DATE '2025-04-01' AND b.kpi = 'landing_page_sessions'
          AND b.scope_key = 'all'""").fetchall()
    assert rows == [(1, pytest.approx(rows[0][2]), rows[0][2])]


@pytest.fixture(scope="module")
def quarterly_page(report_store, tmp_path_factory) -> Path:
    from kpi_pipeline_tests.reports.conftest import goals_context

    with report_store.warehouse.get_connection(read_only=True) as conn:
        context = goals_context(conn, report_store)
        return render_one(conn, "quarterly_review", ReportPeriod("quarter", Q1),
                          tmp_path_factory.mktemp("quarterly"), catalog(), context).path


def test_quarterly_review_page(quarterly_page, store_conn, open_report):
    opened = open_report(quarterly_page, "quarterly-review")
    kpis = catalog()
    assert "Quarterly review" in opened.page.locator("h1").inner_text()
    text = opened.text()
    assert "Q1 2025 (Jan\N{EN DASH}Mar)" in text
    [(sessions, revenue)] = store_conn.execute("""
        SELECT sum(sessions), sum(revenue_reporting) FROM normalized.web_daily
        WHERE is_social AND report_date BETWEEN DATE '2025-01-01' AND DATE '2025-03-31'
        """).fetchall()
    card = opened.page.locator('.big-value[data-kpi="landing_page_sessions"]').inner_text()
    assert kpi_value(sessions, kpis["landing_page_sessions"]) in card
    card = opened.page.locator('.big-value[data-kpi="social_revenue"]').inner_text()
    assert for_unit(revenue, "currency") in card
    # the goals whose window overlaps Q1: both run on past 31 March, read as of that day
    goals = opened.page.locator("table.goals tbody tr[data-goal]")
    assert sorted(goals.nth(i).get_attribute("data-goal") for i in range(goals.count())) == [
        "engagement-level", "leads-weekly"]
    for i in range(goals.count()):
        assert goals.nth(i).get_attribute("data-closes") == "runs on"
    # trend charts are labelled by quarter
    assert opened.page.locator("figure[data-chart] svg").count() == 4
    assert "Q1 2025" in opened.page.locator("figure[data-chart]").first.inner_text()
    assert opened.page.get_by_role("heading", name="What moved over the quarter").count() == 1
    assert opened.console_errors == [] and opened.requests == [] and opened.dialogs == []


def test_quarter_goals_closed_in_the_quarter(report_store, tmp_path, open_report):
    """Q2: the goals whose window ends by 30 June closed in it; attainment stops at 30
    April here, so their rows say how far it reached."""
    with report_store.warehouse.get_connection(read_only=True) as conn:
        page = render_one(conn, "quarterly_review", ReportPeriod("quarter", Q2), tmp_path,
                          catalog(), PLAIN_CONTEXT).path
        expected = dict(conn.execute("""
            SELECT goal_id, CASE WHEN max(window_end) <= DATE '2025-06-30' THEN 'closed'
                                 ELSE 'runs on' END
            FROM goal.attainment GROUP BY goal_id""").fetchall())
    opened = open_report(page, "quarterly-review-q2")
    goals = opened.page.locator("table.goals tbody tr[data-goal]")
    shown = {goals.nth(i).get_attribute("data-goal"): goals.nth(i).get_attribute("data-closes")
             for i in range(goals.count())}
    assert shown == expected
    assert "closed" in shown.values()
    assert "as of 2025-04-30" in opened.page.locator("table.goals").inner_text()
