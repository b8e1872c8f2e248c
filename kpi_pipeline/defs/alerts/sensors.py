"""Alert sensors: a goal that turns off track, a blocking check that fails, a run that
fails. Each alert is logged always and handed to the configured notifier.

They run in the Dagster daemon (on by default, every 5 minutes for goals and checks),
so a weekly or monthly run that nobody watches still reaches someone. Their cursors
remember what was already announced: an alert is sent once.
"""

from datetime import date

import dagster as dg

from kpi_pipeline.defs.alerts.notifiers import Notifier, configured_notifier
from kpi_pipeline.defs.resources import Warehouse
from kpi_pipeline.lib.alerts import (
    Alert,
    check_failure_alert,
    goals_turned_bad,
    latest_attainment_day,
)

CHECK_EVENTS_PER_TICK = 500
# A sensor tick must end within Dagster's 60 s: wait this long for a writing run to
# release the store, then skip the tick (the next one catches up from the cursor).
STORE_WAIT_SECONDS = 20.0


def _announce(context, notifier: Notifier, alerts: list[Alert]) -> None:
    for alert in alerts:
        context.log.warning(str(alert))
        notifier.send(alert)


@dg.sensor(
    name="goal_status_alert_sensor",
    description="Alerts when a goal's status turns off track or missed in goal/attainment "
                "(once per turn, on the day it turned).",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def goal_status_alert_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse,
                             notifier: Notifier) -> dg.SkipReason:
    after = date.fromisoformat(context.cursor) if context.cursor else None
    store = Warehouse(database=str(warehouse.path()), lock_timeout_seconds=STORE_WAIT_SECONDS)
    try:
        with store.get_connection(read_only=True) as conn:
            latest = latest_attainment_day(conn)
            if latest is None:
                return dg.SkipReason("goal.attainment does not exist yet")
            if after is None:  # first tick: announce only the newest day, not all history
                after = date.fromordinal(latest.toordinal() - 1)
            alerts = goals_turned_bad(conn, after)
    except TimeoutError:
        return dg.SkipReason(f"the store stayed busy for {STORE_WAIT_SECONDS:.0f} s; "
                             "next tick")
    _announce(context, notifier, alerts)
    context.update_cursor(latest.isoformat())
    return dg.SkipReason(f"{len(alerts)} goal alert(s) up to {latest}")


@dg.sensor(
    name="check_failure_alert_sensor",
    description="Alerts when a blocking (or error-severity) asset check fails: the assets "
                "downstream of it, the reports included, did not run.",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def check_failure_alert_sensor(context: dg.SensorEvaluationContext,
                               notifier: Notifier) -> dg.SkipReason:
    after = int(context.cursor) if context.cursor else None
    records = context.instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                              after_cursor=after),
        limit=CHECK_EVENTS_PER_TICK, ascending=True)
    alerts = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        alert = check_failure_alert(
            evaluation.asset_key.to_user_string(), evaluation.check_name, evaluation.passed,
            bool(evaluation.blocking), evaluation.severity.value, evaluation.partition,
            evaluation.description)
        if alert is not None:
            alerts.append(alert)
    _announce(context, notifier, alerts)
    if records:
        context.update_cursor(str(records[-1].storage_id))
    return dg.SkipReason(f"{len(alerts)} failed check(s) in {len(records)} evaluation(s)")


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    description="Alerts when any run of this code location fails (a pull, a KPI run, a "
                "report run), with the run id and its error.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, notifier: Notifier) -> None:
    message = context.failure_event.message or "failed"
    alert = Alert("run_failed", f"{context.dagster_run.job_name} {context.dagster_run.run_id}",
                  message)
    _announce(context, notifier, [alert])


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        sensors=[goal_status_alert_sensor, check_failure_alert_sensor,
                 run_failure_alert_sensor],
        resources={"notifier": configured_notifier()},
    )
