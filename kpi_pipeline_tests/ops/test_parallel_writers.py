"""One DuckDB writer at a time across processes, without Dagster's pool being enforced.

Four OS processes each materialize the raw and normalized layers for their own ingest week
on the SAME DuckDB file, while a fifth reads it read-only in a loop. No run coordinator or
daemon is involved: only the warehouse's file lock keeps them apart. Every process must
succeed with no lock error, and the tables must hold exactly what one sequential run over
all the days builds. While the test itself holds the lock, the landing-file pulls of all
four runs must still complete: raw assets never open DuckDB.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core.landing import landing_path
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.core.streams import STREAMS
from kpi_pipeline.lib.normalized.store import ensure_tables
from kpi_pipeline_tests.conftest import DEMO_SEED, DEMO_TODAY
from kpi_pipeline_tests.ops.conftest import lock_is_free

pytestmark = pytest.mark.slow

FIRST_DAY = date(2025, 2, 10)  # a Monday: four ingest weeks, all closed on the demo clock
DAYS_PER_WRITER = 7
WRITERS = 4
BRANDS = 1  # one brand keeps four weeks of pulls short
DEADLINE_SECONDS = 180
LOCK_ERRORS = re.compile(r"conflicting lock|could not set lock|DuckDB file lock|"
                         r"lock_timeout_seconds|IOException", re.IGNORECASE)

# One launcher imports the pipeline once, then forks every job (4 writers, 1 reader) as
# its own OS process before anything opens DuckDB: the same processes as five separate
# interpreters, without paying five imports of Dagster and pandas. Each job logs to its
# own file; the launcher prints "EXIT <name> <code>" as each one ends.
LAUNCHER = """
import json, os, sys, time
from pathlib import Path

import dagster as dg
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.normalized.store import table_counts


def writer(database, landing, first, last, seed, brands, today):
    resources = {"warehouse": Warehouse(database=database),
                 "settings": Settings(landing_dir=landing, reporting_currency="USD"),
                 "platforms": DemoPlatforms(seed=seed, brands=brands, today=today)}
    result = dg.materialize([*raw_assets, *normalized_assets], resources=resources,
                            tags={"dagster/asset_partition_range_start": first,
                                  "dagster/asset_partition_range_end": last},
                            raise_on_error=False)
    print("WRITER_SUCCESS" if result.success else "WRITER_FAILED", flush=True)
    return 0 if result.success else 1


def reader(database, stop):
    warehouse, seen = Warehouse(database=database), []
    while True:
        stopping = Path(stop).exists()
        with warehouse.get_connection(read_only=True) as conn:
            seen.append(table_counts(conn))
        if stopping:
            break
        time.sleep(0.2)
    print("READER_COUNTS " + json.dumps(seen), flush=True)
    return 0


JOBS = {"writer": writer, "reader": reader}
children = {}
for name, kind, log, args in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        code = 1
        try:
            code = JOBS[kind](*args)
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    children[pid] = name
while children:
    pid, status = os.wait()
    print("EXIT", children.pop(pid), os.waitstatus_to_exitcode(status), flush=True)
