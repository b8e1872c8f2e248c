"""Data-quality checks of the KPI tables, run with Great Expectations.

Two separate checks per KPI table (``kpi/weekly``, ``/monthly``, ``/quarterly``), each over the
run's whole partition window at once, rows loaded read-only from DuckDB into pandas:

- ``kpi_expectations`` (blocking, ERROR): bounded rates within [0, 1]; ``value`` not NULL
  where the denominator is positive; every catalogue KPI present at scope ``all`` in
  every period. One Great Expectations validation covers the window, and its result is
  split by period: failures name the period, and a readable page of each period's share
  is written to ``<reports folder>/quality/kpi_<grain>_<period>.html``. A failure stops
  the assets downstream in the same run (baselines, diagnostics, reports) and the
  reports' gate in later runs.
- ``kpi_period_jumps`` (WARN, not blocking): ``|change_vs_previous|`` within a band
  (default 3.0, i.e. +300 %) at the scopes all, brand and platform; configurable per run.
  One pandas comparison over the window (see ``expectations.validate_kpi_jumps``).

Metadata counts per period, as a reader of one period's page sees them:
``expectations_evaluated`` and ``expectations_failed`` add up (expectation, period)
pairs, whatever the number of validations behind them.

The checks read the store like the reports do: read-only, in the "duckdb" pool.
"""


from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.partitions import (
    monthly_partitions,
    period_starts,
    quarterly_partitions,
    weekly_partitions,
    window_bounds,
)
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.core.files import write_atomic
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN, period_last_day
from kpi_pipeline.lib.kpis import expectations
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.facts import PERIOD_UNITS, SOURCES, day_column
from kpi_pipeline.lib.normalized.utm_hygiene import hygiene_report
from kpi_pipeline.lib.reports.render import ReportPeriod, quality_page
from kpi_pipeline.lib.reports.utm_hygiene_section import render_section

KPI_EXPECTATIONS = "kpi_expectations"
KPI_PERIOD_JUMPS = "kpi_period_jumps"

DESCRIPTIONS = {
    KPI_EXPECTATIONS: (
        "The KPI values of each period can be trusted by the reports: every rate that is a "
        "share (engagement, share, completion, click-through, bounce, conversion rates, "
        "lead quality, repeat-customer rate) lies between 0 % and 100 %; a KPI whose "
        "denominator is positive has a value; and every KPI of the catalogue is there for "
        "all platforms together in every period. Validated with Great Expectations, one "
        "validation per run; the result of each period is a page under "
        "<reports>/quality/. Blocking: a failure stops the baselines, diagnostics and "
        "reports built on these KPIs."),
    KPI_PERIOD_JUMPS: (
        "A warning when a KPI changed by more than the band (default 300 %) versus the "
        "previous period, for all platforms, a brand or a platform: usually a real spike "
        "or a source problem worth a look before the report goes out. Only periods the "
        "data covers on every day are compared, so a partly covered first week never "
        "warns here (its rows say coverage_days). Never blocks."),
}


class JumpConfig(dg.Config):
    """How large a period-over-period change warns, and at which scopes."""

    max_abs_change: float = Field(
        default=expectations.DEFAULT_JUMP_BAND, gt=0,
        description="Warn when |value / previous value - 1| exceeds this (3.0 = +300 %).")
    scopes: list[str] = Field(
        default=list(expectations.DEFAULT_JUMP_SCOPES),
        description="Scopes compared (all, brand, platform, account, campaign, media_type).")


def check_window(context: dg.AssetCheckExecutionContext,
                 partitions_def: dg.TimeWindowPartitionsDefinition) -> dg.TimeWindow:
    """The run's partition window, also for a check run alone (partition tags only)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        raise dg.Failure("This check validates one partition window: run it with a "
                         "partition or a partition range.")
    keys = context.partition_key_range
    return dg.TimeWindow(partitions_def.time_window_for_partition_key(keys.start).start,
                         partitions_def.time_window_for_partition_key(keys.end).end)


def load_window(conn: duckdb.DuckDBPyConnection, table: str, first, last) -> pd.DataFrame:
    """The window's KPI rows; a table not built yet reads as no rows."""
    columns = ", ".join(expectations.KPI_COLUMNS)
    try:
        return conn.execute(
            f"SELECT {columns} FROM kpi.{table} WHERE period_start BETWEEN ? AND ? "
            "ORDER BY period_start, kpi, scope_key", [first, last]).df()
    except duckdb.CatalogException:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in expectations.KPI_COLUMNS})


def empty_source_tables(conn: duckdb.DuckDBPyConnection, grain: str,
                        periods: list) -> dict[object, frozenset[str]]:
    """Per period, the normalized tables the KPI sources read that hold no row for it
    (a source the deployment does not pull cannot produce its KPIs)."""
    tables = sorted({t for source in SOURCES.values() for t in source.tables})
    if not periods:
        return {}
    first, last = min(periods), period_last_day(max(periods), grain)
    unit = PERIOD_UNITS[grain]
    have: dict[object, set[str]] = {p: set() for p in periods}
    for name in tables:
        try:
            day = day_column(name)
            starts = conn.execute(
                f"SELECT DISTINCT date_trunc('{unit}', {day})::DATE "
                f"FROM normalized.{name} WHERE {day} BETWEEN ? AND ?",
                [first, last]).fetchall()
        except duckdb.CatalogException:
            continue
        for (start,) in starts:
            if start in have:
                have[start].add(name)
    return {p: frozenset(set(tables) - present) for p, present in have.items()}


