"""Goal layer: attainment of every goal in the goals file, for every as-of day.

The goals file (YAML, ``settings.goals_file``; the shipped example runs on the demo
data) is validated when the asset runs: every problem of every goal fails the run at
once, each naming the goal and the field; warnings (vanity KPIs, too many KPIs for one
objective, targets the baseline makes implausible) are logged and kept in the
materialization metadata.
"""

from datetime import UTC, date, datetime

import dagster as dg

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.partitions import daily_partitions, window_bounds
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.alerts import goal_turns, turn_records
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.goals.model import GoalsError, load_goals
from kpi_pipeline.lib.goals.tables import (
    attainment_rows,
    goal_warnings_with_baselines,
    replace_attainment,
)
from kpi_pipeline.lib.kpis.catalog import catalog


def review_days(first: date, last: date) -> set[date]:
    """Week closes (Sundays) and month ends inside [first, last]: where trends are read."""
    days, current = set(), first
    while current <= last:
        tomorrow = date.fromordinal(current.toordinal() + 1)
        if current.weekday() == 6 or tomorrow.day == 1:
            days.add(current)
        current = tomorrow
    return days


@dg.asset(
    **DUCKDB_WRITER,
    key=["goal", "attainment"],
    description=(
        "For every goal and as-of day inside its window: actual so far, target in KPI "
        "units, percent of target, expected by now at a steady pace, projection to the "
        "window's end (run rate), baseline, days elapsed and left, status (achieved, on "
        "track, at risk, off track, missed) with the rule that produced it, the leading "
        "indicators' 28-day trend for lagging goals (on week and month closes), and the "
        "fingerprint of the goal definition used. Primary key: (as_of, goal_id)."),
    deps=[*(dg.AssetKey(["normalized", t]) for t in TABLES if t != "fx_daily"),
          dg.AssetKey(["baseline", "weekly"])],
    partitions_def=daily_partitions,
    group_name="goal",
    kinds={"duckdb", "python"},
    code_version="1",
    metadata={"dagster/table_name": "goal.attainment"},
)
def attainment(context: dg.AssetExecutionContext, warehouse: Warehouse,
               settings: Settings) -> dg.MaterializeResult:
    first, last = window_bounds(context.partition_time_window)
    path = settings.goals_path()
    kpis = catalog()
    try:
        loaded = load_goals(path, datetime.now(UTC).date(), kpis)
    except GoalsError as exc:
        raise dg.Failure(description=str(exc), metadata={"goals_file": str(path)}) from exc
    with warehouse.get_connection() as conn:
        warnings = goal_warnings_with_baselines(conn, loaded, kpis)
        rows = attainment_rows(conn, loaded.goals, kpis, first, last, review_days(first, last))
        written = replace_attainment(conn, rows, first, last)
        turns = goal_turns(conn, first, last)  # read by goal_status_alert_sensor
    for warning in warnings:
        context.log.warning(str(warning))
    latest = {}
    for row in rows:  # rows come goal by goal in date order: the last one per goal wins
        latest[row.goal_id] = f"{row.status} ({row.as_of})"
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written,
        "partition_window": f"{first}..{last}",
        "goals_file": dg.MetadataValue.path(str(path)),
        "goals": len(loaded.goals),
        "latest_status": dg.MetadataValue.json(latest),
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in warnings) or "none"),
        # for goal_status_alert_sensor, which reads these instead of the store
        "last_as_of": max(row.as_of for row in rows).isoformat() if rows else "",
        "goal_turns": dg.MetadataValue.json(turn_records(turns)),
        "goal_turns_total": len(turns),
    })
