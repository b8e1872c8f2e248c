"""The goals file: the shipped example, every validation error and warning, windows and
fingerprints.

Why: a marketer writes this file by hand. Every rejection must say which goal and which
field is wrong and why (which SMART part is missing, which catalogue rule is broken), all
at once; and what a goal measures must not change silently, which the fingerprint guards.
Each case below is inline YAML: the good goal of ``goal()`` with one field changed.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from kpi_pipeline.lib.goals.findings import GoalsError
from kpi_pipeline.lib.goals.loading import ValidatedGoals, load_goals
from kpi_pipeline.lib.goals.rules import default_leading_indicators, plausibility
from kpi_pipeline.lib.goals.schema import (
    OBJECTIVE_STAGES,
    Goal,
    GoalFileSettings,
    Scope,
    Stage,
    fingerprint,
)
from kpi_pipeline.lib.goals.windows import Window, resolve_relative
from kpi_pipeline.lib.kpis.catalog import STAGES, catalog
from kpi_pipeline.lib.sources.demo.world import World

EXAMPLE = Path(__file__).resolve().parents[2] / "kpi_pipeline" / "data" / "goals.example.yaml"
TODAY = date(2025, 5, 14)

# A valid goal, one inline-YAML value per field; ``goal()`` replaces or drops fields.
BASE = {
    "title": "Engagement rate of at least 5 % on Instagram",
    "objective": "brand_awareness",
    "stage": "engagement",
    "kpi": "engagement_rate",
    "scope": "{kind: platform, key: instagram}",
    "target": "{type: level, at_least: 0.05}",
    "window": "{start: 2025-07-01, end: 2025-09-30}",
}


def goal(goal_id: str | None = "er-instagram", **fields: str | None) -> str:
    """The YAML of one goal: BASE with ``fields`` replaced; a field set to None is left out."""
    values = {"id": goal_id, **BASE, **fields}
    lines = [f"{name}: {value}" for name, value in values.items() if value is not None]
    return "  - " + "\n    ".join(lines) + "\n"


def load(tmp_path: Path, *goals: str, settings: str = "", today: date = TODAY,
         **kwargs: object) -> ValidatedGoals:
    path = tmp_path / "goals.yaml"
    path.write_text(f"{settings}goals:\n{''.join(goals)}", encoding="utf-8")
    return load_goals(path, today, **kwargs)


def problems(tmp_path: Path, *goals: str, **kwargs: object) -> GoalsError:
    with pytest.raises(GoalsError) as caught:
        load(tmp_path, *goals, **kwargs)
    return caught.value


def assert_reported(error: GoalsError, goal_id: str | None, field: str, rule: str) -> str:
    """The line naming this goal, field and rule, both in the message and in .problems."""
    where = "file" if goal_id is None else (
        f"goal {goal_id}" if goal_id.startswith("#") else f"goal {goal_id!r}")
    lines = [line for line in str(error).splitlines()
             if line.startswith(f"{where}: field {field!r}: ") and line.endswith(f"[{rule}]")]
    assert lines, f"no ({goal_id}, {field}, {rule}) in:\n{error}"
    assert any((p.goal_id, p.field, p.rule) == (goal_id, field, rule) for p in error.problems)
    return lines[0]


def demo_scopes() -> set[tuple[str, str]]:
    """The (scope, scope_key) pairs the default demo world's KPI tables hold."""
    world = World(n_brands=4, today=date(2026, 11, 20))
    scopes = {("brand", b.key) for b in world.brands}
    scopes |= {("platform", p) for p in ("facebook", "instagram", "linkedin", "tiktok", "meta")}
    kinds = ("facebook_page", "instagram_account", "linkedin_organization", "tiktok_account",
             "meta_ad_account", "linkedin_ad_account", "tiktok_advertiser")
    for kind in kinds:
        for account in world.accounts(kind):
            scopes.add(("account", f"{account.platform}/{account.account_id}"))
    for brand in world.brands:
        account = brand.account("meta_ad_account").account_id
        scopes |= {("campaign", f"meta/{account}/{c.campaign_id}")
                   for c in world.campaigns(brand, "meta")}
    return scopes


