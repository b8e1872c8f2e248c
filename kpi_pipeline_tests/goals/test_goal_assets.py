"""The attainment asset on a demo week built by the real chain, with a goals file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.goals.assets import attainment, goal_definitions
from kpi_pipeline.defs.kpis.assets import kpi_weekly
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import kpi_range
from kpi_pipeline_tests.conftest import INGEST_ASSETS, copy_of, demo_resources
from kpi_pipeline_tests.store_lock import lock_held_elsewhere

GOALS = """
goals:
  - id: alpenglow-opt-ins
    title: 400 opt-ins in March
    objective: lead_generation
    stage: lead_generation
    kpi: email_opt_ins
    scope: {{kind: brand, key: alpenglow}}
    target: {{type: total, value: {total}}}
    window: {{start: 2025-03-03, end: 2025-03-31}}
  - id: instagram-engagement
    title: Instagram engagement rate at least 4 %
    objective: brand_awareness
    stage: engagement
    kpi: engagement_rate
    scope: {{kind: platform, key: instagram}}
    target: {{type: level, at_least: 0.04}}
    window: {{start: 2025-03-03, end: 2025-03-31}}
"""


def days(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last}


@pytest.fixture(scope="module")
def goals_template(tmp_path_factory) -> Path:
    """The chain over a week with the goals file, built once; each test gets a copy."""
    root = tmp_path_factory.mktemp("goals_template")
    (root / "goals.yaml").write_text(GOALS.format(total=400))
    resources = demo_resources(root, goals_file=str(root / "goals.yaml"))
    assert dg.materialize(INGEST_ASSETS, resources=resources,
                          tags=days("2025-03-02", "2025-03-09")).success
    assert dg.materialize([kpi_weekly], resources=resources, partition_key="2025-03-03").success
    assert dg.materialize([goal_definitions, attainment], resources=resources,
                          tags=days("2025-03-03", "2025-03-09")).success
    return root


@pytest.fixture
def goals_built(goals_template, tmp_path: Path):
    root = copy_of(goals_template, tmp_path / "store")
    return demo_resources(root, goals_file=str(root / "goals.yaml")), root / "goals.yaml"


def rows(resources, sql, params=()):
    with resources["warehouse"].get_connection(read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def test_one_row_per_goal_and_day(goals_built):
    resources, _ = goals_built
    counts = rows(resources, "SELECT goal_id, count(*) FROM goal.attainment GROUP BY 1 "
                             "ORDER BY 1")
    assert counts == [("alpenglow-opt-ins", 7), ("instagram-engagement", 7)]


def test_level_goal_over_its_first_week_equals_the_weekly_kpi(goals_built):
    resources, _ = goals_built
    (actual,) = rows(resources, """SELECT actual FROM goal.attainment
                                  WHERE goal_id = 'instagram-engagement'
                                    AND as_of = DATE '2025-03-09'""")
    (weekly,) = rows(resources, """SELECT value FROM kpi.weekly WHERE kpi = 'engagement_rate'
                                  AND scope_key = 'instagram'""")
    assert actual[0] == pytest.approx(weekly[0], rel=1e-12)


def test_total_goal_sums_the_days_so_far(goals_built):
    resources, _ = goals_built
    (expected,) = rows(resources, """SELECT sum(subscribes) FROM normalized.email_daily
                                    WHERE brand = 'alpenglow'
                                      AND report_date BETWEEN '2025-03-03' AND '2025-03-05'""")
    (row,) = rows(resources, """SELECT actual, target, days_elapsed, days_left, status
                               FROM goal.attainment WHERE goal_id = 'alpenglow-opt-ins'
                                 AND as_of = DATE '2025-03-05'""")
    assert row[:4] == (expected[0], 400, 3, 26)
    assert row[4] in ("on track", "at risk", "off track")


def test_a_changed_target_shows_in_the_history(goals_built):
    resources, goals = goals_built
    goals.write_text(GOALS.format(total=500))
    assert dg.materialize([goal_definitions, attainment], resources=resources,
                          tags=days("2025-03-08", "2025-03-09")).success
    prints = rows(resources, """SELECT fingerprint, min(as_of), max(as_of), max(target)
                               FROM goal.attainment WHERE goal_id = 'alpenglow-opt-ins'
                               GROUP BY 1 ORDER BY 2""")
    assert [(str(a), str(b), t) for _, a, b, t in prints] == [
        ("2025-03-03", "2025-03-07", 400), ("2025-03-08", "2025-03-09", 500)]


def test_an_invalid_goals_file_fails_with_every_problem(goals_built):
    resources, goals = goals_built
    goals.write_text(GOALS.format(total=400).replace("kpi: email_opt_ins", "kpi: email_optins")
                     .replace("window: {start: 2025-03-03, end: 2025-03-31}\n  - id",
                              "window: {start: 2025-03-31, end: 2025-03-03}\n  - id"))
    result = dg.materialize([goal_definitions, attainment], resources=resources,
                            tags=days("2025-03-03", "2025-03-03"), raise_on_error=False)
    assert not result.success
    message = next(e for e in result.all_events
                   if e.is_step_failure).step_failure_data.user_failure_data.description
    assert "goal 'alpenglow-opt-ins': field 'kpi'" in message
    assert "goal 'alpenglow-opt-ins': field 'window'" in message


def test_leading_indicator_trends_equal_the_kpi_over_the_same_28_days(goals_built):
    resources, _ = goals_built
    (indicators,) = rows(resources, """SELECT leading_indicators FROM goal.attainment
                                      WHERE goal_id = 'alpenglow-opt-ins'
                                        AND as_of = DATE '2025-03-09'""")
    indicators = json.loads(indicators[0])
    assert indicators, "a lagging goal reads its leading indicators on a week close"
    with resources["warehouse"].get_connection(read_only=True) as conn:
        for item in indicators:
            _, _, value = kpi_range(conn, catalog()[item["kpi"]], date(2025, 2, 10),
                                    date(2025, 3, 9), item["scope_key"])
            if value is None:
                assert item["value"] is None, item
            else:
                assert item["value"] == pytest.approx(value, rel=1e-12), item


def test_goal_turns_in_the_metadata_reach_the_alert_sensor_without_the_store(goals_built):
    """The asset lists the goals that turned off track or missed in its window; the goal
    sensor announces them from that metadata while a run holds the store's lock."""
    from kpi_pipeline.defs.alerts.notifiers import LogNotifier
    from kpi_pipeline.defs.alerts.sensors import goal_status_alert_sensor

    resources, goals = goals_built
    goals.write_text(GOALS.format(total=100000))  # out of reach from the first day
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([goal_definitions, attainment], resources=resources, instance=instance,
                            tags=days("2025-03-03", "2025-03-09"))
    metadata = result.asset_materializations_for_node("goal__attainment")[-1].metadata
    turns = metadata["goal_turns"].value
    assert metadata["goal_turns_total"].value == len(turns)
    assert metadata["last_as_of"].value == "2025-03-09"
    assert [t["goal_id"] for t in turns if t["goal_id"] == "alpenglow-opt-ins"] \
        == ["alpenglow-opt-ins"]  # off track from its first day, once
    (first_bad,) = rows(resources, """SELECT min(as_of) FROM goal.attainment
                                     WHERE goal_id = 'alpenglow-opt-ins'
                                       AND status IN ('off track', 'missed')""")
    assert [t["as_of"] for t in turns if t["goal_id"] == "alpenglow-opt-ins"] \
        == [first_bad[0].isoformat()]
    with (lock_held_elsewhere(resources["warehouse"].lock_path()),
          dg.build_sensor_context(instance=instance, cursor="2025-03-02",
                                  resources={"notifier": LogNotifier()}) as context):
        tick = goal_status_alert_sensor(context)
    assert f"{len(turns)} goal alert(s) up to 2025-03-09" in tick.skip_message


