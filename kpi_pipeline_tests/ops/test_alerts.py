"""Alerts: which goal days and which check results page someone, and the sensors
delivering them to Slack's Web API, served here on loopback.

The goal sensor reads what goal/attainment's materializations list (recorded here from a
small store with the same functions the asset calls); the check sensor reads the check
execution records of the checks in its definitions."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import duckdb
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationPlanned,
)

from kpi_pipeline.defs.alerts.notifiers import LogNotifier, SlackNotifier
from kpi_pipeline.defs.alerts.sensors import (
    GoalCursor,
    check_failure_alert_sensor,
    goal_status_alert_sensor,
    run_failure_alert_sensor,
)
from kpi_pipeline.defs.resources import Warehouse
from kpi_pipeline.lib.alerts import (
    Alert,
    AttainmentTurns,
    GoalTurn,
    check_failure_alert,
    goal_alerts,
    goal_turns,
    turn_records,
)
from kpi_pipeline.lib.goals.tables import ensure_goal_tables
from kpi_pipeline_tests.store_lock import lock_held_elsewhere

TOKEN = "xoxb-test-secret-9f8e7d"

# goal a: on track, off track from the 3rd (alert on the 3rd only); goal b: at risk,
# then missed on the 4th; goal c: always on track (never alerts)
HISTORY = [
    ("a", "2025-04-01", "on track"), ("a", "2025-04-02", "on track"),
    ("a", "2025-04-03", "off track"), ("a", "2025-04-04", "off track"),
    ("b", "2025-04-01", "at risk"), ("b", "2025-04-02", "at risk"),
    ("b", "2025-04-03", "at risk"), ("b", "2025-04-04", "missed"),
    ("c", "2025-04-01", "on track"), ("c", "2025-04-04", "on track"),
]


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "alerts.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_goal_tables(conn)
        for goal, day, status in HISTORY:
            conn.execute("""INSERT INTO goal.attainment (goal_id, as_of, kpi, scope_key,
                            status, status_rule, percent_of_target)
                            VALUES (?, ?, 'leads', 'all', ?, 'rule text', 0.5)""",
                         [goal, day, status])
    return path


class SlackApi(BaseHTTPRequestHandler):
    """chat.postMessage as Slack's Web API answers it; records what it received."""

    received: list[dict] = []
    answer: dict = {"ok": True}

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        content_type = self.headers.get("Content-Type", "")
        payload = json.loads(body) if "json" in content_type else dict(
            pair.split("=", 1) for pair in body.split("&") if pair)
        type(self).received.append({"path": self.path, "auth": self.headers["Authorization"],
                                    "payload": payload})
        data = json.dumps({**type(self).answer, "channel": "C1", "ts": "1.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def slack():
    SlackApi.received = []
    SlackApi.answer = {"ok": True}
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlackApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SlackNotifier(token=TOKEN, channel="#marketing-alerts",
                        api_url=f"http://127.0.0.1:{server.server_port}/api/")
    server.shutdown()


def goals_turned_bad(conn: duckdb.DuckDBPyConnection, after: date | None) -> list[Alert]:
    """The alerts of the goals that turned off track or missed after ``after``."""
    return [turn.alert() for turn in goal_turns(conn, after=after)]


def test_a_goal_alerts_once_on_the_day_it_turns(store):
    with duckdb.connect(str(store), read_only=True) as conn:
        alerts = goals_turned_bad(conn, None)
        assert [(a.subject, a.text.split(" as of ")[0]) for a in alerts] == [
            ("a", "off track"), ("b", "missed")]
        assert "as of 2025-04-03 (was on track)" in alerts[0].text
        assert "as of 2025-04-04 (was at risk)" in alerts[1].text
        assert [a.subject for a in goals_turned_bad(conn, date(2025, 4, 3))] == ["b"]
        assert goals_turned_bad(conn, date(2025, 4, 4)) == []


def test_check_failures_that_block_alert_and_warnings_do_not():
    assert check_failure_alert("kpi/weekly", "rates_in_bounds", False, True, "ERROR",
                               "2025-04-14", "3 rates above 1") == Alert(
        "check_failed", "kpi/weekly:rates_in_bounds",
        "blocking check failed on kpi/weekly partition 2025-04-14; downstream assets "
        "(reports included) did not run: 3 rates above 1")
    assert check_failure_alert("kpi/weekly", "volume", False, False, "WARN", None, None) is None
    assert check_failure_alert("kpi/weekly", "x", True, True, "ERROR", None, None) is None


GOAL = dg.AssetKey(["goal", "attainment"])


def record_attainment(instance: dg.DagsterInstance, store, first: str, last: str,
                      run_id: str | None = None) -> None:
    """A goal/attainment materialization of first..last with the metadata the asset
    records, computed from ``store`` with the asset's own functions."""
    with duckdb.connect(str(store), read_only=True) as conn:
        turns = goal_turns(conn, date.fromisoformat(first), date.fromisoformat(last))
        (last_as_of,) = conn.execute("SELECT max(as_of) FROM goal.attainment WHERE as_of "
                                     "BETWEEN ? AND ?", [first, last]).fetchone()
    instance.report_runless_asset_event(dg.AssetMaterialization(GOAL, metadata={
        "partition_window": f"{first}..{last}",
        "last_as_of": last_as_of.isoformat() if last_as_of else "",
        "goal_turns": dg.MetadataValue.json(turn_records(turns)),
        "goal_turns_total": len(turns),
    }))


def tick(sensor, instance, cursor, resources, **kwargs):
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                 **kwargs) as context:
        result = sensor(context)
        return result, context.cursor


def test_goal_turns_of_a_window_read_the_day_before_it(store):
    with duckdb.connect(str(store), read_only=True) as conn:
        assert [t.goal_id for t in goal_turns(conn, date(2025, 4, 3), date(2025, 4, 3))] == ["a"]
        [b] = goal_turns(conn, date(2025, 4, 4), date(2025, 4, 4))
        assert (b.goal_id, b.status, b.was) == ("b", "missed", "at risk")
        assert goal_turns(conn, date(2025, 4, 1), date(2025, 4, 2)) == []
        whole = goal_turns(conn)
    assert [t.alert() for t in whole] == goals_turned_bad_alerts(store)
    assert [GoalTurn.from_record(r) for r in turn_records(whole)] == whole
    assert [r["goal_id"] for r in turn_records(whole, kept=1)] == ["b"]  # the newest


def goals_turned_bad_alerts(store) -> list[Alert]:
    with duckdb.connect(str(store), read_only=True) as conn:
        return goals_turned_bad(conn, None)


def _turn(goal: str, day: str) -> GoalTurn:
    return GoalTurn(goal, date.fromisoformat(day), "off track", "on track", "leads", "all",
                    0.5, "rule")


def _window(first: str, last: str, *turns: GoalTurn, total: int | None = None):
    return AttainmentTurns(date.fromisoformat(first), date.fromisoformat(last),
                           max((t.as_of for t in turns), default=date.fromisoformat(last)),
                           turns, len(turns) if total is None else total)


def test_a_recomputed_window_replaces_the_turns_listed_before():
    early = _window("2025-04-03", "2025-04-03", _turn("a", "2025-04-03"))
    again = _window("2025-04-03", "2025-04-04", _turn("b", "2025-04-04"))
    alerts, day = goal_alerts([early, again], date(2025, 4, 2))
    assert [a.subject for a in alerts] == ["b"] and day == date(2025, 4, 4)
    alerts, _ = goal_alerts([early, _window("2025-04-04", "2025-04-04")], date(2025, 4, 2))
    assert [a.subject for a in alerts] == ["a"]  # another window leaves a's turn standing
    assert goal_alerts([again], date(2025, 4, 4)) == ([], date(2025, 4, 4))


def test_turns_the_metadata_could_not_list_are_counted_in_one_alert():
    run = _window("2025-04-01", "2025-04-04", _turn("b", "2025-04-04"), total=3)
    alerts, _ = goal_alerts([run], date(2025, 3, 31))
    assert [a.subject for a in alerts] == ["b", "goal/attainment"]
    assert "2 more goal turn(s) in 2025-04-01..2025-04-04" in alerts[1].text
    alerts, _ = goal_alerts([run], date(2025, 4, 5))  # all older than the cursor
    assert alerts == []


def test_goal_sensor_posts_to_slack_once_and_keeps_the_token_out_of_logs(
        store, slack, caplog, capsys):
    resources = {"notifier": slack}
    instance = dg.DagsterInstance.ephemeral()
    record_attainment(instance, store, "2025-04-01", "2025-04-02")
    result, cursor = tick(goal_status_alert_sensor, instance, None, resources)
    assert "0 goal alert(s) up to 2025-04-02" in result.skip_message
    record_attainment(instance, store, "2025-04-03", "2025-04-04")
    result, cursor = tick(goal_status_alert_sensor, instance, cursor, resources)
    assert "2 goal alert(s) up to 2025-04-04" in result.skip_message
    assert GoalCursor.parse(cursor).day == date(2025, 4, 4)
    assert [r["path"] for r in SlackApi.received] == ["/api/chat.postMessage"] * 2
    assert {r["auth"] for r in SlackApi.received} == {f"Bearer {TOKEN}"}
    texts = [r["payload"]["text"] for r in SlackApi.received]
    assert texts[0].startswith("[goal_off_track] a: off track as of 2025-04-03 (was on track)")
    assert texts[1].startswith("[goal_off_track] b: missed as of 2025-04-04 (was at risk)")
    assert {r["payload"]["channel"] for r in SlackApi.received} == {"#marketing-alerts"}
    # a second tick from the stored cursor announces nothing again, nor does a re-run
    # of the same days
    result, cursor = tick(goal_status_alert_sensor, instance, cursor, resources)
    assert "no new goal/attainment materialization" in result.skip_message
    record_attainment(instance, store, "2025-04-04", "2025-04-04")
    tick(goal_status_alert_sensor, instance, cursor, resources)
    assert len(SlackApi.received) == 2
    captured = capsys.readouterr()
    assert TOKEN not in caplog.text + captured.out + captured.err


def test_first_tick_announces_only_the_newest_day(store):
    instance = dg.DagsterInstance.ephemeral()
    result, _ = tick(goal_status_alert_sensor, instance, None, {"notifier": LogNotifier()})
    assert "not been materialized yet" in result.skip_message
    record_attainment(instance, store, "2025-04-01", "2025-04-04")
    result, _ = tick(goal_status_alert_sensor, instance, None, {"notifier": LogNotifier()})
    assert "1 goal alert(s) up to 2025-04-04" in result.skip_message  # b, not a


def test_the_store_reading_sensors_day_cursor_carries_on(store):
    instance = dg.DagsterInstance.ephemeral()
    record_attainment(instance, store, "2025-04-01", "2025-04-04")
    result, cursor = tick(goal_status_alert_sensor, instance, "2025-04-02",
                          {"notifier": LogNotifier()})
    assert "2 goal alert(s) up to 2025-04-04" in result.skip_message
    assert GoalCursor.parse(cursor).after is not None


def test_goal_sensor_reads_one_materialization_per_run(store, slack):
    """A run over a range of days records one materialization per day, with the same
    metadata: its turns are announced once."""
    with duckdb.connect(str(store), read_only=True) as conn:
        turns = goal_turns(conn, date(2025, 4, 1), date(2025, 4, 4))
    turns_metadata = {"partition_window": "2025-04-01..2025-04-04",
                      "last_as_of": "2025-04-04",
                      "goal_turns": dg.MetadataValue.json(turn_records(turns)),
                      "goal_turns_total": len(turns)}

    @dg.asset(key=GOAL, partitions_def=dg.DailyPartitionsDefinition(start_date="2025-01-01"),
              backfill_policy=dg.BackfillPolicy.single_run())
    def stand_in() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=turns_metadata)

    instance = dg.DagsterInstance.ephemeral()
    resources = {"notifier": slack}
    _, cursor = tick(goal_status_alert_sensor, instance, GoalCursor(0, date(2025, 3, 31)).dump(),
                     resources)
    assert dg.materialize([stand_in], instance=instance, tags={
        "dagster/asset_partition_range_start": "2025-04-01",
        "dagster/asset_partition_range_end": "2025-04-04"}).success
    assert len(instance.fetch_materializations(GOAL, limit=10).records) == 4
    result, _ = tick(goal_status_alert_sensor, instance, cursor, resources)
    assert "2 goal alert(s) up to 2025-04-04" in result.skip_message
    assert len(SlackApi.received) == 2


