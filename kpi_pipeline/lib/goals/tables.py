"""Goal attainment in DuckDB: baselines looked up, values computed, rows replaced.

``goal.attainment`` holds one row per goal and as-of date, with the fingerprint of the
goal definition it was computed against: if a goal's KPI or target changes mid-window,
the history shows two fingerprints instead of being silently rewritten. A store created
before a column existed (the probability and its interval) gains it when the table is
next written; its old rows keep NULL there until their days are computed again.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date, timedelta

import duckdb
import pandas as pd

from kpi_pipeline.lib.goals.attainment import Attainment, evaluate, trend
from kpi_pipeline.lib.goals.findings import GoalWarning
from kpi_pipeline.lib.goals.forecast import HISTORY_DAYS, HistoryCache
from kpi_pipeline.lib.goals.loading import ValidatedGoals
from kpi_pipeline.lib.goals.rules import plausibility
from kpi_pipeline.lib.goals.schema import Goal, fingerprint
from kpi_pipeline.lib.kpis.catalog import Kpi
from kpi_pipeline.lib.kpis.compute import kpi_running
from kpi_pipeline.lib.normalized.store import transaction

SCHEMA = "goal"
TREND_DAYS = 28
SQL_TYPES = {"date": "DATE", "str": "VARCHAR", "int": "INTEGER", "float": "DOUBLE",
             "float | None": "DOUBLE"}


def attainment_ddl() -> str:
    cols = ",\n  ".join(f"{f.name} {SQL_TYPES[str(f.type)]}" for f in fields(Attainment))
    return (f"CREATE TABLE IF NOT EXISTS {SCHEMA}.attainment (\n  {cols},\n"
            "  PRIMARY KEY (as_of, goal_id)\n)")


def ensure_goal_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create goal.attainment, or add the columns an older store lacks."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(attainment_ddl())
    have = {name for (name,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = 'attainment'", [SCHEMA]).fetchall()}
    for f in fields(Attainment):
        if f.name not in have:
            conn.execute(f"ALTER TABLE {SCHEMA}.attainment ADD COLUMN {f.name} "
                         f"{SQL_TYPES[str(f.type)]}")


def baseline_sql(column: str) -> str:
    """The SELECT of a goal's baseline: ``column`` of the latest weekly snapshot of KPI ?
    at scope key ? taken on or before day ?."""
    return (f"SELECT {column} FROM baseline.weekly WHERE kpi = ? AND scope_key = ? "
            "AND as_of <= ? ORDER BY as_of DESC LIMIT 1")


def baseline_for(conn: duckdb.DuckDBPyConnection, goal: Goal, kpi: Kpi) -> float | None:
    """The goal's baseline: the weekly snapshot taken at its start, or the latest before.
    Ratios use the pooled value (sum over sum), counts and money the mean week."""
    column = "pooled" if kpi.denominator else "mean"
    exists = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'baseline' "
                          "AND table_name = 'weekly'").fetchone()[0]
    if not exists:
        return None
    row = conn.execute(baseline_sql(column),
                       [goal.kpi, goal.scope.scope_key, goal.start]).fetchone()
    return None if row is None else row[0]


def goal_warnings_with_baselines(conn: duckdb.DuckDBPyConnection, loaded: ValidatedGoals,
                                 kpis: dict[str, Kpi]) -> list[GoalWarning]:
    """The goals file's own warnings, plus an implausible-target warning for each goal
    whose baseline makes its target unlikely."""
    warnings = list(loaded.warnings)
    for goal in loaded.goals:
        finding = plausibility(goal, baseline_for(conn, goal, kpis[goal.kpi]),
                               loaded.settings, kpis)
        if finding is not None:
            warnings.append(finding)
    return warnings


def _leading_measures(conn, goal: Goal, kpis: dict[str, Kpi], first: date,
                      last: date) -> dict[str, tuple[str, dict[date, float | None]]]:
    """Each leading indicator's 28-day rolling value for every day the trends may read,
    at the goal's scope where the indicator has it, else across all platforms."""
    out = {}
    for name in goal.leading_indicators or ():
        kpi = kpis[name]
        kind = goal.scope.kind if goal.scope.kind in kpi.computed_scopes else "all"
        key = goal.scope.scope_key if kind != "all" else "all"
        out[name] = key, kpi_running(conn, kpi, first - timedelta(days=2 * TREND_DAYS), last,
                                     key, window=TREND_DAYS, scope=kind)
    return out


def _leading(measures: dict[str, tuple[str, dict[date, float | None]]],
             through: date) -> list[dict[str, object]]:
    return [{"kpi": name, "scope_key": key,
             **trend(lambda _first, last, rolling=rolling: rolling.get(last), through,
                     TREND_DAYS)}
            for name, (key, rolling) in measures.items()]


def attainment_rows(conn: duckdb.DuckDBPyConnection, goals: list[Goal],
                    kpis: dict[str, Kpi], first: date, last: date,
                    trend_days: set[date], histories: HistoryCache | None = None,
                    ) -> list[Attainment]:
    """Attainment of every goal for every as-of day in [first, last] inside its window.

    Leading-indicator trends are computed on ``trend_days`` only (week and month closes
    and the last day), where a review reads them. ``histories`` keeps the KPIs' daily
    histories across the calls of one run (pass one per run over a range)."""
    histories = histories or HistoryCache(last)
    rows = []
    for goal in goals:
        lo, hi = max(first, goal.start), min(last, goal.end)
        if lo > hi:
            continue
        kpi = kpis[goal.kpi]
        restart = goal.target.period if goal.target.type == "per_period" else None
        values = kpi_running(conn, kpi, goal.start if restart is None else lo, hi,
                             goal.scope.scope_key, restart, scope=goal.scope.kind)
        baseline = baseline_for(conn, goal, kpi)
        # the KPI's days from the history the first as-of day resamples to the last
        history = histories.get(conn, kpi, goal.scope.scope_key, goal.scope.kind,
                                min(goal.start, lo - timedelta(days=HISTORY_DAYS)), hi)
        print_ = fingerprint(goal)
        leading_measures = (_leading_measures(conn, goal, kpis, lo, hi)
                            if kpi.indicator == "lagging" else {})
        for day in (lo + timedelta(days=i) for i in range((hi - lo).days + 1)):
            leading = (_leading(leading_measures, day)
                       if day in trend_days or day == hi else [])
            row = evaluate(goal, kpi, day, print_,
                           lambda _first, through, values=values: values.get(through),
                           baseline, leading, history)
            if row is not None:
                rows.append(row)
    return rows


def replace_attainment(conn: duckdb.DuckDBPyConnection, rows: list[Attainment], first: date,
                       last: date) -> int:
    """Replace the attainment rows of as-of days [first, last] in one transaction."""
    ensure_goal_tables(conn)
    frame = pd.DataFrame([r.row() for r in rows], columns=[f.name for f in fields(Attainment)])
    with transaction(conn):
        conn.execute("DELETE FROM goal.attainment WHERE as_of BETWEEN ? AND ?", [first, last])
        conn.register("attainment_rows", frame)
        conn.execute("INSERT INTO goal.attainment BY NAME SELECT * FROM attainment_rows")
        conn.unregister("attainment_rows")
    return len(frame)
