"""A run killed with SIGKILL in the middle of a write leaves no half-written partition.

The normalized layer is built for three days, and the weekly KPIs from it; their content is
hashed. A child process then rewrites the same window from DIFFERENT landing files (the
demo world with another seed) through the real assets, and stops inside the write's
transaction, after the DELETE and the INSERT and before the COMMIT, to say so; the test
checks the new rows are visible to the transaction, then kills the child with SIGKILL.
Afterwards: the interrupted table holds exactly its old content, every other table is
wholly old or wholly new, the file lock is free (the kernel drops a dead process's
flock), and re-running the write completes with the new content. The same is repeated
for the KPI layer's replace. Both on a DuckDB file and on a PostgreSQL store, where the
server rolls back the dead process's transaction (and there is no file lock to check).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.kpis.assets import kpi_weekly
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY
from kpi_pipeline_tests.ops.conftest import fresh_database, lock_is_free

pytestmark = pytest.mark.slow

FIRST, LAST, WEEK = "2025-03-03", "2025-03-03", "2025-03-03"  # one ingest week
NEW_SEED = DEMO_SEED + 1
STALLED_TABLE = "post_daily"  # the largest normalized table
TIMEOUT = 120

# Imports the pipeline once, then for each job: waits for its "go" file and forks a child
# that runs the job. The child replaces store.transaction so that the stalled write blocks
# after its statements and before COMMIT, hashes what the open transaction sees, writes
# {"pid", "hash"} to the job's ready file and sleeps until killed.
CHILD = """
import hashlib, json, os, sys, time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import kpi_pipeline.defs.normalized.assets as normalized
import kpi_pipeline.lib.kpis.compute as compute
import kpi_pipeline.lib.normalized.store as store
from kpi_pipeline.defs.kpis.assets import kpi_weekly
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse

warehouse, landing, seed, brands, today, first, last, week, jobs = sys.argv[1:]
resources = {"warehouse": Warehouse(**json.loads(warehouse)),
             "settings": Settings(landing_dir=landing, reporting_currency="USD"),
             "platforms": DemoPlatforms(seed=int(seed), brands=int(brands), today=today)}
committing = store.transaction


def stalling(table, ready):
    @contextmanager
    def transaction(conn):
        with committing(conn):
            yield conn
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            digest = hashlib.sha256(repr(rows).encode()).hexdigest()
            Path(ready).write_text(json.dumps({"pid": os.getpid(), "hash": digest}))
            time.sleep(600)  # killed here: DELETE and INSERT done, COMMIT not reached
    return transaction


def normalized_job(table, ready):
    def replace_window(conn, table_def, *args, **kwargs):
        if table_def.name == table:
            store.transaction = stalling(f"normalized.{table}", ready)
        try:
            return original(conn, table_def, *args, **kwargs)
        finally:
            store.transaction = committing
    original = normalized.replace_window_from
    normalized.replace_window_from = replace_window
    return dg.materialize(normalized.normalized_assets, resources=resources,
                          tags={"dagster/asset_partition_range_start": first,
                                "dagster/asset_partition_range_end": last})


def kpi_job(table, ready):
    compute.transaction = stalling(f"kpi.{table}", ready)
    return dg.materialize([kpi_weekly], resources=resources, partition_key=week)


for kind, table, go, ready in json.loads(jobs):
    while not Path(go).exists():
        time.sleep(0.05)
    pid = os.fork()
    if pid == 0:
        try:
            {"normalized": normalized_job, "kpi": kpi_job}[kind](table, ready)
        finally:
            os._exit(3)  # never reached: the test kills the child inside the write
    _, status = os.waitpid(pid, 0)
    print("EXIT", kind, os.waitstatus_to_exitcode(status), flush=True)
