"""The reports' data-quality gate: which evaluations of which checks judge a period.

The gate reads the check execution records of the checks it finds, by layer, in the
definitions; an evaluation judged the days of its ``partition_window`` (else of its
partition, else of its run's partitions)."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest

from kpi_pipeline.defs.partitions import daily_partitions
from kpi_pipeline.defs.reports.gate import (
    definitions_graph,
    gate,
    gated_check_keys,
    keys_window,
    latest_check_states,
)

WEEK = (date(2025, 4, 14), date(2025, 4, 20))
WEEK_BEFORE = (date(2025, 4, 7), date(2025, 4, 13))
RAW = dg.AssetKey(["raw", "facebook"])  # one raw asset per platform: found by its layer
KPI = dg.AssetKey(["kpi", "weekly"])


def _checks(*keys: tuple[dg.AssetKey, str, bool]) -> list[dg.AssetChecksDefinition]:
    definitions = []
    for asset_key, name, blocking in keys:
        @dg.asset_check(asset=asset_key, name=name, blocking=blocking)
        def _check() -> dg.AssetCheckResult:
            return dg.AssetCheckResult(passed=True)

        definitions.append(_check)
    return definitions


GRAPH = dg.Definitions(asset_checks=_checks(
    (RAW, "landing_files_valid", True), (KPI, "kpi_expectations", True),
    (KPI, "kpi_period_jumps", False),
    (dg.AssetKey(["report", "weekly"]), "pages_open", True),  # not a gated layer
)).resolve_asset_graph()


def _evaluate(instance, asset_key: dg.AssetKey, check: str, passed: bool, window: str | None,
              *, blocking: bool = True, severity=dg.AssetCheckSeverity.ERROR) -> None:
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=asset_key, check_name=check, passed=passed, blocking=blocking,
        severity=severity, description=f"{check} said {'yes' if passed else 'no'}",
        metadata={"partition_window": window} if window else {}))


def _failed(instance, graph, period) -> list[str]:
    return sorted(f"{s.asset}:{s.check} {s.partition}"
                  for s in latest_check_states(instance, graph, *period) if not s.passed)


def test_the_gated_checks_are_found_by_layer():
    assert [k.to_user_string() for k in gated_check_keys(GRAPH)] == [
        "kpi/weekly:kpi_expectations", "kpi/weekly:kpi_period_jumps",
        "raw/facebook:landing_files_valid"]


def test_a_report_run_of_the_code_location_sees_every_gated_check():
    from kpi_pipeline.definitions import defs

    job = defs().resolve_job_def("weekly_report_job")
    keys = gated_check_keys(definitions_graph(job))
    layers = {key.asset_key.path[0] for key in keys}
    assert {"raw", "normalized", "kpi"} <= layers <= {"raw", "normalized", "kpi", "baseline",
                                                      "diagnostic", "goal"}
    assert dg.AssetCheckKey(KPI, "kpi_expectations") in keys


def test_a_check_that_failed_then_passed_again_does_not_block():
    instance = dg.DagsterInstance.ephemeral()
    _evaluate(instance, KPI, "kpi_expectations", False, "2025-04-14..2025-04-20")
    with pytest.raises(dg.Failure, match="1 blocking check"):
        gate(instance, GRAPH, *WEEK)
    _evaluate(instance, KPI, "kpi_expectations", True, "2025-04-14..2025-04-20")
    assert gate(instance, GRAPH, *WEEK) == []


def test_an_evaluation_whose_window_misses_the_period_does_not_block_it():
    instance = dg.DagsterInstance.ephemeral()
    _evaluate(instance, RAW, "landing_files_valid", False, "2025-04-07..2025-04-13")
    _evaluate(instance, RAW, "landing_files_valid", True, "2025-04-21..2025-04-21")
    assert gate(instance, GRAPH, *WEEK) == []
    assert _failed(instance, GRAPH, WEEK_BEFORE) == [
        "raw/facebook:landing_files_valid 2025-04-07..2025-04-13"]


def test_each_day_keeps_its_newest_judgement():
    """A day judged failed stays failed until an evaluation covering that day passes: a
    newer pass of other days does not hide it."""
    instance = dg.DagsterInstance.ephemeral()
    _evaluate(instance, RAW, "landing_files_valid", False, "2025-04-14..2025-04-20")
    _evaluate(instance, RAW, "landing_files_valid", True, "2025-04-15..2025-04-20")
    assert _failed(instance, GRAPH, WEEK) == [
        "raw/facebook:landing_files_valid 2025-04-14..2025-04-20"]
    _evaluate(instance, RAW, "landing_files_valid", True, "2025-04-14..2025-04-14")
    assert _failed(instance, GRAPH, WEEK) == []


def test_failed_warnings_become_notes_and_other_layers_are_not_read():
    instance = dg.DagsterInstance.ephemeral()
    _evaluate(instance, KPI, "kpi_period_jumps", False, "2025-04-14..2025-04-20",
              blocking=False, severity=dg.AssetCheckSeverity.WARN)
    _evaluate(instance, dg.AssetKey(["report", "weekly"]), "pages_open", False,
              "2025-04-14..2025-04-20")
    [warning] = gate(instance, GRAPH, *WEEK)
    assert (warning.check, warning.asset, warning.window, warning.description) == (
        "kpi_period_jumps", "kpi/weekly", WEEK, "kpi_period_jumps said no")


def test_an_evaluation_without_a_window_counts_for_every_period():
    """Like the daily source freshness: it judges no period in particular."""
    instance = dg.DagsterInstance.ephemeral()
    _evaluate(instance, RAW, "landing_files_valid", False, None)
    assert _failed(instance, GRAPH, WEEK) == _failed(instance, GRAPH, WEEK_BEFORE) == [
        "raw/facebook:landing_files_valid None"]


@dg.asset(key=["normalized", "post_daily"], partitions_def=daily_partitions,
          backfill_policy=dg.BackfillPolicy.single_run())
def post_daily() -> None:
    """Stands in for a normalized table."""


@dg.asset_check(asset=post_daily, name="unique_key", blocking=True)
def unique_key() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False)  # no partition_window in its metadata


def test_without_a_window_in_its_metadata_an_evaluation_judged_its_runs_partitions():
    instance = dg.DagsterInstance.ephemeral()
    definitions = [post_daily, unique_key]
    result = dg.materialize(definitions, instance=instance, partition_key="2025-04-15",
                            raise_on_error=False)
    graph = definitions_graph(result.job_def)
    assert _failed(instance, graph, WEEK) == ["normalized/post_daily:unique_key "
                                              "2025-04-15..2025-04-15"]
    assert _failed(instance, graph, WEEK_BEFORE) == []
    dg.materialize(definitions, instance=instance, raise_on_error=False, tags={
        "dagster/asset_partition_range_start": "2025-04-06",
        "dagster/asset_partition_range_end": "2025-04-08"})
    assert _failed(instance, graph, WEEK_BEFORE) == ["normalized/post_daily:unique_key "
                                                     "2025-04-06..2025-04-08"]


def test_partition_keys_are_read_with_the_assets_partitions():
    weekly = dg.WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=1)
    assert keys_window(weekly, "2025-04-14", "2025-04-21") == (date(2025, 4, 14),
                                                               date(2025, 4, 27))
    assert keys_window(weekly, "2025-04-15", "2025-04-15") == (date(2025, 4, 15),
                                                               date(2025, 4, 15))
    assert keys_window(None, "2025-04-15", "2025-04-16") == (date(2025, 4, 15),
                                                             date(2025, 4, 16))
    assert keys_window(None, "north", "south") is None


def test_the_walk_stops_at_evaluations_made_before_the_periods_data_existed(monkeypatch):
    """A period nothing judged yet (a missing day, a week still running) does not read a
    check's whole history: evaluations made before the period began judged none of it."""
    instance = dg.DagsterInstance.ephemeral()
    for day in range(1, 29):
        _evaluate(instance, RAW, "landing_files_valid", True,
                  f"2025-02-{day:02d}..2025-02-{day:02d}")
    storage = instance.event_log_storage
    calls = []
    history = storage.get_asset_check_execution_history

    def counted(key, limit, cursor=None, status=None, partition_filter=None):
        calls.append(limit)
        return history(key, limit, cursor, status, partition_filter)

    monkeypatch.setattr(storage, "get_asset_check_execution_history", counted)
    future = (date.today() + timedelta(days=30), date.today() + timedelta(days=36))
    assert latest_check_states(instance, GRAPH, *future) == []
    assert calls == [9, 9, 9]  # one page of a week's length per check, then it stops
    calls.clear()
    assert latest_check_states(instance, GRAPH, date(2025, 3, 1), date(2025, 3, 7)) == []
    assert calls == [9, 9, 9, 36]  # made after March began: raw/facebook's read to the end
