"""Data-quality gates of the normalized tables: names, meanings and the in-asset results.

Every ``normalized/<table>`` asset declares four checks with ``check_specs`` and returns
their results with its materialization (cheap invariants of the window just written):

- ``schema_valid`` (blocking): every row passed the pandera rules. Passes when nothing
  was quarantined; fails with severity WARN (downstream still runs, on the good rows)
  when some rows were quarantined but no more than the threshold; above the threshold
  the asset itself fails and writes nothing, so no result is recorded.
- ``unique_key`` (blocking, ERROR): no primary key occurs twice in the stored window.
- ``dates_in_partition`` (blocking, ERROR): every row written is dated inside the window.
- ``volume_in_band`` (WARN, not blocking): the window's rows per day are within
  [``VOLUME_BAND_LOW``, ``VOLUME_BAND_HIGH``] x the median rows per day of the 28 days
  before the window; no history passes with a note.

- ``reconciles_with_raw`` (blocking, ERROR): the totals of what the asset parsed from the
  landing files equal the table's plus the quarantine's (``reconciliation.py``).

The checks are not partitioned (partitioned check specs are a preview API in Dagster
1.13): each result covers the run's partition window, named in its metadata.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import dagster as dg
import duckdb

from kpi_pipeline.defs.settings import VOLUME_BAND
from kpi_pipeline.lib.core.schemas import Table
from kpi_pipeline.lib.normalized.store import daily_counts, duplicate_keys

SCHEMA_VALID = "schema_valid"
UNIQUE_KEY = "unique_key"
DATES_IN_PARTITION = "dates_in_partition"
VOLUME_IN_BAND = "volume_in_band"
RECONCILES_WITH_RAW = "reconciles_with_raw"

VOLUME_HISTORY_DAYS = 28
VOLUME_BAND_LOW = 0.5   # below half the usual rows per day warns
VOLUME_BAND_HIGH = 2.0  # above twice the usual rows per day warns
VOLUME_BAND_ENV = VOLUME_BAND.name  # e.g. "0.7,1.5", read when a check runs


def volume_band() -> tuple[float, float]:
    """(low, high) from $KPI_PIPELINE_VOLUME_BAND ("low,high"), else the defaults; a
    malformed value fails naming the variable rather than silently using the default."""
    raw = VOLUME_BAND.value().strip()
    if not raw:
        return VOLUME_BAND_LOW, VOLUME_BAND_HIGH
    try:
        low, high = (float(part) for part in raw.split(","))
    except ValueError:
        raise ValueError(f"{VOLUME_BAND_ENV}={raw!r}: expected 'low,high' such as "
                         "'0.5,2.0'") from None
    if not 0 <= low < 1 < high:
        raise ValueError(f"{VOLUME_BAND_ENV}={raw!r}: need 0 <= low < 1 < high")
    return low, high

DESCRIPTIONS = {
    SCHEMA_VALID: (
        "Every row of the partition passed the table's rules (types, non-negative counts, "
        "finite numbers, known platforms/currencies/media types, no NULL keys, dates inside "
        "the partition). Rows breaking a rule are set aside in quality.quarantine: up to "
        "the threshold (default 1 % of the rows, KPI_PIPELINE_QUARANTINE_THRESHOLD) the good "
        "rows are written and this check WARNS; above it the asset fails and writes nothing."),
    UNIQUE_KEY: (
        "No primary key occurs twice in the partition after the write, so nothing is "
        "double counted downstream."),
    DATES_IN_PARTITION: (
        "Every row written is dated inside the partition, so re-running a partition "
        "replaces all of its rows and no other partition's."),
    VOLUME_IN_BAND: (
        f"Rows per day in the partition are between {VOLUME_BAND_LOW}x and "
        f"{VOLUME_BAND_HIGH}x the median rows per day of the {VOLUME_HISTORY_DAYS} days "
        "before it: a warning that a source dropped or duplicated data, never a blocker."),
    RECONCILES_WITH_RAW: (
        "The landing files of the partition, as the asset read them, carry the same totals "
        "of the table's additive columns as the table holds, once quarantined rows are "
        "counted: nothing was lost or invented between the source and the table."),
}


def check_specs(key: dg.AssetKey, reconciled: tuple[str, ...]) -> list[dg.AssetCheckSpec]:
    """The in-asset checks of one normalized table (``reconciled``: the columns whose
    totals ``reconciles_with_raw`` compares)."""
    descriptions = {**DESCRIPTIONS, RECONCILES_WITH_RAW: (
        f"{DESCRIPTIONS[RECONCILES_WITH_RAW]} Compared: record count, "
        f"{', '.join(reconciled)}.")}
    return [dg.AssetCheckSpec(name, asset=key, description=descriptions[name],
                              blocking=name != VOLUME_IN_BAND)
            for name in (SCHEMA_VALID, UNIQUE_KEY, DATES_IN_PARTITION, VOLUME_IN_BAND,
                         RECONCILES_WITH_RAW)]


def schema_valid_result(*, considered: int, quarantined: int, threshold: float,
                        rules: dict[str, int]) -> dg.AssetCheckResult:
    """Pass without quarantined rows; WARN with some (the asset failed above threshold)."""
    share = quarantined / considered if considered else 0.0
    return dg.AssetCheckResult(
        check_name=SCHEMA_VALID,
        passed=quarantined == 0,
        severity=dg.AssetCheckSeverity.WARN if quarantined else dg.AssetCheckSeverity.ERROR,
        description=(None if not quarantined else
                     f"{quarantined} of {considered} row(s) ({share:.2%}) broke a row rule and "
                     f"were quarantined (threshold {threshold:.2%}); the rest were written."),
        metadata={"rows_considered": considered, "rows_quarantined": quarantined,
                  "rejected_share": share, "quarantine_threshold": threshold,
                  "decision": "quarantined" if quarantined else "all rows valid",
                  "quarantined_by_rule": dg.MetadataValue.json(rules)},
    )


def unique_key_result(conn: duckdb.DuckDBPyConnection, table: Table, start: date,
                      end: date) -> dg.AssetCheckResult:
    """SQL on the stored window: primary keys present more than once."""
    count, examples = duplicate_keys(conn, table, start, end)
    return dg.AssetCheckResult(
        check_name=UNIQUE_KEY, passed=count == 0,
        metadata={"duplicate_keys": count, "primary_key": ", ".join(table.key),
                  "examples": dg.MetadataValue.json(examples)})


def dates_in_partition_result(conn: duckdb.DuckDBPyConnection, rows: str, start: date,
                              end: date) -> dg.AssetCheckResult:
    """The rows just written (the relation ``rows``): none NULL-dated or dated outside
    [start, end]."""
    outside, first, last = conn.execute(
        f"SELECT count(*) FILTER (WHERE report_date IS NULL OR report_date NOT BETWEEN ? "
        f"AND ?), min(report_date), max(report_date) FROM {rows}", [start, end]).fetchone()
    shown = [str(d) if d is not None else "NULL" for (d,) in conn.execute(
        f"SELECT DISTINCT report_date FROM {rows} WHERE report_date IS NULL OR report_date "
        "NOT BETWEEN ? AND ? ORDER BY 1 NULLS FIRST LIMIT 5", [start, end]).fetchall()]
    return dg.AssetCheckResult(
        check_name=DATES_IN_PARTITION, passed=not outside,
        metadata={"rows_outside_window": int(outside),
                  "partition_window": f"{start}..{end}",
                  "first_date": str(first) if first is not None else "",
                  "last_date": str(last) if last is not None else "",
                  "dates_outside": dg.MetadataValue.json(shown)})


def volume_in_band_result(conn: duckdb.DuckDBPyConnection, table: Table, start: date,
                          end: date, low: float | None = None,
                          high: float | None = None, *,
                          sources: tuple[str, ...] | None = None) -> dg.AssetCheckResult:
    """The window's rows per day against the median rows per day of the 28 days before,
    within the band given, else the configured one (``volume_band``). With ``sources``
    only those streams' rows count (export-folder rows are not the streams' volume)."""
    if low is None or high is None:
        low, high = volume_band()
    days = (end - start).days + 1
    window = sum(daily_counts(conn, table.name, start, end, sources=sources).values())
    per_day = window / days
    history = daily_counts(conn, table.name, start - timedelta(days=VOLUME_HISTORY_DAYS),
                           start - timedelta(days=1), sources=sources)
    meta: dict[str, object] = {
        "rows_per_day": per_day, "window_rows": window, "history_days": len(history),
        "band": f"{low}x..{high}x", "partition_window": f"{start}..{end}"}
    if not history:
        return dg.AssetCheckResult(
            check_name=VOLUME_IN_BAND, passed=True, severity=dg.AssetCheckSeverity.WARN,
            description=f"No history in the {VOLUME_HISTORY_DAYS} days before {start}: "
                        "nothing to compare with.",
            metadata={**meta, "note": "no history"})
    median = float(statistics.median(history.values()))
    ratio = per_day / median if median else float("inf")
    passed = low <= ratio <= high
    return dg.AssetCheckResult(
        check_name=VOLUME_IN_BAND, passed=passed, severity=dg.AssetCheckSeverity.WARN,
        description=None if passed else (
            f"{per_day:.1f} rows/day vs a median of {median:.1f} over the "
            f"{len(history)} day(s) before: {ratio:.2f}x, outside {low}x..{high}x."),
        metadata={**meta, "history_median_rows_per_day": median, "ratio": ratio})
