"""The goal probability alert: once when a running goal falls below the setting, silent
while it stays below or sits just above, again after it came back up; read from the
attainment asset's metadata, never the store."""

from __future__ import annotations

import dagster as dg
import pytest

from kpi_pipeline.defs.alerts.notifiers import Notifier
from kpi_pipeline.defs.alerts.sensors import GOAL_ATTAINMENT, goal_probability_alert_sensor
from kpi_pipeline.defs.settings import GOAL_PROBABILITY_ALERT, goal_probability_alert
from kpi_pipeline.lib.alerts import Alert
from kpi_pipeline.lib.goals.forecast import probability_drops


def record(day: str, probability: float | None, status: str = "at risk") -> dict:
    return {"as_of": day, "status": status, "kpi": "leads", "scope_key": "all",
            "probability": probability, "p10": 80.0, "p90": 120.0, "target": 150.0}


def test_drops_fire_once_per_fall_below():
    found, below = probability_drops({"a": record("2025-04-01", 0.25),
                                      "b": record("2025-04-01", 0.30)}, 0.3, {})
    assert [goal for goal, _ in found] == ["a"]  # b sits at the threshold: not below
    assert "probability 25% of reaching the target of 150 as of 2025-04-01" in found[0][1]
    assert "between 80 and 120" in found[0][1]
    assert below == {"a": "2025-04-01"}
    found, below = probability_drops({"a": record("2025-04-02", 0.1)}, 0.3, below)
    assert found == [] and below == {"a": "2025-04-01"}  # still below: silent
    found, below = probability_drops({"a": record("2025-04-03", None)}, 0.3, below)
    assert found == [] and below == {"a": "2025-04-01"}  # no verdict keeps the state
    found, below = probability_drops({"a": record("2025-04-04", 0.5)}, 0.3, below)
    assert found == [] and below == {}  # back up
    found, below = probability_drops({"a": record("2025-04-05", 0.2)}, 0.3, below)
    assert [goal for goal, _ in found] == ["a"]  # fell again
    found, below = probability_drops({"a": record("2025-04-06", 0.0, "missed")}, 0.3, below)
    assert found == [] and below == {}  # settled: the status alert speaks for it


class Collecting(Notifier):
    def send(self, alert: Alert) -> None:
        SENT.append(alert)


SENT: list[Alert] = []


def test_sensor_reads_the_metadata_and_keeps_its_cursor(monkeypatch):
    SENT.clear()
    monkeypatch.delenv(GOAL_PROBABILITY_ALERT.name, raising=False)
    instance = dg.DagsterInstance.ephemeral()

    def materialize(latest: dict) -> None:
        instance.report_runless_asset_event(dg.AssetMaterialization(GOAL_ATTAINMENT, metadata={
            "latest_probability": dg.MetadataValue.json(latest)}))

    def tick(cursor: str | None):
        with dg.build_sensor_context(instance=instance, cursor=cursor,
                                     resources={"notifier": Collecting()}) as context:
            result = goal_probability_alert_sensor(context)
            return result, context.cursor

    result, cursor = tick(None)
    assert "no new goal/attainment materialization" in result.skip_message
    materialize({"a": record("2025-04-01", 0.12), "b": record("2025-04-01", 0.9)})
    result, cursor = tick(cursor)
    assert [(a.kind, a.subject) for a in SENT] == [("goal_low_probability", "a")]
    materialize({"a": record("2025-04-02", 0.05)})
    result, cursor = tick(cursor)
    assert len(SENT) == 1 and "1 goal(s) below 30%" in result.skip_message
    result, cursor = tick(cursor)
    assert "no new goal/attainment materialization" in result.skip_message
    monkeypatch.setenv(GOAL_PROBABILITY_ALERT.name, "0")
    materialize({"b": record("2025-04-03", 0.01)})
    result, _ = tick(cursor)
    assert "the alert is off" in result.skip_message and len(SENT) == 1


@pytest.mark.parametrize("raw", ["abc", "1.5", "-0.1"])
def test_a_bad_threshold_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(GOAL_PROBABILITY_ALERT.name, raw)
    with pytest.raises(ValueError, match=GOAL_PROBABILITY_ALERT.name):
        goal_probability_alert()
