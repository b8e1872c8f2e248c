"""The PostgreSQL store (KPI_PIPELINE_STORE) against a real server.

The whole chain (pulls, normalized tables, attribution, weekly KPIs, baselines,
diagnostics, goal attainment, the weekly report) runs over the same short demo history
twice, once on a DuckDB file and once on a PostgreSQL database, through the same job plan
``make run`` uses. Every table and view must hold the same rows, numbers equal to 1e-9
relative; only the load-time stamps (when a file was pulled, a row quarantined, a
migration applied) may differ. The server is the throwaway one of ``conftest.py``
(Debian's postgresql; under CI=true it must run).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.cli import plan, run_job
from kpi_pipeline.definitions import defs as load_defs
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core.postgres_store import PostgresTarget
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY
from kpi_pipeline_tests.ops.conftest import PostgresServer, fresh_database

pytestmark = pytest.mark.slow

FIRST, LAST = date(2025, 2, 24), date(2025, 3, 9)  # two ingest weeks, closed on the demo clock
LOAD_STAMPS = {"pulled_at", "quarantined_at", "applied_at", "run_id"}
RELATIVE = 1e-9


def chain_definitions(warehouse: Warehouse, root: Path) -> dg.Definitions:
    """The code location's assets, checks and jobs on the given store, landing under
    ``root`` (both stores pull into the same folder: file paths are part of some keys)."""
    loaded = load_defs()
    return dg.Definitions(
        assets=loaded.assets, asset_checks=loaded.asset_checks, jobs=loaded.jobs,
        executor=dg.in_process_executor,
        resources={"warehouse": warehouse,
                   "settings": Settings(landing_dir=str(root / "landing"),
                                        reports_dir=str(root / warehouse.describe()
                                                        .replace("/", "_")),
                                        reporting_currency="USD"),
                   "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                              today=DEMO_TODAY.isoformat())})


def run_chain(warehouse: Warehouse, root: Path) -> str:
    """Run the plan; return the text of every event the runs recorded."""
    defs = chain_definitions(warehouse, root)
    instance = dg.DagsterInstance.ephemeral()
    for job, lo, hi in plan(FIRST, LAST, 1):
        result = run_job(defs, job, lo.isoformat(), hi.isoformat(), instance,
                         partial_reports=True)
        assert result.success, job
    return "\n".join(repr(entry) for run in instance.get_runs()
                     for entry in instance.all_logs(run.run_id))


def contents(warehouse: Warehouse) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table and view of the pipeline's schemas: its columns (load stamps left out)
    and its rows, sorted."""
    with warehouse.get_connection(read_only=True) as conn:
        names = [f"{s}.{t}" for s, t in conn.execute(
            "SELECT * FROM (SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal) "
            "WHERE schema_name NOT IN ('information_schema', 'pg_catalog', 'public', 'main') "
            "ORDER BY 1, 2").fetchall()]
        found = {}
        for name in names:
            columns = [c for (c,) in conn.execute(
                f"SELECT column_name FROM (DESCRIBE {name})").fetchall()
                if c not in LOAD_STAMPS]
            listed = ", ".join(f'"{c}"' for c in columns)
            found[name] = (columns, conn.execute(
                f"SELECT {listed} FROM {name} ORDER BY ALL").fetchall())
        return found


def same_value(a: object, b: object) -> bool:
    if isinstance(a, Decimal | float) or isinstance(b, Decimal | float):
        if a is None or b is None:
            return a is b
        x, y = float(a), float(b)
        return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=RELATIVE,
                                                                 abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_value, a, b))
    return a == b


@pytest.fixture(scope="module")
def both(postgres_server: PostgresServer, tmp_path_factory) -> tuple[dict, dict, str]:
    root = tmp_path_factory.mktemp("chain")
    duck = Warehouse(database=str(root / "warehouse.duckdb"))
    pg = Warehouse(store=fresh_database(postgres_server, "kpi_chain"),
                   store_password=postgres_server.password)
    run_chain(duck, root)
    events = run_chain(pg, root)
    return contents(duck), contents(pg), events


