"""The snapshot's median absolute deviation, and the migration of a store made before it."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from kpi_pipeline.lib.baselines.snapshots import (
    BASELINE_COLUMNS,
    ensure_baseline_tables,
    take_snapshots,
)
from kpi_pipeline.lib.kpis.compute import ensure_kpi_tables

FIRST = date(2025, 1, 6)
VALUES = [10.0, 12.0, 11.0, 30.0, 9.0]  # median 11; |deviations| 1, 1, 0, 19, 2 -> MAD 1


def store_with_weeks(conn: duckdb.DuckDBPyConnection) -> None:
    ensure_kpi_tables(conn)
    for i, value in enumerate(VALUES):
        start = FIRST + timedelta(weeks=i)
        conn.execute("""INSERT INTO kpi.weekly (period_start, period_end, grain, kpi, scope,
                        scope_key, unit, definition, numerator, value)
                        VALUES (?, ?, 'week', 'saves', 'all', 'all', 'count', 'd', ?, ?)""",
                     [start, start + timedelta(days=6), value, value])


def test_a_snapshot_stores_the_median_absolute_deviation():
    conn = duckdb.connect()
    store_with_weeks(conn)
    as_of = FIRST + timedelta(weeks=5)
    assert take_snapshots(conn, "week", [as_of]) == (1, 0)
    median, mad, stddev = conn.execute(
        "SELECT median, mad, stddev FROM baseline.weekly WHERE as_of = ?", [as_of]).fetchone()
    assert (median, mad) == (11.0, 1.0)
    assert stddev == pytest.approx(8.80, abs=0.01)  # the viral week inflates it, not MAD


def test_a_store_made_before_mad_gets_the_column_and_its_snapshots_filled():
    conn = duckdb.connect()
    store_with_weeks(conn)
    conn.execute("CREATE SCHEMA baseline")
    old = ", ".join(f"{n} {k}" for n, k in BASELINE_COLUMNS if n != "mad")
    for table in ("weekly", "monthly"):
        conn.execute(f"CREATE TABLE baseline.{table} ({old}, "
                     "PRIMARY KEY (as_of, kpi, scope_key))")
    as_of = FIRST + timedelta(weeks=5)
    # an old snapshot, its statistics deliberately unlike today's rows: kept as taken
    conn.execute("""INSERT INTO baseline.weekly VALUES (?, 'week', 'saves', 'all', 'all',
                    'count', 12, ?, ?, 5, 99, 99, 0, 99, 99, NULL)""",
                 [as_of, FIRST - timedelta(weeks=7), as_of - timedelta(weeks=1)])
    ensure_baseline_tables(conn)
    assert conn.execute("SELECT mean, median, mad FROM baseline.weekly").fetchall() == [
        (99.0, 99.0, 1.0)]
    ensure_baseline_tables(conn)  # twice is a no-op
    assert take_snapshots(conn, "week", [as_of]) == (0, 1)