# ------------------------------------------------------------------ shipped example
def test_the_shipped_example_loads_with_two_known_warnings() -> None:
    loaded = load_goals(EXAMPLE, TODAY, known_scopes=demo_scopes())
    assert len(loaded.goals) == 10
    assert [(w.goal_id, w.field, w.rule) for w in loaded.warnings] == [
        ("linkedin-organic-reach", "kpi", "vanity_metric"),
        ("qualified-leads-monthly", "kpi", "max_kpis_per_objective"),
    ]
    for item in loaded.goals:
        assert date(2025, 1, 1) <= item.start <= item.end <= date(2026, 10, 31), item.id
        assert item.leading_indicators, item.id
        assert catalog()[item.kpi].stage == item.stage
    # this_quarter / this_month without as_of move with the day they are read on; the
    # pinned windows do not
    later = load_goals(EXAMPLE, date(2030, 1, 1))
    assert loaded.goal("social-traffic-q1").period == (date(2025, 4, 1), date(2025, 6, 30))
    assert later.goal("social-traffic-q1").period == (date(2030, 1, 1), date(2030, 3, 31))
    assert later.goal("instagram-engagement-rate").period == (date(2030, 1, 1),
                                                             date(2030, 1, 31))
    for pinned in ("email-subscribers-90d", "linkedin-cost-per-lead",
                   "facebook-spring-sale-clicks", "black-friday-cost-per-purchase"):
        assert later.goal(pinned) == loaded.goal(pinned), pinned
    assert loaded.goal("linkedin-cost-per-lead").period == (date(2025, 9, 1),
                                                           date(2025, 10, 30))


def test_the_example_expresses_the_domain_target_kinds() -> None:
    loaded = load_goals(EXAMPLE, TODAY)
    kinds = {item.id: (item.kpi, item.target.type) for item in loaded.goals}
    assert kinds["email-subscribers-90d"] == ("email_opt_ins", "total")
    assert kinds["booked-calls-monthly"] == ("booked_calls", "per_period")
    assert kinds["instagram-engagement-rate"] == ("engagement_rate", "level")
    assert kinds["black-friday-cost-per-purchase"] == ("cost_per_purchase", "change")
    assert loaded.goal("email-subscribers-90d").period.days == 90


# ----------------------------------------------------------------- errors, one by one
@pytest.mark.parametrize(("field", "rule"), [
    ("kpi", "specific"), ("scope", "specific"), ("target", "measurable"),
    ("window", "time_bound"), ("objective", "relevant"), ("stage", "relevant"),
    ("title", "missing"),
])
def test_a_missing_smart_part_is_named(tmp_path: Path, field: str, rule: str) -> None:
    error = problems(tmp_path, goal(**{field: None}))
    line = assert_reported(error, "er-instagram", field, rule)
    assert line.split(": ", 2)[2].startswith(f"no {field if field != 'kpi' else 'KPI'}")


def test_a_null_target_is_not_measurable(tmp_path: Path) -> None:
    assert_reported(problems(tmp_path, goal(target="null")), "er-instagram", "target",
                    "measurable")


def test_a_goal_without_id_is_named_by_position(tmp_path: Path) -> None:
    error = problems(tmp_path, goal("first"), goal(None))
    assert_reported(error, "#2", "id", "missing")