def test_goal_sensor_needs_neither_the_store_nor_its_lock(store, tmp_path):
    """The goal sensor ticks while a run holds the store's lock, and when the store is
    gone: it reads goal/attainment's materialization metadata only."""
    instance = dg.DagsterInstance.ephemeral()
    record_attainment(instance, store, "2025-04-01", "2025-04-02")
    _, cursor = tick(goal_status_alert_sensor, instance, None, {"notifier": LogNotifier()})
    record_attainment(instance, store, "2025-04-03", "2025-04-04")
    moved = tmp_path / "elsewhere.duckdb"
    store.rename(moved)  # no store where the warehouse points
    warehouse = Warehouse(database=str(store), lock_timeout_seconds=600)
    with lock_held_elsewhere(warehouse.lock_path()) as holder:
        result, cursor = tick(goal_status_alert_sensor, instance, cursor,
                              {"warehouse": warehouse, "notifier": LogNotifier()})
        assert "2 goal alert(s) up to 2025-04-04" in result.skip_message
        assert holder.poll() is None  # the lock was held the whole tick


def test_slack_refusal_is_reported_without_the_token(slack):
    SlackApi.answer = {"ok": False, "error": "channel_not_found"}
    with pytest.raises(RuntimeError) as error:
        slack.send(Alert("goal_off_track", "a", "off track"))
    assert "channel_not_found" in str(error.value) and "#marketing-alerts" in str(error.value)
    assert TOKEN not in str(error.value)


