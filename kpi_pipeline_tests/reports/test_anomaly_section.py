"""The diagnostics page's section of KPIs outside their baseline band, in headless
Chromium: the anomalies of the real chain's store as the table holds them, and a planted
anomaly whose scope carries markup (platform text is untrusted) shown as text with its
numbers formatted by the KPI's unit."""

from __future__ import annotations

from datetime import timedelta

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import kpi_value
from kpi_pipeline.lib.reports.render import ReportPeriod
from kpi_pipeline_tests.reports.conftest import REPORT_WEEK, SCRIPT
from kpi_pipeline_tests.reports.test_diagnostics_page import assert_clean, headline, render
from kpi_pipeline_tests.reports.test_monthly_review import _store_copy


def anomalies(conn, start) -> list[tuple]:
    return conn.execute("""SELECT kpi, scope, scope_key, direction FROM
                           diagnostic.weekly_anomalies WHERE period_start = ?
                           ORDER BY scope, scope_key, kpi""", [start]).fetchall()


def shown(opened) -> list[tuple]:
    rows = opened.page.locator("table.anomalies tbody tr").evaluate_all(
        "nodes => nodes.map(n => [n.dataset.kpi, n.dataset.scope, n.dataset.scopeKey, "
        "n.dataset.direction])")
    return sorted(tuple(r) for r in rows)


def test_the_store_s_anomalies_are_listed(report_store, store_conn, tmp_path, open_report):
    expected = anomalies(store_conn, REPORT_WEEK)
    opened = open_report(render(store_conn, report_store, "week", REPORT_WEEK, tmp_path))
    assert_clean(opened)
    assert headline(opened, "anomalies") == str(len(expected))
    assert shown(opened) == sorted(expected)
    if not expected:
        assert "No KPI left its baseline band" in opened.text()


def test_a_planted_anomaly_is_explained_and_escaped(report_store, tmp_path, open_report):
    conn = _store_copy(report_store, tmp_path)
    week = REPORT_WEEK - timedelta(weeks=1)
    conn.execute("DELETE FROM diagnostic.weekly_anomalies WHERE period_start = ?", [week])
    conn.execute("""INSERT INTO diagnostic.weekly_anomalies VALUES (?, 'week',
                    'kpi_below_band', 'engagement_rate', 'brand', ?, 'below', 0.021, 0.05,
                    0.002, 12, -9.78, 0.0396218, 0.0603782, 1200, 3.5, 0.15, 30, 't', 'd',
                    'Check the data first.')""", [week, SCRIPT])
    opened = open_report(render(conn, report_store, "week", week, tmp_path))
    conn.close()
    assert_clean(opened)
    assert headline(opened, "anomalies") == "1"
    row = opened.page.locator("table.anomalies tbody tr")
    assert row.get_attribute("data-scope-key") == SCRIPT
    text = row.inner_text()
    kpi = catalog()["engagement_rate"]
    assert SCRIPT in text  # shown as the characters, never run (assert_clean: no script)
    for value in (0.021, 0.05, 0.0396218, 0.0603782):
        assert kpi_value(value, kpi) in text
    assert "2.1 %" in text and "4.0 % \u2013 6.0 %" in text  # by hand: the band 3.96 .. 6.04 %
    assert "-9.8" in text and "1,200" in text
    assert "Below its band (higher is better): Check the data first." in text
    rule = opened.page.locator('[data-section="anomalies-rule"]').inner_text()
    assert "3.5 robust deviations" in rule and "15 % of the median" in rule  # as planted
    assert "at least 30" in rule and ReportPeriod("week", week).label in rule


def test_a_store_from_before_the_anomaly_rules_says_so(report_store, tmp_path, open_report):
    """Findings there, the anomaly table not yet: the page renders and says which part
    waits for the next diagnostic run (and only that)."""
    conn = _store_copy(report_store, tmp_path)
    conn.execute("DROP TABLE diagnostic.weekly_anomalies")
    opened = open_report(render(conn, report_store, "week", REPORT_WEEK, tmp_path))
    conn.close()
    assert_clean(opened)
    text = opened.text()
    assert "The anomaly rules have not run on any week yet" in text
    assert "The diagnostic rules have not run" not in text
    assert headline(opened, "anomalies") == "0"