MONTHLY = """
goals:
  - id: monthly-opt-ins
    title: 400 opt-ins every month
    objective: lead_generation
    stage: lead_generation
    kpi: email_opt_ins
    scope: {kind: brand, key: alpenglow}
    target: {type: total, value: TOTAL}
    window: {relative: this_month}
"""


def test_relative_windows_resolve_per_as_of_day_from_the_stored_definitions(goals_built):
    """``this_month`` without as_of is the month of each as-of day, whenever it runs; a
    partition re-run alone gives the row it gave in the range; attainment reads the stored
    definitions, so an edited file counts only once the definitions are materialized."""
    resources, goals = goals_built
    goals.write_text(MONTHLY.replace("TOTAL", "400"))
    assert dg.materialize([goal_definitions, attainment], resources=resources,
                          tags=days("2025-02-27", "2025-03-04")).success
    (spec,) = rows(resources, "SELECT window_spec FROM goal.definitions")
    assert json.loads(spec[0]) == {"relative": "this_month"}
    query = """SELECT as_of, window_start, window_end, days_elapsed, days_left, target
               FROM goal.attainment WHERE goal_id = 'monthly-opt-ins' ORDER BY as_of"""
    first = rows(resources, query)
    feb, mar = (date(2025, 2, 1), date(2025, 2, 28)), (date(2025, 3, 1), date(2025, 3, 31))
    assert [r[:5] for r in first] == [
        (date(2025, 2, 27), *feb, 27, 1), (date(2025, 2, 28), *feb, 28, 0),
        (date(2025, 3, 1), *mar, 1, 30), (date(2025, 3, 2), *mar, 2, 29),
        (date(2025, 3, 3), *mar, 3, 28), (date(2025, 3, 4), *mar, 4, 27)]
    assert {r[5] for r in first} == {400}

    goals.write_text(MONTHLY.replace("TOTAL", "900"))  # not yet materialized
    assert dg.materialize([attainment], resources=resources,
                          tags=days("2025-03-02", "2025-03-02")).success
    assert rows(resources, query) == first
    assert dg.materialize([goal_definitions, attainment], resources=resources,
                          tags=days("2025-03-02", "2025-03-02")).success
    assert [r[5] for r in rows(resources, query)] == [400, 400, 400, 900, 400, 400]


