"""The goal probability on small made-up histories, checked by hand.

Why: the probability is a simulation, so the tests pick histories whose futures can be
counted: with whole weeks as blocks, a history of two different weeks gives two equally
likely next weeks (the redrawn history is one of each, or the same week twice, and
either way each week's marginal chance is one in two), and the probability and the
interval follow by hand.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from kpi_pipeline.lib.goals.attainment import evaluate
from kpi_pipeline.lib.goals.forecast import (
    DailyHistory,
    block_starts,
    brier_score,
    forecast,
    reliability_table,
    simulate_end,
    simulation_kind,
)
from kpi_pipeline.lib.goals.loading import validate_goals
from kpi_pipeline.lib.goals.schema import fingerprint
from kpi_pipeline.lib.kpis.catalog import catalog

KPIS = catalog()
START = date(2025, 3, 3)  # a Monday
# Two weeks of history before the window: a slow week (1 a day), a busy one (3 a day).
WEEKS = np.array([1.0] * 7 + [3.0] * 7)
SE = 3 * np.sqrt(0.25 / 2000)  # three standard errors of a 50 % share over 2,000 paths


def goal(kpi: str, target: dict, stage: str, objective: str, days: int):
    raw = {"id": "g", "title": "t", "objective": objective, "stage": stage, "kpi": kpi,
           "scope": {"kind": "all"}, "target": target,
           "window": {"start": START, "end": START + timedelta(days=days - 1)}}
    return validate_goals({"goals": [raw]}, START).goals[0]


def sums_history(numerator, denominator=None, first=START - timedelta(days=14)):
    return DailyHistory("sum", first, np.asarray(numerator, float),
                        None if denominator is None else np.asarray(denominator, float))


def attain(g, as_of, history, measure=None):
    def total(first, last):
        lo, hi = history.index(first), history.index(last)
        return float(np.nansum(history.numerator[lo:hi + 1]))
    return evaluate(g, KPIS[g.kpi], as_of, fingerprint(g), measure or total, None,
                    history=history)


def test_kinds_follow_the_formula():
    assert simulation_kind(KPIS["email_opt_ins"]) == "sum"
    assert simulation_kind(KPIS["engagement_rate"]) == "sum"
    assert simulation_kind(KPIS["followers"]) == "level"
    assert simulation_kind(KPIS["follower_growth_rate"]) == "growth"


def test_blocks_are_whole_weeks_on_the_weekday_they_fill():
    """20 days of history: the blocks start 13, 6 days in (the last one ends the day before
    the first simulated day, so each starts on that day's weekday); days 0-5 are left."""
    assert block_starts(20).tolist() == [13, 6]
    assert block_starts(14).tolist() == [7, 0]


def test_a_part_week_takes_the_first_days_of_a_block():
    """10 days left: one whole week (+7 or +21) and the first 3 days of another (+3 or
    +9): four futures, 10, 16, 24 and 30, one in four each."""
    ends = simulate_end(sums_history(WEEKS), KPIS["email_opt_ins"], "total", START,
                        START - timedelta(days=1), START + timedelta(days=9), None, seed=3)
    assert set(np.unique(ends)) == {10.0, 16.0, 24.0, 30.0}
    assert forecast(ends, 24, True).probability == pytest.approx(0.5, abs=SE)


def test_two_week_history_one_week_left_is_a_coin_flip():
    """Window of 14 days; day 7 is the as-of day, 7 days are left. The week so far was a
    busy one (3 a day: 21) after a slow one before the window (1 a day). The next week is
    the slow (+7) or the busy week (+21), one chance in two each: 28 or 42."""
    g = goal("email_opt_ins", {"type": "total", "value": 35}, "lead_generation",
             "lead_generation", 14)
    history = sums_history(np.r_[WEEKS, [np.nan] * 7], first=START - timedelta(days=7))
    row = attain(g, START + timedelta(days=6), history)
    assert row.actual == 21
    assert row.probability == pytest.approx(0.5, abs=SE)
    assert (row.end_p10, row.end_p90) == (28, 42)
    assert row.status == "at risk"  # 50 % is between 30 % and 70 %


def test_two_weeks_left_counts_four_futures():
    """14 days left: slow+slow (+14), slow+busy or busy+slow (+28), busy+busy (+42). Each
    path first redraws its two-week history: slow twice (1 in 4), busy twice (1 in 4) or
    one of each (1 in 2); both future weeks are slow with chance 1/4 x 1 + 1/2 x 1/4 =
    3/8, so a target of so-far + 28 is met 5 times in 8 (3 in 4 if the history's mean
    were taken as known)."""
    history = sums_history(WEEKS)
    ends = simulate_end(history, KPIS["email_opt_ins"], "total", START, START - timedelta(
        days=1), START + timedelta(days=13), None, seed=7)
    # no day of the window has passed: the window so far is empty (the history's days
    # before START are not counted), so the ends are the futures themselves
    assert set(np.unique(ends)) == {14.0, 28.0, 42.0}
    assert forecast(ends, 28, True).probability == pytest.approx(5 / 8, abs=SE)


def test_past_the_target_is_near_one_and_out_of_reach_is_near_zero():
    """Already 100 of a total of 90: achieved, probability 1. A total of 400 with 100 so
    far and 14 days left: even the busiest observed week (the window's 10 a day) twice
    adds 140, so at most 240: 0."""
    history = sums_history(np.r_[WEEKS, [10.0] * 10, [np.nan] * 18],
                           first=START - timedelta(days=14))
    as_of = START + timedelta(days=9)
    reached = goal("email_opt_ins", {"type": "total", "value": 90}, "lead_generation",
                   "lead_generation", 24)
    row = attain(reached, as_of, history)
    assert (row.actual, row.status, row.probability) == (100, "achieved", 1.0)
    far = goal("email_opt_ins", {"type": "total", "value": 400}, "lead_generation",
               "lead_generation", 24)
    row = attain(far, as_of, history)
    assert row.probability == 0.0 and row.status == "off track"
    assert row.end_p90 <= 100 + 14 * 10


def test_a_ratio_is_simulated_as_a_ratio_of_sums():
    """Engagement rate, level at least 15 %. Week before the window: 1 interaction / 1
    impression a day (100 %); the window's first week: 1 / 9 a day (11.1 %). The next
    week is one of those: (7 + 7) / (63 + 7) = 20 % or 14 / 126 = 11.1 %. An average of
    daily ratios would make the first 55.6 %."""
    g = goal("engagement_rate", {"type": "level", "at_least": 0.15}, "engagement",
             "brand_awareness", 14)
    history = DailyHistory("sum", START - timedelta(days=7),
                           np.r_[[1.0] * 14, [np.nan] * 7],
                           np.r_[[1.0] * 7, [9.0] * 7, [np.nan] * 7])
    row = attain(g, START + timedelta(days=6), history, measure=lambda a, b: 7 / 63)
    assert row.probability == pytest.approx(0.5, abs=SE)
    assert (row.end_p10, row.end_p90) == (pytest.approx(14 / 126), pytest.approx(0.2))


def test_levels_add_daily_changes_and_growth_compounds():
    """Followers +10 a day from 1,000: 10 days later exactly 1,100. A growth rate of 1 %
    a day from +5 % so far: 1.05 x 1.01^10 - 1."""
    days = 30
    level = DailyHistory("level", START, 1000 - 10 * days + 10 * np.arange(days + 1.0))
    through = START + timedelta(days=days)
    ends = simulate_end(level, KPIS["followers"], "level", START, through,
                        through + timedelta(days=10), 1000.0, seed=1)
    assert np.all(ends == pytest.approx(1100))
    assert forecast(ends, 1100, True).probability == 1.0
    assert forecast(ends, 1100.5, True).probability == 0.0
    growth = DailyHistory("growth", START, np.full(days + 1, 0.01))
    ends = simulate_end(growth, KPIS["follower_growth_rate"], "level", START, through,
                        through + timedelta(days=10), 0.05, seed=1)
    assert np.all(ends == pytest.approx(1.05 * 1.01 ** 10 - 1))


def test_too_little_history_gives_no_probability_and_the_straight_line_status():
    g = goal("email_opt_ins", {"type": "total", "value": 300}, "lead_generation",
             "lead_generation", 90)
    history = sums_history([np.nan] * 14 + [4.0] * 10, first=START - timedelta(days=14))
    row = attain(g, START + timedelta(days=9), history)
    assert row.probability is None and (row.end_p10, row.end_p90) == (None, None)
    assert row.status_rule == "projection at or above the target"  # 40 / 10 x 90 = 360


def test_the_window_over_settles_the_probability():
    g = goal("email_opt_ins", {"type": "total", "value": 35}, "lead_generation",
             "lead_generation", 14)
    history = sums_history(np.r_[WEEKS, [3.0] * 7], first=START - timedelta(days=7))
    row = attain(g, START + timedelta(days=13), history)  # 21 + 21 = 42
    assert (row.status, row.probability, row.end_p10, row.end_p90) == ("achieved", 1.0, 42, 42)


def test_same_inputs_same_probability():
    g = goal("email_opt_ins", {"type": "total", "value": 35}, "lead_generation",
             "lead_generation", 14)
    history = sums_history(np.r_[WEEKS, [np.nan] * 7], first=START - timedelta(days=7))
    first = attain(g, START + timedelta(days=6), history)
    assert attain(g, START + timedelta(days=6), history) == first


def test_brier_and_reliability_by_hand():
    """Predicted 0.9, 0.2, 0.6, 0.5 against made it, missed, missed, made it:
    (0.1² + 0.2² + 0.6² + 0.5²) / 4 = (0.01 + 0.04 + 0.36 + 0.25) / 4 = 0.165. In two
    bins: [0, 0.5) holds 0.2 (missed: 0 %); [0.5, 1] holds 0.9, 0.6, 0.5 (mean 2/3; two of
    the three made it: 2/3)."""
    predicted, outcome = [0.9, 0.2, 0.6, 0.5], [1, 0, 0, 1]
    assert brier_score(predicted, outcome) == pytest.approx(0.165)
    low, high = reliability_table(predicted, outcome, bins=2)
    assert (low.count, low.mean_predicted, low.observed) == (1, pytest.approx(0.2), 0.0)
    assert (high.count, high.mean_predicted, high.observed) == (
        3, pytest.approx(2 / 3), pytest.approx(2 / 3))
    deciles = reliability_table([1.0, 0.0, 0.95], [1, 0, 0])
    assert [b.count for b in deciles] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 in the last
    assert deciles[9].observed == 0.5 and deciles[1].observed is None


def test_days_after_the_as_of_day_are_never_read():
    """The attainment asset reads a KPI's history through the run's last day once and
    reuses it for earlier days: the probability of a day must not see the days after."""
    g = goal("email_opt_ins", {"type": "total", "value": 35}, "lead_generation",
             "lead_generation", 14)
    known = sums_history(np.r_[WEEKS, [np.nan] * 7], first=START - timedelta(days=7))
    peeking = sums_history(np.r_[WEEKS, [1000.0] * 7], first=START - timedelta(days=7))
    as_of = START + timedelta(days=6)
    assert attain(g, as_of, peeking) == attain(g, as_of, known)
