"""What the pages read besides their SQL: the goals as written, their warnings, and the
reporting currency. Built once per run and handed to every page."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from kpi_pipeline.lib.core.periods import GRAINS
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
from kpi_pipeline.lib.reports.formats import delta_pct, for_unit, kpi_value


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
    # the target as a value of one week, month or quarter, by grain, where the goal has one
    # (a level, or a per-period target of that grain): what a trend chart of the KPI can
    # draw as a line. A total or a change against the baseline is no per-period value.
    chart_targets: Mapping[str, float] = field(default_factory=dict)


def chart_targets(goal: Goal) -> dict[str, float]:
    """The goal's target as the value of one period of each grain it holds for: a level
    (at least / at most) for every grain, a per-period target for its own period only."""
    target = goal.target
    if isinstance(target, LevelTarget):
        return dict.fromkeys(GRAINS, target.bound)
    if isinstance(target, PerPeriodTarget):
        return {target.period: target.value}
    return {}


@dataclass(frozen=True)
class Note:
    """One line of the data-quality footer or of the goal warnings."""

    severity: str  # "warning" or "error"
    text: str


@dataclass(frozen=True)
class QualityFailure:
    """A failed check evaluation the reports do not stop for (a warning), as the gate
    found it: the days it judged (None: no window in particular, it counts for every
    period) and, for the KPI checks, one row per failed rule and period with the
    offending rows (``failed_expectations`` in the check's metadata)."""

    check: str
    asset: str
    window: tuple[date, date] | None
    description: str | None = None
    rows: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


QUALITY_LINES_MAX = 12  # one page footer; the rest is on the period's data-quality page
_LONG_FLOAT = re.compile(r"-?\d+\.\d{3,}")


def _rounded(text: str) -> str:
    """A check's own description with its floats cut to 2 decimals (0.41403103559 ->
    0.41): a footer is read, not parsed."""
    return _LONG_FLOAT.sub(lambda m: f"{float(m.group(0)):.2f}", text)


def _scope(key: object) -> str:
    return "all platforms" if key in (None, "all") else str(key)


def _rule_words(rule: str) -> str:
    """The catalogue rules of the KPI checks in words."""
    band = re.fullmatch(r"\|change vs previous\| <= ([\d.]+)", rule)
    if band:
        return f"moves more than {delta_pct(float(band.group(1)))} in one period"
    return rule


def _failure_lines(failure: QualityFailure, first: date, last: date,
                   kpis: Mapping[str, Kpi], currency: str) -> list[str]:
    lines = []
    for row in failure.rows:
        try:
            period = date.fromisoformat(str(row.get("period")))
        except ValueError:
            continue
        if not first <= period <= last:
            continue
        if row.get("missing"):
            labels = ", ".join(kpis[k].label if k in kpis else k for k in row["missing"])
            lines.append(f"{labels}: missing for all platforms ({failure.check})")
            continue
        rule = _rule_words(str(row.get("rule", "")))
        for example in row.get("examples") or []:
            name = example.get("kpi")
            kpi = kpis.get(name) if isinstance(name, str) else None
            label = kpi.label if kpi else str(name)
            if "change_vs_previous" in example:
                shown = f"{delta_pct(example['change_vs_previous'])} vs the previous period"
            elif kpi is not None and "value" in example:
                shown = kpi_value(example["value"], kpi, currency)
            else:
                shown = ", ".join(f"{k} {v}" for k, v in example.items()
                                  if k not in ("period", "kpi", "scope_key"))
            verb = f"it {rule}" if rule.startswith("moves") else f"breaks {rule}"
            lines.append(f"{label} ({_scope(example.get('scope_key'))}): {shown}; {verb} "
                         f"({failure.check})")
    return lines


def quality_notes(failures: Sequence[QualityFailure], first: date, last: date,
                  kpis: Mapping[str, Kpi], currency: str) -> list[Note]:
    """The footer lines of one page: only the failed checks that judged data of the
    page's period (their window overlaps first..last; a check without a window counts
    for every period), one line per KPI and scope in words (label, scope, value by its
    unit, the rule) for the KPI checks, or the check's own description with its floats
    rounded. A backfill's warnings about other periods never reach this page."""
    lines: list[str] = []
    for failure in failures:
        if failure.window is not None and (failure.window[1] < first
                                           or failure.window[0] > last):
            continue
        if failure.rows:
            lines += _failure_lines(failure, first, last, kpis, currency)
            continue
        what = f"{failure.check.replace('_', ' ')} on {failure.asset}"
        detail = f": {_rounded(failure.description)}" if failure.description else ""
        lines.append(f"{what} failed{detail}")
    if len(lines) > QUALITY_LINES_MAX:
        rest = len(lines) - QUALITY_LINES_MAX + 1
        lines = [*lines[:QUALITY_LINES_MAX - 1], f"and {rest} more"]
    return [Note("warning", line) for line in lines]


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


def goal_context(conn: duckdb.DuckDBPyConnection, stored: StoredGoals | None, as_of: date,
                 kpis: Mapping[str, Kpi], currency: str) -> dict[str, Any]:
    """``goals`` (GoalInfo by id) and ``goal_warnings`` (Notes) for the scorecard, from the
    stored definitions with relative windows resolved as of ``as_of`` (the last day the
    pages show): the file's own warnings and, where a baseline exists, the implausible
    targets. With no definitions stored yet (a young store) there are no goals: the
    scorecard still renders and says the goals file is not stored yet."""
    if stored is None:
        return {"goals": {}, "goal_warnings": []}
    loaded = validate_goals(stored.data(), as_of, kpis=kpis, source=stored.source)
    warnings = goal_warnings_with_baselines(conn, loaded, dict(kpis))
    goals = {goal.id: GoalInfo(goal.id, goal.title, goal.objective, goal.stage, goal.kpi,
                               goal.scope.scope_key, target_text(goal, kpis[goal.kpi], currency),
                               goal.start, goal.end, goal.owner, chart_targets(goal))
             for goal in loaded.goals}
    return {"goals": goals,
            "goal_warnings": [Note("warning", str(w)) for w in warnings]}