@dg.asset
def scored() -> int:
    return 1


def _check(passed: bool, blocking: bool, severity: dg.AssetCheckSeverity):
    @dg.asset_check(asset=scored, blocking=blocking, name="scored_is_sane")
    def _scored_is_sane() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=passed, severity=severity,
                                   description="value out of range")

    return _scored_is_sane


@pytest.mark.parametrize(("passed", "blocking", "severity", "alerts"), [
    (False, True, dg.AssetCheckSeverity.ERROR, 1),
    (False, False, dg.AssetCheckSeverity.WARN, 0),
    (True, True, dg.AssetCheckSeverity.ERROR, 0),
])
def test_check_sensor_alerts_on_failed_blocking_checks(slack, passed, blocking, severity,
                                                        alerts):
    instance = dg.DagsterInstance.ephemeral()
    check = _check(passed, blocking, severity)
    definitions = dg.Definitions(assets=[scored], asset_checks=[check])
    resources = {"notifier": slack}
    result, cursor = tick(check_failure_alert_sensor, instance, None, resources,
                          definitions=definitions)
    assert "first tick: 1 check(s)" in result.skip_message
    dg.materialize([scored, check], instance=instance, raise_on_error=False)
    result, cursor = tick(check_failure_alert_sensor, instance, cursor, resources,
                          definitions=definitions)
    assert f"{alerts} failed check(s) in 1 evaluation(s)" in result.skip_message
    assert len(SlackApi.received) == alerts
    if alerts:
        assert SlackApi.received[0]["payload"]["text"].startswith(
            "[check_failed] scored:scored_is_sane: blocking check failed on scored")
    result, _ = tick(check_failure_alert_sensor, instance, cursor, resources,
                     definitions=definitions)
    assert "0 failed check(s) in 0 evaluation(s)" in result.skip_message


