"""CPU cost of the KPI data-quality checks against the KPI computation they check.

Run it from the repository root on a store that holds normalized data (a demo store built
with the CLI, or a synthetic one from ``kpi_benchmark.py --build``)::

    KPI_PIPELINE_DUCKDB=/tmp/b/store.duckdb KPI_PIPELINE_LANDING=/tmp/b/landing \\
    KPI_PIPELINE_REPORTS=/tmp/b/reports .venv/bin/python -m kpi_pipeline.cli run \\
        --days 728 --report-periods -1
    .venv/bin/python benchmarks/kpi_checks_benchmark.py /tmp/b/store.duckdb --repeats 5

It works on a copy of the store (the computation rewrites the KPI tables). Per grain and
window (every period of the store, then its last period alone) it times, round by round
so a noisy neighbour hurts every step alike, with ``time.process_time()`` (CPU of every
thread of this process, DuckDB's included):

- ``replace_kpis``: the KPI asset's computation over the window;
- ``kpi_expectations``: what the blocking check does: load the window, find the empty
  source tables, validate, write one page per period;
- ``kpi_period_jumps``: what the warning does: load the window, evaluate the band.

Great Expectations' import is paid once per process before the clock starts, and printed
on its own. A store without KPI rows (a synthetic one) has them computed once first.
Prints a Markdown table of medians and the check / computation ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

GRAINS = {"week": "weekly", "month": "monthly"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="a DuckDB file with normalized data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grains", nargs="+", default=list(GRAINS), choices=list(GRAINS))
    args = parser.parse_args(argv)

    started = time.process_time()
    import great_expectations  # noqa: F401  (paid once, like a run process does)

    gx_import = time.process_time() - started
    import duckdb

    from kpi_pipeline.defs.kpis import checks
    from kpi_pipeline.defs.resources import Settings, Warehouse
    from kpi_pipeline.lib.core.periods import period_last_day
    from kpi_pipeline.lib.kpis import expectations
    from kpi_pipeline.lib.kpis.catalog import catalog
    from kpi_pipeline.lib.kpis.compute import replace_kpis
    from kpi_pipeline.lib.reports.render import write_atomic

    work = Path(tempfile.mkdtemp(prefix="kpi-checks-bench-"))
    try:
        db = work / "store.duckdb"
        shutil.copy(args.store, db)
        warehouse = Warehouse(database=str(db))
        settings = Settings(landing_dir=str(work / "landing"), reports_dir=str(work / "reports"))
        print(f"store {args.store}; Great Expectations import {gx_import:.2f} CPU-s "
              "(once per process, not in the figures below)\n")
        print("| grain | periods | KPI rows | replace_kpis | kpi_expectations | ratio "
              "| kpi_period_jumps | ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for grain in args.grains:
            table = GRAINS[grain]
            periods = stored_periods(db, table)
            if not periods:  # a synthetic store: compute the KPIs once
                with duckdb.connect(str(db)) as conn:
                    first_day, last_day = conn.execute(
                        "SELECT min(report_date), max(report_date) "
                        "FROM normalized.post_daily").fetchone()
                    replace_kpis(conn, grain, first_day, last_day)
                periods = stored_periods(db, table)
            for window in (periods, periods[-1:]):
                first, last = window[0], period_last_day(window[-1], grain)

                def compute(grain=grain, first=first, window=window) -> None:
                    with duckdb.connect(str(db)) as conn:
                        replace_kpis(conn, grain, first, window[-1])

                def expectations(grain=grain, table=table, first=first, last=last,
                                 window=window) -> None:
                    with warehouse.get_connection(read_only=True) as conn:
                        frame = checks.load_window(conn, table, first, last)
                        empty = checks.empty_source_tables(conn, grain, window)
                    outcome = expectations.validate_kpi_window(frame, catalog(), grain, window,
                                                           empty_tables=empty)
                    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
                    for validation in outcome.periods:
                        write_atomic(checks.page_path(settings, grain, validation.period),
                                     expectations.render_validation_page(
                                         validation, title=str(validation.period),
                                         subtitle=grain, generated=generated))

                def jumps(grain=grain, table=table, first=first, last=last,
                          window=window) -> None:
                    with warehouse.get_connection(read_only=True) as conn:
                        frame = checks.load_window(conn, table, first, last)
                    expectations.validate_kpi_jumps(frame, grain, window)

                steps = {"compute": compute, "expectations": expectations, "jumps": jumps}
                seconds = rounds(steps, args.repeats)
                with duckdb.connect(str(db), read_only=True) as conn:
                    (rows,) = conn.execute(
                        f"SELECT count(*) FROM kpi.{table} WHERE period_start "
                        "BETWEEN ? AND ?", [first, last]).fetchone()
                base = seconds["compute"]
                print(f"| {grain} | {len(window)} | {rows:,} | {base:.2f} "
                      f"| {seconds['expectations']:.2f} | {seconds['expectations'] / base:.2f} "
                      f"| {seconds['jumps']:.2f} | {seconds['jumps'] / base:.2f} |",
                      flush=True)
        print(f"\nmedian CPU seconds of {args.repeats} interleaved rounds "
              "(time.process_time)")
    finally:
        shutil.rmtree(work)


def stored_periods(db: Path, table: str) -> list:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as conn:
        try:
            return [r[0] for r in conn.execute(
                f"SELECT DISTINCT period_start FROM kpi.{table} ORDER BY 1").fetchall()]
        except duckdb.CatalogException:
            return []


def rounds(steps: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median CPU seconds per step, the steps interleaved round by round."""
    taken: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            started = time.process_time()
            step()
            taken[name].append(time.process_time() - started)
    return {name: statistics.median(values) for name, values in taken.items()}


if __name__ == "__main__":
    main()
