"""Baseline layer: immutable snapshots of where each KPI stood before a period.

``baseline/weekly`` partition P holds the snapshot taken as of P's start over the 12
weeks before it; ``baseline/monthly`` the same over 6 months. A snapshot that exists is
never rewritten: re-materializing P (or materializing it again after the KPIs were
restated) keeps the original, so a goal's baseline stays what it was when the goal
started. Backfilling an old period creates the snapshot that would have been taken then.
"""

import dagster as dg

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.partitions import (
    monthly_partitions,
    period_starts,
    quarterly_partitions,
    weekly_partitions,
    window_bounds,
)
from kpi_pipeline.defs.resources import Warehouse
from kpi_pipeline.lib.baselines.snapshots import TRAILING_PERIODS, take_snapshots
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN


def baseline_asset(grain: str, partitions_def) -> dg.AssetsDefinition:
    table = TABLE_FOR_GRAIN[grain]
    periods = TRAILING_PERIODS[grain]

    @dg.asset(
        **DUCKDB_WRITER,
        key=["baseline", table],
        description=(
            f"Per KPI and scope, the statistics of its {grain}ly values over the {periods} "
            f"{grain}s before each {grain} (mean, median, standard deviation, min, max, number "
            "of periods with a value, the pooled ratio of sums and the median absolute "
            "deviation), taken as of the "
            f"{grain}'s first day and never rewritten. Primary key: (as_of, kpi, scope_key)."),
        deps=[dg.AssetDep(["kpi", table], partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-periods, end_offset=-1))],
        partitions_def=partitions_def,
        group_name="baseline",
        kinds={"duckdb", "sql"},
        code_version="2",
        metadata={"dagster/table_name": f"baseline.{table}", "trailing_periods": periods},
    )
    def _baseline(context: dg.AssetExecutionContext,
                  warehouse: Warehouse) -> dg.MaterializeResult:
        first, last = window_bounds(context.partition_time_window)
        as_of = period_starts(context.partition_time_window, grain)
        with warehouse.get_connection() as conn:
            created, kept = take_snapshots(conn, grain, as_of)
        context.log.info(f"baseline.{table}: {created} snapshot row(s) taken, {kept} kept "
                         f"as they were, for {first}..{last}")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": created + kept,
            "snapshots_created": created,
            "snapshots_kept_unchanged": kept,
            "partition_window": f"{first}..{last}",
        })

    return _baseline


baseline_weekly = baseline_asset("week", weekly_partitions)
baseline_monthly = baseline_asset("month", monthly_partitions)
baseline_quarterly = baseline_asset("quarter", quarterly_partitions)
