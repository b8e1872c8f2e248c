"""Goal attainment on hand-made numbers: each target type, and status across a quarter."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from kpi_pipeline.lib.goals.attainment import current_period, evaluate, trend
from kpi_pipeline.lib.goals.loading import validate_goals
from kpi_pipeline.lib.goals.schema import fingerprint
from kpi_pipeline.lib.kpis.catalog import catalog

TODAY = date(2025, 1, 1)
Q_START, Q_END = date(2025, 1, 1), date(2025, 3, 31)  # 90 days


def goal(kpi: str, target: dict, stage: str, objective: str, scope=None, **window):
    raw = {"id": "g", "title": "t", "objective": objective, "stage": stage, "kpi": kpi,
           "scope": scope or {"kind": "all"}, "target": target,
           "window": window or {"start": Q_START, "end": Q_END}}
    return validate_goals({"goals": [raw]}, TODAY).goals[0]


def run(g, as_of, daily=None, *, value=None, baseline=None):
    """Attainment with a measure that sums ``daily`` (a per-day constant) over the days
    asked for, or returns ``value`` for any range."""
    def measure(first, last):
        if value is not None:
            return value
        return daily * ((last - first).days + 1)
    return evaluate(g, catalog()[g.kpi], as_of, fingerprint(g), measure, baseline)


SIGNUPS = goal("email_opt_ins", {"type": "total", "value": 300}, "lead_generation",
               "lead_generation")


def test_total_on_track_numbers():
    row = run(SIGNUPS, date(2025, 1, 30), daily=4)  # 30 days x 4 = 120
    assert (row.actual, row.target) == (120, 300)
    assert row.expected_by_now == pytest.approx(300 * 30 / 90)  # 100
    assert row.projected == pytest.approx(120 / 30 * 90)  # 360
    assert row.percent_of_target == pytest.approx(0.4)
    assert (row.days_elapsed, row.days_left) == (30, 60)
    assert (row.status, row.status_rule) == ("on track", "projection at or above the target")


def test_total_status_moves_across_the_quarter():
    """3/day projects to 270 (10 % short: at risk); 2/day to 180 (off track); a total
    reached early is achieved; at the end, short is missed and reached is achieved."""
    assert run(SIGNUPS, date(2025, 2, 14), daily=3).status == "at risk"
    assert run(SIGNUPS, date(2025, 2, 14), daily=2).status == "off track"
    assert run(SIGNUPS, date(2025, 3, 1), daily=5.2).status == "achieved"  # 60 x 5.2 = 312
    assert run(SIGNUPS, Q_END, daily=3).status == "missed"  # 270
    final = run(SIGNUPS, Q_END, daily=3.4)  # 306
    assert (final.status, final.days_left) == ("achieved", 0)
    assert run(SIGNUPS, date(2024, 12, 31), daily=3) is None  # before the window


def test_level_target_reads_the_ratio_so_far():
    rate = goal("engagement_rate", {"type": "level", "at_least": 0.05}, "engagement",
                "brand_awareness", {"kind": "platform", "key": "instagram"})
    row = run(rate, date(2025, 2, 1), value=0.046)
    assert (row.target, row.expected_by_now, row.projected) == (0.05, 0.05, 0.046)
    assert row.percent_of_target == pytest.approx(0.046 / 0.05)
    assert row.status == "at risk"  # 0.046 >= 0.045
    assert run(rate, date(2025, 2, 1), value=0.04).status == "off track"
    assert run(rate, Q_END, value=0.051).status == "achieved"


def test_lower_is_better_level():
    bounce = goal("bounce_rate", {"type": "level", "at_most": 0.4}, "traffic", "product_demand")
    row = run(bounce, date(2025, 2, 1), value=0.42)
    assert row.percent_of_target == pytest.approx(0.4 / 0.42)
    assert row.status == "at risk"  # 0.42 <= 0.44
    assert run(bounce, date(2025, 2, 1), value=0.39).status == "on track"


def test_change_on_a_ratio_moves_from_baseline_to_target():
    cpl = goal("cost_per_lead", {"type": "change", "by": -0.10}, "lead_generation",
               "lead_generation")
    row = run(cpl, date(2025, 2, 14), value=41.0, baseline=44.0)  # day 45 of 90
    assert row.target == pytest.approx(39.6)  # 44 x 0.9
    assert row.expected_by_now == pytest.approx(44 + (39.6 - 44) * 45 / 90)  # 41.8
    assert row.percent_of_target == pytest.approx((41 - 44) / (39.6 - 44))
    assert row.status == "at risk"  # 41 <= 39.6 x 1.1 = 43.56, but above 39.6
    assert run(cpl, Q_END, value=39.0, baseline=44.0).status == "achieved"
    no_baseline = run(cpl, date(2025, 2, 14), value=41.0)
    assert (no_baseline.status, no_baseline.target) == ("no baseline", None)


def test_change_on_a_count_compares_weekly_run_rates():
    traffic = goal("landing_page_sessions", {"type": "change", "by": 0.30}, "traffic",
                   "product_demand")
    row = run(traffic, date(2025, 1, 14), daily=200, baseline=1000.0)  # 14 days, 2,800
    assert row.actual == pytest.approx(2800 / 14 * 7)  # 1,400 a week
    assert row.target == pytest.approx(1300)
    assert row.status == "on track"


def test_per_period_target_measures_the_current_month():
    leads = goal("qualified_leads", {"type": "per_period", "value": 30, "period": "month"},
                 "lead_generation", "lead_generation")
    assert current_period(leads, date(2025, 2, 10)) == (date(2025, 2, 1), date(2025, 2, 28))
    row = run(leads, date(2025, 2, 10), daily=1)  # 10 days of February
    assert (row.period_start, row.period_end, row.actual) == (date(2025, 2, 1),
                                                              date(2025, 2, 28), 10)
    assert row.projected == pytest.approx(10 / 10 * 28)
    assert row.status == "at risk"  # projects 28: short of 30, within 10 % (27)
    assert run(leads, date(2025, 2, 28), daily=1.1).status == "achieved"  # 30.8 at the close


def test_no_data_is_a_status_of_its_own():
    row = evaluate(SIGNUPS, catalog()["email_opt_ins"], date(2025, 1, 10), "f",
                   lambda first, last: None, None)
    assert (row.status, row.actual) == ("no data", None)


def test_trend_compares_the_last_28_days_with_the_28_before():
    through = date(2025, 3, 31)
    seen = []

    def measure(first, last):
        seen.append((first, last))
        return 120.0 if last == through else 100.0

    assert trend(measure, through) == {"value": 120.0, "previous": 100.0,
                                       "change": pytest.approx(0.2)}
    assert seen == [(through - timedelta(days=27), through),
                    (through - timedelta(days=55), through - timedelta(days=28))]


def test_fingerprint_is_carried_and_json_is_valid():
    row = run(SIGNUPS, date(2025, 1, 30), daily=4)
    assert row.fingerprint == fingerprint(SIGNUPS) and len(row.fingerprint) >= 16
    assert json.loads(row.leading_indicators) == []


def test_a_recurring_goal_closes_its_period_not_its_window():
    leads = goal("qualified_leads", {"type": "per_period", "value": 30, "period": "month"},
                 "lead_generation", "lead_generation")
    row = run(leads, date(2025, 1, 31), daily=1)  # January: 31, the window runs to March
    assert (row.status, row.status_rule) == ("achieved", "period over: actual at or above "
                                                         "the target")
    assert row.days_left == 59  # February and March still to come
