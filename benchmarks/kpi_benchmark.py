"""Benchmark the weekly run against an independent plain-DuckDB floor of the same work.

Run it from the repository root (it is a script people run, not a test)::

    .venv/bin/python benchmarks/kpi_benchmark.py --sizes 1000000 10000000 --repeats 3

The weekly run is what the schedules do for the week that closed: ``weekly_kpi_job``
(kpi/weekly with its two Great Expectations checks, baseline/weekly, diagnostic/weekly)
for that week, and ``goal_attainment_job`` for its seven days (one range run).

What it does, and why:

1. Builds synthetic normalized tables directly in DuckDB SQL (``range()`` plus
   ``hash()``-based pseudo-random values), so 10M ``post_daily`` rows take seconds to make
   instead of hours through the demo simulator. The post increments are computed by this
   script's own SQL from the rule the README states, then the production store is asked to
   recompute them (``refresh_post_increments``) and must change nothing. Like a store in
   production, the file also holds the KPIs and baselines of every earlier week (made with
   the production code, outside the clock) and a goals file about the synthetic brands.
   Datasets live in ``--workdir`` (default under /tmp) and are reused while their
   parameters have not changed.
2. Times, in the same run and interleaved round by round so a noisy neighbour hurts every
   step alike, each in a fresh subprocess on a fresh copy of the dataset:

   - ``floor``: ``benchmarks/floor_weekly.sql``, written by hand from the KPI catalogue,
     DOMAIN.md and the diagnostic rules, run with plain duckdb. It computes the same
     statistics as the weekly run (KPIs with previous and year-ago values, the checks'
     rules as counts, the baseline snapshot, the findings, every goal's value per day and
     its leading indicators' trends) and reads the same stored tables (post increments
     included), but shares no code with ``kpi_pipeline``.
   - ``chain``: the two jobs of the code location, ``execute_in_process`` on an ephemeral
     instance, as the schedules launch them.
   - ``library``: the same ``kpi_pipeline.lib`` calls on a plain connection, without
     Dagster and without Great Expectations, to split the chain's cost.
   - ``fixed``: the chain on a store with every table but no rows (per-run costs of
     Dagster and Great Expectations that do not depend on the data).

   Imports (duckdb, pandas, dagster, great_expectations, the code location) happen before
   the clock starts, in every step alike. CPU seconds are the subprocess's user + sys time
   over the step (``getrusage(RUSAGE_SELF)``, which covers DuckDB's threads), wall seconds
   the elapsed time, peak RSS the subprocess's ``ru_maxrss`` from ``os.wait4``. The parent
   never loads DuckDB: Linux carries a parent's RSS over into a forked child's
   ``ru_maxrss``, so datasets are built in a subprocess too.
3. Compares what floor and chain wrote (KPI rows and values, baseline rows, findings,
   goal values), so a floor that does less work than the chain shows up, then prints
   Markdown tables: datasets; per-step medians; CPU ratio chain / floor against the
   target (1.5), and beside it (chain - fixed) / floor. ``--json`` keeps every sample.
   Targets are reported, never asserted. Every step runs with the warehouse's DuckDB
   settings as shipped (``Warehouse.connection_config``) unless ``--memory-limit`` says
   otherwise.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date, timedelta
from pathlib import Path

from kpi_bench.datasets import START, Dataset, build_dataset, dataset_for
from kpi_bench.harness import run_dataset, spawn
from kpi_bench.job import STEPS, WRITE_STEPS, Job
from kpi_bench.report import as_json, render
from kpi_bench.worker import worker

SHIPPED = "shipped"  # --memory-limit default: the Warehouse's own connection_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="post_daily rows per dataset")
    parser.add_argument("--weeks", type=int, default=104,
                        help="history length from 2024-01-01, in weeks (default 104 = 2 "
                             "years); the run measures the last of them")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "kpi-bench")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--memory-limit", default=SHIPPED,
                        help="DuckDB memory_limit for every step (default: the warehouse's "
                             "shipped connection_config; 'none': DuckDB's own 80%% of RAM)")
    parser.add_argument("--write-path", action="store_true",
                        help="also time the write path of the increments and one KPI with "
                             "lag() versus the stored increments (second table)")
    parser.add_argument("--worker", choices=STEPS + WRITE_STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--week", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--goals", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reports", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--posts-per-day", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def duckdb_config(memory_limit: str) -> dict[str, str]:
    """DuckDB settings for every step alike (read in the workers: the parent stays light)."""
    if memory_limit == SHIPPED:
        from kpi_pipeline.defs.resources import Warehouse

        return dict(Warehouse.model_fields["connection_config"].default)
    return {} if memory_limit == "none" else {"memory_limit": memory_limit}


def check_history(args: argparse.Namespace) -> None:
    """Partition keys must exist: the last week has to have ended before today."""
    if START + timedelta(weeks=args.weeks) > date.today():
        raise SystemExit(f"--weeks {args.weeks} runs past today: weekly partitions start "
                         f"{START} and end with the last complete week")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, Job(args.db, args.week, args.goals, args.reports,
                                duckdb_config(args.memory_limit)), args.out)
        return
    if args.build:
        build_dataset(Dataset("", args.weeks, args.posts_per_day), args.build)
        return
    check_history(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / "workers.log"
    empty_db = args.workdir / "empty.duckdb"
    spawn(["--build", str(empty_db), "--weeks", str(args.weeks), "--posts-per-day", "0"], log,
          "build empty.duckdb")
    flags = ["--memory-limit", args.memory_limit]
    extra = WRITE_STEPS if args.write_path else ()
    results = [run_dataset(dataset_for(rows, args.weeks), args.workdir, empty_db, args.repeats,
                           log, flags, extra) for rows in args.sizes]
    print(render(results, args.repeats))
    if args.json:
        args.json.write_text(as_json(results))


if __name__ == "__main__":
    main()