def test_a_young_store_has_no_probability_and_the_straight_line_decides(goals_built):
    """Eight days of data (fewer than two weeks): no probability, the status rule is the
    projection's, and the metadata lists each goal's newest day without one."""
    resources, _ = goals_built
    result = dg.materialize([attainment], resources=resources, partition_key="2025-03-09")
    latest = result.asset_materializations_for_node("goal__attainment")[-1].metadata[
        "latest_probability"].value
    assert sorted(latest) == ["alpenglow-opt-ins", "instagram-engagement"]
    assert all(r["probability"] is None and r["as_of"] == "2025-03-09"
               for r in latest.values())
    found = rows(resources, "SELECT probability, end_p10, end_p90, status_rule "
                            "FROM goal.attainment")
    assert {r[:3] for r in found} == {(None, None, None)}
    assert all(r[3].startswith("projection") for r in found)


def test_a_store_from_before_the_probability_gains_its_columns(goals_built):
    """goal.attainment created before the probability columns: the next run adds them
    and writes its rows by column name; the other days keep theirs, NULL there."""
    import duckdb

    resources, _ = goals_built
    with duckdb.connect(resources["warehouse"].database) as conn:
        for column in ("probability", "end_p10", "end_p90"):
            conn.execute(f"ALTER TABLE goal.attainment DROP COLUMN {column}")
    assert dg.materialize([attainment], resources=resources,
                          partition_key="2025-03-09").success
    columns = [r[0] for r in rows(resources, "SELECT column_name FROM "
                                  "information_schema.columns WHERE table_schema = 'goal' "
                                  "AND table_name = 'attainment' ORDER BY ordinal_position")]
    assert columns[-3:] == ["probability", "end_p10", "end_p90"]
    assert rows(resources, "SELECT count(*) FROM goal.attainment") == [(14,)]