def test_the_chain_on_postgres_holds_what_it_holds_on_duckdb(both) -> None:
    duck, pg, _ = both
    assert sorted(pg) == sorted(duck)
    # the chain reached every layer, the report's inputs included
    for name in ("normalized.post_daily", "attribution.daily", "kpi.weekly",
                 "baseline.weekly", "goal.attainment"):
        assert duck[name][1], f"{name} is empty: the comparison would prove nothing"
    for name, (columns, rows) in duck.items():
        pg_columns, pg_rows = pg[name]
        assert pg_columns == columns, name
        assert len(pg_rows) == len(rows), name
        for row, pg_row in zip(rows, pg_rows, strict=True):
            assert all(map(same_value, row, pg_row)), (name, row, pg_row)


def test_the_password_is_in_no_event_of_the_runs(both, postgres_server) -> None:
    events = both[2]
    assert "kpi_chain" in events  # the store's URL is there: the events were read
    assert postgres_server.password not in events


def test_the_url_is_refused_with_a_password_and_never_quoted() -> None:
    secret = "s3cret-in-the-url"
    with pytest.raises(ValueError) as refused:
        PostgresTarget.parse(f"postgresql://kpi:{secret}@db:5432/kpi", "KPI_PIPELINE_STORE")
    assert "KPI_PIPELINE_STORE" in str(refused.value) and secret not in str(refused.value)
    target = PostgresTarget.parse("postgresql://kpi@db.example:6543/kpi?sslmode=require",
                                  "KPI_PIPELINE_STORE")
    assert target.describe() == "postgresql://kpi@db.example:6543/kpi"
    assert target.libpq() == ("host='db.example' port='6543' dbname='kpi' user='kpi' "
                              "sslmode='require'")


def test_a_wrong_password_fails_without_showing_it(postgres_server: PostgresServer) -> None:
    url = fresh_database(postgres_server, "kpi_wrong_password")
    wrong = "not-the-password-123"
    warehouse = Warehouse(store=url, store_password=wrong)
    with pytest.raises(Exception) as failed, warehouse.get_connection(read_only=True):
        pass
    assert "password authentication failed" in str(failed.value)
    assert wrong not in str(failed.value)


# --- four backfills at once, one of them with each step in its own process -------------

BACKFILL_FIRST = date(2025, 1, 6)  # a Monday: four ingest weeks, closed on the demo clock
BACKFILL_DEADLINE_SECONDS = 300
CONFLICTS = re.compile(r"could not serialize|deadlock|lock timeout|conflicting lock|"
                       r"duplicate key|tuple concurrently", re.IGNORECASE)

# One backfill run of the ingest's raw and normalized assets over one ingest week, with the
# code location's resources and executor as a deployment loads them from the environment.
# The first week's run uses the multiprocess executor (every step in its own process, two
# at a time); the others run in process, which costs a fifth of the CPU of a run whose 14
# steps each start a process, and still writes beside the others.
EXECUTORS = ("multiprocess", "in_process", "in_process", "in_process")
BACKFILLS = len(EXECUTORS)
BACKFILL = """
import os
import sys

import dagster as dg
from kpi_pipeline.definitions import executor
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, default_resources


def ingest_job():
    # the code location's resources and executor, from the environment; one demo brand
    assets = [*raw_assets, *normalized_assets]
    resources = {**default_resources(), "platforms": DemoPlatforms(
        brands=1, today=os.environ["DEMO_TODAY"])}
    job = dg.define_asset_job("ingest", selection=assets, executor_def=executor())
    return dg.Definitions(assets=assets, jobs=[job], resources=resources
                          ).resolve_job_def("ingest")


if __name__ == "__main__":  # step processes import this file again: run only here
    week = sys.argv[1]
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(ingest_job), instance=instance,
            tags={"dagster/asset_partition_range_start": week,
                  "dagster/asset_partition_range_end": week})
        steps = {event.step_key for event in result.all_events if event.is_step_start}
        print(f"STEPS {len(steps)}", flush=True)
        print("RUN_SUCCESS" if result.success else "RUN_FAILED", flush=True)
"""


def normalized_rows(warehouse: Warehouse) -> dict[str, list[tuple]]:
    with warehouse.get_connection(read_only=True) as conn:
        return {name: conn.execute(f"SELECT * FROM normalized.{name} ORDER BY ALL").fetchall()
                for name in TABLES}