def test_check_sensor_first_tick_does_not_replay_history(slack):
    instance = dg.DagsterInstance.ephemeral()
    check = _check(False, True, dg.AssetCheckSeverity.ERROR)
    definitions = dg.Definitions(assets=[scored], asset_checks=[check])
    dg.materialize([scored, check], instance=instance, raise_on_error=False)
    result, cursor = tick(check_failure_alert_sensor, instance, None, {"notifier": slack},
                          definitions=definitions)
    assert "first tick" in result.skip_message and SlackApi.received == []
    dg.materialize([scored, check], instance=instance, raise_on_error=False)
    result, _ = tick(check_failure_alert_sensor, instance, cursor, {"notifier": slack},
                     definitions=definitions)
    assert "1 failed check(s) in 1 evaluation(s)" in result.skip_message


SANE = dg.AssetCheckKey(scored.key, "scored_is_sane")


def _plan(instance: dg.DagsterInstance, run_id: str) -> None:
    """A run that planned the check and has not evaluated it yet."""
    instance.add_run(dg.DagsterRun(job_name="job", run_id=run_id,
                                   status=dg.DagsterRunStatus.STARTED))
    instance.report_dagster_event(dg.DagsterEvent(
        dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value, job_name="job",
        event_specific_data=AssetCheckEvaluationPlanned(asset_key=scored.key,
                                                        check_name=SANE.name)), run_id)


