"""The rules a goal is judged by against the KPI catalogue.

Problems (they reject the file): the checks pydantic cannot make alone, because they need
the catalogue or the data (an unknown KPI, a KPI of another funnel stage, a scope the KPI
is not computed for, a total on a ratio). Warnings never stop a run: a vanity-metric KPI,
more KPIs for one objective than a team can follow, a target that moves a KPI the wrong
way; ``plausibility`` judges a target against the baseline that the attainment code
measures. And the default leading indicators of a goal that names none.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from kpi_pipeline.lib.goals.findings import GoalProblem, GoalWarning
from kpi_pipeline.lib.goals.schema import (
    ADDITIVE_TARGETS,
    KEY_PARTS,
    OBJECTIVE_STAGES,
    ChangeTarget,
    Goal,
    GoalFileSettings,
    LevelTarget,
    Objective,
    PerPeriodTarget,
    Scope,
    Stage,
    Target,
    TotalTarget,
)
from kpi_pipeline.lib.kpis.catalog import STAGES, Kpi, catalog

T = TypeVar("T")

# Account ids belong to one kind of source: an ad account has no organic posts.
SOURCE_FAMILY = {"post_activity": "social", "account": "social", "ads": "ads",
                 "ads_web": "ads", "web": "web", "email": "email"}

# ---------------------------------------------------------------- catalogue checks
_OBJECTIVE: TypeAdapter[str] = TypeAdapter(Objective)
_STAGE: TypeAdapter[str] = TypeAdapter(Stage)
_SCOPE: TypeAdapter[Scope] = TypeAdapter(Scope)
_TARGET: TypeAdapter[TotalTarget | LevelTarget | ChangeTarget | PerPeriodTarget] = (
    TypeAdapter(Target))
_NAMES: TypeAdapter[tuple[str, ...]] = TypeAdapter(tuple[str, ...])


def _valid(adapter: TypeAdapter[T], raw: Mapping[str, Any], name: str) -> T | None:
    """A field of a raw goal if it is valid on its own, else None: the cross-checks run on
    every part that is well formed even when another part of the goal is not."""
    try:
        return adapter.validate_python(raw.get(name))
    except ValidationError:
        return None


def catalogue_problems(goal_id: str, raw: Mapping[str, Any], kpis: Mapping[str, Kpi],
                       known_scopes: set[tuple[str, str]] | None) -> list[GoalProblem]:
    """The checks pydantic cannot make alone: those that need the catalogue or the data."""
    name = raw.get("kpi")
    kpi = kpis.get(name) if isinstance(name, str) else None
    found: list[tuple[str, str, str]] = []
    if isinstance(name, str) and kpi is None:
        found.append(("kpi", "unknown_kpi", _unknown_kpi(name, kpis)))
    found += _stage_problems(_valid(_OBJECTIVE, raw, "objective"), _valid(_STAGE, raw, "stage"),
                             kpi)
    scope = _valid(_SCOPE, raw, "scope")
    if scope is not None:
        found += _scope_problems(scope, kpi, known_scopes)
    target = _valid(_TARGET, raw, "target")
    if target is not None and kpi is not None:
        found += _target_problems(target, kpi)
    for indicator in _valid(_NAMES, raw, "leading_indicators") or ():
        if indicator not in kpis:
            found.append(("leading_indicators", "unknown_kpi", _unknown_kpi(indicator, kpis)))
    return [GoalProblem(goal_id, field, rule, message) for field, rule, message in found]


def _unknown_kpi(name: str, kpis: Mapping[str, Kpi]) -> str:
    close = difflib.get_close_matches(name, list(kpis), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown KPI {name!r}: not in the KPI catalogue{hint}"


def _stage_problems(objective: str | None, stage: str | None,
                    kpi: Kpi | None) -> list[tuple[str, str, str]]:
    found = []
    served = OBJECTIVE_STAGES.get(objective or "", ())
    if objective and stage and stage not in served:
        found.append(("stage", "objective_stage", f"stage {stage!r} does not serve objective "
                      f"{objective!r} (its stages: {', '.join(served)})"))
    if kpi is not None and stage and kpi.stage != stage:
        found.append(("stage", "stage_mismatch", f"KPI {kpi.name!r} measures the {kpi.stage!r} "
                      f"stage, not {stage!r}: a goal is judged only by a KPI of its stage"))
    if objective and kpi is not None and kpi.stage != stage and kpi.stage not in served:
        found.append(("kpi", "objective_stage", f"KPI {kpi.name!r} measures the {kpi.stage!r} "
                      f"stage, which does not serve objective {objective!r} "
                      f"(its stages: {', '.join(served)})"))
    return found


def _scope_problems(scope: Scope, kpi: Kpi | None,
                    known_scopes: set[tuple[str, str]] | None) -> list[tuple[str, str, str]]:
    found = []
    if kpi is not None and scope.kind not in kpi.computed_scopes:
        found.append(("scope", "scope_kind", f"KPI {kpi.name!r} is not computed for scope "
                      f"kind {scope.kind!r} (only {', '.join(kpi.computed_scopes)})"))
    elif kpi is not None and scope.platform and scope.platform not in kpi.platforms:
        found.append(("scope", "scope_platform", f"KPI {kpi.name!r} is defined on "
                      f"{', '.join(kpi.platforms)}, not on {scope.platform!r}"))
    if (known_scopes is not None and scope.kind != "all"
            and (scope.kind, scope.scope_key) not in known_scopes):
        same_kind = sorted(key for kind, key in known_scopes if kind == scope.kind)
        listed = ", ".join(same_kind[:8]) + (", ..." if len(same_kind) > 8 else "")
        found.append(("scope", "unknown_scope", f"no {scope.kind} {scope.scope_key!r} in the "
                      f"data (known: {listed or 'none'})"))
    return found


def _target_problems(target: TotalTarget | LevelTarget | ChangeTarget | PerPeriodTarget,
                     kpi: Kpi) -> list[tuple[str, str, str]]:
    found = []
    if target.type in ADDITIVE_TARGETS and not kpi.additive:
        found.append(("target", "not_additive", f"a {target.type} target adds the KPI up over "
                      f"time, but {kpi.name!r} ({kpi.unit}) is not additive: use a level or a "
                      "change target"))
    if isinstance(target, PerPeriodTarget) and target.period not in kpi.grains:
        found.append(("target", "grain", f"{kpi.name!r} is computed per "
                      f"{', '.join(kpi.grains)}, not per {target.period}"))
    return found


# ----------------------------------------------------------------------- defaults
def _fits_scope(candidate: Kpi, scope: Scope, goal_kpi: Kpi) -> bool:
    """Whether ``candidate`` has rows at the goal's scope (kind, platform, account type)."""
    if scope.kind not in candidate.computed_scopes:
        return False
    if scope.platform is not None and scope.platform not in candidate.platforms:
        return False
    return scope.kind not in KEY_PARTS or (
        SOURCE_FAMILY[candidate.source] == SOURCE_FAMILY[goal_kpi.source])


