"""A worker: one step, once, in its own subprocess (``--worker``).

Imports happen before the clock starts; the worker then writes its times, its own peak
memory and a digest of what it wrote, which the parent compares between floor and chain.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

from kpi_bench.job import STEPS, Job
from kpi_bench.steps import WriteStep, prepare


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(step: str, job: Job, out: Path) -> None:
    """Subprocess entry: run one step once, then write its times and what it produced."""
    setup_wall, setup_cpu = time.perf_counter(), cpu_seconds()
    run = prepare(step)
    if isinstance(run, WriteStep):
        run.before(job)
    started, started_cpu = time.perf_counter(), cpu_seconds()
    extra = run(job)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - started_cpu
    out.write_text(json.dumps({"seconds": seconds, "cpu_seconds": cpu,
                               "setup_seconds": started - setup_wall,
                               "setup_cpu_seconds": started_cpu - setup_cpu,
                               "vm_hwm_mb": own_peak_mb(),
                               "digest": digest(step, job) if step in STEPS else {},
                               **extra}, default=str))


def digest(step: str, job: Job) -> dict[str, Any]:
    """What the step wrote for the week, summarised so floor and chain can be compared:
    per KPI the rows and the sums of value, previous and year-ago values; baseline rows
    and their sums; findings per rule; each goal's value on each day. Read after the
    clock stopped."""
    import duckdb

    tables = ({"kpi": "scratch.floor_kpi", "baseline": "scratch.floor_baseline",
               "finding": "scratch.floor_finding", "goal": "scratch.floor_goal"}
              if step == "floor" else
              {"kpi": "kpi.weekly", "baseline": "baseline.weekly",
               "finding": "diagnostic.weekly", "goal": "goal.attainment"})
    week = [job.week]
    with duckdb.connect(job.db, read_only=True) as conn:
        def rows(sql: str) -> list[tuple]:
            try:
                return conn.execute(sql, week).fetchall()
            except duckdb.CatalogException:
                return []
        kpi = rows(f"""SELECT kpi, count(*), sum(value), sum(previous_value),
                              sum(year_ago_value) FROM {tables['kpi']}
                       WHERE period_start = ? GROUP BY kpi ORDER BY kpi""")
        base = rows(f"""SELECT count(*), sum(mean), sum(median), sum(stddev), sum(min),
                               sum(max), sum(pooled), sum(periods)
                        FROM {tables['baseline']} WHERE as_of = ?""")
        finds = rows(f"""SELECT rule, count(*) FROM {tables['finding']}
                         WHERE period_start = ? GROUP BY rule ORDER BY rule""")
        goal = rows(f"""SELECT goal_id, CAST(as_of AS VARCHAR), actual FROM {tables['goal']}
                        WHERE as_of BETWEEN ? AND ? + 6 ORDER BY 1, 2""".replace(
            "? + 6", f"DATE '{job.sunday}'"))
    return {"kpi": {k: list(v) for k, *v in kpi}, "baseline": list(base[0]) if base else [],
            "findings": dict(finds), "goals": {f"{g} {d}": a for g, d, a in goal}}


def own_peak_mb() -> float:
    """This process's own high-water RSS (VmHWM), a cross-check on the parent's wait4."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
