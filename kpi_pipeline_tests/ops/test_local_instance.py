"""The shipped local instance (dagster_home/dagster.yaml): pools enforced per run.

Every job executes its steps one after another in one process, so the pools (`duckdb`
for the store's writers, `pull_<platform>` for each platform's pulls) are enforced by the
run queue when it starts a run, not by a claim per step. These tests load the shipped
file into a fresh DAGSTER_HOME and ask what the queue's daemon asks: may a queued run
start while others are in progress?
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.config import PoolGranularity
from dagster._core.op_concurrency_limits_counter import GlobalOpConcurrencyLimitsCounter
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES, RunsFilter

from kpi_pipeline.definitions import defs

SHIPPED = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml"
PARTITION = {"dagster/partition": "2025-02-10"}


@pytest.fixture
def instance(tmp_path: Path) -> dg.DagsterInstance:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(SHIPPED, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as local:
        yield local


@pytest.fixture(scope="module")
def jobs() -> dict[str, dg.JobDefinition]:
    loaded = defs()
    everything = loaded.resolve_implicit_global_asset_job_def()

    def only(*keys: str) -> dg.JobDefinition:
        return everything.get_subset(asset_selection={dg.AssetKey(k.split("/")) for k in keys})

    return {"ingest": loaded.resolve_job_def("daily_ingest_job"), "kpi": only("kpi/weekly"),
            "meta pull": only("raw/meta"), "tiktok pull": only("raw/tiktok")}


def startable(instance: dg.DagsterInstance, queued: list[dg.DagsterRun]) -> list[bool]:
    """For each queued run, whether the queue's pool limits let it start now (the
    daemon's own counter; its first pass gives new pools their default limit)."""
    config = instance.get_concurrency_config().pool_config
    in_progress = instance.get_run_records(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))

    def daemon_pass() -> GlobalOpConcurrencyLimitsCounter:
        return GlobalOpConcurrencyLimitsCounter(
            instance, queued, in_progress,
            concurrency_keys=instance.event_log_storage.get_concurrency_keys(),
            pool_limits=instance.event_log_storage.get_pool_limits(),
            pool_granularity=config.pool_granularity)

    daemon_pass()  # the first gives the queued runs' new pools their default limit
    counter = daemon_pass()
    return [not counter.is_blocked(run) for run in queued]


def test_the_pools_are_enforced_per_run_with_one_slot_each(instance):
    config = instance.get_concurrency_config().pool_config
    assert config.pool_granularity == PoolGranularity.RUN
    assert config.default_pool_limit == 1
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"


def test_a_run_writing_the_store_waits_for_the_one_in_progress(instance, jobs):
    def run(name: str, status: dg.DagsterRunStatus | None = None) -> dg.DagsterRun:
        return instance.create_run_for_job(jobs[name], status=status, tags=PARTITION)

    meta_pull = run("meta pull", dg.DagsterRunStatus.STARTED)
    queued = [run("kpi"), run("meta pull"), run("tiktok pull")]
    # a pull of Meta holds pool pull_meta only: another platform's pull and a store
    # writer may start, a second pull of Meta waits
    assert startable(instance, queued) == [True, False, True]

    instance.report_run_canceled(meta_pull)
    run("ingest", dg.DagsterRunStatus.STARTED)
    # the ingest holds every pull pool and the store's: everything waits for it
    assert startable(instance, queued) == [False, False, False]


def test_a_step_in_a_pool_claims_no_slot_when_its_run_executes(instance):
    seen: list[int] = []

    @dg.asset(pool="duckdb")
    def writes_the_store(context) -> None:
        info = context.instance.event_log_storage.get_concurrency_info("duckdb")
        seen.append(info.active_slot_count + info.pending_step_count)

    assert dg.materialize([writes_the_store], instance=instance).success
    assert seen == [0]  # with per-step claims this step would hold one slot