def test_four_backfills_at_once_one_with_each_step_in_its_own_process(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    url = fresh_database(postgres_server, "kpi_backfills")
    landing, home = tmp_path / "landing", tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)):
        pass  # its SQLite files created once, not by four processes at the same moment
    script = tmp_path / "backfill.py"
    script.write_text(textwrap.dedent(BACKFILL))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "DAGSTER_HOME": str(home),
           "KPI_PIPELINE_STORE": url, "KPI_PIPELINE_STORE_PASSWORD": postgres_server.password,
           "KPI_PIPELINE_LANDING": str(landing),
           "KPI_PIPELINE_REPORTS": str(tmp_path / "reports"),
           "DEMO_TODAY": DEMO_TODAY.isoformat()}
    env.pop("KPI_PIPELINE_DUCKDB", None)
    weeks = [BACKFILL_FIRST + timedelta(weeks=i) for i in range(BACKFILLS)]
    logs = [tmp_path / f"backfill{i}.log" for i in range(BACKFILLS)]
    procs = []
    for week, log, chosen in zip(weeks, logs, EXECUTORS, strict=True):
        with log.open("w") as out:
            procs.append(subprocess.Popen([sys.executable, str(script), week.isoformat()],
                                          stdout=out, stderr=subprocess.STDOUT,
                                          env={**env, "KPI_PIPELINE_EXECUTOR": chosen}))
    try:
        for proc in procs:
            proc.wait(timeout=BACKFILL_DEADLINE_SECONDS)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, log, chosen in zip(procs, logs, EXECUTORS, strict=True):
        output = log.read_text()
        assert proc.returncode == 0 and "RUN_SUCCESS" in output, output[-4000:]
        assert not CONFLICTS.findall(output), output[-4000:]
        assert int(re.search(r"STEPS (\d+)", output)[1]) == 14  # raw and normalized
        launched = len(re.findall(r"STEP_WORKER_STARTING", output))  # a process per step
        assert launched == (14 if chosen == "multiprocess" else 0), output[-4000:]

    # The same weeks one after another, in one process, from the same landing files.
    serial = Warehouse(store=fresh_database(postgres_server, "kpi_serial"),
                       store_password=postgres_server.password)
    result = dg.materialize(normalized_assets, resources={
        "warehouse": serial,
        "settings": Settings(landing_dir=str(landing), reporting_currency="USD"),
        "platforms": DemoPlatforms()},
        tags={"dagster/asset_partition_range_start": weeks[0].isoformat(),
              "dagster/asset_partition_range_end": weeks[-1].isoformat()})
    assert result.success
    shared = Warehouse(store=url, store_password=postgres_server.password)
    assert normalized_rows(shared) == normalized_rows(serial)
    with shared.get_connection(read_only=True) as conn:
        days = conn.execute("SELECT DISTINCT report_date FROM normalized.post_daily "
                            "ORDER BY 1").fetchall()
    assert [d for (d,) in days] == [weeks[0] + timedelta(days=i) for i in range(7 * BACKFILLS)]


# --- the attribution tables of a store made when they declared primary keys -------------

def test_the_attribution_tables_lose_their_primary_keys_on_postgres(
        postgres_server: PostgresServer) -> None:
    from kpi_pipeline.lib.kpis.attribution import KEYS, ensure_attribution_tables

    warehouse = Warehouse(store=fresh_database(postgres_server, "kpi_keyed"),
                          store_password=postgres_server.password)
    with warehouse.get_connection() as conn:
        ensure_attribution_tables(conn)
        conn.execute("INSERT INTO attribution.conversions VALUES ('f:1', 'p', DATE "
                     "'2025-03-20', TIMESTAMP '2025-03-20 12:00:00', 'purchase', 40.0, 'u', "
                     "2, 4.0, true, false, true, 'instagram > email', 30, 7.0)")
        for table, key in KEYS.items():
            conn.execute("CALL postgres_execute('store', ?)",
                         [f"ALTER TABLE attribution.{table} ADD PRIMARY KEY ({', '.join(key)})"])
        found = "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND " \
                "connamespace = 'attribution'::regnamespace"
        assert conn.execute("SELECT * FROM postgres_query('store', ?)",
                            [found]).fetchall() == [(len(KEYS),)]
        ensure_attribution_tables(conn)
        ensure_attribution_tables(conn)  # again: nothing left to drop
        assert conn.execute("SELECT * FROM postgres_query('store', ?)",
                            [found]).fetchall() == [(0,)]
        assert conn.execute("SELECT conversion_id, revenue FROM attribution.conversions"
                            ).fetchall() == [("f:1", 40.0)]
        assert conn.execute("SELECT count(*) FROM attribution.journeys_daily").fetchall() == [
            (1,)]