"""


def windows() -> list[tuple[date, date]]:
    return [(FIRST_DAY + timedelta(days=i * DAYS_PER_WRITER),
             FIRST_DAY + timedelta(days=(i + 1) * DAYS_PER_WRITER - 1)) for i in range(WRITERS)]


def exits(launcher_log: Path) -> dict[str, int]:
    """The jobs that ended so far and their exit codes."""
    lines = launcher_log.read_text().splitlines() if launcher_log.exists() else []
    return {name: int(code) for _, name, code in
            (line.split() for line in lines if line.startswith("EXIT "))}


def landed_files(landing: Path, first: date, last: date) -> list[Path]:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [landing_path(landing, s.name, day) for s in STREAMS for day in days]


def table_rows(warehouse: Warehouse) -> dict[str, list[tuple]]:
    with warehouse.get_connection(read_only=True) as conn:
        return {name: conn.execute(f"SELECT * FROM normalized.{name} ORDER BY ALL").fetchall()
                for name in TABLES}


def test_parallel_writers_and_a_reader_share_one_file_without_lock_errors(tmp_path: Path):
    database = tmp_path / "warehouse.duckdb"
    landing = tmp_path / "landing"
    warehouse = Warehouse(database=str(database))
    launcher = tmp_path / "launcher.py"
    launcher.write_text(textwrap.dedent(LAUNCHER))
    launcher_log, stop = tmp_path / "launcher.log", tmp_path / "stop"
    spans = windows()
    expected_files = landed_files(landing, spans[0][0], spans[-1][1])
    jobs = [(f"writer{i}", "writer", str(tmp_path / f"writer{i}.log"),
             [str(database), str(landing), first.isoformat(), first.isoformat(), DEMO_SEED,
              BRANDS, DEMO_TODAY.isoformat()]) for i, (first, _) in enumerate(spans)]
    jobs.append(("reader", "reader", str(tmp_path / "reader.log"), [str(database), str(stop)]))
    logs = {name: Path(log) for name, _, log, _ in jobs}

    # Hold the lock (with an open writer connection) while every run pulls its landing
    # files: the pulls must all finish although no process can open DuckDB meanwhile.
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        with launcher_log.open("w") as out:
            proc = subprocess.Popen([sys.executable, str(launcher), json.dumps(jobs)],
                                    stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONWARNINGS": "ignore"})
        deadline = time.monotonic() + DEADLINE_SECONDS
        try:
            while not all(path.exists() for path in expected_files):
                assert not exits(launcher_log), launcher_log.read_text()[-4000:]
                assert time.monotonic() < deadline, "landing pulls did not finish under the lock"
                time.sleep(0.2)
            # Every pull landed; every job still waits for the lock instead of failing.
            assert not exits(launcher_log), launcher_log.read_text()[-4000:]
            assert conn.execute("SELECT count(*) FROM normalized.post_daily").fetchone() == (0,)
        except BaseException:
            proc.kill()
            raise
    # Released: the four writers and the reader now compete for the file.
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(exits(launcher_log)) < WRITERS:
            assert time.monotonic() < deadline, "the writers did not finish"
            time.sleep(0.2)
        stop.touch()
        proc.wait(timeout=60)
    finally:
        stop.touch()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, launcher_log.read_text()[-4000:]

    codes = exits(launcher_log)
    assert sorted(codes) == sorted(logs)
    for name, log in logs.items():
        output = log.read_text()
        assert codes[name] == 0, f"{name} failed:\n{output[-4000:]}"
        assert not LOCK_ERRORS.findall(output), f"{name} hit a lock error:\n{output[-4000:]}"
        if name != "reader":
            assert "WRITER_SUCCESS" in output
    reader_log = logs["reader"]

    # The reader saw committed states only: row counts never go down while writers add days.
    (line,) = [x for x in reader_log.read_text().splitlines() if x.startswith("READER_COUNTS")]
    seen = json.loads(line.removeprefix("READER_COUNTS "))
    assert seen
    for before, after in itertools.pairwise(seen):
        assert all(after[t] >= before[t] for t in before), (before, after)

    # Exactly the union of the four windows: one sequential run over all the days, on
    # the same landing files, into a second file builds identical tables.
    sequential = Warehouse(database=str(tmp_path / "sequential.duckdb"))
    result = dg.materialize(normalized_assets, resources={
        "warehouse": sequential,
        "settings": Settings(landing_dir=str(landing), reporting_currency="USD"),
        "platforms": DemoPlatforms(seed=DEMO_SEED, brands=BRANDS,
                                   today=DEMO_TODAY.isoformat()),
    }, tags={"dagster/asset_partition_range_start": spans[0][0].isoformat(),
             "dagster/asset_partition_range_end": spans[-1][0].isoformat()})
    assert result.success
    parallel_rows, sequential_rows = table_rows(warehouse), table_rows(sequential)
    assert parallel_rows == sequential_rows
    with warehouse.get_connection(read_only=True) as conn:
        days = conn.execute("SELECT DISTINCT report_date FROM normalized.post_daily "
                            "ORDER BY 1").fetchall()
    assert [d for (d,) in days] == [spans[0][0] + timedelta(days=i)
                                    for i in range(WRITERS * DAYS_PER_WRITER)]
    assert {t: seen[-1][f"normalized.{t}"] for t in TABLES} == {
        t: len(rows) for t, rows in parallel_rows.items()}


def test_a_locked_out_connection_fails_naming_the_lock_file(tmp_path: Path):
    """Another process holds the lock: a short timeout ends with a message, not a hang."""
    database = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from kpi_pipeline.defs.resources import Warehouse
        with Warehouse(database={str(database)!r}).get_connection():
            print("holding", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=re.escape(f"{database}.lock")), \
                Warehouse(database=str(database), lock_timeout_seconds=0.5).get_connection(
                    read_only=True):
            pass
        assert 0.5 <= time.monotonic() - started < 5
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0
    with Warehouse(database=str(database), lock_timeout_seconds=5).get_connection() as conn:
        assert conn.execute("SELECT 42").fetchone() == (42,)


def test_nested_connections_in_one_process_do_not_wait_for_themselves(tmp_path: Path):
    warehouse = Warehouse(database=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=1)
    with warehouse.get_connection() as outer:
        outer.execute("CREATE TABLE t AS SELECT 1 AS x")
        with warehouse.get_connection() as inner:
            assert inner.execute("SELECT x FROM t").fetchall() == [(1,)]
        assert outer.execute("SELECT count(*) FROM t").fetchone() == (1,)
    with warehouse.get_connection(read_only=True) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_forked_child_neither_inherits_nor_keeps_the_lock(tmp_path: Path):
    """A process forked while its parent holds the lock must wait like any other process,
    and must not keep the lock alive once the parent releases it."""
    warehouse = Warehouse(database=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=0.3)
    result_r, result_w = os.pipe()
    release_r, release_w = os.pipe()
    with warehouse.get_connection():
        pid = os.fork()
        if pid == 0:  # the child: its connection must time out, then wait to be released
            outcome = b"opened"
            try:
                try:
                    with warehouse.get_connection(read_only=True):
                        pass
                except TimeoutError:
                    outcome = b"timeout"
                os.write(result_w, outcome)
                os.read(release_r, 1)
            finally:
                os._exit(0)
        try:
            outcome = os.read(result_r, 16)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            raise
    # The parent released its lock while the child (forked with its descriptors) lives.
    fd = os.open(warehouse.lock_path(), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if kept
    finally:
        os.close(fd)
        os.write(release_w, b"x")
        os.waitpid(pid, 0)
    assert outcome == b"timeout", "the forked child did not wait for its parent's lock"


@contextmanager
def serving_a_run(warehouse: Warehouse) -> Iterator[Warehouse]:
    """``warehouse`` as a run's resource between its setup and its teardown."""
    context = dg.build_init_resource_context()
    warehouse.setup_for_execution(context)
    try:
        yield warehouse
    finally:
        warehouse.teardown_after_execution(context)