def utm_hygiene_sections(conn: duckdb.DuckDBPyConnection, grain: str, periods: list) -> dict:
    """Per period, the UTM hygiene section of its data-quality page (the web and ad tables
    over the period's days)."""
    return {p: render_section(hygiene_report(conn, p, period_last_day(p, grain)))
            for p in periods}


def page_path(settings: Settings, grain: str, period) -> Path:
    """Where the period's validation page goes: the one the report pages link to."""
    return quality_page(settings.reports_root(), ReportPeriod(grain, period))


def _metadata(outcome: expectations.WindowValidation, first, last) -> dict[str, object]:
    validations = outcome.periods
    return {
        "partition_window": f"{first}..{last}",
        "periods": len(validations),
        "rows_validated": outcome.rows,
        "expectations_evaluated": sum(v.evaluated for v in validations),
        "expectations_failed": sum(v.failed for v in validations),
        "failed_expectations": dg.MetadataValue.json(expectations.failure_rows(validations)),
        "failures": dg.MetadataValue.md(expectations.failures_markdown(validations)),
    }


def _description(table: str, validations: list[expectations.PeriodValidation]) -> str | None:
    texts = [f.text(v.period) for v in validations for f in v.failures]
    if not texts:
        return None
    more = f" (+{len(texts) - 5} more)" if len(texts) > 5 else ""
    return f"kpi.{table}: " + " | ".join(texts[:5]) + more


def kpi_expectations_check(grain: str,
                           partitions_def: dg.TimeWindowPartitionsDefinition
                           ) -> dg.AssetChecksDefinition:
    table = TABLE_FOR_GRAIN[grain]

    @dg.asset_check(
        asset=dg.AssetKey(["kpi", table]),
        name=KPI_EXPECTATIONS,
        description=DESCRIPTIONS[KPI_EXPECTATIONS],
        blocking=True,
        pool=DUCKDB_WRITER["pool"],
    )
    def _expectations(context: dg.AssetCheckExecutionContext, warehouse: Warehouse,
                      settings: Settings) -> dg.AssetCheckResult:
        window = check_window(context, partitions_def)
        first, last = window_bounds(window)
        periods = period_starts(window, grain)
        # everything the check reads, in one read-only connection, before the validation
        with warehouse.get_connection(read_only=True) as conn:
            frame = load_window(conn, table, first, last)
            empty = empty_source_tables(conn, grain, periods)
            hygiene = utm_hygiene_sections(conn, grain, periods)
        outcome = expectations.validate_kpi_window(frame, catalog(), grain, periods,
                                               empty_tables=empty)
        validations = outcome.periods
        left_out = {str(p): {"empty_tables": sorted(tables),
                             "kpis": expectations.unsourced(catalog(), grain, tables)}
                    for p, tables in empty.items() if tables}
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        pages = {}
        for validation in validations:
            path = page_path(settings, grain, validation.period)
            write_atomic(path, expectations.render_validation_page(
                validation, title=f"kpi.{table} {validation.period}: data quality",
                subtitle=(f"Great Expectations validation of the {grain} starting "
                          f"{validation.period} (check {KPI_EXPECTATIONS} on kpi/{table})"),
                generated=generated, sections=[hygiene[validation.period]]))
            pages[validation.period] = path
        newest = max(pages)
        context.log.info(f"kpi.{table} {first}..{last}: "
                         f"{sum(v.failed for v in validations)} failed expectation(s); "
                         f"pages under {pages[newest].parent}")
        return dg.AssetCheckResult(
            passed=outcome.success,
            description=_description(table, validations),
            metadata={
                **_metadata(outcome, first, last),
                "validation_page": dg.MetadataValue.url(pages[newest].resolve().as_uri()),
                "validation_pages": dg.MetadataValue.json(
                    {str(p): str(path.resolve()) for p, path in pages.items()}),
                "not_expected_without_source_rows": dg.MetadataValue.json(left_out),
            })

    return _expectations


def kpi_jumps_check(grain: str,
                    partitions_def: dg.TimeWindowPartitionsDefinition
                    ) -> dg.AssetChecksDefinition:
    table = TABLE_FOR_GRAIN[grain]

    @dg.asset_check(
        asset=dg.AssetKey(["kpi", table]),
        name=KPI_PERIOD_JUMPS,
        description=DESCRIPTIONS[KPI_PERIOD_JUMPS],
        blocking=False,
        pool=DUCKDB_WRITER["pool"],
    )
    def _jumps(context: dg.AssetCheckExecutionContext, config: JumpConfig,
               warehouse: Warehouse) -> dg.AssetCheckResult:
        window = check_window(context, partitions_def)
        first, last = window_bounds(window)
        with warehouse.get_connection(read_only=True) as conn:
            frame = load_window(conn, table, first, last)
        jumps = expectations.validate_kpi_jumps(
            frame, grain, period_starts(window, grain), band=config.max_abs_change,
            scopes=config.scopes)
        return dg.AssetCheckResult(
            passed=jumps.success,
            severity=dg.AssetCheckSeverity.WARN,
            description=_description(table, jumps.periods),
            metadata={**_metadata(jumps, first, last),
                      "band": config.max_abs_change,
                      "scopes": ", ".join(config.scopes)})

    return _jumps


kpi_weekly_expectations = kpi_expectations_check("week", weekly_partitions)
kpi_monthly_expectations = kpi_expectations_check("month", monthly_partitions)
kpi_weekly_jumps = kpi_jumps_check("week", weekly_partitions)
kpi_monthly_jumps = kpi_jumps_check("month", monthly_partitions)
kpi_quarterly_expectations = kpi_expectations_check("quarter", quarterly_partitions)
kpi_quarterly_jumps = kpi_jumps_check("quarter", quarterly_partitions)