# --- a step the server aborts runs again ------------------------------------------------

def test_a_step_whose_transaction_the_server_aborts_runs_again(
        postgres_server: PostgresServer) -> None:
    """Two transactions that each read what the other writes (write skew): SERIALIZABLE
    aborts the second to commit. Any layer's step that meets this runs again; an error of
    another kind fails the step at once."""
    warehouse = Warehouse(store=fresh_database(postgres_server, "kpi_step_retry"),
                          store_password=postgres_server.password)
    with warehouse.get_connection() as conn:
        conn.execute("CREATE TABLE ledger (attempt INTEGER, total INTEGER)")
        conn.execute("INSERT INTO ledger VALUES (0, 1)")
    attempts: list[int] = []

    @dg.asset
    def balance(warehouse: Warehouse) -> None:
        attempts.append(len(attempts) + 1)
        with warehouse.get_connection() as conn:
            conn.execute("BEGIN TRANSACTION")
            [(total,)] = conn.execute("SELECT sum(total) FROM ledger").fetchall()
            if len(attempts) == 1:  # another run reads and writes the same rows meanwhile
                with warehouse.get_connection() as other:
                    other.execute("BEGIN TRANSACTION")
                    other.execute("SELECT sum(total) FROM ledger").fetchall()
                    other.execute("INSERT INTO ledger VALUES (-1, 1)")
                    other.execute("COMMIT")
            conn.execute("INSERT INTO ledger VALUES (?, ?)", [len(attempts), total])
            conn.execute("COMMIT")

    result = dg.materialize([balance], resources={"warehouse": warehouse})
    assert result.success and attempts == [1, 2]
    assert [e.event_type_value for e in result.all_events].count("STEP_UP_FOR_RETRY") == 1
    with warehouse.get_connection(read_only=True) as conn:  # the first attempt left nothing
        assert conn.execute("SELECT * FROM ledger ORDER BY attempt").fetchall() == [
            (-1, 1), (0, 1), (2, 2)]

    @dg.asset
    def broken(warehouse: Warehouse) -> None:
        attempts.append(len(attempts) + 1)
        with warehouse.get_connection() as conn:
            conn.execute("INSERT INTO ledger VALUES (NULL, 'not a number')")

    attempts.clear()
    result = dg.materialize([broken], resources={"warehouse": warehouse}, raise_on_error=False)
    assert not result.success and attempts == [1]