def _evaluate(instance: dg.DagsterInstance, run_id: str, passed: bool) -> None:
    instance.report_dagster_event(dg.DagsterEvent(
        dg.DagsterEventType.ASSET_CHECK_EVALUATION.value, job_name="job",
        event_specific_data=dg.AssetCheckEvaluation(
            asset_key=scored.key, check_name=SANE.name, passed=passed, blocking=True,
            metadata={"partition_window": "2025-04-14..2025-04-20"})), run_id)


def test_check_sensor_reads_an_evaluation_that_lands_after_a_newer_one(slack):
    """Runs plan their checks when they are created; a run planned first may evaluate
    last. Its evaluation is still announced, once; a planned check whose run ended
    without evaluating it is forgotten."""
    instance = dg.DagsterInstance.ephemeral()
    definitions = dg.Definitions(assets=[scored],
                                 asset_checks=[_check(False, True, dg.AssetCheckSeverity.ERROR)])
    resources = {"notifier": slack}
    _, cursor = tick(check_failure_alert_sensor, instance, None, resources,
                     definitions=definitions)
    _plan(instance, "slow")
    _plan(instance, "quick")
    _plan(instance, "dies")
    _evaluate(instance, "quick", passed=True)
    result, cursor = tick(check_failure_alert_sensor, instance, cursor, resources,
                          definitions=definitions)
    assert "0 failed check(s) in 1 evaluation(s)" in result.skip_message
    assert len(json.loads(cursor)["open"]["scored:scored_is_sane"]) == 2  # slow, dies
    _evaluate(instance, "slow", passed=False)
    instance.handle_run_event("dies", dg.DagsterEvent(
        dg.DagsterEventType.RUN_FAILURE.value, job_name="job"))
    result, cursor = tick(check_failure_alert_sensor, instance, cursor, resources,
                          definitions=definitions)
    assert "1 failed check(s) in 1 evaluation(s)" in result.skip_message
    [posted] = SlackApi.received
    assert posted["payload"]["text"].startswith(
        "[check_failed] scored:scored_is_sane: blocking check failed on scored window "
        "2025-04-14..2025-04-20")
    assert json.loads(cursor)["open"] == {}
    result, _ = tick(check_failure_alert_sensor, instance, cursor, resources,
                     definitions=definitions)
    assert "0 failed check(s) in 0 evaluation(s)" in result.skip_message


@dg.asset
def breaks() -> None:
    raise ValueError("the platform said no")


def test_run_failure_sensor_posts_the_failed_run(slack):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([breaks], instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor", dagster_event=failure,
        dagster_instance=instance, dagster_run=run, resources={"notifier": slack},
    ).for_run_failure()
    run_failure_alert_sensor(context)
    [posted] = SlackApi.received
    assert posted["payload"]["text"].startswith(f"[run_failed] __ephemeral_asset_job__ "
                                                f"{result.run_id}")


def test_check_sensor_reads_every_evaluation_since_its_last_tick(slack):
    instance = dg.DagsterInstance.ephemeral()
    definitions = dg.Definitions(assets=[scored],
                                 asset_checks=[_check(False, True, dg.AssetCheckSeverity.ERROR)])
    _, cursor = tick(check_failure_alert_sensor, instance, None, {"notifier": slack},
                     definitions=definitions)
    for day in range(1, 11):
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=scored.key, check_name=SANE.name, passed=day % 2 == 0, blocking=True,
            metadata={"partition_window": f"2025-04-{day:02d}..2025-04-{day:02d}"}))
    result, _ = tick(check_failure_alert_sensor, instance, cursor, {"notifier": slack},
                     definitions=definitions)
    assert "5 failed check(s) in 10 evaluation(s)" in result.skip_message
    assert [r["payload"]["text"].split(" window ")[1][:10] for r in SlackApi.received] == [
        f"2025-04-{day:02d}" for day in (1, 3, 5, 7, 9)]
