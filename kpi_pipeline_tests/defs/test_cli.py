"""The command line's ranges: which weeks and months `make run` builds and renders."""

from __future__ import annotations

from datetime import date

from kpi_pipeline.cli import closed_periods, report_periods


def test_closed_periods_are_whole_weeks_and_months_inside_the_range():
    # 2025-03-05 is a Wednesday, 2025-04-30 a Wednesday
    assert closed_periods(date(2025, 3, 5), date(2025, 4, 30), "week") == (
        date(2025, 3, 10), date(2025, 4, 21))
    assert closed_periods(date(2025, 3, 5), date(2025, 4, 30), "month") == (
        date(2025, 4, 1), date(2025, 4, 1))
    assert closed_periods(date(2025, 3, 5), date(2025, 3, 20), "month") is None


def test_report_periods_keep_the_last_n_closed_periods():
    first, last = date(2024, 12, 2), date(2026, 11, 29)  # a Monday and a Sunday
    assert report_periods(first, last, "week", 8) == (date(2026, 10, 5), date(2026, 11, 23))
    assert report_periods(first, last, "month", 3) == (date(2026, 8, 1), date(2026, 10, 1))
    assert report_periods(first, last, "week", 0) == (date(2024, 12, 2), date(2026, 11, 23))
    assert report_periods(first, last, "month", -1) is None
    # fewer closed periods than asked for: all of them
    assert report_periods(date(2026, 11, 2), last, "week", 8) == (
        date(2026, 11, 2), date(2026, 11, 23))
