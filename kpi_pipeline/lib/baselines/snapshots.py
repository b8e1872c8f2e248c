"""Baseline snapshots: where each KPI stood before a period, kept exactly as taken.

A snapshot ``as_of`` a period start summarises the KPI's values over the trailing
periods before it (12 weeks, 6 months or 4 quarters): mean, median, standard deviation,
min, max, how many periods had a value, the pooled value (sum of numerators over sum of
denominators, the honest "typical rate") and the median absolute deviation (``mad``: the
typical distance of a period from the median, which one viral week cannot inflate the way
it inflates the standard deviation; the anomaly rules measure a period against it).
Snapshots are immutable: taking one again for
the same date, KPI and scope keeps the first, so a later restatement of the data does
not move a goal's goalposts.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN, shift_period
from kpi_pipeline.lib.normalized.store import transaction

SCHEMA = "baseline"
TRAILING_PERIODS = {"week": 12, "month": 6, "quarter": 4}
BASELINE_COLUMNS = (
    ("as_of", "DATE NOT NULL"), ("grain", "VARCHAR NOT NULL"), ("kpi", "VARCHAR NOT NULL"),
    ("scope", "VARCHAR NOT NULL"), ("scope_key", "VARCHAR NOT NULL"),
    ("unit", "VARCHAR NOT NULL"), ("trailing_periods", "INTEGER NOT NULL"),
    ("first_period", "DATE NOT NULL"), ("last_period", "DATE NOT NULL"),
    ("periods", "INTEGER NOT NULL"), ("mean", "DOUBLE"), ("median", "DOUBLE"),
    ("stddev", "DOUBLE"), ("min", "DOUBLE"), ("max", "DOUBLE"), ("pooled", "DOUBLE"),
    ("mad", "DOUBLE"),  # added after the first stores: last, so ALTER ... ADD matches
)


def baseline_ddl(grain: str) -> str:
    cols = ",\n  ".join(f"{name} {kind}" for name, kind in BASELINE_COLUMNS)
    return (f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE_FOR_GRAIN[grain]} (\n  {cols},\n"
            "  PRIMARY KEY (as_of, kpi, scope_key)\n)")


def ensure_baseline_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the snapshot tables, and bring a store made before ``mad`` existed up to
    date (see ``add_mad_column``)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for grain in TABLE_FOR_GRAIN:
        conn.execute(baseline_ddl(grain))
        add_mad_column(conn, grain)


def add_mad_column(conn: duckdb.DuckDBPyConnection, grain: str) -> int:
    """Add ``mad`` to a snapshot table created without it, and fill it for the snapshots
    already stored from the KPI rows of each snapshot's own window [first_period, as_of).

    The other statistics of those snapshots stay exactly as taken; their ``mad`` is the
    one statistic computed later, from the KPI rows stored at the migration (a window the
    KPIs restated since would give a slightly different value than at the time). Without
    it the anomaly rules could judge no period before the next snapshot. Returns the rows
    filled (0 when the column was there already)."""
    table = TABLE_FOR_GRAIN[grain]
    has = conn.execute("SELECT count(*) FROM duckdb_columns() WHERE schema_name = ? AND "
                       "table_name = ? AND column_name = 'mad'", [SCHEMA, table]).fetchall()[0][0]
    if has:
        return 0
    kpis = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'kpi' "
                        "AND table_name = ?", [table]).fetchall()[0][0]
    with transaction(conn):
        conn.execute(f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN mad DOUBLE")
        if not kpis:
            return 0
        before = conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table} WHERE mad IS NOT NULL"
                              ).fetchall()[0][0]
        conn.execute(f"""
            UPDATE {SCHEMA}.{table} AS b SET mad = m.mad
            FROM (SELECT s.as_of, s.kpi, s.scope_key, mad(k.value) AS mad
                  FROM {SCHEMA}.{table} s
                  JOIN kpi.{table} k ON k.kpi = s.kpi AND k.scope_key = s.scope_key
                   AND k.period_start >= s.first_period AND k.period_start < s.as_of
                  GROUP BY ALL) AS m
            WHERE b.as_of = m.as_of AND b.kpi = m.kpi AND b.scope_key = m.scope_key""")
        after = conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table} WHERE mad IS NOT NULL"
                             ).fetchone()[0]
    return after - before


def trailing_start(as_of: date, grain: str, periods: int) -> date:
    """Start of the first of the ``periods`` periods before the one starting ``as_of``."""
    return shift_period(as_of, grain, -periods)


SNAPSHOT_WINDOWS_SQL = ("CREATE OR REPLACE TEMP TABLE snapshot_windows AS "
                        "SELECT CAST(as_of AS DATE) AS as_of, CAST(first AS DATE) AS first "
                        "FROM snapshot_windows_all")


def snapshot_insert_sql(grain: str) -> str:
    """The INSERT taking the snapshots of the dates in ``snapshot_windows`` between $lo and
    $hi (their windows start at $first or later), $periods trailing periods each.

    Each date's window is [first, as_of): the KPI rows of the periods before it. A snapshot
    already stored (same as_of, kpi, scope_key: the key) is kept as it was: the NOT EXISTS
    leaves the stored row out of the insert, so it is never overwritten (an anti-join
    rather than DuckDB's INSERT OR IGNORE, so the statement reads the same in every
    warehouse's SQL)."""
    table = f"{SCHEMA}.{TABLE_FOR_GRAIN[grain]}"
    return f"""
INSERT INTO {table}
SELECT w.as_of, '{grain}', k.kpi, k.scope, k.scope_key, any_value(k.unit),
       $periods, w.first, max(k.period_start),
       count(k.value), avg(k.value), median(k.value), stddev_samp(k.value),
       min(k.value), max(k.value),
       CASE WHEN bool_and(k.denominator IS NULL) THEN NULL
            WHEN sum(k.denominator) = 0 THEN NULL
            ELSE sum(k.numerator) / sum(k.denominator) END,
       mad(k.value)
FROM snapshot_windows w
JOIN kpi.{TABLE_FOR_GRAIN[grain]} k ON k.period_start >= w.first AND k.period_start < w.as_of
WHERE w.as_of BETWEEN $lo AND $hi
  AND k.period_start >= $first AND k.period_start < $hi
  AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.as_of = w.as_of AND s.kpi = k.kpi
                                            AND s.scope_key = k.scope_key)
GROUP BY w.as_of, w.first, k.kpi, k.scope, k.scope_key
HAVING count(k.value) > 0"""


SNAPSHOTS_PER_STATEMENT = 13  # as-of dates per INSERT: a quarter of weeks, bounded memory


def take_snapshots(conn: duckdb.DuckDBPyConnection, grain: str, as_of_dates: list[date],
                   periods: int | None = None) -> tuple[int, int]:
    """Take the snapshots ``as_of`` each date that do not exist yet.

    Set-based: each INSERT takes the snapshots of up to ``SNAPSHOTS_PER_STATEMENT`` dates
    at once (one join of those dates' windows with the KPI rows), rather than one
    statement and two counts per date; the batches keep the median's per-group state
    within the warehouse's memory_limit on a long backfill. One transaction for all.

    Returns (created, kept): rows inserted, and rows that already existed for those dates
    and were left exactly as they were (each date counted once).
    """
    ensure_baseline_tables(conn)
    periods = periods or TRAILING_PERIODS[grain]
    table = f"{SCHEMA}.{TABLE_FOR_GRAIN[grain]}"
    dates = sorted(set(as_of_dates))
    if not dates:
        return 0, 0
    windows = pd.DataFrame({"as_of": pd.to_datetime(dates),
                            "first": pd.to_datetime([trailing_start(d, grain, periods)
                                                     for d in dates])})
    taken = "as_of BETWEEN $lo AND $hi AND as_of IN (SELECT as_of FROM snapshot_windows)"
    conn.register("snapshot_windows_all", windows)
    try:
        with transaction(conn):
            conn.execute(SNAPSHOT_WINDOWS_SQL)
            bounds = {"lo": dates[0], "hi": dates[-1]}
            kept = conn.execute(f"SELECT count(*) FROM {table} WHERE {taken}",
                                bounds).fetchone()[0]
            for i in range(0, len(dates), SNAPSHOTS_PER_STATEMENT):
                batch = dates[i:i + SNAPSHOTS_PER_STATEMENT]
                conn.execute(snapshot_insert_sql(grain),
                             {"periods": periods, "lo": batch[0], "hi": batch[-1],
                              "first": trailing_start(batch[0], grain, periods)})
            total = conn.execute(f"SELECT count(*) FROM {table} WHERE {taken}",
                                 bounds).fetchone()[0]
            conn.execute("DROP TABLE snapshot_windows")
    finally:
        conn.unregister("snapshot_windows_all")
    return total - kept, kept
