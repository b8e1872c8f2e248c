"""Alert sensors: a goal that turns off track, a goal whose probability of reaching its
target falls below a setting, a KPI that leaves its baseline band, a blocking check that
fails, a run that fails. Each alert is logged always and handed to the configured
notifier.

They run in the Dagster daemon (on by default, every 5 minutes for goals and checks),
so a weekly or monthly run that nobody watches still reaches someone. Their cursors
remember what was already announced: an alert is sent once, and the first tick of a
sensor announces nothing from before it (only the newest goal day).

A tick never scans the event log and never opens the DuckDB store (a writing run may
hold it for minutes):

- goals: ``goal/attainment`` lists the goals that turned off track or missed in the
  window it computed in its materialization metadata; the sensor reads the new
  materializations' run and storage ids (no payload), then one materialization per run.
- anomalies: ``diagnostic/weekly``, ``/monthly`` and ``/quarterly`` list the KPIs outside
  their baseline band in the window they computed (``anomalies``); the sensor reads them
  as the goal sensor does, and its cursor keeps the KPI, scope and period of every
  anomaly announced, so a re-run of a period announces nothing again.
- checks: the asset-check execution records of the check keys in the definitions, the
  newest of every check in one query, the history only of the checks with new records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from kpi_pipeline.defs.alerts.notifiers import Notifier, configured_notifier
from kpi_pipeline.defs.check_records import PLANNED, CheckRecord, check_keys, record_pages
from kpi_pipeline.defs.settings import GOAL_PROBABILITY_ALERT, goal_probability_alert
from kpi_pipeline.lib.alerts import (
    Alert,
    AttainmentTurns,
    check_failure_alert,
    goal_alerts,
)
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN
from kpi_pipeline.lib.diagnostics.anomalies import Anomaly, new_anomaly_alerts
from kpi_pipeline.lib.goals.forecast import probability_drops

GOAL_ATTAINMENT = dg.AssetKey(["goal", "attainment"])
DIAGNOSTICS = tuple(dg.AssetKey(["diagnostic", table]) for table in TABLE_FOR_GRAIN.values())
ANOMALY_KEYS_KEPT = 2000  # announced KPI/scope/period keys the cursor remembers (newest)
# Bounds of one tick's reads (the rest waits for the next tick, from the cursor).
MATERIALIZATION_ROWS_PER_TICK = 5000  # goal/attainment events, ids only (no payload)
RUNS_PER_TICK = 50  # goal/attainment materializations read in full: one per run
CHECK_RECORDS_PER_TICK = 200  # execution records of one check read per tick
FIRST_CHECK_PAGE = 4


def _announce(context, notifier: Notifier, alerts: list[Alert]) -> None:
    for alert in alerts:
        context.log.warning(str(alert))
        notifier.send(alert)


# --------------------------------------------------------------------------- goals
@dataclass(frozen=True)
class GoalCursor:
    """The last goal/attainment event read (None: start at the newest) and the newest
    as-of day announced up to."""

    after: int | None
    day: date | None

    @classmethod
    def parse(cls, text: str | None) -> GoalCursor | None:
        if not text:
            return None
        if not text.startswith("{"):  # a cursor of the sensor that read the store: a day
            return cls(None, date.fromisoformat(text))
        data = json.loads(text)
        return cls(data.get("after"), date.fromisoformat(data["day"]) if data.get("day")
                   else None)

    def dump(self) -> str:
        return json.dumps({"after": self.after,
                           "day": self.day.isoformat() if self.day else None})


def _metadata_value(metadata: dict, name: str):
    value = metadata.get(name)
    return None if value is None else value.value


def attainment_turns(record: dg.EventLogRecord) -> AttainmentTurns:
    """The goal turns one goal/attainment materialization lists in its metadata."""
    metadata = dict(record.asset_materialization.metadata)
    return AttainmentTurns.from_metadata(
        _metadata_value(metadata, "partition_window"),
        _metadata_value(metadata, "last_as_of"),
        _metadata_value(metadata, "goal_turns"),
        _metadata_value(metadata, "goal_turns_total"))


@dg.sensor(
    name="goal_status_alert_sensor",
    description="Alerts when a goal's status turns off track or missed in goal/attainment "
                "(once per turn, on the day it turned), from the asset's materialization "
                "metadata: the sensor never opens the store.",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def goal_status_alert_sensor(context: dg.SensorEvaluationContext,
                             notifier: Notifier) -> dg.SkipReason:
    instance = context.instance
    cursor = GoalCursor.parse(context.cursor)
    if cursor is None or cursor.after is None:
        # first tick (or the store-reading sensor's day cursor): start at the newest
        # materialization; without a day, announce only its newest day
        newest = instance.fetch_materializations(GOAL_ATTAINMENT, limit=1).records
        if not newest:
            return dg.SkipReason("goal/attainment has not been materialized yet")
        runs = [attainment_turns(newest[0])]
        after = cursor.day if cursor else (
            runs[0].last_as_of - timedelta(days=1) if runs[0].last_as_of else None)
        read_up_to = newest[0].storage_id
    else:
        records, read_up_to = _new_materializations(instance, GOAL_ATTAINMENT, cursor.after)
        if not records:
            return dg.SkipReason(f"no new goal/attainment materialization; announced up to "
                                 f"{cursor.day}")
        runs = [attainment_turns(record) for record in records]
        after = cursor.day
    alerts, day = goal_alerts(runs, after)
    _announce(context, notifier, alerts)
    context.update_cursor(GoalCursor(read_up_to, day).dump())
    return dg.SkipReason(f"{len(alerts)} goal alert(s) up to {day}")


# ----------------------------------------------------------------------- anomalies
@dataclass
class AnomalyCursor:
    """Per diagnostic asset, the last materialization read; and the anomalies announced
    (``grain|period|kpi|scope|scope_key``), the newest ANOMALY_KEYS_KEPT of them."""

    after: dict[str, int] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> AnomalyCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls({k: int(v) for k, v in data.get("after", {}).items()},
                   [str(k) for k in data.get("sent", [])])

    def dump(self) -> str:
        # keys sort by grain then period: keep the newest periods of each grain
        by_grain: dict[str, list[str]] = {}
        for key in sorted(set(self.sent)):
            by_grain.setdefault(key.split("|", 1)[0], []).append(key)
        kept = [key for keys in by_grain.values()
                for key in keys[-ANOMALY_KEYS_KEPT // max(len(by_grain), 1):]]
        return json.dumps({"after": self.after, "sent": sorted(kept)}, sort_keys=True)


def listed_anomalies(record: dg.EventLogRecord) -> tuple[list[Anomaly], int, str | None]:
    """The anomalies one diagnostic materialization lists, how many it found, and the
    window it computed."""
    metadata = dict(record.asset_materialization.metadata)
    listed = [Anomaly.from_record(r) for r in _metadata_value(metadata, "anomalies") or []]
    total = _metadata_value(metadata, "anomalies_total")
    return listed, len(listed) if total is None else int(total), \
        _metadata_value(metadata, "partition_window")


def _new_materializations(instance: dg.DagsterInstance, key: dg.AssetKey,
                          after: int | None) -> tuple[list[dg.EventLogRecord], int | None]:
    """The materializations of ``key`` to read this tick (the newest of each run after
    ``after``; with no ``after``, only the newest one) and the storage id read up to."""
    if after is None:
        newest = instance.fetch_materializations(key, limit=1).records
        return newest, newest[0].storage_id if newest else None
    events = instance.get_asset_event_summary_records(
        dg.DagsterEventType.ASSET_MATERIALIZATION, asset_key=key, after_storage_id=after,
        limit=MATERIALIZATION_ROWS_PER_TICK, ascending=True)
    if not events:
        return [], after
    newest_of_run: dict[str, int] = {}
    for event in events:  # a range run records one event per period, same metadata
        newest_of_run[event.run_id or f"runless {event.storage_id}"] = event.storage_id
    ids = sorted(newest_of_run.values())
    read_up_to = events[-1].storage_id
    if len(ids) > RUNS_PER_TICK:
        ids = ids[:RUNS_PER_TICK]
        read_up_to = ids[-1]
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, storage_ids=ids), limit=len(ids),
        ascending=True).records
    return records, read_up_to


@dg.sensor(
    name="kpi_anomaly_alert_sensor",
    description="Alerts when a KPI leaves its baseline band (the anomaly rules of "
                "diagnostic_rules.yaml), once per KPI, scope and period, from the "
                "diagnostic assets' materialization metadata: the sensor never opens the "
                "store, and a re-run of a period announces nothing again.",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def kpi_anomaly_alert_sensor(context: dg.SensorEvaluationContext,
                             notifier: Notifier) -> dg.SkipReason:
    instance = context.instance
    cursor = AnomalyCursor.parse(context.cursor)
    alerts: list[Alert] = []
    for key in DIAGNOSTICS:
        name = key.to_user_string()
        first_tick = name not in cursor.after
        records, read_up_to = _new_materializations(instance, key, cursor.after.get(name))
        listed: list[Anomaly] = []
        for record in records:
            anomalies, total, window = listed_anomalies(record)
            if first_tick:  # history is not announced: only the newest period
                newest = max((a.period_start for a in anomalies), default=None)
                anomalies = [a for a in anomalies if a.period_start == newest]
            elif total > len(anomalies):
                alerts.append(Alert("kpi_anomaly", name,
                                    f"{total - len(anomalies)} more KPI(s) outside their "
                                    f"baseline band in {window} than the metadata lists; "
                                    "see the diagnostics pages"))
            listed += anomalies
        found, keys = new_anomaly_alerts(listed, cursor.sent)
        alerts += found
        cursor.sent += keys
        if read_up_to is not None:
            cursor.after[name] = read_up_to
    _announce(context, notifier, alerts)
    context.update_cursor(cursor.dump())
    return dg.SkipReason(f"{len(alerts)} anomaly alert(s)")
@dg.sensor(
    name="goal_probability_alert_sensor",
    description="Alerts when a running goal's probability of reaching its target falls "
                f"below ${GOAL_PROBABILITY_ALERT.name} (default "
                f"{GOAL_PROBABILITY_ALERT.default}; 0: never), once each time it falls "
                "below, from goal/attainment's materialization metadata (each goal's "
                "newest day): the sensor never opens the store.",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def goal_probability_alert_sensor(context: dg.SensorEvaluationContext,
                                  notifier: Notifier) -> dg.SkipReason:
    threshold = goal_probability_alert()
    if threshold <= 0:
        return dg.SkipReason(f"{GOAL_PROBABILITY_ALERT.name}=0: the alert is off")
    state = json.loads(context.cursor) if context.cursor else {}
    after, below = state.get("after"), dict(state.get("below", {}))
    # first tick: the newest materialization only; then the newest of each run since
    records, read_up_to = _new_materializations(context.instance, GOAL_ATTAINMENT, after)
    if not records:
        return dg.SkipReason("no new goal/attainment materialization")
    alerts = []
    for record in records:  # oldest first: a later run's view of a goal wins
        metadata = dict(record.asset_materialization.metadata)
        latest = _metadata_value(metadata, "latest_probability") or {}
        found, below = probability_drops(latest, threshold, below)
        alerts += [Alert("goal_low_probability", goal_id, text) for goal_id, text in found]
    _announce(context, notifier, alerts)
    context.update_cursor(json.dumps({"after": read_up_to, "below": below},
                                     sort_keys=True))
    return dg.SkipReason(f"{len(alerts)} goal probability alert(s); {len(below)} goal(s) "
                         f"below {threshold:.0%}")


# -------------------------------------------------------------------------- checks
@dataclass
class CheckCursor:
    """The highest execution record id read, and the records below it still in progress
    then (check key -> [[record id, run id], ...]), to read again."""

    seen: int
    open: dict[str, list[list]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> CheckCursor | None:
        if not text or not text.startswith("{"):
            return None  # none, or the event-log cursor of the sensor before: start over
        data = json.loads(text)
        return cls(int(data["seen"]), {k: [list(v) for v in vs]
                                       for k, vs in data.get("open", {}).items()})

    def dump(self) -> str:
        return json.dumps({"seen": self.seen, "open": self.open}, sort_keys=True)


def _new_records(instance: dg.DagsterInstance, key: dg.AssetCheckKey, floor: int,
                 ceiling: int) -> tuple[list[CheckRecord], bool]:
    """The execution records of ``key`` with floor < id <= ceiling, oldest first, at most
    CHECK_RECORDS_PER_TICK of them (the newest); True when some were left unread. Pages
    grow from FIRST_CHECK_PAGE: a tick usually finds one new record of a check."""
    records: list[CheckRecord] = []
    for page in record_pages(instance, key, first=FIRST_CHECK_PAGE,
                             most=CHECK_RECORDS_PER_TICK, before=ceiling + 1):
        fresh = [r for r in page if r.id > floor]
        records += fresh
        if len(fresh) < len(page):
            return records[::-1], False  # reached the floor
    # the pages ended short (no older record) or at the bound
    return records[::-1], len(records) >= CHECK_RECORDS_PER_TICK


@dg.sensor(
    name="check_failure_alert_sensor",
    description="Alerts when a blocking (or error-severity) asset check fails: the assets "
                "downstream of it, the reports included, did not run. Reads the check "
                "execution records of the code location's checks.",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def check_failure_alert_sensor(context: dg.SensorEvaluationContext,
                               notifier: Notifier) -> dg.SkipReason:
    instance = context.instance
    keys = check_keys(context.repository_def.asset_graph) if context.repository_def else []
    if not keys:
        return dg.SkipReason("no asset check in the definitions")
    cursor = CheckCursor.parse(context.cursor)
    # runs of the records still in progress at the last tick, read BEFORE the records: a
    # run that had finished by now had stored its evaluations before it finished
    finished = set()
    if cursor and cursor.open:
        run_ids = sorted({run_id for pairs in cursor.open.values() for _, run_id in pairs})
        known = {record.dagster_run.run_id: record.dagster_run
                 for record in instance.get_run_records(dg.RunsFilter(run_ids=run_ids))}
        finished = {run_id for run_id in run_ids
                    if run_id not in known or known[run_id].is_finished}
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    ceiling = max([record.id for record in latest.values()] + [cursor.seen if cursor else 0])
    if cursor is None:  # first tick: history is not announced; what runs now will be
        opened = {key.to_user_string(): [[record.id, record.run_id]]
                  for key, record in latest.items() if record.status == PLANNED}
        context.update_cursor(CheckCursor(ceiling, opened).dump())
        return dg.SkipReason(f"first tick: {len(keys)} check(s); evaluations before record "
                             f"{ceiling} are not announced")

    found, evaluated, still_open, cut = [], 0, {}, []
    for key in keys:
        name = key.to_user_string()
        reopen = {record_id: run_id for record_id, run_id in cursor.open.get(name, [])}
        newest = latest.get(key)
        if newest is None or (newest.id <= cursor.seen and not reopen):
            continue
        floor = min([cursor.seen, *(record_id - 1 for record_id in reopen)])
        records, truncated = _new_records(instance, key, floor, ceiling)
        if truncated:
            cut.append(name)
        for record in records:
            if record.id <= cursor.seen and record.id not in reopen:
                continue  # read at an earlier tick
            if record.status == PLANNED:
                if reopen.get(record.id) not in finished:  # else it never ran: forget it
                    still_open.setdefault(name, []).append([record.id, record.run_id])
                continue
            evaluated += 1
            evaluation = record.evaluation
            window = evaluation.metadata.get("partition_window")
            alert = check_failure_alert(
                evaluation.asset_key.to_user_string(), evaluation.check_name,
                evaluation.passed, bool(evaluation.blocking), evaluation.severity.value,
                evaluation.partition, evaluation.description,
                window=None if window is None else str(window.value))
            if alert is not None:
                found.append((record.event.timestamp, alert))
    if cut:
        context.log.warning(f"more than {CHECK_RECORDS_PER_TICK} new evaluations of "
                            f"{', '.join(cut)} since the last tick: only the newest were "
                            "read")
    alerts = [alert for _, alert in sorted(found, key=lambda pair: pair[0])]
    _announce(context, notifier, alerts)
    context.update_cursor(CheckCursor(ceiling, still_open).dump())
    return dg.SkipReason(f"{len(alerts)} failed check(s) in {evaluated} evaluation(s)")


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
        sensors=[goal_status_alert_sensor, goal_probability_alert_sensor,
                 kpi_anomaly_alert_sensor, check_failure_alert_sensor,
                 run_failure_alert_sensor],
        resources={"notifier": configured_notifier()},
    )
