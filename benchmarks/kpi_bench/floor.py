"""The floor: ``benchmarks/floor_weekly.sql`` on plain duckdb.

Written by hand from the KPI catalogue, DOMAIN.md and the diagnostic rules, it computes
the same statistics as the weekly run from the same stored tables but shares no code
with ``kpi_pipeline``: it is what the weekly run's cost is measured against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpi_bench.goals import goal_start, goals_frame
from kpi_bench.job import Job

FLOOR_SQL = Path(__file__).resolve().parents[1] / "floor_weekly.sql"


def split_statements(sql: str) -> list[str]:
    """The floor file's statements, comment lines dropped (none holds a ';' in a string)."""
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def step_floor(job: Job) -> dict[str, Any]:
    """The hand-written floor: every statement of floor_weekly.sql, on plain duckdb."""
    import duckdb

    statements = split_statements(FLOOR_SQL.read_text(encoding="utf-8"))
    goals = goals_frame(job.week)
    params = {"week": job.week, "goal_start": goal_start(job.week)}
    with duckdb.connect(job.db, config=job.config) as conn:
        conn.register("bench_goals", goals)
        for statement in statements:
            conn.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
    return {}
