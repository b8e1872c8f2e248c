"""The PostgreSQL store against the DuckDB file: the demo chain on each, same run.

Run it from the repository root beside a PostgreSQL server you started (a script people
run, not a test; nothing is asserted)::

    KPI_PIPELINE_STORE_PASSWORD=... .venv/bin/python benchmarks/postgres_store.py \\
        --days 728 --store postgresql://kpi@127.0.0.1:5432/kpi \\
        --pg-data /var/lib/postgresql/15/main --workdir /tmp/pg-bench

Both chains run the jobs ``make run`` runs (``kpi_pipeline.cli.plan``), in a child process
each, on one landing folder, with an ephemeral instance (Dagster's bookkeeping is the same
on both sides and is not what is compared). The PostgreSQL database is emptied first.

Per job: CPU seconds of the pipeline's process (``os.wait4``-free: ``time.process_time``
inside the child, DuckDB's threads included) plus, for PostgreSQL, the server's CPU over
the same job (the postmaster's and its backends' user + sys from ``/proc``, reaped
backends included), and wall seconds. The ingest's pulls write the same landing files on
both sides; the SQL layers are every job after the ingest (KPIs, baselines, diagnostics,
goal attainment, reports) plus the ingest's normalization. Prints a Markdown table and the
ratio of the SQL layers' CPU; ``--json`` keeps every number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")

# One chain in a child process: each job of the plan over the history, timed.
CHAIN = """
import json, os, sys, time
from datetime import date

import dagster as dg
from kpi_pipeline.cli import daily_range, plan, run_job
from kpi_pipeline.definitions import defs

days, end, pg_pid = int(sys.argv[1]), date.fromisoformat(sys.argv[2]), int(sys.argv[3])
TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu():
    if not pg_pid:
        return 0.0
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == pg_pid:  # its own time and its reaped children's (ended backends)
            total += sum(int(v) for v in fields[11:15]) / TICKS
        elif ppid == pg_pid:  # a live backend
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


definitions = defs()
instance = dg.DagsterInstance.ephemeral()
first, last = daily_range(days, end)
rows = []
for job, lo, hi in plan(first, last, 4):
    cpu, server, wall = time.process_time(), server_cpu(), time.perf_counter()
    result = run_job(definitions, job, lo.isoformat(), hi.isoformat(), instance,
                     partial_reports=True)
    rows.append({"job": job, "cpu": time.process_time() - cpu,
                 "server_cpu": server_cpu() - server, "wall": time.perf_counter() - wall,
                 "success": result.success})
    print("JOB " + json.dumps(rows[-1]), flush=True)
"""


def postmaster_pid(data_dir: str) -> int:
    return int(Path(data_dir, "postmaster.pid").read_text().split()[0])


def empty_database(url: str, password: str) -> None:
    """Drop the pipeline's schemas from the benchmark's database."""
    sys.path.insert(0, str(ROOT))
    from kpi_pipeline.defs.resources import Warehouse

    with Warehouse(store=url, store_password=password).get_connection() as conn:
        schemas = [s for (s,) in conn.execute(
            "SELECT DISTINCT schema_name FROM duckdb_tables() UNION "
            "SELECT DISTINCT schema_name FROM duckdb_views() WHERE NOT internal").fetchall()
            if s not in ("information_schema", "pg_catalog", "public", "main")]
        for schema in schemas:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def chain(env: dict[str, str], days: int, end: str, pg_pid: int, log: Path) -> list[dict]:
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(CHAIN), str(days), end,
                               str(pg_pid)], cwd=ROOT, env={**os.environ, **env,
                                                            "PYTHONWARNINGS": "ignore"},
                              stdout=out, stderr=subprocess.STDOUT, check=False)
    rows = [json.loads(line[4:]) for line in log.read_text().splitlines()
            if line.startswith("JOB ")]
    if done.returncode or not all(r["success"] for r in rows):
        raise SystemExit(f"the chain failed; see {log}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=728)
    parser.add_argument("--end", required=True, help="last day of the history (YYYY-MM-DD)")
    parser.add_argument("--store", required=True, help="postgresql://user@host:port/db")
    parser.add_argument("--pg-data", required=True, help="the server's data folder")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    password = os.environ.get("KPI_PIPELINE_STORE_PASSWORD", "")
    args.workdir.mkdir(parents=True, exist_ok=True)
    common = {"KPI_PIPELINE_LANDING": str(args.workdir / "landing"),
              "KPI_PIPELINE_REPORTS": str(args.workdir / "reports"),
              "DAGSTER_HOME": str(args.workdir)}
    duck = chain({**common, "KPI_PIPELINE_STORE": "",
                  "KPI_PIPELINE_DUCKDB": str(args.workdir / "bench.duckdb")},
                 args.days, args.end, 0, args.workdir / "duckdb.log")
    empty_database(args.store, password)
    pg = chain({**common, "KPI_PIPELINE_STORE": args.store,
                "KPI_PIPELINE_STORE_PASSWORD": password},
               args.days, args.end, postmaster_pid(args.pg_data), args.workdir / "pg.log")

    print("| job | DuckDB CPU-s | PostgreSQL CPU-s (pipeline + server) | ratio | "
          "DuckDB wall s | PostgreSQL wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    for d, p in zip(duck, pg, strict=True):
        total = p["cpu"] + p["server_cpu"]
        print(f"| {d['job']} | {d['cpu']:.1f} | {total:.1f} ({p['cpu']:.1f} + "
              f"{p['server_cpu']:.1f}) | {total / d['cpu']:.2f} | {d['wall']:.1f} | "
              f"{p['wall']:.1f} |")
    sql_duck = sum(d["cpu"] for d in duck[1:])
    sql_pg = sum(p["cpu"] + p["server_cpu"] for p in pg[1:])
    print(f"\nSQL layers after the ingest: DuckDB {sql_duck:.1f} CPU-s, PostgreSQL "
          f"{sql_pg:.1f} CPU-s: {sql_pg / sql_duck:.2f} times (target: at most 3)")
    if args.json:
        args.json.write_text(json.dumps({"duckdb": duck, "postgres": pg}, indent=2))


if __name__ == "__main__":
    main()
