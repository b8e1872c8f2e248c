"""The shipped PostgreSQL instance (deploy/postgres/dagster.yaml) against a real server.

The file is copied into a fresh DAGSTER_HOME with its connection settings in the
environment, exactly as the README says to deploy it; one day of the project's
``daily_ingest_job`` runs in-process against that instance; then the run, its partition
and its materializations are read back through the instance and straight from the
database's tables (so it is PostgreSQL that holds them, not a SQLite fallback), and the
loaded run coordinator must be the queue with the file's limits.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._core.instance.config import PoolGranularity
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES, RunsFilter
from dagster._utils.tags import TagConcurrencyLimitsCounter
from dagster_postgres import (
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)

from kpi_pipeline.defs.attribution.assets import attribution_daily, ga4_events, web_events
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline_tests.ops.conftest import PostgresServer

pytestmark = pytest.mark.slow  # a PostgreSQL server started, runs recorded in it
SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "dagster.yaml"
DAY = "2025-03-03"  # an ingest week (Monday), closed on the demo clock
JOB = "daily_ingest_job"
# the ingest job: every raw and normalized asset, GA4's event export and its attribution
INGEST_KEYS = {key for a in [*raw_assets, *normalized_assets, ga4_events, web_events,
                             attribution_daily] for key in a.keys}


@pytest.fixture(scope="module")
def pg_home(postgres_server: PostgresServer, tmp_path_factory) -> Path:
    """A DAGSTER_HOME holding nothing but the shipped file."""
    home = tmp_path_factory.mktemp("dagster_home_pg")
    shutil.copy(SHIPPED, home / "dagster.yaml")
    return home


@pytest.fixture
def instance(pg_home: Path, postgres_server: PostgresServer, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(pg_home))
    for name, value in postgres_server.env().items():
        monkeypatch.setenv(name, value)
    # the code location's default resources read these when a run opens them
    monkeypatch.setenv("KPI_PIPELINE_DUCKDB", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("KPI_PIPELINE_LANDING", str(tmp_path / "landing"))
    with dg.DagsterInstance.get() as loaded:
        yield loaded


def query(server: PostgresServer, sql: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(host=server.host, port=server.port, user=server.user,
                            password=server.password, dbname=server.database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_every_value_comes_from_the_environment():
    text = SHIPPED.read_text()
    config = yaml.safe_load(text)
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        db = config[storage]["config"]["postgres_db"]
        assert db == {"hostname": {"env": "DAGSTER_PG_HOST"}, "port": {"env": "DAGSTER_PG_PORT"},
                      "username": {"env": "DAGSTER_PG_USERNAME"},
                      "password": {"env": "DAGSTER_PG_PASSWORD"},
                      "db_name": {"env": "DAGSTER_PG_DB"},
                      "scheme": "postgresql+psycopg2"}, storage
    assert config["telemetry"] == {"enabled": False}


def test_a_partitioned_run_is_recorded_in_postgres(instance, postgres_server, pg_home):
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

    from kpi_pipeline.definitions import defs

    job = defs().resolve_job_def(JOB)
    result = job.execute_in_process(instance=instance, partition_key=DAY)
    assert result.success

    run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.job_name == JOB
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == DAY

    materialized = {
        record.event_log_entry.dagster_event.asset_key
        for record in instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1000
        ).records
    }
    assert materialized == INGEST_KEYS
    for key in (dg.AssetKey(["raw", raw_assets[0].key.path[-1]]),
                dg.AssetKey(["normalized", "post_daily"]),
                dg.AssetKey(["normalized", "fx_daily"])):
        latest = instance.get_latest_materialization_event(key)
        assert latest is not None and latest.run_id == result.run_id, key
        assert latest.dagster_event.partition == DAY, key
        assert instance.get_materialized_partitions(key) == {DAY}, key

    # The same facts straight from PostgreSQL's tables: this is not a SQLite fallback.
    assert query(postgres_server, "SELECT status FROM runs WHERE run_id = %s",
                 (result.run_id,)) == [("SUCCESS",)]
    [(events,)] = query(postgres_server,
                        "SELECT count(*) FROM event_logs WHERE run_id = %s AND "
                        "dagster_event_type = 'ASSET_MATERIALIZATION'", (result.run_id,))
    assert events == len(INGEST_KEYS)
    tables = {name for (name,) in query(
        postgres_server, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "run_tags", "event_logs", "jobs", "instigators"} <= tables
    assert not list(pg_home.rglob("*.db"))  # and no SQLite file beside dagster.yaml


def test_runs_wait_in_the_queue_under_the_shipped_limits(instance):
    shipped = yaml.safe_load(SHIPPED.read_text())["concurrency"]
    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    config = instance.get_concurrency_config()
    assert config.pool_config.default_pool_limit == 1  # the "duckdb" pool: one writer
    assert config.pool_config.pool_granularity == PoolGranularity.RUN  # the queue enforces
    queue = config.run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == shipped["runs"]["max_concurrent_runs"] == 4
    assert queue.tag_concurrency_limits == shipped["runs"]["tag_concurrency_limits"]

    # What the daemon does with them: count the runs in progress in this instance and
    # ask whether a queued run may start.
    def add(status: dg.DagsterRunStatus, tags: dict[str, str]) -> dg.DagsterRun:
        return instance.add_run(dg.DagsterRun(job_name=JOB, run_id=str(uuid.uuid4()),
                                              status=status, tags=tags))

    add(dg.DagsterRunStatus.STARTED, {"dagster/backfill": "bf-a"})
    add(dg.DagsterRunStatus.STARTED, {"dagster/schedule_name": "daily_ingest_schedule"})
    in_progress = instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
    counter = TagConcurrencyLimitsCounter(queue.tag_concurrency_limits, list(in_progress))

    def blocked(tags: dict[str, str]) -> bool:
        return counter.is_blocked(dg.DagsterRun(job_name=JOB, run_id=str(uuid.uuid4()),
                                                tags=tags))

    assert blocked({"dagster/backfill": "bf-b"})  # one backfill run at a time, any backfill
    assert blocked({"dagster/schedule_name": "daily_ingest_schedule"})  # no self-overlap
    assert not blocked({"dagster/sensor_name": "period_automation_sensor"})
    assert not blocked({})


SHARED_STORE = SHIPPED.parents[1] / "shared-store" / "dagster.yaml"


def test_the_shared_store_instance_queues_runs_for_containers(
        postgres_server: PostgresServer, tmp_path: Path, monkeypatch) -> None:
    """deploy/shared-store/dagster.yaml loads as Dagster loads it: PostgreSQL storage, the
    run queue, Docker's run launcher given the store's variables by name only."""
    home = tmp_path / "dagster_home_shared"
    home.mkdir()
    shutil.copy(SHARED_STORE, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name, value in postgres_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KPI_PIPELINE_IMAGE", "kpi_pipeline:test")
    text = SHARED_STORE.read_text()
    assert postgres_server.password not in text and "password: {env:" in text
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        # its runs' steps run side by side (multiprocess): the pools bound each step
        assert instance.get_concurrency_config().pool_config.pool_granularity == \
            PoolGranularity.OP
        launcher = instance.run_launcher
        assert type(launcher).__name__ == "DockerRunLauncher"
        assert launcher.image == "kpi_pipeline:test"
        assert {"KPI_PIPELINE_STORE", "KPI_PIPELINE_STORE_PASSWORD", "KPI_PIPELINE_LANDING",
                "KPI_PIPELINE_EXECUTOR"} <= set(launcher.env_vars)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