def default_leading_indicators(kpi: Kpi, scope: Scope,
                               kpis: Mapping[str, Kpi]) -> tuple[str, ...]:
    """Leading, non-vanity KPIs of the goal's stage and of the nearest earlier stage that
    has any, computed at the goal's scope: they move before the goal's KPI does.

    The nearest earlier stage *that has any*, because lead generation has no leading KPI in
    the catalogue: a revenue goal is led by traffic (click-through rate, sessions)."""
    candidates = [k for k in kpis.values() if k.indicator == "leading" and not k.vanity
                  and k.name != kpi.name and _fits_scope(k, scope, kpi)]
    by_stage = {stage: [k.name for k in candidates if k.stage == stage] for stage in STAGES}
    earlier = STAGES[:STAGES.index(kpi.stage)]
    before = next((by_stage[stage] for stage in reversed(earlier) if by_stage[stage]), [])
    return (*by_stage[kpi.stage], *before)


# ----------------------------------------------------------------------- warnings
def goal_warnings(goals: Iterable[Goal], settings: GoalFileSettings,
                  kpis: Mapping[str, Kpi]) -> list[GoalWarning]:
    """Warnings about validated goals, in file order, then per objective."""
    goals = list(goals)
    found: list[GoalWarning] = []
    for goal in goals:
        kpi = kpis[goal.kpi]
        if kpi.vanity:
            found.append(_vanity_warning(goal, kpi, kpis))
        direction = _direction_warning(goal, kpi)
        if direction is not None:
            found.append(direction)
    return found + _focus_warnings(goals, settings)


