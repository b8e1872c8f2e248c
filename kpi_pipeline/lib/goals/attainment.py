"""Goal attainment: where a goal stands on a date, and whether it will get there.

For a goal and an as-of date the attainment says: the actual value so far, the target
in the KPI's units, the percent of target, what a steady pace would have reached by
now, the projection to the window's end, days elapsed and left, and a status with the
rule that produced it. The KPI values come from ``kpi_range``: the same facts and
formulas as the weekly and monthly KPIs, over the goal's own window.

How each target reads (higher-is-better KPIs; lower-is-better ones mirror it):

- ``total``: the KPI summed over the window so far. Expected by now = target x share of
  the window elapsed. Projection = run rate: actual / days elapsed x window days.
- ``level``: the KPI over the window so far (a ratio of sums). Expected = the level.
  Projection = the level so far, held.
- ``change``: against the baseline snapshot taken at (or last before) the window's
  start. Ratios compare the value over the window with the baseline's pooled value;
  counts and money compare the weekly run rate (actual / days x 7) with the baseline's
  mean week. Expected by now moves in a straight line from the baseline to the target.
- ``per_period``: the current week or month of the window, like a ``total`` whose
  window is that period: its status reads that period ("period over: ..." at its close)
  while days elapsed and left count the goal's whole window.

Probability (``lib/goals/forecast.py``): given the KPI's daily history, the rest of the
window is simulated by a weekly block bootstrap; the probability is the share of paths
that meet the target and ``end_p10`` / ``end_p90`` bound the end value (in the target's
units). After the window it is 1 (achieved) or 0 (missed); a total already reached is 1.

Status, in this order: no data; no baseline (a change target without one); after the
window: achieved or missed; during it: achieved (a total already reached); then, when a
probability is known, on track (at least ``ON_TRACK_PROBABILITY``), at risk (at least
``OFF_TRACK_PROBABILITY``), off track (below it). Without one (too little history), the
straight line: on track (the projection meets the target), at risk (within
``AT_RISK_MARGIN`` of it), off track. The backtest in ``benchmarks/goal_calibration.py``
measures both rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from kpi_pipeline.lib.core.periods import period_first_day, period_last_day
from kpi_pipeline.lib.goals.forecast import DailyHistory, Forecast, forecast, seed_for, simulate_end
from kpi_pipeline.lib.goals.schema import Goal
from kpi_pipeline.lib.kpis.catalog import Kpi

AT_RISK_MARGIN = 0.10  # a projection within 10 % of the target is "at risk", not "off track"
# With a probability: on track from 70 %, at risk from 30 %, off track below. Two in three
# or better reads as "we will make it"; a coin flip or worse needs attention now.
ON_TRACK_PROBABILITY = 0.70
OFF_TRACK_PROBABILITY = 0.30
Measure = Callable[[date, date], float | None]  # (first, last) -> KPI value at the scope


@dataclass(frozen=True)
class Attainment:
    goal_id: str
    as_of: date
    fingerprint: str
    kpi: str
    scope_key: str
    target_type: str
    window_start: date
    window_end: date
    period_start: date  # the part of the window measured (the current period if recurring)
    period_end: date
    unit: str
    actual: float | None
    target: float | None
    percent_of_target: float | None
    expected_by_now: float | None
    projected: float | None
    baseline: float | None
    days_elapsed: int
    days_left: int
    status: str
    status_rule: str
    leading_indicators: str  # JSON list of {kpi, value, previous, change}
    # last, so that a store created before them gains them as added columns
    probability: float | None = None  # of meeting the target by the end (period's end)
    end_p10: float | None = None  # 10th percentile of the simulated end value
    end_p90: float | None = None  # 90th percentile

    def row(self) -> dict[str, object]:
        return asdict(self)


def _meets(value: float, target: float, higher_is_better: bool) -> bool:
    return value >= target if higher_is_better else value <= target


def _near(value: float, target: float, higher_is_better: bool) -> bool:
    if higher_is_better:
        return value >= target * (1 - AT_RISK_MARGIN)
    return value <= target * (1 + AT_RISK_MARGIN)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def current_period(goal: Goal, through: date) -> tuple[date, date]:
    """The week (Monday-Sunday), month or quarter of a recurring goal that holds
    ``through``, clipped to the goal's window."""
    period = goal.target.period
    start, end = period_first_day(through, period), period_last_day(through, period)
    return max(start, goal.start), min(end, goal.end)


