"""Reading a goals file: every problem of every goal reported at once.

``load_goals`` parses the YAML, validates the shape (``schema``), adds the checks that need
the catalogue (``rules``) and reports every problem in one ``GoalsError``: a marketer fixes
the file in one pass, not one error per run. A valid file comes back as ``ValidatedGoals``
with its warnings and each goal's default leading indicators filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kpi_pipeline.lib.core.yaml_files import load_yaml_file
from kpi_pipeline.lib.goals.findings import GoalProblem, GoalsError, GoalWarning
from kpi_pipeline.lib.goals.rules import (
    catalogue_problems,
    default_leading_indicators,
    goal_warnings,
)
from kpi_pipeline.lib.goals.schema import TARGET_TYPES, Goal, GoalFileSettings, GoalsFile
from kpi_pipeline.lib.kpis.catalog import Kpi, catalog

# The part of SMART a missing field breaks: the message says which part is missing.
SMART_PART = {"kpi": "specific", "scope": "specific", "target": "measurable",
              "window": "time_bound", "objective": "relevant", "stage": "relevant"}
MISSING_MESSAGE = {
    "id": "no id: a goal needs a slug id, its attainment history is kept under it",
    "title": "no title: a goal needs a title a marketer reads",
    "kpi": "no KPI: a goal is specific, it names one catalogue KPI",
    "scope": "no scope: a goal is specific, it names one scope (kind all, or a kind and a key)",
    "target": "no target: a goal is measurable, it needs a numeric target "
              "(total, level, change or per_period)",
    "window": "no window: a goal is time-bound, it needs start and end, start and days, "
              "or a relative window",
    "objective": "no objective: a goal is relevant, it names the business objective it serves",
    "stage": "no stage: a goal is relevant, it names the funnel stage it serves",
}


@dataclass(frozen=True)
class ValidatedGoals:
    """A goals file that passed: its goals (leading indicators filled in), its warnings,
    its settings, and the day its relative windows were resolved against."""

    goals: list[Goal]
    warnings: list[GoalWarning]
    settings: GoalFileSettings
    today: date

    def goal(self, goal_id: str) -> Goal:
        return next(goal for goal in self.goals if goal.id == goal_id)


# ------------------------------------------------------------------------- loading
def load_goals(path: Path | str, today: date, kpis: Mapping[str, Kpi] | None = None,
               known_scopes: set[tuple[str, str]] | None = None) -> ValidatedGoals:
    """Read and validate a goals file; raises ``GoalsError`` listing every problem.

    ``today`` resolves relative windows without ``as_of``. ``known_scopes`` holds the
    (scope, scope_key) pairs the data has; None checks only that the KPI is computed for
    the scope's kind (and platform)."""
    try:
        data = load_yaml_file(path)
    except UnicodeDecodeError as exc:
        raise GoalsError(str(path), [GoalProblem(
            None, "(file)", "encoding", f"the goals file is not UTF-8 text: byte "
            f"{exc.object[exc.start]:#04x} at offset {exc.start}; save it as UTF-8")]) from exc
    except yaml.YAMLError as exc:
        raise GoalsError(str(path), [GoalProblem(None, "(file)", "yaml",
                                                 _yaml_message(exc))]) from exc
    return validate_goals(data, today, kpis=kpis, known_scopes=known_scopes, source=str(path))


def validate_goals(data: Any, today: date, *, kpis: Mapping[str, Kpi] | None = None,
                   known_scopes: set[tuple[str, str]] | None = None,
                   source: str = "goals") -> ValidatedGoals:
    """``load_goals`` for data already parsed (a mapping with ``settings`` and ``goals``)."""
    kpis = catalog() if kpis is None else kpis
    raw_goals = data.get("goals") if isinstance(data, Mapping) else None
    raw_goals = raw_goals if isinstance(raw_goals, list) else []
    ids = [_goal_label(raw, index) for index, raw in enumerate(raw_goals)]
    found: list[tuple[int, GoalProblem]] = []
    parsed: GoalsFile | None = None
    try:
        parsed = GoalsFile.model_validate(data, context={"today": today})
    except ValidationError as exc:
        found += [_from_pydantic(error, ids) for error in exc.errors(include_url=False)]
    for index, raw in enumerate(raw_goals):
        if isinstance(raw, Mapping):
            found += [(index, problem) for problem
                      in catalogue_problems(ids[index], raw, kpis, known_scopes)]
    found += _duplicate_ids(ids)
    if found or parsed is None:
        # Stable sort: file-level problems first, then goal by goal in file order.
        raise GoalsError(source, [problem for _, problem in sorted(found, key=lambda f: f[0])])
    goals = [_with_defaults(goal, kpis) for goal in parsed.goals]
    return ValidatedGoals(goals, goal_warnings(goals, parsed.settings, kpis), parsed.settings,
                          today)


def _yaml_message(exc: yaml.YAMLError) -> str:
    """PyYAML's error on one line (it spans several, with a caret under the spot)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    detail = getattr(exc, "problem", None) or " ".join(str(exc).split())
    return f"not valid YAML{where}: {detail}"


def _goal_label(raw: Any, index: int) -> str:
    """The goal's id as written, or its position when it has none (to name it anyway)."""
    goal_id = raw.get("id") if isinstance(raw, Mapping) else None
    return goal_id.strip() if isinstance(goal_id, str) and goal_id.strip() else f"#{index + 1}"


def _from_pydantic(error: Mapping[str, Any], ids: list[str]) -> tuple[int, GoalProblem]:
    """One pydantic error as a problem naming the goal and the field."""
    loc = tuple(error["loc"])
    if len(loc) >= 2 and loc[0] == "goals" and isinstance(loc[1], int):
        index, goal_id, rest = loc[1], ids[loc[1]], loc[2:]
    else:
        index, goal_id, rest = -1, None, loc
    if len(rest) >= 2 and rest[0] == "target" and rest[1] in TARGET_TYPES:
        rest = (rest[0], *rest[2:])  # the union's tag is not a field the marketer wrote
    field = ".".join(str(part) for part in rest) or ("(goal)" if goal_id else "(file)")
    if len(rest) == 1 and rest[0] in MISSING_MESSAGE and (error["type"] == "missing"
                                                          or error.get("input") is None):
        rule = SMART_PART.get(str(rest[0]), "missing")
        return index, GoalProblem(goal_id, field, rule, MISSING_MESSAGE[str(rest[0])])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = f"unknown field {str(rest[-1])!r} (a typo?)"
    return index, GoalProblem(goal_id, field, error["type"], message)


def _duplicate_ids(ids: list[str]) -> list[tuple[int, GoalProblem]]:
    first: dict[str, int] = {}
    found = []
    for index, goal_id in enumerate(ids):
        if goal_id.startswith("#"):
            continue
        if goal_id in first:
            found.append((index, GoalProblem(
                goal_id, "id", "duplicate_id", f"goal #{index + 1} reuses the id of goal "
                f"#{first[goal_id] + 1}: attainment history is kept per id")))
        else:
            first[goal_id] = index
    return found


def _with_defaults(goal: Goal, kpis: Mapping[str, Kpi]) -> Goal:
    if goal.leading_indicators is not None:
        return goal
    defaults = default_leading_indicators(kpis[goal.kpi], goal.scope, kpis)
    return goal.model_copy(update={"leading_indicators": defaults})

