"""Baseline snapshots: where each KPI stood before a period, kept exactly as taken.

A snapshot ``as_of`` a period start summarises the KPI's values over the trailing
periods before it (12 weeks, or 6 months): mean, median, standard deviation, min, max,
how many periods had a value, and the pooled value (sum of numerators over sum of
denominators, the honest "typical rate"). Snapshots are immutable: taking one again for
the same date, KPI and scope keeps the first, so a later restatement of the data does
not move a goal's goalposts.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from kpi_pipeline.lib.kpis.compute import TABLE_FOR_GRAIN
from kpi_pipeline.lib.store import transaction

SCHEMA = "baseline"
TRAILING_PERIODS = {"week": 12, "month": 6}
BASELINE_COLUMNS = (
    ("as_of", "DATE NOT NULL"), ("grain", "VARCHAR NOT NULL"), ("kpi", "VARCHAR NOT NULL"),
    ("scope", "VARCHAR NOT NULL"), ("scope_key", "VARCHAR NOT NULL"),
    ("unit", "VARCHAR NOT NULL"), ("trailing_periods", "INTEGER NOT NULL"),
    ("first_period", "DATE NOT NULL"), ("last_period", "DATE NOT NULL"),
    ("periods", "INTEGER NOT NULL"), ("mean", "DOUBLE"), ("median", "DOUBLE"),
    ("stddev", "DOUBLE"), ("min", "DOUBLE"), ("max", "DOUBLE"), ("pooled", "DOUBLE"),
)


def baseline_ddl(grain: str) -> str:
    cols = ",\n  ".join(f"{name} {kind}" for name, kind in BASELINE_COLUMNS)
    return (f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE_FOR_GRAIN[grain]} (\n  {cols},\n"
            "  PRIMARY KEY (as_of, kpi, scope_key)\n)")


def ensure_baseline_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for grain in TABLE_FOR_GRAIN:
        conn.execute(baseline_ddl(grain))


def trailing_start(as_of: date, grain: str, periods: int) -> date:
    """Start of the first of the ``periods`` periods before the one starting ``as_of``."""
    if grain == "week":
        return as_of - timedelta(weeks=periods)
    month = as_of.year * 12 + as_of.month - 1 - periods
    return date(month // 12, month % 12 + 1, 1)


def take_snapshots(conn: duckdb.DuckDBPyConnection, grain: str, as_of_dates: list[date],
                   periods: int | None = None) -> tuple[int, int]:
    """Take the snapshots ``as_of`` each date that do not exist yet.

    Returns (created, kept): rows inserted, and rows that already existed and were left
    exactly as they were.
    """
    ensure_baseline_tables(conn)
    periods = periods or TRAILING_PERIODS[grain]
    table = f"{SCHEMA}.{TABLE_FOR_GRAIN[grain]}"
    source = f"kpi.{TABLE_FOR_GRAIN[grain]}"
    created = kept = 0
    with transaction(conn):
        for as_of in as_of_dates:
            before = conn.execute(f"SELECT count(*) FROM {table} WHERE as_of = ?",
                                  [as_of]).fetchone()[0]
            conn.execute(f"""
                INSERT INTO {table}
                SELECT CAST($as_of AS DATE), '{grain}', kpi, scope, scope_key, any_value(unit),
                       $periods, CAST($first AS DATE), max(period_start),
                       count(value), avg(value), median(value), stddev_samp(value),
                       min(value), max(value),
                       CASE WHEN bool_and(denominator IS NULL) THEN NULL
                            WHEN sum(denominator) = 0 THEN NULL
                            ELSE sum(numerator) / sum(denominator) END
                FROM {source} k
                WHERE period_start >= $first AND period_start < $as_of
                  AND NOT EXISTS (SELECT 1 FROM {table} b WHERE b.as_of = $as_of
                                  AND b.kpi = k.kpi AND b.scope_key = k.scope_key)
                GROUP BY kpi, scope, scope_key
                HAVING count(value) > 0""",
                {"as_of": as_of, "periods": periods,
                 "first": trailing_start(as_of, grain, periods)})
            after = conn.execute(f"SELECT count(*) FROM {table} WHERE as_of = ?",
                                 [as_of]).fetchone()[0]
            created += after - before
            kept += before
    return created, kept