@pytest.mark.parametrize(("fields", "field", "rule", "says"), [
    ({"kpi": "engagment_rate"}, "kpi", "unknown_kpi", "did you mean engagement_rate"),
    ({"scope": "{kind: account, key: '178414107919'}"}, "scope", "malformed_scope",
     "<platform>/<account_id>"),
    ({"scope": "{kind: brand}"}, "scope", "malformed_scope", "needs a key"),
    ({"scope": "{kind: all, key: northwind}"}, "scope", "malformed_scope", "takes no key"),
    ({"scope": "{kind: country, key: fr}"}, "scope.kind", "literal_error", "'media_type'"),
    ({"scope": "{kind: campaign, key: meta/act_1/2}"}, "scope", "scope_kind",
     "not computed for scope kind 'campaign'"),
    ({"scope": "{kind: platform, key: meta}"}, "scope", "scope_platform", "not on 'meta'"),
    ({"objective": "brand_positioning"}, "objective", "literal_error", "revenue_growth"),
    ({"objective": "revenue_growth"}, "stage", "objective_stage",
     "does not serve objective 'revenue_growth'"),
    ({"stage": "awareness"}, "stage", "stage_mismatch", "measures the 'engagement' stage"),
    ({"window": "{start: 2025-09-30, end: 2025-07-01}"}, "window", "end_before_start",
     "end 2025-07-01 is before start 2025-09-30"),
    ({"window": "{start: 2025-07-01}"}, "window", "window_form", "got start"),
    ({"window": "{start: 2025-07-01, end: 2025-07-31, days: 31}"}, "window", "window_form",
     "got start, end, days"),
    ({"window": "{start: 2025-07-01, days: 0}"}, "window.days", "greater_than_equal", "1"),
    ({"window": "{relative: next_quarters}"}, "window.relative", "relative_window",
     "next_N_days"),
    ({"window": "{relative: next_0_days}"}, "window.relative", "relative_window",
     "1 <= N <= 36525"),
    ({"target": "{type: total, value: 1000}"}, "target", "not_additive",
     "'engagement_rate' (ratio) is not additive"),
    ({"target": "{type: per_period, value: 0.05, period: month}"}, "target", "not_additive",
     "not additive"),
    ({"target": "{type: level, at_least: 0.05, at_most: 0.08}"}, "target", "level_bound",
     "exactly one"),
    ({"target": "{type: level}"}, "target", "level_bound", "exactly one"),
    ({"target": "{type: change, by: 0}"}, "target.by", "change_zero", "level target"),
    ({"target": "{type: change, by: -1.2}"}, "target.by", "greater_than", "-1"),
    ({"target": "{type: share, value: 0.05}"}, "target", "union_tag_invalid", "'share'"),
    ({"target": "{type: per_period, value: 3, period: year}"}, "target.period",
     "literal_error", "'quarter'"),
    ({"leading_indicators": "[saves, watchtime]"}, "leading_indicators", "unknown_kpi",
     "'watchtime'"),
    ({"baseline_weeks": "0"}, "baseline_weeks", "greater_than_equal", "1"),
    ({"targt": "{type: change, by: 0.1}"}, "targt", "extra_forbidden", "a typo"),
])
def test_each_rule_names_goal_field_and_rule(tmp_path: Path, fields: dict[str, str],
                                             field: str, rule: str, says: str) -> None:
    line = assert_reported(problems(tmp_path, goal(**fields)), "er-instagram", field, rule)
    assert says in line


def test_a_goal_id_is_a_slug(tmp_path: Path) -> None:
    assert_reported(problems(tmp_path, goal("Instagram ER")), "Instagram ER", "id", "slug")


def test_a_kpi_whose_stage_does_not_serve_the_objective(tmp_path: Path) -> None:
    # the declared stage serves brand awareness, but revenue is judged by a revenue KPI
    error = problems(tmp_path, goal(kpi="social_revenue", scope="{kind: brand, key: thames}",
                                    target="{type: change, by: 0.1}"))
    assert_reported(error, "er-instagram", "stage", "stage_mismatch")
    line = assert_reported(error, "er-instagram", "kpi", "objective_stage")
    assert "'revenue' stage, which does not serve objective 'brand_awareness'" in line


def test_an_unknown_brand_is_reported_when_the_scopes_are_known(tmp_path: Path) -> None:
    bad = goal(scope="{kind: brand, key: nortwind}")
    line = assert_reported(problems(tmp_path, bad, known_scopes=demo_scopes()),
                           "er-instagram", "scope", "unknown_scope")
    assert "northwind" in line  # the known brands are listed
    assert load(tmp_path, bad).goals[0].scope.scope_key == "nortwind"  # unknown: kind only


