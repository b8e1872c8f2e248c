"""Diagnostics layer: the decision rules and the anomaly rules, for every week and month
and scope.

Each finding names the rule, the KPI values, baselines and thresholds that triggered it,
the diagnosis and the recommended action (rules: kpi_pipeline/data/diagnostic_rules.yaml).
The same asset evaluates the anomaly rules (a KPI outside its baseline band) into
``diagnostic.<grain>_anomalies``, and lists the window's anomalies in its
materialization metadata, where ``kpi_anomaly_alert_sensor`` reads them without opening
the store.
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
from kpi_pipeline.defs.settings import ANOMALY_DEVIATIONS, ANOMALY_MIN_BASE, Variable
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN
from kpi_pipeline.lib.diagnostics.anomalies import (
    anomalies_in,
    anomaly_records,
    anomaly_rules,
    replace_anomalies,
    with_overrides,
)
from kpi_pipeline.lib.diagnostics.rules import replace_findings, rules


def _number(variable: Variable) -> float | None:
    """The variable as a number, None when unset; a malformed value fails naming the
    variable rather than silently using the rules' own threshold."""
    raw = variable.value().strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{variable.name}={raw!r}: expected a number") from None


def configured_anomaly_rules():
    """The anomaly rules with the environment's overrides (read when the asset runs)."""
    return with_overrides(anomaly_rules(), deviations=_number(ANOMALY_DEVIATIONS),
                          min_base=_number(ANOMALY_MIN_BASE))


def diagnostic_asset(grain: str, partitions_def) -> dg.AssetsDefinition:
    table = TABLE_FOR_GRAIN[grain]

    @dg.asset(
        **DUCKDB_WRITER,
        key=["diagnostic", table],
        description=(
            f"Findings of the diagnostic rules per {grain} and scope: the rule, its title, "
            "the diagnosis, the recommended action and the evidence (each KPI's value, its "
            f"baseline as of the {grain}'s start, and the threshold). Primary key: "
            f"(period_start, rule, scope_key). Also writes diagnostic.{table}_anomalies: "
            "each KPI outside its baseline band (median +/- robust deviations from the "
            "MAD) per period and scope, with the band, the base and the thresholds. "
            "Primary key: (period_start, rule, kpi, scope_key)."),
        deps=[dg.AssetKey(["kpi", table]), dg.AssetKey(["baseline", table])],
        partitions_def=partitions_def,
        group_name="diagnostic",
        kinds={"duckdb", "sql"},
        code_version="2",
        metadata={"dagster/table_name": f"diagnostic.{table}", "rules": len(rules()),
                  "anomaly_rules": len(anomaly_rules())},
    )
    def _diagnostic(context: dg.AssetExecutionContext,
                    warehouse: Warehouse) -> dg.MaterializeResult:
        first, last = window_bounds(context.partition_time_window)
        anomaly_rule_set = configured_anomaly_rules()
        with warehouse.get_connection() as conn:
            count = replace_findings(conn, grain, first, last)
            by_rule = dict(conn.execute(
                f"""SELECT rule, count(*) FROM diagnostic.{table}
                    WHERE period_start BETWEEN ? AND ? GROUP BY 1 ORDER BY 1""",
                [first, last]).fetchall())
            replace_anomalies(conn, grain, first, last, anomaly_rule_set)
            anomalies = anomalies_in(conn, grain, first, last)
        if anomalies:
            context.log.info(f"{len(anomalies)} KPI(s) outside their baseline band in "
                             f"{first}..{last}")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": count,
            "partition_window": f"{first}..{last}",
            "findings_by_rule": dg.MetadataValue.json(by_rule),
            "anomalies": dg.MetadataValue.json(anomaly_records(anomalies)),
            "anomalies_total": len(anomalies),
            "anomaly_thresholds": dg.MetadataValue.json({
                rule.name: {"deviations": rule.deviations, "min_base": rule.min_base,
                            "min_relative_change": rule.min_relative_change,
                            "min_periods": rule.min_periods}
                for rule in anomaly_rule_set}),
        })

    return _diagnostic


diagnostic_weekly = diagnostic_asset("week", weekly_partitions)
diagnostic_monthly = diagnostic_asset("month", monthly_partitions)
diagnostic_quarterly = diagnostic_asset("quarter", quarterly_partitions)