@dataclass(frozen=True)
class _Numbers:
    actual: float | None
    target: float | None
    expected: float | None
    projected: float | None
    percent: float | None
    baseline: float | None = None


def _numbers(goal: Goal, kpi: Kpi, first: date, through: date, last: date,
             measure: Measure, baseline: float | None) -> _Numbers:
    """Actual, target, expected, projection and percent for one target type."""
    target = goal.target
    elapsed, days = (through - first).days + 1, (last - first).days + 1
    actual = measure(first, through)
    if target.type in ("total", "per_period"):
        projected = None if actual is None else actual / elapsed * days
        return _Numbers(actual, target.value, target.value * elapsed / days, projected,
                        _ratio(actual, target.value))
    if target.type == "level":
        percent = (_ratio(actual, target.bound) if target.at_least is not None
                   else _ratio(target.bound, actual))
        return _Numbers(actual, target.bound, target.bound, actual, percent)
    # change against the baseline
    if kpi.additive and actual is not None:
        actual = actual / elapsed * 7  # weekly run rate, comparable with a mean week
    if baseline is None:
        return _Numbers(actual, None, None, actual, None)
    goal_value = baseline * (1 + target.by)
    expected = baseline + (goal_value - baseline) * elapsed / days
    progress = None if actual is None else _ratio(actual - baseline, goal_value - baseline)
    return _Numbers(actual, goal_value, expected, actual, progress, baseline)


def _chance(probability: float) -> str:
    """A probability in words that never rounds a possibility away: 0.4 % is "<1%", not
    "0%" (which would read as impossible), 99.6 % is ">99%", not "100%"."""
    if 0 < probability < 0.01:
        return "<1%"
    if 0.99 < probability < 1:
        return ">99%"
    return f"{probability:.0%}"


def _status(goal: Goal, numbers: _Numbers, ended: bool, higher_is_better: bool,
            probability: float | None = None) -> tuple[str, str]:
    """The status and the rule that produced it."""
    better = "at or above" if higher_is_better else "at or below"
    if numbers.actual is None:
        return "no data", "no KPI value for the goal's scope in the window yet"
    if numbers.target is None:
        return "no baseline", "a change target needs the baseline snapshot at the start"
    if ended:
        span = "period" if goal.target.type == "per_period" else "window"
        if _meets(numbers.actual, numbers.target, higher_is_better):
            return "achieved", f"{span} over: actual {better} the target"
        return "missed", f"{span} over: actual not {better} the target"
    if goal.target.type in ("total", "per_period") and higher_is_better and _meets(
            numbers.actual, numbers.target, True):
        return "achieved", "the total is already reached"
    if probability is not None:
        chance = f"probability {_chance(probability)} of reaching the target"
        if probability >= ON_TRACK_PROBABILITY:
            return "on track", f"{chance} (on track from {ON_TRACK_PROBABILITY:.0%})"
        if probability >= OFF_TRACK_PROBABILITY:
            return "at risk", (f"{chance} (at risk from {OFF_TRACK_PROBABILITY:.0%} to "
                               f"{ON_TRACK_PROBABILITY:.0%})")
        return "off track", f"{chance} (off track below {OFF_TRACK_PROBABILITY:.0%})"
    if _meets(numbers.projected, numbers.target, higher_is_better):
        return "on track", f"projection {better} the target"
    if _near(numbers.projected, numbers.target, higher_is_better):
        return "at risk", f"projection within {AT_RISK_MARGIN:.0%} of the target"
    return "off track", f"projection more than {AT_RISK_MARGIN:.0%} short of the target"