def test_per_period_needs_a_grain_the_kpi_is_computed_at(tmp_path: Path) -> None:
    kpis = dict(catalog())
    kpis["weekly_leads"] = kpis["leads"].model_copy(update={"name": "weekly_leads",
                                                            "grains": ("week",)})
    error = problems(tmp_path, goal(objective="lead_generation", stage="lead_generation",
                                    kpi="weekly_leads", scope="{kind: brand, key: thames}",
                                    target="{type: per_period, value: 30, period: month}"),
                     kpis=kpis)
    assert_reported(error, "er-instagram", "target", "grain")


def test_duplicate_ids(tmp_path: Path) -> None:
    line = assert_reported(problems(tmp_path, goal("same"), goal("other"), goal("same")),
                           "same", "id", "duplicate_id")
    assert "goal #3 reuses the id of goal #1" in line


@pytest.mark.parametrize(("text", "field", "rule"), [
    ("goals: [\n", "(file)", "yaml"),
    ("goals:\n  - id: a\n   title: b\n", "(file)", "yaml"),
    ("", "(file)", "model_type"),
    ("goals: []\n", "goals", "too_short"),
    ("goal:\n  - id: x\n", "goal", "extra_forbidden"),
    ("settings: {max_kpis_per_objective: 0}\ngoals: []\n", "settings.max_kpis_per_objective",
     "greater_than_equal"),
])
def test_file_level_problems(tmp_path: Path, text: str, field: str, rule: str) -> None:
    path = tmp_path / "goals.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GoalsError) as caught:
        load_goals(path, TODAY)
    assert_reported(caught.value, None, field, rule)
    assert str(caught.value).startswith(f"{path}: ")
    assert len(str(caught.value).splitlines()) == 1 + len(caught.value.problems)


# ------------------------------------------------------------------ all at once
def test_every_problem_of_every_goal_is_reported_at_once(tmp_path: Path) -> None:
    error = problems(
        tmp_path,
        goal("no-window", window=None),
        goal("good"),
        goal("ratio-total", target="{type: total, value: 10}"),
        goal("many", kpi="impresions", scope="{kind: account, key: x}", window=None,
             objective="revenue_growth"),
    )
    lines = str(error).splitlines()[1:]
    assert len(lines) == len(error.problems) >= 6
    assert {p.goal_id for p in error.problems} == {"no-window", "ratio-total", "many"}
    assert str(error).splitlines()[0].endswith(f"{len(lines)} problem(s) in the goals file")
    # structural (pydantic) and catalogue problems of one goal come together
    for field, rule in [("kpi", "unknown_kpi"), ("scope", "malformed_scope"),
                        ("window", "time_bound"), ("stage", "objective_stage")]:
        assert_reported(error, "many", field, rule)
    # goal by goal, in file order
    order = [p.goal_id for p in error.problems]
    assert order == sorted(order, key=["no-window", "ratio-total", "many"].index)


def test_a_relative_window_needs_a_reference_date() -> None:
    with pytest.raises(ValidationError, match="no_reference_date"):
        Window.model_validate({"relative": "this_quarter"})


# ------------------------------------------------------------------------- warnings
def test_a_vanity_metric_goal_warns(tmp_path: Path) -> None:
    loaded = load(tmp_path, goal(stage="awareness", kpi="followers",
                                 target="{type: change, by: 0.1}"))
    (warning,) = loaded.warnings
    assert (warning.goal_id, warning.field, warning.rule) == ("er-instagram", "kpi",
                                                              "vanity_metric")
    assert warning.message.startswith("followers is a vanity metric: ")
    assert "follower_growth_rate" in warning.message  # a better KPI of the stage
    assert str(warning).startswith("goal 'er-instagram': field 'kpi': followers is")


