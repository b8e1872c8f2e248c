"""The goals file's schema: what a goal is, as pydantic models.

A goal is SMART (DOMAIN.md): specific (one catalogue KPI, one scope), measurable (a numeric
target), time-bound (a window, see ``windows``) and relevant (the business objective and
funnel stage it serves). These models check the shape of each goal on its own; the checks
that need the KPI catalogue are in ``rules`` and run from ``loading``.

``fingerprint`` is here because it is a fact about a goal alone: what it measures and
against what, so a change of KPI or target in the middle of a window shows in its history.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kpi_pipeline.lib.goals.windows import Period, Window

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

ADDITIVE_TARGETS = ("total", "per_period")  # they sum the KPI over days
SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
# Parts of a scope key, as kpi_pipeline.lib.kpis.compute.SCOPE_KEY writes them.
KEY_PARTS = {"account": ("platform", "account_id"),
             "campaign": ("platform", "ad_account_id", "campaign_id")}

# allow_inf_nan=False: a target of .inf or .nan is a problem naming the field, not a goal
# no attainment can ever reach.
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    """A recurring target in every week, month or quarter of the window (30 leads per
    month)."""

    model_config = _STRICT
    type: Literal["per_period"]
    value: float = Field(gt=0)
    period: Literal["week", "month", "quarter"]


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
