"""Command line: ``python -m kpi_pipeline.cli run`` materializes the demo history.

``make run`` calls this. It runs each partitioned job ONCE over a whole range of
partitions (every asset has a single-run backfill policy) with the in-process executor,
records the runs and every materialization and check in the Dagster instance under
DAGSTER_HOME (so ``make ui`` shows them; ``--ephemeral`` leaves no trace), and ends by
printing what it built and where.

``python -m kpi_pipeline.cli compile-sql --dialect bigquery --out DIR`` writes the KPI,
baseline, diagnostic and goal SQL compiled to BigQuery's (Snowflake's, PostgreSQL's)
dialect, one file per statement with the gaps it has; compiled and parsed, not run.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from kpi_pipeline.defs import settings as env
from kpi_pipeline.defs.partitions import START_DATE, parse_day, range_tags, week_start
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.core.periods import (
    TABLE_FOR_GRAIN,
    first_period_from,
    period_first_day,
    shift_period,
)
from kpi_pipeline.lib.dialects import DIALECTS, compile_all, write_compiled
from kpi_pipeline.lib.normalized.store import table_counts
from kpi_pipeline.lib.reports.render import ReportPeriod

DEFAULT_REPORT_PERIODS = 4


def daily_range(days: int, end: date | None = None) -> tuple[date, date]:
    """The last ``days`` complete local days ending ``end`` (default: yesterday, UTC),
    starting on a Monday: the ingest is by week, so the first week is built whole."""
    last = end or (datetime.now(UTC).date() - timedelta(days=1))
    first = max(week_start(last - timedelta(days=days - 1)), parse_day(START_DATE))
    return first, last


def closed_periods(first: date, last: date, grain: str) -> tuple[date, date] | None:
    """First and last period start of the weeks (Monday-Sunday), months or quarters
    lying wholly inside first..last, or None when there is none."""
    start = first_period_from(first, grain)
    # the period before the one holding the day after `last` is the last closed one
    last_start = shift_period(period_first_day(last + timedelta(days=1), grain), grain, -1)
    return (start, last_start) if start <= last_start else None


def report_periods(first: date, last: date, grain: str, count: int) -> tuple[date, date] | None:
    """The last ``count`` closed periods of ``grain`` inside first..last (0: all of
    them)."""
    periods = closed_periods(first, last, grain)
    if periods is None or count < 0:
        return None
    lo, hi = periods
    if count:
        lo = max(lo, ReportPeriod(grain, hi).shifted(1 - count).start)
    return lo, hi


def plan(first: date, last: date, report_count: int) -> list[tuple[str, date, date]]:
    """The runs that build ``first``..``last``: (job, first partition key, last partition
    key) in order, each job once over its whole range."""
    runs = [("daily_ingest_job", week_start(first), week_start(last))]
    for grain, table in TABLE_FOR_GRAIN.items():
        job = f"{table}_kpi_job"
        periods = closed_periods(first, last, grain)
        if periods:
            runs.append((job, *periods))
    runs.append(("goal_attainment_job", first, last))
    for grain, table in TABLE_FOR_GRAIN.items():
        job = f"{table}_report_job"
        periods = report_periods(first, last, grain, report_count)
        if periods:
            runs.append((job, *periods))
    return runs


# The report asset each report job runs: with --partial-reports its run config asks for
# partial reports (periods the data covers only partly, rendered and marked as such).
REPORT_OPS = {f"{table}_report_job": f"report__{table}" for table in TABLE_FOR_GRAIN.values()}


def run_config(job_name: str, partial_reports: bool = False) -> dict:
    """The run config of one job of the plan."""
    config: dict = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if partial_reports and job_name in REPORT_OPS:
        config["ops"] = {REPORT_OPS[job_name]: {"config": {"partial": True}}}
    return config


def run_job(defs: dg.Definitions, job_name: str, first: str, last: str,
            instance: dg.DagsterInstance,
            partial_reports: bool = False) -> dg.ExecuteInProcessResult:
    """One in-process run of a partitioned job over the range first..last."""
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(
        run_config=run_config(job_name, partial_reports),
        instance=instance,
        tags=range_tags(first, last),
        raise_on_error=False,
    )


def summary(warehouse: Warehouse, settings: Settings) -> str:
    """What was built and where: the store, row counts, the landing folder."""
    lines = [f"Store:          {warehouse.describe()}"]
    with warehouse.get_connection(read_only=True) as conn:
        for table, count in table_counts(conn).items():
            lines.append(f"  {table:<32} {count:>10,} rows")
    store = settings.landing()
    files = store.files()
    size = sum(size for _, size in files)
    where = store.local.resolve() if store.local is not None else store
    lines.append(f"Landing folder: {where} ({len(files):,} files, {size / 1e6:.1f} MB)")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from kpi_pipeline.definitions import defs as load_defs

    Path("data").mkdir(exist_ok=True)
    defs = load_defs()
    first, last = daily_range(args.days, parse_day(args.end) if args.end else None)
    # Dagster records every asset and partition a run materializes (about 30 ms each in the
    # SQLite instance): the grains keep two years at about 2,600 asset-partitions.
    instance = dg.DagsterInstance.ephemeral() if args.ephemeral else dg.DagsterInstance.get()
    where = ("not recorded (--ephemeral)" if args.ephemeral
             else f"recorded in the Dagster instance at {instance.root_directory}")
    print(f"Materializing {first}..{last} ({(last - first).days + 1} days), {where}", flush=True)
    started = time.perf_counter()
    for job, lo, hi in plan(first, last, args.report_periods):
        result = run_job(defs, job, lo.isoformat(), hi.isoformat(), instance,
                         args.partial_reports)
        elapsed = time.perf_counter() - started
        if not result.success:
            for event in result.all_events:
                if event.is_step_failure and event.step_failure_data.error is not None:
                    print(event.step_failure_data.error.message, file=sys.stderr)
            print(f"{job} FAILED (run {result.run_id})", file=sys.stderr)
            return 1
        print(f"{job} over {lo}..{hi} succeeded ({elapsed:.1f} s so far, run {result.run_id})",
              flush=True)
    # the same values the runs' resources were given through dg.EnvVar
    settings = Settings(landing_dir=env.LANDING.value(), reports_dir=env.REPORTS.value())
    print(summary(Warehouse(database=env.DUCKDB.value(), store=env.STORE.value(),
                            store_password=env.STORE_PASSWORD.value()), settings))
    index = settings.reports_root() / "index.html"
    if index.exists():
        print(f"Reports:        {index.resolve()} (open it in a browser)")
    return 0


def cmd_compile_sql(args: argparse.Namespace) -> int:
    """The KPI, baseline, diagnostic and goal SQL in a warehouse's dialect: one file per
    statement under --out, or every statement on stdout. Compiled and parsed, not run."""
    compiled = compile_all((args.dialect,))[args.dialect]
    gaps = sorted({gap for c in compiled for gap in c.gaps})
    if args.out:
        written = write_compiled(compiled, Path(args.out))
        print(f"{len(written)} statements compiled to {args.dialect} in "
              f"{Path(args.out).resolve()}")
    else:
        for c in compiled:
            print(f"-- {c.statement.layer}/{c.statement.name}")
            print(*(f"-- GAP: {gap}" for gap in c.gaps), sep="\n", end="\n" if c.gaps else "")
            print(f"{c.sql};\n")
    if gaps:
        print(f"{args.dialect} cannot express (see the GAP lines):", *gaps, sep="\n  ",
              file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kpi_pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize the pipeline over the last N days")
    run.add_argument("--days", type=int, default=728, help="days of history (default 728)")
    run.add_argument("--end", help="last day to build, YYYY-MM-DD (default: yesterday)")
    run.add_argument("--ephemeral", action="store_true",
                     help="do not record the runs in DAGSTER_HOME (they will not show in the UI)")
    run.add_argument("--report-periods", type=int, default=DEFAULT_REPORT_PERIODS,
                     help="render the reports of the last N closed weeks and months "
                          f"(default {DEFAULT_REPORT_PERIODS}; 0: every period; -1: none)")
    run.add_argument("--partial-reports", action="store_true",
                     help="also render the periods the data covers only partly (the first "
                          "month of the history, say), marked as partial reports; without "
                          "it such a period fails the report run")
    run.set_defaults(func=cmd_run)
    compile_sql = sub.add_parser(
        "compile-sql", help="print the KPI, baseline, diagnostic and goal SQL in a "
                            "warehouse's dialect (compiled with sqlglot, not executed)")
    compile_sql.add_argument("--dialect", required=True, choices=DIALECTS)
    compile_sql.add_argument("--out", help="write one .sql file per statement under this "
                                           "folder (default: print them)")
    compile_sql.set_defaults(func=cmd_compile_sql)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