def test_too_many_kpis_for_one_objective_warns_once(tmp_path: Path) -> None:
    awareness = "{type: change, by: 0.1}"
    goals = [goal("er"), goal("saves", kpi="saves", target=awareness),
             goal("shares", kpi="shares", target=awareness),
             goal("er-again", target="{type: level, at_least: 0.04}"),
             goal("comments", kpi="comments", target=awareness),
             goal("share-rate", stage="awareness", kpi="share_rate", target=awareness)]
    (warning,) = load(tmp_path, *goals).warnings
    assert (warning.goal_id, warning.field, warning.rule) == ("comments", "kpi",
                                                              "max_kpis_per_objective")
    assert "5 KPIs (engagement_rate, saves, shares, comments, share_rate)" in warning.message
    assert "at most 3 KPIs per objective" in warning.message
    relaxed = "settings: {max_kpis_per_objective: 5}\n"
    assert load(tmp_path, *goals, settings=relaxed).warnings == []


@pytest.mark.parametrize(("fields", "says"), [
    ({"objective": "lead_generation", "stage": "lead_generation", "kpi": "cost_per_lead",
      "scope": "{kind: platform, key: meta}", "target": "{type: change, by: 0.1}"},
     "cost_per_lead is better when lower, and a change of +10%"),
    ({"target": "{type: level, at_most: 0.05}"}, "an at_most level"),
])
def test_a_target_that_makes_the_kpi_worse_warns(tmp_path: Path, fields: dict[str, str],
                                                 says: str) -> None:
    (warning,) = load(tmp_path, goal(**fields)).warnings
    assert (warning.field, warning.rule) == ("target", "direction")
    assert says in warning.message


def test_plausibility_of_a_level_target(tmp_path: Path) -> None:
    er = load(tmp_path, goal(target="{type: level, at_least: 0.08}")).goals[0]
    warning = plausibility(er, 0.015)
    assert warning is not None
    assert (warning.goal_id, warning.field, warning.rule) == ("er-instagram", "target",
                                                              "implausible_level")
    assert warning.message == ("target 0.08 is 5.3x the baseline 0.015 "
                               "(rule: level target beyond 2.0x baseline)")
    assert plausibility(er, 0.05) is None  # 1.6x
    assert plausibility(er, None) is None and plausibility(er, 0.0) is None
    assert plausibility(er, 0.05, GoalFileSettings(implausible_level_ratio=1.5)) is not None


def test_plausibility_of_a_lower_is_better_level(tmp_path: Path) -> None:
    bounce = load(tmp_path, goal(objective="product_demand", stage="traffic",
                                 kpi="bounce_rate", target="{type: level, at_most: 0.2}",
                                 scope="{kind: brand, key: thames}")).goals[0]
    warning = plausibility(bounce, 0.45)
    assert warning is not None and "rule: level target below baseline / 2.0" in warning.message
    assert "0.2 is 0.44x the baseline 0.45" in warning.message
    assert plausibility(bounce, 0.35) is None


def test_plausibility_of_a_change_target(tmp_path: Path) -> None:
    sessions = goal(objective="product_demand", stage="traffic", kpi="landing_page_sessions",
                    scope="{kind: brand, key: northwind}", target="{type: change, by: 0.8}")
    item = load(tmp_path, sessions).goals[0]
    warning = plausibility(item, 1200)
    assert warning is not None and warning.rule == "implausible_change"
    assert warning.message == ("target change +80% takes the baseline 1,200 to 2,160 "
                               "(rule: change target beyond ±50% of baseline)")
    assert plausibility(item, None) is not None  # the change alone is implausible
    assert plausibility(item, 1200, GoalFileSettings(implausible_relative_change=0.9)) is None


def test_plausibility_does_not_judge_totals(tmp_path: Path) -> None:
    total = load(tmp_path, goal(objective="lead_generation", stage="lead_generation",
                                kpi="leads", scope="{kind: brand, key: thames}",
                                target="{type: total, value: 100000}")).goals[0]
    assert plausibility(total, 3.0) is None


