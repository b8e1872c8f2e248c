"""The data-quality page's UTM hygiene section, opened in headless Chromium: the page the
KPI expectations check writes for a week, with the section of the hygiene fixture's week
(counted by hand in kpi_pipeline_tests/normalized/test_utm_hygiene.py); a hostile source
shows as text."""

from __future__ import annotations

from datetime import date

from kpi_pipeline.lib.kpis.expectations import render_validation_page, validate_kpi_window
from kpi_pipeline.lib.normalized.utm_hygiene import hygiene_report
from kpi_pipeline.lib.reports.utm_hygiene_section import render_section
from kpi_pipeline_tests.kpis.test_expectations import KPIS, clean_period, frame
from kpi_pipeline_tests.normalized.test_utm_hygiene import SCRIPT, W1, hygiene_store


def test_the_data_quality_page_shows_the_week_s_utm_hygiene(tmp_path, open_report):
    conn = hygiene_store()
    section = render_section(hygiene_report(conn, W1, date(2025, 3, 9)))
    conn.close()
    [validation] = validate_kpi_window(frame(clean_period(W1)), KPIS, "week", [W1]).periods
    path = tmp_path / "kpi_week_2025-03-03.html"
    path.write_text(render_validation_page(validation, "kpi.weekly 2025-03-03: data quality",
                                           "sub", "now", sections=[section]),
                    encoding="utf-8")
    opened = open_report(path)
    assert opened.dialogs == [] and opened.console_errors == [] and opened.requests == []
    assert opened.page.locator("script").count() == 0
    page = opened.page
    assert "UTM hygiene" in page.locator("#utm-hygiene h2").inner_text()
    rows = page.locator("table.utm-weeks tbody tr").evaluate_all(
        "nodes => nodes.map(n => [n.dataset.platform, "
        "Array.from(n.cells).slice(2).map(c => c.innerText)])")
    assert rows == [
        ["facebook", ["150", "40", "0", "26.7%"]],
        ["instagram", ["20", "0", "0", "0.0%"]],
        ["other social", ["5", "5", "0", "100.0%"]],
        ["unknown source", ["10", "0", "10", "100.0%"]]]
    assert page.locator("table.utm-naming tbody tr").count() == 5
    assert "Northwind | Always-on" in page.locator("table.utm-unmatched").inner_text()
    paste = page.locator("pre.paste").inner_text()
    assert paste.splitlines()[0].startswith("      - insta")
    assert f'- "{SCRIPT}"' in paste  # the characters, quoted for YAML, never markup
