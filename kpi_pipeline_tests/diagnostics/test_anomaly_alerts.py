"""Anomaly alerts: the diagnostic asset lists the window's anomalies in its metadata, and
kpi_anomaly_alert_sensor hands each to the notifier once per KPI, scope and period, however
often the period is re-run, without opening the store."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import duckdb
import pytest

from kpi_pipeline.defs.alerts.notifiers import Notifier
from kpi_pipeline.defs.alerts.sensors import AnomalyCursor, kpi_anomaly_alert_sensor
from kpi_pipeline.defs.diagnostics.assets import configured_anomaly_rules, diagnostic_weekly
from kpi_pipeline.defs.resources import Warehouse
from kpi_pipeline.defs.settings import ANOMALY_DEVIATIONS
from kpi_pipeline.lib.alerts import Alert
from kpi_pipeline.lib.baselines.snapshots import ensure_baseline_tables
from kpi_pipeline.lib.kpis.compute import ensure_kpi_tables

WEEK1, WEEK2 = date(2025, 3, 3), date(2025, 3, 10)


class Recording(Notifier):
    """Keeps what it was asked to send (class-level: resources are copied by Dagster)."""

    def send(self, alert: Alert) -> None:
        SENT.append(alert)


SENT: list[Alert] = []


def add_week(conn, week: date, kpi: str, scope: str, key: str, value: float) -> None:
    """One KPI row and its baseline (median 100, MAD 4, 12 periods): the band is
    75 .. 125 by the shipped rules (3.5 x 1.4826 x 4 = 20.76 < the 25 % floor)."""
    conn.execute("""INSERT INTO kpi.weekly (period_start, period_end, grain, kpi, scope,
                    scope_key, unit, definition, numerator, value)
                    VALUES (?, ?, 'week', ?, ?, ?, 'count', 'd', ?, ?)""",
                 [week, week + timedelta(days=6), kpi, scope, key, value, value])
    conn.execute("""INSERT INTO baseline.weekly (as_of, grain, kpi, scope, scope_key, unit,
                    trailing_periods, first_period, last_period, periods, mean, median, mad)
                    VALUES (?, 'week', ?, ?, ?, 'count', 12, ?, ?, 12, 100, 100, 4)""",
                 [week, kpi, scope, key, week - timedelta(weeks=12), week - timedelta(weeks=1)])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Warehouse:
    path = tmp_path_factory.mktemp("anomalies") / "store.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_kpi_tables(conn)
        ensure_baseline_tables(conn)
        add_week(conn, WEEK1, "saves", "all", "all", 140)       # above 125: fires
        add_week(conn, WEEK1, "saves", "platform", "facebook", 60)  # below 75: fires
        add_week(conn, WEEK1, "shares", "all", "all", 124)      # inside: silent
        add_week(conn, WEEK2, "saves", "all", "all", 130)       # fires again, new period
    return Warehouse(database=str(path))


def materialize(instance, warehouse: Warehouse, week: date) -> dg.MaterializeResult:
    result = dg.materialize([diagnostic_weekly], resources={"warehouse": warehouse},
                            partition_key=week.isoformat(), instance=instance)
    assert result.success
    return result


def tick(instance, cursor):
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"notifier": Recording()}) as context:
        result = kpi_anomaly_alert_sensor(context)
        return result, context.cursor


def test_the_asset_lists_the_window_s_anomalies(warehouse):
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(instance, warehouse, WEEK1)
    [event] = result.asset_materializations_for_node(diagnostic_weekly.op.name)
    assert event.metadata["anomalies_total"].value == 2
    listed = {(a["kpi"], a["scope_key"], a["direction"]) for a in
              event.metadata["anomalies"].value}
    assert listed == {("saves", "all", "above"), ("saves", "facebook", "below")}
    thresholds = event.metadata["anomaly_thresholds"].value["kpi_above_band"]
    assert thresholds == {"deviations": 3.5, "min_base": 30.0, "min_relative_change": 0.25,
                          "min_periods": 6}


def test_each_anomaly_is_sent_once_per_kpi_scope_and_period(warehouse):
    SENT.clear()
    instance = dg.DagsterInstance.ephemeral()
    result, cursor = tick(instance, None)
    assert "0 anomaly alert(s)" in result.skip_message  # nothing materialized yet
    materialize(instance, warehouse, WEEK1)
    result, cursor = tick(instance, cursor)  # first reading: the newest period
    # by hand: (140 - 100) / (1.4826 x 4) = 40 / 5.9304 = 6.74 robust deviations
    # one message for the week, a line per KPI and scope
    [week1] = SENT
    assert week1.subject == "week of 2025-03-03: 2 KPI(s) outside their baseline band"
    lines = week1.text.splitlines()
    assert lines[0].startswith("- saves at all platforms: ")
    assert "is 140, above its baseline band 75..125 (median 100, +6.7 robust deviations)" \
        in lines[0]
    assert lines[1].startswith("- saves at platform facebook: ")
    assert "below its baseline band" in lines[1]
    # a re-run of the same week, twice, and a tick with nothing new: nothing more
    materialize(instance, warehouse, WEEK1)
    materialize(instance, warehouse, WEEK1)
    tick(instance, cursor)
    result, cursor = tick(instance, cursor)
    assert len(SENT) == 1
    # the next week's anomaly is new: one more alert, then silence again
    materialize(instance, warehouse, WEEK2)
    result, cursor = tick(instance, cursor)
    assert "1 anomaly alert(s)" in result.skip_message
    assert "week of 2025-03-10 is 130" in SENT[1].text
    materialize(instance, warehouse, WEEK2)
    tick(instance, cursor)
    assert len(SENT) == 2
    assert len(AnomalyCursor.parse(cursor).sent) == 3


def test_the_deviations_setting_overrides_the_rules(monkeypatch):
    monkeypatch.setenv(ANOMALY_DEVIATIONS.name, "5")
    assert {r.deviations for r in configured_anomaly_rules()} == {5.0}
    monkeypatch.setenv(ANOMALY_DEVIATIONS.name, "five")
    with pytest.raises(ValueError, match="KPI_PIPELINE_ANOMALY_DEVIATIONS='five'"):
        configured_anomaly_rules()


def test_the_cursor_keeps_the_newest_periods():
    cursor = AnomalyCursor({}, [f"week|2025-01-{d:02d}|saves|all|all" for d in range(1, 32)])
    kept = AnomalyCursor.parse(cursor.dump()).sent
    assert kept == sorted(kept) and kept[-1] == "week|2025-01-31|saves|all|all"