# -------------------------------------------------------------------------- windows
@pytest.mark.parametrize(("name", "reference", "start", "end"), [
    ("this_quarter", date(2025, 5, 14), date(2025, 4, 1), date(2025, 6, 30)),
    ("next_quarter", date(2025, 5, 14), date(2025, 7, 1), date(2025, 9, 30)),
    ("next_quarter", date(2025, 11, 20), date(2026, 1, 1), date(2026, 3, 31)),
    ("this_month", date(2024, 2, 10), date(2024, 2, 1), date(2024, 2, 29)),
    ("next_month", date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 31)),
    ("next_60_days", date(2025, 5, 14), date(2025, 5, 14), date(2025, 7, 12)),
    ("next_1_days", date(2025, 5, 14), date(2025, 5, 14), date(2025, 5, 14)),
])
def test_relative_windows(name: str, reference: date, start: date, end: date) -> None:
    assert resolve_relative(name, reference) == (start, end)


def test_next_n_days_counts_today_as_day_one() -> None:
    assert resolve_relative("next_60_days", TODAY).days == 60


def test_start_and_days(tmp_path: Path) -> None:
    item = load(tmp_path, goal(window="{start: 2025-09-01, days: 90}")).goals[0]
    assert item.period == (date(2025, 9, 1), date(2025, 11, 29))
    assert item.period.days == 90


def test_a_relative_window_resolves_against_as_of_or_today(tmp_path: Path) -> None:
    relative = load(tmp_path, goal(window="{relative: this_quarter}")).goals[0]
    assert relative.period == (date(2025, 4, 1), date(2025, 6, 30))  # TODAY: 2025-05-14
    pinned = goal(window="{relative: this_quarter, as_of: 2025-10-02}")
    assert load(tmp_path, pinned).goals[0].period == (date(2025, 10, 1), date(2025, 12, 31))


# ---------------------------------------------------------------------- fingerprint
def test_the_fingerprint_is_stable_across_runs(tmp_path: Path) -> None:
    first = load(tmp_path, goal()).goals[0]
    again = load(tmp_path, goal(target="{type: level, at_least: 5.0e-2}")).goals[0]
    assert fingerprint(first) == fingerprint(again)
    # written out by hand: the hash depends on nothing but the goal (no process salt, no
    # key order), so a history written by one run is matched by the next
    canonical = (
        '{"baseline_weeks":12,"kpi":"engagement_rate","objective":"brand_awareness",'
        '"scope":{"key":"instagram","kind":"platform"},"stage":"engagement",'
        '"target":{"at_least":0.05,"at_most":null,"type":"level"},"version":1,'
        '"window":{"end":"2025-09-30","start":"2025-07-01"}}')
    assert fingerprint(first) == hashlib.sha256(canonical.encode()).hexdigest()
    assert fingerprint(first) == (
        "f28f5325fcac659e091fac428ae3034947d990199a69578405306697bccc5871")


@pytest.mark.parametrize("fields", [
    {"target": "{type: level, at_least: 0.06}"},
    {"kpi": "share_rate", "stage": "awareness"},
    {"scope": "{kind: platform, key: tiktok}"},
    {"window": "{start: 2025-07-01, end: 2025-10-31}"},
    {"objective": "product_demand"},
    {"baseline_weeks": "8"},
])
def test_the_fingerprint_changes_with_what_is_measured(tmp_path: Path,
                                                       fields: dict[str, str]) -> None:
    base = fingerprint(load(tmp_path, goal()).goals[0])
    assert fingerprint(load(tmp_path, goal(**fields)).goals[0]) != base


def test_the_fingerprint_ignores_wording(tmp_path: Path) -> None:
    base = fingerprint(load(tmp_path, goal()).goals[0])
    reworded = goal(title="ER >= 5 % on IG", owner="Social team", notes="reworded",
                    leading_indicators="[saves]")
    assert fingerprint(load(tmp_path, reworded).goals[0]) == base