def evaluate(goal: Goal, kpi: Kpi, as_of: date, fingerprint: str, measure: Measure,
             baseline: float | None, leading: list[dict[str, object]] | None = None,
             history: DailyHistory | None = None) -> Attainment | None:
    """Attainment of ``goal`` as of the end of ``as_of``; None before the window starts.

    With ``history`` (the KPI's days at the goal's scope, from at least ``HISTORY_DAYS``
    before ``as_of``) the row carries the probability and the end value's interval, and
    the status reads the probability."""
    if as_of < goal.start:
        return None
    through = min(as_of, goal.end)
    if goal.target.type == "per_period":
        first, last = current_period(goal, through)
    else:
        first, last = goal.start, goal.end
    higher = kpi.direction == "higher"
    numbers = _numbers(goal, kpi, first, through, last, measure, baseline)
    ended = as_of >= last
    outlook = _forecast(goal, kpi, numbers, first, through, last, ended, history)
    status, rule = _status(goal, numbers, ended, higher, outlook.probability)
    if status == "achieved":
        outlook = Forecast(1.0, outlook.p10, outlook.p90)
    return Attainment(
        goal_id=goal.id, as_of=as_of, fingerprint=fingerprint, kpi=goal.kpi,
        scope_key=goal.scope.scope_key, target_type=goal.target.type,
        window_start=goal.start, window_end=goal.end, period_start=first, period_end=last,
        unit=kpi.unit, actual=numbers.actual, target=numbers.target,
        percent_of_target=numbers.percent, expected_by_now=numbers.expected,
        projected=numbers.projected, baseline=numbers.baseline if numbers.baseline is not None
        else baseline, days_elapsed=(through - goal.start).days + 1,
        days_left=max((goal.end - as_of).days, 0), status=status, status_rule=rule,
        leading_indicators=json.dumps(leading or [], sort_keys=True),
        probability=outlook.probability, end_p10=outlook.p10, end_p90=outlook.p90,
    )


def _forecast(goal: Goal, kpi: Kpi, numbers: _Numbers, first: date, through: date,
              last: date, ended: bool, history: DailyHistory | None) -> Forecast:
    """The probability and interval of the end value; settled (1 or 0, the actual as its
    own interval) once the window or period is over."""
    if numbers.actual is None or numbers.target is None:
        return Forecast(None, None, None)
    higher = kpi.direction == "higher"
    if ended:
        made = _meets(numbers.actual, numbers.target, higher)
        return Forecast(1.0 if made else 0.0, numbers.actual, numbers.actual)
    if history is None:
        return Forecast(None, None, None)
    ends = simulate_end(history, kpi, goal.target.type, first, through, last,
                        numbers.actual, seed_for(goal.id, through))
    return forecast(ends, numbers.target, higher)


def trend(measure: Measure, through: date, days: int = 28) -> dict[str, float | None]:
    """A leading indicator's value over the last ``days`` and the ``days`` before."""
    recent = measure(through - timedelta(days=days - 1), through)
    previous = measure(through - timedelta(days=2 * days - 1), through - timedelta(days=days))
    change = None if recent is None or not previous else recent / previous - 1
    return {"value": recent, "previous": previous, "change": change}


def probability_record(row: Attainment) -> dict[str, object]:
    """An attainment row's probability and interval, JSON-ready (the asset's metadata,
    which the probability alert reads without opening the store)."""
    def number(value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) else round(value, 6)
    return {"as_of": row.as_of.isoformat(), "status": row.status, "kpi": row.kpi,
            "scope_key": row.scope_key, "probability": number(row.probability),
            "p10": number(row.end_p10), "p90": number(row.end_p90),
            "target": number(row.target)}
