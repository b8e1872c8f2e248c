"""Which days a KPI run reads (``fact_ranges``), and that reading only those is enough.

Why: the KPIs of a period need its own days, the previous period's and the same period a
year earlier; with post activity stored as daily increments nothing else is read, so a
weekly run reads 3 weeks instead of 54. A range too short would silently drop previous or
year-ago values, so the ranges are checked by hand, and a window computed in one run must
equal the same periods computed one at a time.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from kpi_pipeline.lib.kpis.compute import fact_ranges, replace_kpis
from kpi_pipeline_tests.kpis.test_kpi_hand import ANY_COVERAGE, MON, NEXT_MON, PREV_MON, Fixture

D = date.fromisoformat


def test_a_week_reads_itself_the_week_before_and_the_same_week_a_year_earlier() -> None:
    # week of Monday 2025-03-03: 2025-02-24..2025-03-09, and 52 weeks back 2024-03-04..10
    assert fact_ranges(D("2025-03-03"), D("2025-03-09"), "week") == [
        (D("2024-03-04"), D("2024-03-10")), (D("2025-02-24"), D("2025-03-09"))]


def test_a_month_reads_itself_the_month_before_and_the_same_month_a_year_earlier() -> None:
    assert fact_ranges(D("2025-03-01"), D("2025-03-31"), "month") == [
        (D("2024-03-01"), D("2024-03-31")), (D("2025-02-01"), D("2025-03-31"))]
    assert fact_ranges(D("2025-01-01"), D("2025-01-31"), "month") == [
        (D("2024-01-01"), D("2024-01-31")), (D("2024-12-01"), D("2025-01-31"))]


def test_a_window_longer_than_a_year_reads_one_range() -> None:
    # 60 weeks from 2025-01-06: the year-ago weeks run into the window's previous weeks
    first, last = D("2025-01-06"), D("2025-01-06") + timedelta(weeks=60, days=-1)
    assert fact_ranges(first, last, "week") == [(first - timedelta(weeks=52), last)]


def test_periods_start_in_the_window() -> None:
    # a window from a Wednesday computes the weeks starting in it: from the next Monday;
    # the last day's whole week (or month) is read
    assert fact_ranges(D("2025-03-05"), D("2025-03-11"), "week") == [
        (D("2024-03-11"), D("2024-03-17")), (D("2025-03-03"), D("2025-03-16"))]
    assert fact_ranges(D("2025-03-15"), D("2025-04-15"), "month") == [
        (D("2024-04-01"), D("2024-04-30")), (D("2025-03-01"), D("2025-04-30"))]


def weekly(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute("SELECT * FROM kpi.weekly ORDER BY period_start, kpi, scope_key").df()


def test_weeks_computed_one_by_one_equal_weeks_computed_together(tmp_path: Path) -> None:
    together = duckdb.connect(str(tmp_path / "together.duckdb"))
    one_by_one = duckdb.connect(str(tmp_path / "one_by_one.duckdb"))
    for conn in (together, one_by_one):
        Fixture().load(conn)
    # the sparse hand fixture is compared whatever its coverage (see test_kpi_hand)
    replace_kpis(together, "week", PREV_MON, NEXT_MON + timedelta(days=6),
                 min_coverage_share=ANY_COVERAGE)
    for monday in (PREV_MON, MON, NEXT_MON):
        replace_kpis(one_by_one, "week", monday, monday + timedelta(days=6),
                     min_coverage_share=ANY_COVERAGE)
    expected = weekly(together)
    assert expected["previous_value"].notna().any()
    pd.testing.assert_frame_equal(weekly(one_by_one), expected)
    together.close()
    one_by_one.close()
