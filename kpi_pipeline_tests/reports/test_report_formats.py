"""The report number formats and period labels, by hand."""

from __future__ import annotations

from datetime import date

import pytest

from kpi_pipeline.lib.reports import formats as f
from kpi_pipeline.lib.reports.charts import bar_chart, line_chart


@pytest.mark.parametrize(("value", "unit", "text"), [
    (12345.4, "count", "12,345"),
    (0.0342, "ratio", "3.4 %"),
    (0.00249, "ratio", "0.25 %"),
    (0.0, "ratio", "0.0 %"),
    (1.0, "ratio", "100.0 %"),
    (3.274, "currency", "$3.27"),
    (12345.6, "currency", "$12,346"),
    (-5.5, "currency", "\u2212$5.50"),
    (42.34, "seconds", "42.3 s"),
    (1.6532, "multiple", "1.65\u00d7"),
    (125.0, "seconds", "2 min 5 s"),
    (2.45, "count", "2.5"),
    (None, "count", "\u2013"),
    (float("nan"), "ratio", "\u2013"),
    (float("inf"), "currency", "\u2013"),
])
def test_for_unit(value, unit, text):
    assert f.for_unit(value, unit) == text


def test_money_in_other_currencies():
    assert f.usd0(1234.5, "EUR") == "\u20ac1,234"  # rounds half to even: 1234.5 -> 1,234
    assert f.usd2(3.5, "CHF") == "3.50 CHF"


@pytest.mark.parametrize(("value", "text"), [
    (0.052, "+5.2 %"), (-0.1, "\u221210.0 %"), (0.0, "\u00b10.0 %"), (None, "\u2013")])
def test_delta_pct(value, text):
    assert f.delta_pct(value) == text


def test_relative_change_and_tone():
    assert f.relative_change(110, 100) == pytest.approx(0.10)
    assert f.relative_change(-90, -100) == pytest.approx(0.10)  # against |reference|
    assert f.relative_change(5, 0) is None
    assert f.relative_change(None, 3) is None
    assert f.tone(0.10, "higher") == "good"
    assert f.tone(0.10, "lower") == "bad"
    assert f.tone(-0.004, "higher") == "flat"
    assert f.tone(None, "lower") == "flat"


def test_period_labels():
    assert f.period_label(date(2026, 11, 16), "week") == "Week 47 2026 (16\u201322 Nov)"
    assert f.period_label(date(2025, 3, 31), "week") == "Week 14 2025 (31 Mar\u20136 Apr)"
    assert f.period_label(date(2025, 4, 1), "month") == "April 2025"


def test_charts_escape_untrusted_labels_and_keep_dollar_signs():
    svg = bar_chart(["<script>alert(1)</script>", "$5 off $10"], [1.0, 2.0], unit="count")
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "$5 off $10" in svg  # math text is off: not typeset as TeX
    assert svg.startswith("<svg")


def test_line_chart_is_deterministic_and_marks_missing_values_as_gaps():
    x = [date(2025, 1, 6), date(2025, 1, 13), date(2025, 1, 20)]
    first = line_chart(x, {"Sessions": [10, None, 12]}, unit="count", reference=[9, 9, 9])
    again = line_chart(x, {"Sessions": [10, None, 12]}, unit="count", reference=[9, 9, 9])
    assert first == again
    assert "6 Jan" in first and "Sessions" in first and "baseline" in first
