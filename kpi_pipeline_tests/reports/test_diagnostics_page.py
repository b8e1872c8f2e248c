"""The diagnostics page, rendered on the store the real chain built and read in headless
Chromium: each finding of the period with its diagnosis, action and evidence formatted
independently from the diagnostic tables; the widest scope first; a period without
findings says so."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import for_unit
from kpi_pipeline.lib.reports.pages import pages_for
from kpi_pipeline.lib.reports.render import ReportPeriod, render_one
from kpi_pipeline_tests.reports.conftest import REPORT_MONTH, REPORT_WEEK, goals_context

PAGE = "diagnostics"
SCOPE_RANK = {"all": 0, "brand": 1, "platform": 2, "media_type": 3, "account": 4,
              "campaign": 5}
TABLES = {"week": "diagnostic.weekly", "month": "diagnostic.monthly"}
QUIET_WEEK = date(2025, 1, 6)  # the first week: no baseline behind it, so no rule fires
WIDE_WEEK = date(2025, 3, 10)  # a rule fires across all platforms


def render(conn, report_store, grain: str, start: date, out: Path) -> Path:
    """Render only this page for one period, with the goals context the assets build."""
    return render_one(conn, PAGE, ReportPeriod(grain, start), out, catalog(),
                      goals_context(conn, report_store)).path


def findings(conn, grain: str, start: date) -> list[dict]:
    cursor = conn.execute(f"SELECT rule, title, diagnosis, action, scope, scope_key, evidence "
                          f"FROM {TABLES[grain]} WHERE period_start = ?", [start])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def assert_clean(opened) -> None:
    assert opened.dialogs == []
    assert opened.console_errors == []
    assert opened.requests == []
    assert opened.page.locator("script").count() == 0


def headline(opened, name: str) -> str:
    return opened.page.locator(f'.big-value[data-headline="{name}"] .number').inner_text()


def assert_findings_shown(opened, rows: list[dict]) -> None:
    """Every finding under its rule, with the rule's words and every evidence line."""
    kpis = catalog()
    assert opened.page.locator("div.finding").count() == len(rows)
    assert opened.page.locator("section.rule").count() == len({r["rule"] for r in rows})
    for row in rows:
        section = opened.page.locator(f'section.rule[data-rule="{row["rule"]}"]')
        words = section.inner_text()
        for field in ("title", "diagnosis", "action"):
            assert row[field] in words
        finding = section.locator(f'div.finding[data-scope-key={json.dumps(row["scope_key"])}]')
        assert finding.count() == 1
        text = finding.inner_text()
        if row["scope"] != "all":
            assert row["scope_key"] in text
        for item in json.loads(row["evidence"]):
            kpi = kpis[item["kpi"]]
            line = finding.locator(f'tr[data-kpi="{item["kpi"]}"]').inner_text()
            assert kpi.label in line
            for column in ("value", "baseline", "threshold"):
                assert for_unit(item[column], kpi.unit, "USD") in line, (column, line)
            factor = item["rule"].split()[1]
            assert f"{factor} \u00d7 baseline" in line  # multiplication sign


def test_page_is_a_weekly_and_monthly_page():
    for grain in ("week", "month"):
        assert PAGE in [page.name for page in pages_for(grain, catalog())]


def test_week_with_findings_lists_them_with_evidence(report_store, store_conn, tmp_path,
                                                    open_report):
    rows = findings(store_conn, "week", REPORT_WEEK)
    assert rows, "the report week should have findings"
    opened = open_report(render(store_conn, report_store, "week", REPORT_WEEK, tmp_path))
    assert_clean(opened)
    assert headline(opened, "findings") == str(len(rows))
    assert headline(opened, "rules") == str(len({r["rule"] for r in rows}))
    assert headline(opened, "all-platforms") == str(sum(r["scope"] == "all" for r in rows))
    assert_findings_shown(opened, rows)
    assert "No diagnostic rule fired" not in opened.text()


def test_month_reads_the_monthly_findings(report_store, store_conn, tmp_path, open_report):
    rows = findings(store_conn, "month", REPORT_MONTH)
    assert rows
    opened = open_report(render(store_conn, report_store, "month", REPORT_MONTH, tmp_path))
    assert_clean(opened)
    assert headline(opened, "findings") == str(len(rows))
    assert_findings_shown(opened, rows)


def test_widest_scope_first(report_store, store_conn, tmp_path, open_report):
    rows = findings(store_conn, "week", WIDE_WEEK)
    assert any(r["scope"] == "all" for r in rows)
    opened = open_report(render(store_conn, report_store, "week", WIDE_WEEK, tmp_path))
    assert_clean(opened)
    assert_findings_shown(opened, rows)
    sections = opened.page.locator("section.rule")
    widest = []
    for i in range(sections.count()):
        scopes = sections.nth(i).locator("div.finding").evaluate_all(
            "nodes => nodes.map(n => n.dataset.scope)")
        ranks = [SCOPE_RANK[s] for s in scopes]
        assert ranks == sorted(ranks), scopes  # within a rule: all, brand, platform, ...
        widest.append(ranks[0])
    assert widest == sorted(widest)  # rules by their widest finding
    assert widest[0] == SCOPE_RANK["all"]
    first = sections.nth(0).locator("div.finding").first
    assert first.get_attribute("data-scope") == "all"
    assert "All platforms" in first.inner_text()


def test_week_without_findings_says_so(report_store, store_conn, tmp_path, open_report):
    assert findings(store_conn, "week", QUIET_WEEK) == []
    opened = open_report(render(store_conn, report_store, "week", QUIET_WEEK, tmp_path))
    assert_clean(opened)
    assert headline(opened, "findings") == "0"
    assert headline(opened, "rules") == "0"
    assert opened.page.locator("section.rule").count() == 0
    note = opened.page.locator('[data-section="no-findings"]').inner_text()
    assert "No diagnostic rule fired" in note
    assert ReportPeriod("week", QUIET_WEEK).label in note
