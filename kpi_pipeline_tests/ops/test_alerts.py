"""Alerts: which goal days and which check results page someone, and the sensors
delivering them to Slack's Web API, served here on loopback."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import duckdb
import pytest

from kpi_pipeline.defs.alerts.notifiers import LogNotifier, SlackNotifier
from kpi_pipeline.defs.alerts.sensors import (
    check_failure_alert_sensor,
    goal_status_alert_sensor,
    run_failure_alert_sensor,
)
from kpi_pipeline.defs.resources import Warehouse
from kpi_pipeline.lib.alerts import Alert, check_failure_alert, goals_turned_bad
from kpi_pipeline.lib.goals.tables import ensure_goal_tables

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


def test_goal_sensor_posts_to_slack_once_and_keeps_the_token_out_of_logs(
        store, slack, caplog, capsys):
    resources = {"warehouse": Warehouse(database=str(store)), "notifier": slack}
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, cursor="2025-04-01",
                                 resources=resources) as context:
        result = goal_status_alert_sensor(context)
        cursor = context.cursor
    assert "2 goal alert(s) up to 2025-04-04" in result.skip_message
    assert cursor == "2025-04-04"
    assert [r["path"] for r in SlackApi.received] == ["/api/chat.postMessage"] * 2
    assert {r["auth"] for r in SlackApi.received} == {f"Bearer {TOKEN}"}
    texts = [r["payload"]["text"] for r in SlackApi.received]
    assert texts[0].startswith("[goal_off_track] a: off track as of 2025-04-03")
    assert texts[1].startswith("[goal_off_track] b: missed as of 2025-04-04")
    assert {r["payload"]["channel"] for r in SlackApi.received} == {"#marketing-alerts"}
    # a second tick from the stored cursor announces nothing again
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources=resources) as context:
        goal_status_alert_sensor(context)
    assert len(SlackApi.received) == 2
    captured = capsys.readouterr()
    assert TOKEN not in caplog.text + captured.out + captured.err


def test_first_tick_announces_only_the_newest_day(store):
    resources = {"warehouse": Warehouse(database=str(store)), "notifier": LogNotifier()}
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(),
                                 resources=resources) as context:
        result = goal_status_alert_sensor(context)
    assert "1 goal alert(s) up to 2025-04-04" in result.skip_message  # b, not a


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
    dg.materialize([scored, _check(passed, blocking, severity)], instance=instance,
                   raise_on_error=False)
    with dg.build_sensor_context(instance=instance, resources={"notifier": slack}) as context:
        result = check_failure_alert_sensor(context)
        cursor = context.cursor
    assert f"{alerts} failed check(s) in 1 evaluation(s)" in result.skip_message
    assert len(SlackApi.received) == alerts
    if alerts:
        assert SlackApi.received[0]["payload"]["text"].startswith(
            "[check_failed] scored:scored_is_sane: blocking check failed on scored")
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"notifier": slack}) as context:
        assert "0 failed check(s) in 0 evaluation(s)" in \
            check_failure_alert_sensor(context).skip_message


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


def test_goal_sensor_skips_a_tick_while_a_run_holds_the_store(store, monkeypatch):
    import subprocess
    import sys

    import kpi_pipeline.defs.alerts.sensors as sensors

    monkeypatch.setattr(sensors, "STORE_WAIT_SECONDS", 0.5)
    lock = str(store) + ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time\n"
         f"f = open({lock!r}, 'a'); fcntl.flock(f, fcntl.LOCK_EX)\n"
         "print('held', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        resources = {"warehouse": Warehouse(database=str(store)), "notifier": LogNotifier()}
        with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(),
                                     cursor="2025-04-01", resources=resources) as context:
            result = goal_status_alert_sensor(context)
            assert context.cursor == "2025-04-01"  # nothing announced, nothing skipped over
        assert "store stayed busy" in result.skip_message
    finally:
        holder.kill()
        holder.wait()
