"""Calendar periods of the review grains: ISO weeks (Monday to Sunday), calendar months
and calendar quarters (January, April, July, October). The one place that knows how
long each grain is, where one starts and ends, and how far a year reaches back, so the
KPIs, baselines, diagnostics, goals and reports agree on every period.
"""

from __future__ import annotations

from datetime import date, timedelta

GRAINS = ("week", "month", "quarter")
# The grains made of whole months, and how many months each holds.
MONTHS_IN = {"month": 1, "quarter": 3}
# "The same period a year earlier" is this many periods back.
YEAR_PERIODS = {"week": 52, "month": 12, "quarter": 4}
# The table suffix of each grain's KPI, baseline, diagnostic and report assets.
TABLE_FOR_GRAIN = {"week": "weekly", "month": "monthly", "quarter": "quarterly"}


def _check(grain: str) -> None:
    if grain not in TABLE_FOR_GRAIN:
        raise ValueError(f"unknown grain {grain!r}: expected one of {', '.join(GRAINS)}")


def period_first_day(day: date, grain: str) -> date:
    """The first day of the week (Monday), month or quarter that holds ``day``."""
    _check(grain)
    if grain == "week":
        return day - timedelta(days=day.weekday())
    months = MONTHS_IN[grain]
    return date(day.year, (day.month - 1) // months * months + 1, 1)


def shift_period(start: date, grain: str, periods: int) -> date:
    """The first day of the period ``periods`` periods after the one starting ``start``
    (before it when negative)."""
    _check(grain)
    if grain == "week":
        return start + timedelta(weeks=periods)
    month = start.year * 12 + start.month - 1 + periods * MONTHS_IN[grain]
    return date(month // 12, month % 12 + 1, 1)


def period_last_day(day: date, grain: str) -> date:
    """The last day of the week (Sunday), month or quarter that holds ``day``."""
    return shift_period(period_first_day(day, grain), grain, 1) - timedelta(days=1)


def first_period_from(day: date, grain: str) -> date:
    """The first period starting on or after ``day``."""
    start = period_first_day(day, grain)
    return start if start == day else shift_period(start, grain, 1)


def sql_step(grain: str, periods: int = 1) -> str:
    """A DuckDB interval of ``periods`` periods of ``grain`` (whole weeks or months)."""
    _check(grain)
    if grain == "week":
        return f"INTERVAL {periods} week"
    return f"INTERVAL {periods * MONTHS_IN[grain]} month"
