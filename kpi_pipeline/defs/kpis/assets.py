"""KPI layer: weekly, monthly and quarterly KPIs, computed in DuckDB from the normalized tables.

Each asset recomputes every KPI of the catalogue for every scope (all platforms, brand,
platform, account, campaign, media type) for the periods in its partition window, in
one INSERT ... SELECT inside the database, and replaces those periods in one
transaction. Weekly partitions depend on their 7 daily partitions and monthly ones on
their month's days (Dagster's default time-window mapping).
"""

import dagster as dg

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.partitions import (
    monthly_partitions,
    quarterly_partitions,
    weekly_partitions,
    window_bounds,
)
from kpi_pipeline.defs.resources import Warehouse
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import replace_kpis


def headline_metadata(conn, table: str, first, last) -> dict[str, object]:
    """The all-platform value of the catalogue's headline KPIs in the window's last
    period."""
    headlines = [k.name for k in catalog().values() if k.headline]
    rows = conn.execute(
        f"""SELECT kpi, value FROM {table}
            WHERE scope = 'all' AND kpi IN ({', '.join('?' for _ in headlines)})
              AND period_start = (SELECT max(period_start) FROM {table}
                                  WHERE period_start BETWEEN ? AND ?)""",
        [*headlines, first, last]).fetchall()
    return {f"latest/{kpi}": dg.MetadataValue.float(float(v)) for kpi, v in rows
            if v is not None}


def incomplete_metadata(conn, table: str, first, last) -> list[dict[str, object]]:
    """The window's periods whose all-platform KPIs the data covers only partly, with the
    fewest days a KPI covers and the (first 10) least covered KPIs: what the reports will
    refuse unless asked for a partial one, shown on the materialization so the UI says it
    too. A cohort KPI whose window is still open is not counted (it does not stop a
    report; its rows say so)."""
    cohorts = [name for name, kpi in catalog().items() if kpi.cohort]
    rows = conn.execute(
        f"""SELECT period_start, min(coverage_days), any_value(period_days),
                   list(kpi ORDER BY coverage_days, kpi)
                       FILTER (WHERE coverage_days < period_days)
            FROM {table} WHERE scope = 'all' AND period_start BETWEEN ? AND ?
              AND NOT list_contains(?, kpi)
            GROUP BY period_start HAVING min(coverage_days) < any_value(period_days)
            ORDER BY period_start""", [first, last, cohorts]).fetchall()
    return [{"period_start": str(start), "fewest_days": int(fewest), "period_days": int(days),
             "kpis": kpis[:10]} for start, fewest, days, kpis in rows]


def kpi_asset(grain: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    table = TABLE_FOR_GRAIN[grain]

    @dg.asset(
        **DUCKDB_WRITER,
        key=["kpi", table],
        description=(
            f"Every catalogue KPI per {grain} and scope, in long format: one row per "
            "(period_start, kpi, scope_key) with numerator, denominator and value (ratios of "
            "sums; a zero denominator gives NULL), the definition used, the days of the "
            f"{grain} the data covers (coverage_days of period_days), and the change versus "
            f"the previous {grain} and the same {grain} a year earlier, made only between "
            f"{grain}s covered on every day. Primary key: (period_start, kpi, scope_key)."),
        # the export drop folder writes into the same tables: a run that selects it and the
        # KPIs loads the files first
        deps=[*(dg.AssetKey(["normalized", name]) for name in TABLES if name != "fx_daily"),
              dg.AssetKey(["normalized", "exports"])],
        partitions_def=partitions_def,
        group_name="kpi",
        kinds={"duckdb", "sql"},
        # 2: impressions-only rows rated; 3: returning revenue summed by row; 4: coverage,
        # comparisons only between complete periods, first-seen posts; 5: conversion_cac
        code_version="5",
        metadata={"dagster/table_name": f"kpi.{table}", "kpis": len(catalog())},
    )
    def _kpi(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        first, last = window_bounds(context.partition_time_window)
        with warehouse.get_connection() as conn:
            rows = replace_kpis(conn, grain, first, last)
            meta = headline_metadata(conn, f"kpi.{table}", first, last)
            incomplete = incomplete_metadata(conn, f"kpi.{table}", first, last)
            preview = conn.execute(
                f"""SELECT period_start, kpi, scope_key, definition, numerator, denominator,
                           value FROM kpi.{table}
                    WHERE period_start BETWEEN ? AND ? AND scope = 'all'
                    ORDER BY period_start DESC, kpi LIMIT 12""", [first, last]).df()
        context.log.info(f"kpi.{table}: {rows} row(s) for periods {first}..{last}")
        if incomplete:
            context.log.warning(
                f"kpi.{table}: {len(incomplete)} {grain}(s) the data covers only partly, "
                "compared with no other: " + ", ".join(
                    f"{i['period_start']} ({i['fewest_days']} of {i['period_days']} days)"
                    for i in incomplete[:10]))
        return dg.MaterializeResult(metadata={
            "dagster/row_count": rows,
            "partition_window": f"{first}..{last}",
            "preview": dg.MetadataValue.md(preview.astype("string").to_markdown(index=False)),
            "incomplete_periods": dg.MetadataValue.json(incomplete),
            **meta,
        })

    return _kpi


kpi_weekly = kpi_asset("week", weekly_partitions)
kpi_monthly = kpi_asset("month", monthly_partitions)
kpi_quarterly = kpi_asset("quarter", quarterly_partitions)