def test_the_credits_table_one_row_per_model_moves_to_columns_on_postgres(
        postgres_server: PostgresServer) -> None:
    """A PostgreSQL store whose ``attribution.credits`` is the table of one row per touch and
    model (with its key) gets those rows as ``touch_credits`` and the view in its place."""
    from kpi_pipeline.lib.kpis.attribution import MODELS, ensure_attribution_tables

    warehouse = Warehouse(store=fresh_database(postgres_server, "kpi_credits"),
                          store_password=postgres_server.password)
    with warehouse.get_connection() as conn:
        conn.execute("CREATE SCHEMA attribution")
        conn.execute("CALL postgres_execute('store', ?)", [
            "CREATE TABLE attribution.credits (conversion_id VARCHAR NOT NULL, "
            "conversion_date DATE NOT NULL, model VARCHAR NOT NULL, touch INTEGER NOT NULL, "
            "session_start TIMESTAMP NOT NULL, channel VARCHAR NOT NULL, platform VARCHAR, "
            "campaign VARCHAR NOT NULL, credit DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (conversion_id, model, touch))"])
        conn.execute("CALL pg_clear_cache()")
        rows = [("f:1", 1, "organic_social", "instagram", {"last_click": 0.0,
                 "last_non_direct": 0.0, "first_touch": 1.0, "linear": 0.5,
                 "position_based": 0.5, "time_decay": 0.25}),
                ("f:1", 2, "email", None, {"last_click": 1.0, "last_non_direct": 1.0,
                 "first_touch": 0.0, "linear": 0.5, "position_based": 0.5,
                 "time_decay": 0.75})]
        long_rows = sorted(
            (cid, date(2025, 3, 20), model, touch, f"2025-03-{17 + touch} 12:00:00", channel,
             platform, "c", credits[model])
            for cid, touch, channel, platform, credits in rows for model in MODELS)
        conn.executemany("INSERT INTO attribution.credits VALUES (?, ?, ?, ?, "
                         "CAST(? AS TIMESTAMP), ?, ?, ?, ?)", long_rows)
        ensure_attribution_tables(conn)
        ensure_attribution_tables(conn)  # again: nothing left to move
        kind = "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = " \
               "c.relnamespace WHERE n.nspname = 'attribution' AND c.relname = 'credits'"
        assert conn.execute("SELECT * FROM postgres_query('store', ?)",
                            [kind]).fetchall() == [("v",)]
        assert conn.execute("SELECT touch, channel, " + ", ".join(MODELS) + " FROM "
                            "attribution.touch_credits ORDER BY touch").fetchall() == [
            (touch, channel, *(credits[m] for m in MODELS))
            for _, touch, channel, _, credits in rows]
        again = conn.execute("SELECT conversion_id, conversion_date, model, touch, "
                             "CAST(session_start AS VARCHAR), channel, platform, campaign, "
                             "credit FROM attribution.credits ORDER BY ALL").fetchall()
        assert again == long_rows


def test_the_assists_table_becomes_the_view_on_postgres(
        postgres_server: PostgresServer) -> None:
    """A PostgreSQL store whose ``attribution.assists_daily`` is the table written on every
    run (with its key) loses it; the view in its place counts the stored journeys' touched
    and assisted conversions."""
    from kpi_pipeline.lib.kpis.attribution import ensure_attribution_tables

    warehouse = Warehouse(store=fresh_database(postgres_server, "kpi_assists"),
                          store_password=postgres_server.password)
    with warehouse.get_connection() as conn:
        conn.execute("CREATE SCHEMA attribution")
        conn.execute("CALL postgres_execute('store', ?)", [
            "CREATE TABLE attribution.assists_daily (day DATE NOT NULL, property_id VARCHAR "
            "NOT NULL, conversion_type VARCHAR NOT NULL, channel VARCHAR NOT NULL, "
            "platform VARCHAR NOT NULL, campaign VARCHAR NOT NULL, touched_conversions "
            "BIGINT NOT NULL, assisted_conversions BIGINT NOT NULL, lookback_days INTEGER "
            "NOT NULL, PRIMARY KEY (day, property_id, conversion_type, channel, platform, "
            "campaign))"])
        conn.execute("CALL pg_clear_cache()")
        ensure_attribution_tables(conn)
        ensure_attribution_tables(conn)  # again: nothing left to drop
        kind = "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = " \
               "c.relnamespace WHERE n.nspname = 'attribution' AND c.relname = 'assists_daily'"
        assert conn.execute("SELECT * FROM postgres_query('store', ?)",
                            [kind]).fetchall() == [("v",)]
        conn.execute("INSERT INTO attribution.conversions VALUES ('f:1', 'p', DATE "
                     "'2025-03-20', TIMESTAMP '2025-03-20 12:00:00', 'purchase', 40.0, 'u', "
                     "2, 4.0, true, false, true, 'instagram > email', 30, 7.0)")
        conn.execute("INSERT INTO attribution.touch_credits VALUES "
                     "('f:1', DATE '2025-03-20', 1, TIMESTAMP '2025-03-16 12:00:00', "
                     "'organic_social', 'instagram', 'c', 0, 0, 1, 0.5, 0.5, 0.25), "
                     "('f:1', DATE '2025-03-20', 2, TIMESTAMP '2025-03-20 12:00:00', "
                     "'email', NULL, 'c', 1, 1, 0, 0.5, 0.5, 0.75)")
        assert conn.execute("SELECT channel, platform, touched_conversions, "
                            "assisted_conversions, lookback_days FROM "
                            "attribution.assists_daily ORDER BY channel").fetchall() == [
            ("email", "", 1, 0, 30), ("organic_social", "instagram", 1, 1, 30)]
