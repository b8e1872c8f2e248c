"""What the pages read besides their SQL: the goals as written, their warnings, and the
reporting currency. Built once per run and handed to every page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from kpi_pipeline.lib.goals.loading import validate_goals
from kpi_pipeline.lib.goals.schema import (
    ChangeTarget,
    Goal,
    LevelTarget,
    PerPeriodTarget,
    TotalTarget,
)
from kpi_pipeline.lib.goals.stored import StoredGoals
from kpi_pipeline.lib.goals.tables import goal_warnings_with_baselines
from kpi_pipeline.lib.kpis.catalog import Kpi
from kpi_pipeline.lib.reports.formats import delta_pct, for_unit


@dataclass(frozen=True)
class GoalInfo:
    """A goal as the scorecard shows it: the words the marketer wrote."""

    id: str
    title: str
    objective: str
    stage: str
    kpi: str
    scope_key: str
    target_text: str
    window_start: date
    window_end: date
    owner: str | None


@dataclass(frozen=True)
class Note:
    """One line of the data-quality footer or of the goal warnings."""

    severity: str  # "warning" or "error"
    text: str


def target_text(goal: Goal, kpi: Kpi, currency: str) -> str:
    """The target in words: "at least 4.0 %", "+15.0 % vs baseline", "20 per month"."""
    target = goal.target
    if isinstance(target, TotalTarget):
        return f"{for_unit(target.value, kpi.unit, currency)} in total"
    if isinstance(target, LevelTarget):
        word = "at least" if target.at_least is not None else "at most"
        return f"{word} {for_unit(target.bound, kpi.unit, currency)}"
    if isinstance(target, ChangeTarget):
        return f"{delta_pct(target.by)} vs baseline"
    assert isinstance(target, PerPeriodTarget)
    return f"{for_unit(target.value, kpi.unit, currency)} per {target.period}"


def goal_context(conn: duckdb.DuckDBPyConnection, stored: StoredGoals, as_of: date,
                 kpis: Mapping[str, Kpi], currency: str) -> dict[str, Any]:
    """``goals`` (GoalInfo by id) and ``goal_warnings`` (Notes) for the scorecard, from the
    stored definitions with relative windows resolved as of ``as_of`` (the last day the
    pages show): the file's own warnings and, where a baseline exists, the implausible
    targets."""
    loaded = validate_goals(stored.data(), as_of, kpis=kpis, source=stored.source)
    warnings = goal_warnings_with_baselines(conn, loaded, dict(kpis))
    goals = {goal.id: GoalInfo(goal.id, goal.title, goal.objective, goal.stage, goal.kpi,
                               goal.scope.scope_key, target_text(goal, kpis[goal.kpi], currency),
                               goal.start, goal.end, goal.owner)
             for goal in loaded.goals}
    return {"goals": goals,
            "goal_warnings": [Note("warning", str(w)) for w in warnings]}
