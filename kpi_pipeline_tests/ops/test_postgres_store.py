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
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.cli import plan, run_job
from kpi_pipeline.definitions import defs as load_defs
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core.postgres_store import PostgresTarget
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