def test_a_relative_window_fingerprints_its_resolved_dates(tmp_path: Path) -> None:
    relative = goal(window="{relative: this_quarter}")
    in_q2 = fingerprint(load(tmp_path, relative).goals[0])
    assert fingerprint(load(tmp_path, relative, today=date(2025, 6, 30)).goals[0]) == in_q2
    assert fingerprint(load(tmp_path, relative, today=date(2025, 7, 1)).goals[0]) != in_q2


# ---------------------------------------------------------------------- defaults
def test_default_leading_indicators_come_from_the_catalogue(tmp_path: Path) -> None:
    kpis = catalog()
    er = default_leading_indicators(kpis["engagement_rate"],
                                    Scope(kind="platform", key="instagram"), kpis)
    # same stage first, then the stage before; nothing vanity, nothing absent on Instagram
    assert er == ("saves", "shares", "comments", "average_watch_time", "share_rate")
    revenue = default_leading_indicators(kpis["social_revenue"],
                                         Scope(kind="brand", key="thames"), kpis)
    assert "landing_page_sessions" in revenue  # lead generation has no leading KPI: traffic
    assert {kpis[name].stage for name in revenue} == {"traffic"}
    assert load(tmp_path, goal()).goals[0].leading_indicators == er
    explicit = load(tmp_path, goal(leading_indicators="[views]")).goals[0]
    assert explicit.leading_indicators == ("views",)


def test_the_objective_map_uses_the_catalogue_stages() -> None:
    assert get_args(Stage) == STAGES
    assert {stage for stages in OBJECTIVE_STAGES.values() for stage in stages} == set(STAGES)


def test_scope_keys_read_as_in_the_kpi_tables() -> None:
    assert Scope(kind="all").scope_key == "all"
    account = Scope(kind="account", key="instagram/178414107919")
    assert (account.scope_key, account.platform) == ("instagram/178414107919", "instagram")
    assert Scope(kind="campaign", key="meta/act_1/23").platform == "meta"
    assert Scope(kind="brand", key="thames").platform is None


def test_a_goal_validated_alone_still_resolves_its_window() -> None:
    item = Goal.model_validate({
        "id": "x", "title": "x", "objective": "brand_awareness", "stage": "engagement",
        "kpi": "engagement_rate", "scope": {"kind": "all"},
        "target": {"type": "level", "at_least": 0.05},
        "window": {"relative": "next_month"}}, context={"today": TODAY})
    assert item.period == (date(2025, 6, 1), date(2025, 6, 30))


def test_reference_segments_follow_the_floating_windows() -> None:
    """Days are grouped where every relative window without as_of resolves alike (by
    hand: the calendar months and quarters around the days)."""
    from kpi_pipeline.lib.goals.stored import reference_segments

    def data(*windows: dict) -> dict:
        return {"goals": [{"window": w} for w in windows]}

    d = date
    assert reference_segments(data({"start": "2025-01-01", "days": 9}),
                              d(2025, 3, 30), d(2025, 4, 2)) == [(d(2025, 3, 30), d(2025, 4, 2))]
    pinned = {"relative": "this_month", "as_of": "2025-01-10"}
    assert reference_segments(data(pinned), d(2025, 3, 30), d(2025, 4, 2)) == [
        (d(2025, 3, 30), d(2025, 4, 2))]
    assert reference_segments(data({"relative": "this_quarter"}, pinned),
                              d(2025, 3, 30), d(2025, 7, 2)) == [
        (d(2025, 3, 30), d(2025, 3, 31)), (d(2025, 4, 1), d(2025, 6, 30)),
        (d(2025, 7, 1), d(2025, 7, 2))]
    assert reference_segments(data({"relative": "next_month"}, {"relative": "this_quarter"}),
                              d(2025, 5, 30), d(2025, 7, 1)) == [
        (d(2025, 5, 30), d(2025, 5, 31)), (d(2025, 6, 1), d(2025, 6, 30)),
        (d(2025, 7, 1), d(2025, 7, 1))]
    assert len(reference_segments(data({"relative": "next_7_days"}),
                                  d(2025, 5, 1), d(2025, 5, 5))) == 5
