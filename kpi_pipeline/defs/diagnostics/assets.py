"""Diagnostics layer: the decision rules evaluated for every week and month and scope.

Each finding names the rule, the KPI values, baselines and thresholds that triggered it,
the diagnosis and the recommended action (rules: kpi_pipeline/data/diagnostic_rules.yaml).
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
from kpi_pipeline.lib.diagnostics.rules import replace_findings, rules


def diagnostic_asset(grain: str, partitions_def) -> dg.AssetsDefinition:
    table = TABLE_FOR_GRAIN[grain]

    @dg.asset(
        **DUCKDB_WRITER,
        key=["diagnostic", table],
        description=(
            f"Findings of the diagnostic rules per {grain} and scope: the rule, its title, "
            "the diagnosis, the recommended action and the evidence (each KPI's value, its "
            f"baseline as of the {grain}'s start, and the threshold). Primary key: "
            "(period_start, rule, scope_key)."),
        deps=[dg.AssetKey(["kpi", table]), dg.AssetKey(["baseline", table])],
        partitions_def=partitions_def,
        group_name="diagnostic",
        kinds={"duckdb", "sql"},
        code_version="1",
        metadata={"dagster/table_name": f"diagnostic.{table}", "rules": len(rules())},
    )
    def _diagnostic(context: dg.AssetExecutionContext,
                    warehouse: Warehouse) -> dg.MaterializeResult:
        first, last = window_bounds(context.partition_time_window)
        with warehouse.get_connection() as conn:
            count = replace_findings(conn, grain, first, last)
            by_rule = dict(conn.execute(
                f"""SELECT rule, count(*) FROM diagnostic.{table}
                    WHERE period_start BETWEEN ? AND ? GROUP BY 1 ORDER BY 1""",
                [first, last]).fetchall())
        return dg.MaterializeResult(metadata={
            "dagster/row_count": count,
            "partition_window": f"{first}..{last}",
            "findings_by_rule": dg.MetadataValue.json(by_rule),
        })

    return _diagnostic


diagnostic_weekly = diagnostic_asset("week", weekly_partitions)
diagnostic_monthly = diagnostic_asset("month", monthly_partitions)
diagnostic_quarterly = diagnostic_asset("quarter", quarterly_partitions)
