"""The goals file a marketer writes, checked against the KPI catalogue.

A goal is SMART (DOMAIN.md): specific (one catalogue KPI, one scope), measurable (a numeric
target), time-bound (a window) and relevant (the business objective and funnel stage it
serves). The pydantic models check the shape of each goal. ``load_goals`` adds the checks
that need the catalogue (an unknown KPI, a KPI of another funnel stage, a scope the KPI is
not computed for, a total on a ratio) and reports every problem of every goal in one
``GoalsError``: a marketer fixes the file in one pass, not one error per run.

Warnings never stop a run: a vanity-metric KPI, more KPIs for one objective than a team can
follow, a target that moves a KPI the wrong way. ``plausibility`` judges a target against
the baseline that the attainment code measures; ``fingerprint`` identifies what a goal
measures so a change of KPI or target in the middle of a window shows in its history.

Windows are inclusive date ranges. ``next_N_days`` counts the reference day as day one
(from 2025-05-14, ``next_60_days`` ends on 2025-07-12), as ``start`` + ``days`` does.
"""

from __future__ import annotations

import calendar
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kpi_pipeline.lib.kpis.catalog import STAGES, Kpi, catalog

T = TypeVar("T")

Objective = Literal["revenue_growth", "lead_generation", "brand_awareness",
                    "customer_retention", "product_demand"]
Stage = Literal["awareness", "engagement", "traffic", "lead_generation", "revenue", "retention"]
ScopeKind = Literal["all", "brand", "platform", "account", "campaign", "media_type"]

# The funnel stages whose KPIs can show progress toward each business objective. Revenue
# growth includes retention: revenue from returning customers is revenue, and growth
# plans often rest on repeat purchases. Customer retention includes revenue for the same
# reason seen from the other side (average order value and lifetime value of the customers
# kept). Product demand is the top of the funnel up to the visit.
OBJECTIVE_STAGES: dict[str, tuple[str, ...]] = {
    "revenue_growth": ("revenue", "retention"),
    "lead_generation": ("lead_generation", "traffic"),
    "brand_awareness": ("awareness", "engagement"),
    "customer_retention": ("retention", "revenue"),
    "product_demand": ("traffic", "engagement", "awareness"),
}

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

ADDITIVE_TARGETS = ("total", "per_period")  # they sum the KPI over days
SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
NEXT_DAYS = re.compile(r"next_(\d+)_days")
RELATIVE_WINDOWS = ("this_quarter", "next_quarter", "this_month", "next_month", "next_N_days")
# Parts of a scope key, as kpi_pipeline.lib.kpis.compute.SCOPE_KEY writes them.
KEY_PARTS = {"account": ("platform", "account_id"),
             "campaign": ("platform", "ad_account_id", "campaign_id")}
# Account ids belong to one kind of source: an ad account has no organic posts.
SOURCE_FAMILY = {"post_activity": "social", "account": "social", "ads": "ads",
                 "ads_web": "ads", "web": "web", "email": "email"}

