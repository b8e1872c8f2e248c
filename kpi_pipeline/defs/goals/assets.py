"""Goal layer: the goal definitions, then attainment of every goal for every as-of day.

``goal/definitions`` reads the goals file (YAML, ``settings.goals_file``; the shipped
example runs on the demo data) and validates it: every problem of every goal fails the
run at once, each naming the goal and the field, and the stored definitions stay as
they were; warnings (vanity KPIs, too many KPIs for one objective, targets the baseline
makes implausible) are logged and kept in the materialization metadata. Attainment and
the report pages read the stored definitions, and resolve a relative window without
``as_of`` against each as-of day (``lib/goals/stored.py``), never the wall clock.
"""

from datetime import date

import dagster as dg

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.partitions import daily_partitions, window_bounds
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.defs.schedules import schedule_today
from kpi_pipeline.lib.alerts import goal_turns, turn_records
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.goals.attainment import probability_record
from kpi_pipeline.lib.goals.findings import GoalsError
from kpi_pipeline.lib.goals.forecast import HistoryCache
from kpi_pipeline.lib.goals.loading import load_goals, validate_goals
from kpi_pipeline.lib.goals.stored import reference_segments, store_definitions, stored_goals
from kpi_pipeline.lib.goals.tables import (
    attainment_rows,
    goal_warnings_with_baselines,
    replace_attainment,
)
from kpi_pipeline.lib.kpis.attribution import ensure_attribution_tables
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
    key=["goal", "definitions"],
    description=(
        "The goals file, validated and kept as read: its text and digest "
        "(goal.definitions_file) and one row per goal (goal.definitions: KPI, scope, the "
        "window as written and as resolved today, fingerprint). Attainment and the report "
        "pages read these, not the file. A file with any problem fails this asset and "
        "the stored definitions stay as they were."),
    group_name="goal",
    kinds={"duckdb", "yaml"},
    code_version="1",
    metadata={"dagster/table_name": "goal.definitions"},
)
def goal_definitions(context: dg.AssetExecutionContext, warehouse: Warehouse,
                settings: Settings) -> dg.MaterializeResult:
    path = settings.goals_path()
    kpis = catalog()
    try:
        loaded = load_goals(path, schedule_today(), kpis)
    except GoalsError as exc:
        raise dg.Failure(description=str(exc), metadata={"goals_file": str(path)}) from exc
    with warehouse.get_connection() as conn:
        stored = store_definitions(conn, path.read_text(encoding="utf-8"), str(path), loaded)
        warnings = goal_warnings_with_baselines(conn, loaded, kpis)
    for warning in warnings:
        context.log.warning(str(warning))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(loaded.goals),
        "goals_file": dg.MetadataValue.path(str(path)),
        "sha256": stored.sha256,
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in warnings) or "none"),
    })


@dg.asset(
    **DUCKDB_WRITER,
    key=["goal", "attainment"],
    description=(
        "For every goal and as-of day inside its window: actual so far, target in KPI "
        "units, percent of target, expected by now at a steady pace, projection to the "
        "window's end (run rate), baseline, days elapsed and left, the probability of "
        "reaching the target and the 10th-90th percentile of the end value (a weekly block "
        "bootstrap of the KPI's own days), status (achieved, on track, at risk, off track, "
        "missed; read from the probability when there is one) with the rule that "
        "produced it, the leading "
        "indicators' 28-day trend for lagging goals (on week and month closes), and the "
        "fingerprint of the goal definition used. Primary key: (as_of, goal_id)."),
    deps=[*(dg.AssetKey(["normalized", t]) for t in TABLES if t != "fx_daily"),
          dg.AssetKey(["baseline", "weekly"]), goal_definitions],
    partitions_def=daily_partitions,
    group_name="goal",
    kinds={"duckdb", "python"},
    code_version="2",
    metadata={"dagster/table_name": "goal.attainment"},
)
def attainment(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    first, last = window_bounds(context.partition_time_window)
    kpis = catalog()
    with warehouse.get_connection() as conn:
        ensure_attribution_tables(conn)  # a goal on attributed revenue reads its view
        stored = stored_goals(conn)
        if stored is None:
            raise dg.Failure(description="no goal definitions are stored: materialize "
                             "goal/definitions first (goal_attainment_job does)")
        data = stored.data()
        rows, goal_ids = [], set()
        histories = HistoryCache(last)  # the KPIs' days, read once for all segments
        try:
            for seg_first, seg_last in reference_segments(data, first, last):
                loaded = validate_goals(data, seg_first, kpis=kpis, source=stored.source)
                goal_ids |= {goal.id for goal in loaded.goals}
                rows += attainment_rows(conn, loaded.goals, kpis, seg_first, seg_last,
                                        review_days(seg_first, seg_last), histories)
        except GoalsError as exc:  # the catalogue changed since the file was stored
            raise dg.Failure(description=str(exc),
                             metadata={"goals_file": stored.source}) from exc
        rows.sort(key=lambda row: (row.goal_id, row.as_of))  # segments cut goals apart
        written = replace_attainment(conn, rows, first, last)
        turns = goal_turns(conn, first, last)  # read by goal_status_alert_sensor
    latest, outlook = {}, {}
    for row in rows:  # rows come goal by goal in date order: the last one per goal wins
        latest[row.goal_id] = f"{row.status} ({row.as_of})"
        outlook[row.goal_id] = probability_record(row)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written,
        "partition_window": f"{first}..{last}",
        "goals_file": dg.MetadataValue.path(stored.source),
        "goals_sha256": stored.sha256,
        "goals": len(goal_ids),
        "latest_status": dg.MetadataValue.json(latest),
        # per goal, its newest day: read by goal_probability_alert_sensor
        "latest_probability": dg.MetadataValue.json(outlook),
        # for goal_status_alert_sensor, which reads these instead of the store
        "last_as_of": max(row.as_of for row in rows).isoformat() if rows else "",
        "goal_turns": dg.MetadataValue.json(turn_records(turns)),
        "goal_turns_total": len(turns),
    })