def _vanity_warning(goal: Goal, kpi: Kpi, kpis: Mapping[str, Kpi]) -> GoalWarning:
    better = [k.name for k in kpis.values() if k.stage == kpi.stage and not k.vanity
              and _fits_scope(k, goal.scope, kpi)]
    instead = f"; at this scope consider {', '.join(better)}" if better else ""
    return GoalWarning(goal.id, "kpi", "vanity_metric", f"{kpi.name} is a vanity metric: it "
                       f"can look good and say little about business value{instead}")


def _direction_warning(goal: Goal, kpi: Kpi) -> GoalWarning | None:
    """A target that makes the KPI worse: a budget cap may mean it, a typo often does."""
    target, higher = goal.target, kpi.direction == "higher"
    if isinstance(target, ChangeTarget) and (target.by > 0) != higher:
        wrong = f"a change of {target.by:+.0%}"
    elif isinstance(target, LevelTarget) and (target.at_most is not None) == higher:
        wrong = "an at_most level" if higher else "an at_least level"
    else:
        return None
    return GoalWarning(goal.id, "target", "direction", f"{kpi.name} is better when "
                       f"{kpi.direction}, and {wrong} asks it to get worse")


def _focus_warnings(goals: list[Goal], settings: GoalFileSettings) -> list[GoalWarning]:
    """One warning per objective tracked by more distinct KPIs than the limit, on the goal
    that went over it: a KPI is one of the few numbers that show progress."""
    limit = settings.max_kpis_per_objective
    names: dict[str, list[str]] = {}
    over: dict[str, Goal] = {}
    for goal in goals:
        seen = names.setdefault(goal.objective, [])
        if goal.kpi not in seen:
            seen.append(goal.kpi)
            if len(seen) == limit + 1:
                over[goal.objective] = goal
    return [GoalWarning(goal.id, "kpi", "max_kpis_per_objective",
                        f"objective {objective!r} is tracked by {len(names[objective])} KPIs "
                        f"({', '.join(names[objective])}); keep the few that show progress "
                        f"(rule: at most {limit} KPIs per objective)")
            for objective, goal in over.items()]


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def plausibility(goal: Goal, baseline_value: float | None,
                 settings: GoalFileSettings | None = None,
                 kpis: Mapping[str, Kpi] | None = None) -> GoalWarning | None:
    """A warning when the target is far from the goal's baseline, else None.

    Judges change targets (against ``implausible_relative_change``; the baseline only
    adds numbers to the message) and level targets (against ``implausible_level_ratio``
    in the KPI's better direction; needs a baseline above zero). Total and per-period
    targets are not judged: their baseline would need the window's length and grain."""
    settings = settings or GoalFileSettings()
    target = goal.target
    if isinstance(target, ChangeTarget):
        return _change_plausibility(goal, target, baseline_value, settings)
    if isinstance(target, LevelTarget) and baseline_value is not None and baseline_value > 0:
        direction = (kpis if kpis is not None else catalog())[goal.kpi].direction
        return _level_plausibility(goal, target, baseline_value, direction, settings)
    return None


def _change_plausibility(goal: Goal, target: ChangeTarget, baseline: float | None,
                         settings: GoalFileSettings) -> GoalWarning | None:
    limit = settings.implausible_relative_change
    if abs(target.by) <= limit:
        return None
    moves = ("" if baseline is None else
             f" takes the baseline {_number(baseline)} to {_number(baseline * (1 + target.by))}")
    return GoalWarning(goal.id, "target", "implausible_change", f"target change "
                       f"{target.by:+.0%}{moves} (rule: change target beyond ±{limit:.0%} "
                       "of baseline)")


def _level_plausibility(goal: Goal, target: LevelTarget, baseline: float, direction: str,
                        settings: GoalFileSettings) -> GoalWarning | None:
    limit, ratio = settings.implausible_level_ratio, target.bound / baseline
    if direction == "higher" and ratio > limit:
        rule = f"level target beyond {limit:.1f}x baseline"
    elif direction == "lower" and ratio < 1 / limit:
        rule = f"level target below baseline / {limit:.1f}"
    else:
        return None
    return GoalWarning(goal.id, "target", "implausible_level", f"target "
                       f"{_number(target.bound)} is {ratio:.2g}x the baseline "
                       f"{_number(baseline)} (rule: {rule})")

