"""The goals file of a benchmark dataset, and the same goals as the floor reads them.

Its own module because both sides use it: the dataset build writes the YAML the chain
and the library load, and the floor registers the same goals as a frame, so both judge
the same goals without sharing code.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any


def goal_start(week: date) -> date:
    """The first day of every benchmark goal's window."""
    return week - timedelta(weeks=12)


def goals_for(week: date) -> list[dict[str, Any]]:
    """The goals file of a dataset: active during ``week`` (the week the run measures),
    from 12 weeks before it (``goal_start``) to 3 weeks after; targets of every kind but
    per_period (see RESULTS.md: its value depends on the run's window), every KPI
    source, two goals on levels (followers, list members), four lagging ones with leading
    indicators. Scopes are the synthetic data's (brands ``brand_000``..., campaign 0)."""
    start, end = goal_start(week), week + timedelta(weeks=4, days=-1)
    window = {"start": start.isoformat(), "end": end.isoformat()}

    def goal(goal_id: str, objective: str, stage: str, kpi: str, scope: dict[str, str],
             target: dict[str, Any], leading: list[str] | None = None) -> dict[str, Any]:
        out = {"id": goal_id, "title": goal_id.replace("-", " "), "objective": objective,
               "stage": stage, "kpi": kpi, "scope": scope, "target": target,
               "window": dict(window)}
        if leading is not None:
            out["leading_indicators"] = leading
        return out

    return [
        goal("ig-engagement-rate", "brand_awareness", "engagement", "engagement_rate",
             {"kind": "platform", "key": "instagram"}, {"type": "level", "at_least": 0.03}),
        goal("brand-views", "brand_awareness", "awareness", "views",
             {"kind": "brand", "key": "brand_000"}, {"type": "change", "by": 0.2}),
        goal("brand-follower-growth", "brand_awareness", "awareness", "follower_growth_rate",
             {"kind": "brand", "key": "brand_001"}, {"type": "level", "at_least": 0.01},
             ["share_rate"]),
        goal("linkedin-cost-per-lead", "lead_generation", "lead_generation", "cost_per_lead",
             {"kind": "platform", "key": "linkedin"}, {"type": "change", "by": -0.1},
             ["click_through_rate"]),
        goal("brand-booked-calls", "lead_generation", "lead_generation", "booked_calls",
             {"kind": "brand", "key": "brand_001"}, {"type": "total", "value": 400},
             ["landing_page_sessions"]),
        goal("brand-email-opt-ins", "lead_generation", "lead_generation", "email_opt_ins",
             {"kind": "brand", "key": "brand_002"}, {"type": "total", "value": 3000}, []),
        goal("list-growth", "lead_generation", "lead_generation", "email_list_growth_rate",
             {"kind": "all"}, {"type": "level", "at_least": 0.002}, []),
        goal("brand-social-revenue", "revenue_growth", "revenue", "social_revenue",
             {"kind": "brand", "key": "brand_003"}, {"type": "change", "by": 0.15},
             ["landing_page_sessions", "bounce_rate"]),
        goal("campaign-link-clicks", "product_demand", "traffic", "ad_link_clicks",
             {"kind": "campaign", "key": "meta/ad_meta_0/cmp_0"},
             {"type": "total", "value": 5000}),
    ]


def goals_frame(week: date):  # -> pd.DataFrame (pandas is imported in workers only)
    """The goals as the floor reads them: one row per goal with its window bounds."""
    import pandas as pd

    rows = []
    for g in goals_for(week):
        rows.append({"goal_id": g["id"], "kpi": g["kpi"],
                     "scope_key": g["scope"].get("key", "all"),
                     "window_start": date.fromisoformat(g["window"]["start"]),
                     "window_end": date.fromisoformat(g["window"]["end"]),
                     "target_type": g["target"]["type"]})
    return pd.DataFrame(rows)


def write_goals(path: Path, week: date) -> None:
    import yaml

    path.write_text(yaml.safe_dump({"goals": goals_for(week)}, sort_keys=False))