_STRICT = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------- windows
class Period(NamedTuple):
    """A concrete window: first and last day, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _month(day: date) -> Period:
    last = calendar.monthrange(day.year, day.month)[1]
    return Period(day.replace(day=1), day.replace(day=last))


def _quarter(day: date) -> Period:
    first_month = 3 * ((day.month - 1) // 3) + 1
    return Period(date(day.year, first_month, 1), _month(date(day.year, first_month + 2, 1)).end)


def resolve_relative(name: str, reference: date) -> Period:
    """A relative window on the calendar around ``reference``.

    Calendar months and quarters, because marketers review by month and quarter;
    ``next_N_days`` starts on the reference day itself (day one of N)."""
    if name == "this_month":
        return _month(reference)
    if name == "next_month":
        return _month(_month(reference).end + timedelta(days=1))
    if name == "this_quarter":
        return _quarter(reference)
    if name == "next_quarter":
        return _quarter(_quarter(reference).end + timedelta(days=1))
    match = NEXT_DAYS.fullmatch(name)
    if match and int(match.group(1)) >= 1:
        return Period(reference, reference + timedelta(days=int(match.group(1)) - 1))
    raise ValueError(f"unknown relative window {name!r}: use one of "
                     f"{', '.join(RELATIVE_WINDOWS)} (N >= 1)")


class Window(BaseModel):
    """When a goal runs: ``start`` + ``end``, ``start`` + ``days``, or ``relative``
    (+ ``as_of``). Resolved once, at validation, against ``as_of`` or the ``today`` of
    the validation context, so every later reader sees the same dates."""

    model_config = _STRICT

    start: date | None = None
    end: date | None = None
    days: int | None = Field(default=None, ge=1)
    relative: str | None = None
    as_of: date | None = None
    _period: Period | None = PrivateAttr(default=None)

    @field_validator("relative")
    @classmethod
    def _known_relative(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                resolve_relative(value, date(2000, 1, 1))
            except ValueError as exc:
                raise PydanticCustomError("relative_window", str(exc)) from None
        return value

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Window:
        given = tuple(name for name in ("start", "end", "days", "relative", "as_of")
                      if getattr(self, name) is not None)
        if given not in (("start", "end"), ("start", "days"), ("relative",),
                         ("relative", "as_of")):
            raise PydanticCustomError(
                "window_form", "a window is start and end, start and days, or relative "
                f"(with an optional as_of); got {', '.join(given) or 'nothing'}")
        if self.start and self.end and self.end < self.start:
            raise PydanticCustomError("end_before_start",
                                      f"end {self.end} is before start {self.start}")
        today = (info.context or {}).get("today")
        if self.relative and self.as_of is None and today is None:
            raise PydanticCustomError("no_reference_date", "a relative window without as_of "
                                      "needs the reference date (load_goals' today)")
        self._period = self.resolve(today)
        return self

    def resolve(self, today: date | None) -> Period:
        """The concrete, inclusive dates; ``today`` matters only to a relative window
        without ``as_of``."""
        if self.start and self.end:
            return Period(self.start, self.end)
        if self.start and self.days:
            return Period(self.start, self.start + timedelta(days=self.days - 1))
        reference = self.as_of or today
        if self.relative is None or reference is None:
            raise ValueError("the window has no dates and no reference date to resolve")
        return resolve_relative(self.relative, reference)

    @property
    def period(self) -> Period:
        if self._period is None:
            raise ValueError("window not validated: use Window.model_validate or load_goals")
        return self._period


# ------------------------------------------------------------------------------ scope
class Scope(BaseModel):
    """Where a goal is measured, as the KPI tables key it: (scope, scope_key)."""

    model_config = _STRICT

    kind: ScopeKind
    key: str | None = None

    @model_validator(mode="after")
    def _key_fits_kind(self) -> Scope:
        problem = _scope_key_problem(self.kind, self.key)
        if problem:
            raise PydanticCustomError("malformed_scope", problem)
        return self

    @property
    def scope_key(self) -> str:
        """The KPI tables' ``scope_key``: 'all' for the all scope, the key otherwise."""
        return "all" if self.kind == "all" else str(self.key)

    @property
    def platform(self) -> str | None:
        """The platform a platform, account or campaign scope is on."""
        if self.kind in ("platform", "account", "campaign"):
            return str(self.key).split("/")[0]
        return None


def _scope_key_problem(kind: str, key: str | None) -> str | None:
    if kind == "all":
        return None if key in (None, "all") else f"scope kind 'all' takes no key (got {key!r})"
    parts = KEY_PARTS.get(kind, (kind,))
    shape = "/".join(f"<{part}>" for part in parts)
    if key is None or not key.strip():
        return f"scope kind {kind!r} needs a key ({shape})"
    pieces = key.split("/")
    if key != key.strip() or len(pieces) != len(parts) or not all(pieces):
        return f"scope key {key!r} does not read {shape}, as scope kind {kind!r} needs"
    return None


# ----------------------------------------------------------------------------- targets
class TotalTarget(BaseModel):
    """An absolute total over the window (300 subscribers in 90 days): additive KPIs."""

    model_config = _STRICT
    type: Literal["total"]
    value: float = Field(gt=0)


class LevelTarget(BaseModel):
    """A level to reach or hold over the window (engagement rate at least 0.05)."""

    model_config = _STRICT
    type: Literal["level"]
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> LevelTarget:
        if (self.at_least is None) == (self.at_most is None):
            raise PydanticCustomError("level_bound", "a level target has exactly one of "
                                      "at_least and at_most")
        return self

    @property
    def bound(self) -> float:
        """The one bound given (the validator makes sure there is exactly one)."""
        return self.at_least if self.at_least is not None else float(self.at_most or 0.0)


class ChangeTarget(BaseModel):
    """A relative change against the goal's baseline: 0.30 is +30 %, -0.10 is -10 %."""

    model_config = _STRICT
    type: Literal["change"]
    by: float = Field(gt=-1, description="a fraction: -1 would be the KPI at zero")

    @field_validator("by")
    @classmethod
    def _not_zero(cls, value: float) -> float:
        if value == 0:
            raise PydanticCustomError("change_zero", "a change of 0 is not a target: "
                                      "to hold a level use a level target")
        return value


