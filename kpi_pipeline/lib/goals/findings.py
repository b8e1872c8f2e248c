"""What is wrong with a goals file, said so a marketer can fix it.

Two kinds, one shape (the goal, the field, the rule, a message): a ``GoalProblem``
rejects the file (``GoalsError`` carries every one of them at once), a ``GoalWarning``
only advises. Their own module because both the loading and the rules make them, and the
attainment tables and the scorecard show them.
"""

from __future__ import annotations

from dataclasses import dataclass


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

