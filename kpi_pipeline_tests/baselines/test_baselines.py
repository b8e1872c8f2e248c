"""Baseline snapshots: hand-checked statistics, and immutability under restatement."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import duckdb
import pytest

from kpi_pipeline.lib.baselines.snapshots import take_snapshots, trailing_start
from kpi_pipeline.lib.kpis.compute import ensure_kpi_tables

AS_OF = date(2025, 4, 7)  # a Monday; the 12 weeks before it start on 2025-01-13
WEEKS = [AS_OF - timedelta(weeks=k) for k in range(14, -1, -1)]  # 14 before, and AS_OF
# (numerator, denominator) per week, oldest first: weeks 0-1 fall outside the window,
# the last one is the as-of week itself, which a baseline taken before it cannot see
RATES = [(90, 100), (80, 100)] + [(n, 1000) for n in
                                  (40, 42, 38, 45, 50, 41, 39, 44, 47, 43, 40, 46)] + [(99, 100)]


def insert_week(conn, week: date, numerator: float, denominator: float) -> None:
    conn.execute("""INSERT INTO kpi.weekly VALUES (?, ?, 'week', 'engagement_rate', 'platform',
                    'instagram', NULL, 'instagram', NULL, NULL, NULL, 'ratio', 'x', ?, ?, ?,
                    NULL, NULL, NULL, NULL, 7, 7)""",
                 [week, week + timedelta(days=6), numerator, denominator,
                  numerator / denominator])


@pytest.fixture
def conn(tmp_path):
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_kpi_tables(conn)
    for week, (numerator, denominator) in zip(WEEKS, RATES, strict=True):
        insert_week(conn, week, numerator, denominator)
    yield conn
    conn.close()


def snapshot(conn, as_of=AS_OF):
    return conn.execute("""SELECT periods, mean, median, stddev, min, max, pooled, first_period,
                           last_period FROM baseline.weekly WHERE as_of = ?""",
                        [as_of]).fetchone()


def test_statistics_over_the_twelve_weeks_before(conn):
    assert take_snapshots(conn, "week", [AS_OF]) == (1, 0)
    window = [n / 1000 for n in (40, 42, 38, 45, 50, 41, 39, 44, 47, 43, 40, 46)]
    periods, mean, median, stddev, low, high, pooled, first, last = snapshot(conn)
    assert periods == 12
    assert mean == pytest.approx(sum(window) / 12)
    assert median == pytest.approx((0.042 + 0.043) / 2)
    assert stddev == pytest.approx(statistics.stdev(window))
    assert (low, high) == (pytest.approx(0.038), pytest.approx(0.050))
    assert pooled == pytest.approx(515 / 12000)  # sum of numerators / sum of denominators
    assert (first, last) == (date(2025, 1, 13), date(2025, 3, 31))


def test_a_snapshot_is_never_rewritten(conn):
    take_snapshots(conn, "week", [AS_OF])
    before = snapshot(conn)
    conn.execute("UPDATE kpi.weekly SET value = value * 3, numerator = numerator * 3")
    assert take_snapshots(conn, "week", [AS_OF]) == (0, 1)  # kept, not retaken
    assert snapshot(conn) == before
    take_snapshots(conn, "week", [AS_OF + timedelta(weeks=1)])  # a new date sees the restatement
    assert snapshot(conn, AS_OF + timedelta(weeks=1))[1] > 3 * 0.04


def test_no_history_gives_no_snapshot(conn):
    assert take_snapshots(conn, "week", [WEEKS[0]]) == (0, 0)


def test_trailing_window_starts():
    assert trailing_start(AS_OF, "week", 12) == date(2025, 1, 13)
    assert trailing_start(date(2025, 3, 1), "month", 6) == date(2024, 9, 1)
    assert trailing_start(date(2025, 1, 1), "month", 1) == date(2024, 12, 1)