"""


def resources_for(store: dict[str, str], landing: Path, seed: int) -> dict[str, object]:
    return {"warehouse": Warehouse(**store),
            "settings": Settings(landing_dir=str(landing), reporting_currency="USD"),
            "platforms": DemoPlatforms(seed=seed, brands=DEMO_BRANDS,
                                       today=DEMO_TODAY.isoformat())}


def build(resources: dict[str, object], assets) -> None:
    tags = {"dagster/asset_partition_range_start": FIRST,
            "dagster/asset_partition_range_end": LAST}
    assert dg.materialize(assets, resources=resources, tags=tags).success


def hashes(warehouse: Warehouse) -> dict[str, str]:
    """A content hash of every normalized table and of kpi.weekly (rows sorted)."""
    names = [f"normalized.{t}" for t in TABLES] + ["kpi.weekly"]
    with warehouse.get_connection(read_only=True) as conn:
        return {name: hashlib.sha256(repr(conn.execute(
            f"SELECT * FROM {name} ORDER BY ALL").fetchall()).encode()).hexdigest()
            for name in names}


def kill_inside_the_write(child: subprocess.Popen, log: Path, kind: str, go: Path,
                          ready: Path, warehouse: Warehouse) -> str:
    """Let the child start its job, wait until it stalls before COMMIT, SIGKILL it and
    wait until it is dead. Returns the hash of the table as the open transaction saw it."""
    go.touch()
    deadline = time.monotonic() + TIMEOUT
    while not ready.exists() or not ready.read_text():
        assert child.poll() is None, "the child process ended before stalling"
        assert time.monotonic() < deadline, "the child never reached the stalled write"
        time.sleep(0.05)
    stalled = json.loads(ready.read_text())
    if warehouse.postgres() is None:
        assert not lock_is_free(warehouse), "the writer holds the lock during its transaction"
    os.kill(stalled["pid"], signal.SIGKILL)
    while f"EXIT {kind} {-signal.SIGKILL}" not in log.read_text():  # reaped by its parent
        assert time.monotonic() < deadline, f"the killed {kind} job was not reaped"
        time.sleep(0.05)
    return stalled["hash"]


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path: Path) -> dict[str, str]:
    """The Warehouse fields of the store under test: a DuckDB file, or a database on the
    throwaway PostgreSQL server (where the server's transaction is what rolls back)."""
    if request.param == "duckdb":
        return {"database": str(tmp_path / "warehouse.duckdb")}
    server = request.getfixturevalue("postgres_server")
    return {"store": fresh_database(server, "kpi_crash"), "store_password": server.password}


def test_a_sigkilled_write_leaves_the_previous_content_and_a_rerun_completes(
        tmp_path: Path, store: dict[str, str]) -> None:
    old_landing, new_landing = tmp_path / "landing-old", tmp_path / "landing-new"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    jobs = [(kind, table, str(tmp_path / f"{kind}.go"), str(tmp_path / f"{kind}.ready"))
            for kind, table in (("normalized", STALLED_TABLE), ("kpi", "weekly"))]
    child_log = tmp_path / "child.log"
    # Started first so that its imports overlap the builds below; it waits for "go".
    with child_log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, str(script), json.dumps(store), str(new_landing), str(NEW_SEED),
             str(DEMO_BRANDS), DEMO_TODAY.isoformat(), FIRST, LAST, WEEK, json.dumps(jobs)],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        old = resources_for(store, old_landing, DEMO_SEED)
        new = resources_for(store, new_landing, NEW_SEED)
        warehouse = old["warehouse"]
        build(old, [*raw_assets, *normalized_assets])
        assert dg.materialize([kpi_weekly], resources=old, partition_key=WEEK).success
        before = hashes(warehouse)
        build(new, raw_assets)  # the other world's landing files (no DuckDB involved)

        # 1. Killed inside normalized.post_daily's replace.
        (kind, _, go, ready) = jobs[0]
        in_transaction = kill_inside_the_write(child, child_log, kind, Path(go), Path(ready),
                                               warehouse)
        assert in_transaction != before[f"normalized.{STALLED_TABLE}"]
        assert lock_is_free(warehouse), "the kernel released the dead writer's lock"
        after_kill = hashes(warehouse)
        assert after_kill[f"normalized.{STALLED_TABLE}"] == before[
            f"normalized.{STALLED_TABLE}"], "the interrupted table changed"
        build(new, normalized_assets)  # the re-run completes
        rebuilt = hashes(warehouse)
        assert rebuilt[f"normalized.{STALLED_TABLE}"] == in_transaction
        for name, digest in after_kill.items():  # each table wholly old or wholly new
            assert digest in (before[name], rebuilt[name]), name

        # 2. Killed inside kpi.weekly's replace (now computed from the new tables).
        (kind, _, go, ready) = jobs[1]
        in_transaction = kill_inside_the_write(child, child_log, kind, Path(go), Path(ready),
                                               warehouse)
        assert in_transaction != before["kpi.weekly"]
        child.wait(timeout=TIMEOUT)
        assert lock_is_free(warehouse)
        assert hashes(warehouse) == rebuilt  # kpi.weekly still holds the old week
        assert dg.materialize([kpi_weekly], resources=new, partition_key=WEEK).success
        final = hashes(warehouse)
        assert final["kpi.weekly"] == in_transaction != before["kpi.weekly"]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    log = child_log.read_text()
    assert child.returncode == 0, log[-4000:]
    exits = [line for line in log.splitlines() if line.startswith("EXIT ")]
    assert exits == [f"EXIT normalized {-signal.SIGKILL}", f"EXIT kpi {-signal.SIGKILL}"], log
