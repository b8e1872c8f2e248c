"""The data-quality footer of a page: only the warnings that judged the page's period,
one line each in words, written out here by hand."""

from __future__ import annotations

from datetime import date

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.context import QualityFailure, quality_notes
from kpi_pipeline.lib.reports.render import ReportPeriod, quality_href, quality_page

NOV = (date(2026, 11, 16), date(2026, 11, 22))
MINUS = "\u2212"


def _jumps(window: tuple[date, date], *periods: tuple[str, str, str, float]
           ) -> QualityFailure:
    """A failed kpi_period_jumps evaluation over ``window``, as its metadata holds it."""
    rows = [{"period": period, "rule": "|change vs previous| <= 3", "kpi": None,
             "expectation": "kpi_change_vs_previous_within_band", "unexpected_count": 1,
             "missing": [], "examples": [{"change_vs_previous": change, "period": period,
                                          "kpi": kpi, "scope_key": scope}]}
            for period, kpi, scope, change in periods]
    return QualityFailure("kpi_period_jumps", "kpi/weekly", window,
                          "kpi.weekly: 2024-12-02: ... = 4.140310355987692", rows)


def test_only_checks_that_judged_the_period_are_listed_in_words():
    backfill = _jumps((date(2024, 12, 2), date(2026, 7, 26)),
                      ("2024-12-02", "return_on_ad_spend", "linkedin", -4.140310355987692))
    november = _jumps((date(2026, 11, 2), date(2026, 11, 22)),
                      ("2026-11-09", "leads", "all", 3.5),
                      ("2026-11-16", "return_on_ad_spend", "linkedin", 4.140310355987692),
                      ("2026-11-16", "engagement_rate", "tiktok", 3.2519))
    fresh = QualityFailure("source_fresh", "raw/linkedin", None,
                           "linkedin_page_stats newest landing file is 3.041666666667 days old")
    notes = quality_notes([backfill, november, fresh], *NOV, catalog(), "USD")
    assert [n.text for n in notes] == [
        "Return on ad spend (ROAS) (linkedin): +414.0 % vs the previous period; it moves "
        "more than +300.0 % in one period (kpi_period_jumps)",
        "Engagement rate (tiktok): +325.2 % vs the previous period; it moves more than "
        "+300.0 % in one period (kpi_period_jumps)",
        "source fresh on raw/linkedin failed: linkedin_page_stats newest landing file is "
        "3.04 days old",
    ]
    assert {n.severity for n in notes} == {"warning"}


def test_value_rules_and_missing_kpis_read_by_the_catalogue():
    failure = QualityFailure("kpi_expectations", "kpi/weekly", NOV, None, [
        {"period": "2026-11-16", "rule": "value between 0 and 1", "kpi": "bounce_rate",
         "missing": [], "examples": [{"value": 1.0412345678, "period": "2026-11-16",
                                      "kpi": "bounce_rate", "scope_key": "all"}]},
        {"period": "2026-11-16", "rule": "present at scope all", "kpi": None,
         "missing": ["pages_per_session"], "examples": []}])
    assert [n.text for n in quality_notes([failure], *NOV, catalog(), "USD")] == [
        "Bounce rate (all platforms): 104.1 %; breaks value between 0 and 1 "
        "(kpi_expectations)",
        "Pages per session: missing for all platforms (kpi_expectations)",
    ]


def test_a_period_without_warnings_has_no_lines():
    old = _jumps((date(2024, 12, 2), date(2026, 7, 26)),
                 ("2025-03-03", "leads", "all", 3.5))
    assert quality_notes([old], *NOV, catalog(), "USD") == []


def test_the_footer_links_the_periods_data_quality_page_when_it_exists(tmp_path):
    period = ReportPeriod("week", NOV[0])
    assert quality_href(tmp_path, period) is None
    page = quality_page(tmp_path, period)
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>", encoding="utf-8")
    assert quality_href(tmp_path, period) == "../../quality/kpi_week_2026-11-16.html"