def test_a_run_opens_the_file_once_for_its_steps_and_releases_it_at_its_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Consecutive steps of a run that use the store share one opening of the file; a
    read-only connection on it cannot write; the run's end closes the file, so any
    process (or a plain connection with other settings) opens it at once."""
    import duckdb

    database = tmp_path / "warehouse.duckdb"
    opened: list[str] = []
    connect = duckdb.connect

    def counting(*args, **kwargs):
        opened.append(str(kwargs.get("database", args[0] if args else "")))
        return connect(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counting)

    @dg.asset
    def first(warehouse: Warehouse) -> None:
        with warehouse.get_connection() as conn:
            conn.execute("CREATE TABLE t AS SELECT 1 AS x")

    @dg.asset(deps=[first])
    def reader(warehouse: Warehouse) -> None:
        with warehouse.get_connection(read_only=True) as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
            with pytest.raises(duckdb.Error, match="read-only"):
                conn.execute("INSERT INTO t VALUES (2)")

    @dg.asset(deps=[reader])
    def second(warehouse: Warehouse) -> None:
        with warehouse.get_connection() as conn:
            conn.execute("INSERT INTO t VALUES (3)")
            with warehouse.get_connection() as nested:  # a nested open joins the same file
                assert nested.execute("SELECT sum(x) FROM t").fetchone() == (4,)

    warehouse = Warehouse(database=str(database), keep_open_seconds=60,
                          keep_open_most_seconds=60)
    assert dg.materialize([first, reader, second],
                          resources={"warehouse": warehouse}).success
    assert opened == [str(database)]
    assert lock_is_free(warehouse)
    with connect(str(database), read_only=True) as conn:  # DuckDB's default settings
        assert conn.execute("SELECT sum(x) FROM t").fetchone() == (4,)


def test_a_file_kept_open_goes_to_a_waiting_process_after_the_idle_time(tmp_path: Path):
    """Between two steps the file stays open at most keep_open_seconds, and never past
    keep_open_most_seconds from its opening: then another process gets the lock."""
    database = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(database=str(database), keep_open_seconds=0.3,
                          keep_open_most_seconds=60)
    with serving_a_run(warehouse):
        with warehouse.get_connection() as conn:
            conn.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert not lock_is_free(warehouse)  # kept for the next step
        deadline = time.monotonic() + 10
        while not lock_is_free(warehouse):
            assert time.monotonic() < deadline, "the idle file was never closed"
            time.sleep(0.05)

    capped = Warehouse(database=str(database), keep_open_seconds=60,
                       keep_open_most_seconds=0)
    with serving_a_run(capped):
        with capped.get_connection() as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
        assert lock_is_free(capped)  # held past the most: closed at once


def test_a_failed_step_closes_the_file_it_kept(tmp_path: Path):
    """A step that fails while using the store leaves nothing kept open: its uncommitted
    work is discarded with the file's closing, as without keeping."""
    database = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(database=str(database), keep_open_seconds=60,
                          keep_open_most_seconds=60)
    with serving_a_run(warehouse):
        with warehouse.get_connection() as conn:
            conn.execute("CREATE TABLE t AS SELECT 1 AS x")
        with pytest.raises(RuntimeError, match="step failed"), \
                warehouse.get_connection() as conn:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("step failed")
        assert lock_is_free(warehouse)
    with warehouse.get_connection(read_only=True) as conn:
        assert conn.execute("SELECT sum(x) FROM t").fetchone() == (1,)