class PerPeriodTarget(BaseModel):
    """A recurring target in every week or month of the window (30 leads per month)."""

    model_config = _STRICT
    type: Literal["per_period"]
    value: float = Field(gt=0)
    period: Literal["week", "month"]


Target = Annotated[TotalTarget | LevelTarget | ChangeTarget | PerPeriodTarget,
                   Field(discriminator="type")]
TARGET_TYPES = ("total", "level", "change", "per_period")


# ------------------------------------------------------------------------------- goals
class Goal(BaseModel):
    """One SMART goal as the marketer wrote it, with its window resolved.

    Validated alone it checks its own shape; ``load_goals`` also checks it against the
    catalogue and fills ``leading_indicators``."""

    model_config = _STRICT

    id: str
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    objective: Objective
    stage: Stage
    kpi: str
    scope: Scope
    target: Target
    window: Window
    leading_indicators: tuple[str, ...] | None = None
    baseline_weeks: int = Field(default=12, ge=1, le=104)
    owner: str | None = None
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.fullmatch(value):
            raise PydanticCustomError("slug", "a goal id is a slug: lower-case letters and "
                                      f"digits joined by - or _ (got {value!r})")
        return value

    @property
    def period(self) -> Period:
        return self.window.period

    @property
    def start(self) -> date:
        return self.window.period.start

    @property
    def end(self) -> date:
        return self.window.period.end


class GoalFileSettings(BaseModel):
    """Thresholds of the warnings; a goals file may override them."""

    model_config = _STRICT

    max_kpis_per_objective: int = Field(default=3, ge=1)
    implausible_relative_change: float = Field(default=0.5, gt=0)
    implausible_level_ratio: float = Field(default=2.0, gt=1)


class GoalsFile(BaseModel):
    model_config = _STRICT

    settings: GoalFileSettings = Field(default_factory=GoalFileSettings)
    goals: list[Goal] = Field(min_length=1)


# ----------------------------------------------------------------- problems, warnings
@dataclass(frozen=True)
class _Finding:
    goal_id: str | None  # None: the file as a whole; '#3': the third goal, which has no id
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        if self.goal_id is None:
            where = "file"
        elif self.goal_id.startswith("#"):
            where = f"goal {self.goal_id}"
        else:
            where = f"goal {self.goal_id!r}"
        return f"{where}: field {self.field!r}: {self.message} [{self.rule}]"


@dataclass(frozen=True)
class GoalProblem(_Finding):
    """A reason the goals file is rejected.

    Rules: specific, measurable, time_bound, relevant (a missing SMART part); missing (id,
    title); unknown_kpi, malformed_scope, scope_kind, scope_platform, unknown_scope,
    objective_stage, stage_mismatch, not_additive, grain, window_form, end_before_start,
    relative_window, no_reference_date, level_bound, change_zero, slug, duplicate_id,
    yaml; any other pydantic error keeps pydantic's type (literal_error, extra_forbidden,
    union_tag_invalid, greater_than, ...)."""


@dataclass(frozen=True)
class GoalWarning(_Finding):
    """Something a marketer should reconsider; never stops a run.

    Rules: vanity_metric, max_kpis_per_objective, direction (load time);
    implausible_change, implausible_level (``plausibility``, against a baseline)."""


class GoalsError(ValueError):
    """The goals file is invalid; ``problems`` holds every problem, one line each."""

    def __init__(self, source: str, problems: list[GoalProblem]):
        self.problems = problems
        lines = "\n".join(str(problem) for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the goals file\n{lines}")


@dataclass(frozen=True)
class ValidatedGoals:
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
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
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


def plausibility(goal: Goal, baseline_value: float | None, settings: GoalFileSettings | None = None,
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


# ---------------------------------------------------------------------- fingerprint
def fingerprint(goal: Goal) -> str:
    """sha256 of the canonical JSON of what the goal measures and against what.

    KPI, scope, target, resolved window, objective, stage and the baseline length (a
    change target is judged against that baseline); not the title, owner or notes, which
    can be reworded without moving the goalposts."""
    payload = {
        "version": 1,
        "kpi": goal.kpi,
        "scope": {"kind": goal.scope.kind, "key": goal.scope.scope_key},
        "target": goal.target.model_dump(mode="json"),
        "window": {"start": goal.start.isoformat(), "end": goal.end.isoformat()},
        "objective": goal.objective,
        "stage": goal.stage,
        "baseline_weeks": goal.baseline_weeks,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
