"""Are the goal probabilities calibrated? A backtest over a store's history.

Run it from the repository root (a script people run, not a test; nothing is asserted)::

    .venv/bin/python benchmarks/goal_calibration.py --store data/kpi_pipeline.duckdb
    .venv/bin/python benchmarks/goal_calibration.py --days 364 --workdir /tmp/goal-cal

With ``--days`` it first builds a demo store of that many days with the CLI of
``make run`` (``kpi_pipeline.cli run --ephemeral --report-periods -1``: ingest, KPIs,
baselines) in ``--workdir``; with ``--store`` it reads an existing one, read-only.

The backtest sets many past goals: every KPI of the catalogue at the all scope and at
each platform and brand the weekly KPI table has for it; windows of 28, 56 and 91 days
starting every ``--step`` days once the scope has ``--warmup`` days of data (26 weeks by
default, whatever the forecast's own history: settings compare on the same goals); targets
around the goal's baseline snapshot (the one attainment reads): totals and levels at
0.8-1.2x the baseline, changes of -20 % to +20 %, and per-month targets inside a 91-day
window. For each goal it computes, with the attainment code itself (``evaluate``):

- at mid-window (mid-month for a per-month target), knowing only the days up to then:
  the probability of reaching the target, and today's deterministic status, mapped to a
  probability as achieved / on track = 1, at risk = 0.5, off track = 0;
- at the window's (month's) end: whether the target was reached.

It prints the Brier score of both (the mean squared gap between the forecast and the
outcome: lower is better; always saying 50 % scores 0.25), the same per target type and
window length, and the reliability table of the probabilities (predicted decile against
the share of those goals that made it) and of the statuses. ``--json`` keeps it all.

The KPI's window values are computed from the same daily numerators and denominators the
simulation reads (``daily_history``, the KPI tables' facts and formulas over one-day
windows): a ratio is the ratio of the window's sums. The first window of each KPI and
scope is checked against ``kpi_running`` (the attainment asset's own measure); the
largest gap is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kpi_pipeline.lib.goals.attainment import evaluate  # noqa: E402
from kpi_pipeline.lib.goals.findings import GoalsError  # noqa: E402
from kpi_pipeline.lib.goals.forecast import (  # noqa: E402
    HISTORY_DAYS,
    DailyHistory,
    brier_score,
    daily_history,
    reliability_table,
)
from kpi_pipeline.lib.goals.loading import validate_goals  # noqa: E402
from kpi_pipeline.lib.goals.schema import OBJECTIVE_STAGES, Goal, fingerprint  # noqa: E402
from kpi_pipeline.lib.goals.tables import baseline_for  # noqa: E402
from kpi_pipeline.lib.kpis.catalog import Kpi, catalog  # noqa: E402
from kpi_pipeline.lib.kpis.compute import kpi_running  # noqa: E402

WINDOWS = (28, 56, 91)
FACTORS = (0.8, 0.9, 0.95, 1.05, 1.1, 1.2)  # total and level targets x the baseline
CHANGES = (-0.2, -0.1, -0.05, 0.05, 0.1, 0.2)
STATUS_PROBABILITY = {"achieved": 1.0, "on track": 1.0, "at risk": 0.5, "off track": 0.0}
SCOPE_KINDS = ("all", "platform", "brand")


def build_store(days: int, workdir: Path) -> Path:
    """A demo store of ``days`` days through the KPIs and baselines, by the CLI."""
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home),
           "KPI_PIPELINE_DUCKDB": str(workdir / "store.duckdb"),
           "KPI_PIPELINE_LANDING": str(workdir / "landing"),
           "KPI_PIPELINE_REPORTS": str(workdir / "reports"), "PYTHONWARNINGS": "ignore"}
    subprocess.run([sys.executable, "-m", "kpi_pipeline.cli", "run", "--days", str(days),
                    "--ephemeral", "--report-periods", "-1"], cwd=ROOT, env=env, check=True)
    return workdir / "store.duckdb"


def objective_for(stage: str) -> str:
    return next(o for o, stages in OBJECTIVE_STAGES.items() if stage in stages)


def scopes_of(conn: duckdb.DuckDBPyConnection, kpi: str) -> list[tuple[str, str]]:
    """The (kind, key) scopes the weekly KPI table has values for."""
    return conn.execute(
        "SELECT DISTINCT scope, scope_key FROM kpi.weekly WHERE kpi = ? AND value IS NOT "
        "NULL AND list_contains(?, scope) ORDER BY 1, 2", [kpi, list(SCOPE_KINDS)]).fetchall()


def window_value(history: DailyHistory, kpi: Kpi, first: date, through: date) -> float | None:
    """The KPI over [first, through] from its days: a ratio of sums, a level's last day,
    a growth compounded from its daily growth."""
    lo, hi = history.index(first), history.index(through)
    if history.kind == "sum":
        num = history.numerator[lo:hi + 1]
        if np.all(np.isnan(num)):
            return None
        if history.denominator is None:
            return float(np.nansum(num))
        den = float(np.nansum(history.denominator[lo:hi + 1]))
        return None if den == 0 else float(np.nansum(num)) / den
    values = history.numerator[lo:hi + 1]
    if history.kind == "level":
        return None if np.isnan(values[-1]) else float(values[-1])
    if np.all(np.isnan(values)):
        return None
    return float(np.prod(1 + np.nan_to_num(values)) - 1)


@dataclass
class Case:
    kpi: str
    kind: str
    scope: str
    target_type: str
    window_days: int
    probability: float
    status: str
    outcome: int


def raw_goal(kpi: Kpi, kind: str, key: str, target: dict, start: date, days: int,
             n: int) -> dict:
    return {"id": f"g{n}", "title": "backtest", "objective": objective_for(kpi.stage),
            "stage": kpi.stage, "kpi": kpi.name,
            "scope": {"kind": kind} if kind == "all" else {"kind": kind, "key": key},
            "target": target,
            "window": {"start": start, "end": start + timedelta(days=days - 1)}}


def validated(raw: dict, day: date, kpis: dict[str, Kpi]) -> Goal | None:
    """The goal, or None when the catalogue rejects it (a total on a KPI of one grain)."""
    try:
        return validate_goals({"goals": [raw]}, day, kpis=kpis).goals[0]
    except GoalsError:
        return None


def targets(kpi: Kpi, baseline: float | None, days: int) -> list[dict]:
    """Targets around the baseline for a window of ``days``."""
    found: list[dict] = [{"type": "change", "by": by} for by in CHANGES]
    if baseline is None or not np.isfinite(baseline) or baseline <= 0:
        return found
    bound = "at_least" if kpi.direction == "higher" else "at_most"
    if kpi.additive:
        found += [{"type": "total", "value": round(baseline * days / 7 * f, 6)}
                  for f in FACTORS]
        if days == 91 and "month" in kpi.grains:
            found += [{"type": "per_period", "period": "month",
                       "value": round(baseline * 30 / 7 * f, 6)} for f in FACTORS]
    else:
        found += [{"type": "level", bound: round(baseline * f, 9)} for f in FACTORS]
    return found


def mid_day(goal: Goal) -> date:
    """Mid-window, or mid-month of the window's middle month for a per-month target."""
    middle = goal.start + timedelta(days=(goal.end - goal.start).days // 2)
    if goal.target.type == "per_period":
        return middle.replace(day=15)
    return middle


def period_end(goal: Goal, day: date) -> date:
    if goal.target.type != "per_period":
        return goal.end
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return min(following - timedelta(days=1), goal.end)


def backtest(conn: duckdb.DuckDBPyConnection, step: int, limit_kpis: int | None,
             warmup: int = 182) -> tuple[list[Case], dict]:
    kpis = catalog()
    (data_first,) = conn.execute("SELECT min(period_start) FROM kpi.weekly").fetchone()
    (data_last,) = conn.execute("SELECT max(period_start) + 6 FROM kpi.weekly").fetchone()
    cases: list[Case] = []
    checks = {"compared": 0, "largest_relative_gap": 0.0, "goals_set": 0}
    for kpi in list(kpis.values())[:limit_kpis]:
        for kind, key in scopes_of(conn, kpi.name):
            history = daily_history(conn, kpi, key, kind, data_first, data_last)
            seen = np.flatnonzero(~np.isnan(history.numerator))
            if seen.size == 0:
                continue
            first_start = data_first + timedelta(days=int(seen[0]) + warmup)
            last_day = data_first + timedelta(days=int(seen[-1]))
            for days in WINDOWS:
                start = first_start
                while start + timedelta(days=days - 1) <= last_day:
                    probe = validated(raw_goal(kpi, kind, key, {"type": "change", "by": 0.1},
                                               start, days, 0), start, kpis)
                    baseline = None if probe is None else baseline_for(conn, probe, kpi)
                    for target in targets(kpi, baseline, days):
                        checks["goals_set"] += 1
                        goal = validated(raw_goal(kpi, kind, key, target, start, days,
                                                  checks["goals_set"]), start, kpis)
                        case = None if goal is None else judge(goal, kpi, history, baseline)
                        if case is not None:
                            cases.append(case)
                    if days == WINDOWS[0] and start == first_start:  # one per KPI and scope
                        compare(conn, kpi, kind, key, history, start, days, checks)
                    start += timedelta(days=step)
    return cases, checks


def compare(conn, kpi: Kpi, kind: str, key: str, history: DailyHistory, start: date,
            days: int, checks: dict) -> None:
    """The window values from the days against kpi_running, the asset's measure."""
    end = start + timedelta(days=days - 1)
    running = kpi_running(conn, kpi, start, end, key, scope=kind)
    ours = window_value(history, kpi, start, end)
    theirs = running[end]
    if ours is None or theirs is None:
        return
    gap = abs(ours - theirs) / max(abs(theirs), 1e-12)
    checks["compared"] += 1
    checks["largest_relative_gap"] = max(checks["largest_relative_gap"], gap)


def judge(goal: Goal, kpi: Kpi, history: DailyHistory, baseline: float | None) -> Case | None:
    """The forecast at mid-window and the outcome at the end, by the attainment code."""
    def measure(first: date, through: date) -> float | None:
        return window_value(history, kpi, first, through)

    print_ = fingerprint(goal)
    mid = mid_day(goal)
    now = evaluate(goal, kpi, mid, print_, measure, baseline, history=history)
    straight = evaluate(goal, kpi, mid, print_, measure, baseline)
    end = evaluate(goal, kpi, period_end(goal, mid), print_, measure, baseline)
    if now is None or now.probability is None or end is None or \
            end.status not in ("achieved", "missed"):
        return None
    if straight.status not in STATUS_PROBABILITY:
        return None
    return Case(kpi.name, history.kind, goal.scope.kind, goal.target.type,
                (goal.end - goal.start).days + 1, now.probability, straight.status,
                int(end.status == "achieved"))


def summary(cases: list[Case]) -> dict:
    predicted = np.array([c.probability for c in cases])
    status = np.array([STATUS_PROBABILITY[c.status] for c in cases])
    outcome = np.array([c.outcome for c in cases])

    def scores(mask: np.ndarray) -> dict:
        return {"goals": int(mask.sum()), "made_it": float(outcome[mask].mean()),
                "brier_probability": brier_score(predicted[mask], outcome[mask]),
                "brier_status": brier_score(status[mask], outcome[mask])}

    everything = np.ones(len(cases), bool)
    by = {"all": scores(everything)}
    for field in ("target_type", "window_days", "kind", "scope"):
        for value in sorted({getattr(c, field) for c in cases}):
            mask = np.array([getattr(c, field) == value for c in cases])
            by[f"{field}={value}"] = scores(mask)
    reliability = [b.__dict__ for b in reliability_table(predicted, outcome)]
    statuses = {s: {"goals": int((m := np.array([c.status == s for c in cases])).sum()),
                    "made_it": float(outcome[m].mean()) if m.any() else None}
                for s in STATUS_PROBABILITY}
    return {"scores": by, "reliability": reliability, "statuses": statuses}


def markdown(result: dict) -> str:
    lines = ["| goals | made it | Brier, probability | Brier, status (1 / 0.5 / 0) | slice |",
             "|---:|---:|---:|---:|---|"]
    for name, s in result["scores"].items():
        lines.append(f"| {s['goals']:,} | {s['made_it']:.1%} | {s['brier_probability']:.4f} "
                     f"| {s['brier_status']:.4f} | {name} |")
    lines += ["", "| predicted | goals | mean predicted | made it |", "|---|---:|---:|---:|"]
    for b in result["reliability"]:
        mean = "" if b["mean_predicted"] is None else f"{b['mean_predicted']:.1%}"
        seen = "" if b["observed"] is None else f"{b['observed']:.1%}"
        lines.append(f"| {b['low']:.0%}-{b['high']:.0%} | {b['count']:,} | {mean} | {seen} |")
    lines += ["", "| status at mid-window | goals | made it |", "|---|---:|---:|"]
    for status, s in result["statuses"].items():
        seen = "" if s["made_it"] is None else f"{s['made_it']:.1%}"
        lines.append(f"| {status} | {s['goals']:,} | {seen} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="an existing store (read-only)")
    parser.add_argument("--days", type=int, help="build a demo store of N days first")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/goal-calibration"))
    parser.add_argument("--step", type=int, default=14,
                        help="days between two window starts (default 14)")
    parser.add_argument("--kpis", type=int, help="only the first N KPIs (a quick look)")
    parser.add_argument("--warmup", type=int, default=182,
                        help="days of data before the first window (default 182; at least "
                             f"the forecast's history, {HISTORY_DAYS})")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    if (args.store is None) == (args.days is None):
        parser.error("give --store or --days")
    store = args.store or build_store(args.days, args.workdir)
    started, cpu = time.perf_counter(), time.process_time()
    with duckdb.connect(str(store), read_only=True) as conn:
        cases, checks = backtest(conn, args.step, args.kpis, args.warmup)
    result = summary(cases)
    result["checks"] = checks
    result["seconds"] = {"wall": time.perf_counter() - started,
                         "cpu": time.process_time() - cpu}
    print(markdown(result))
    print(f"\nwindow values vs kpi_running: {checks['compared']} compared, largest relative "
          f"gap {checks['largest_relative_gap']:.2e}")
    print(f"{len(cases):,} goals in {result['seconds']['wall']:.0f} s wall, "
          f"{result['seconds']['cpu']:.0f} CPU s (this process)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
