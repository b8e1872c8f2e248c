"""Will the goal make it? The probability of reaching the target, from the KPI's own days.

A straight-line projection says where a steady pace ends; it does not say how sure that
is. A goal's KPI moves by day with a weekly rhythm (weekends differ) and with runs of
good and bad days, so the rest of the window is simulated from the KPI's own trailing
history by a block bootstrap:

- the history is the ``HISTORY_DAYS`` days up to the as-of day (26 weeks), from the first
  day the scope has data: long enough to hold the rare big weeks (a viral post, a burst
  of campaign spend) that a shorter one misses; the backtest scores 12, 18 and 26 weeks
  and the longest calibrates best (``benchmarks/RESULTS.md``);
- the days left are filled with whole weeks of that history (blocks of ``BLOCK_DAYS``
  consecutive days) drawn at random with replacement, each block starting on the same
  weekday as the day it fills: the weekday rhythm and the dependence between
  neighbouring days stay as they were;
- each path first redraws that history's weeks with replacement, then draws its weeks
  from that redrawn history: a few months pin the KPI's usual week only so well,
  and this carries that doubt into the spread (a two-stage bootstrap);
- ``SIMULATIONS`` paths, drawn at once as one array of block numbers (numpy, no loop
  over days or paths; a block's total and running totals are computed once, so a path
  costs one addition per week), from a generator seeded with the goal id and the as-of
  day: the same inputs give the same probability on every run.

Each path ends at a value of the KPI as attainment measures it, so it is compared with
the same target: a count adds its simulated days to the window's total so far; a ratio
adds the simulated days' numerators and denominators, taken from the same days, to the
window's sums so far and divides the sums (never an average of daily ratios); a change
target on a count compares the window's weekly run rate. KPIs read from a level
(followers, weekly reach, list members: ``Source.at_end``) add the level's simulated daily
changes to today's level; growth rates over a level (``at_end - at_start`` over
``at_start``) compound the simulated daily growth onto the growth so far.

The probability is the share of paths that meet the target; the interval is the 10th and
90th percentile of the end values (``p10``, ``p90``). Paths whose ratio has no
denominator (a zero sum) are left out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import duckdb
import numpy as np

from kpi_pipeline.lib.kpis.catalog import Kpi, formula_terms
from kpi_pipeline.lib.kpis.compute import kpi_running
from kpi_pipeline.lib.kpis.facts import SOURCES

HISTORY_DAYS = 182  # trailing days resampled: 26 weeks (the backtest scores 12, 18 and 26)
WEEK = 7  # blocks start a whole number of weeks apart: each on the weekday it fills
BLOCK_DAYS = 7  # one block = one week: keeps the weekday rhythm
MIN_HISTORY_DAYS = 14  # fewer days with data than two weeks: no probability
SIMULATIONS = 2000  # paths per goal and day: the probability's standard error <= 1.1 pt
LOW, HIGH = 10, 90  # the interval's percentiles

Kind = Literal["sum", "level", "growth"]


def simulation_kind(kpi: Kpi) -> Kind:
    """How a KPI's window value grows from its days.

    ``sum``: numerator (and denominator) are sums over days; ``level``: the value is a
    level read on the window's last day (followers, weekly reach); ``growth``: a level's
    change over the level at the window's start (follower or list growth rate)."""
    source = SOURCES[kpi.source]
    levels = set(source.at_end) | set(source.at_start)
    numerator = set(formula_terms(kpi.numerator))
    if not numerator & levels:
        return "sum"
    if kpi.denominator and set(formula_terms(kpi.denominator)) <= set(source.at_start):
        return "growth"
    return "level"


@dataclass(frozen=True)
class DailyHistory:
    """A KPI's days at one scope from ``first`` on: for ``sum`` KPIs the daily numerator
    and denominator (None for a count), for ``level`` and ``growth`` KPIs the KPI's value
    over each single day. NaN marks a day without data."""

    kind: Kind
    first: date
    numerator: np.ndarray
    denominator: np.ndarray | None = None

    def index(self, day: date) -> int:
        return (day - self.first).days


def daily_history(conn: duckdb.DuckDBPyConnection, kpi: Kpi, scope_key: str,
                  scope: str | None, first: date, last: date) -> DailyHistory:
    """The KPI's days in [first, last] at the scope, from the same facts and formulas as
    the KPI tables (``kpi_running`` over one-day windows): a ratio's numerator and
    denominator are read as two counts, so they can be resampled together by day."""
    kind = simulation_kind(kpi)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def series(which: Kpi) -> np.ndarray:
        values = kpi_running(conn, which, first, last, scope_key, window=1, scope=scope)
        return np.array([np.nan if values[d] is None else values[d] for d in days],
                        dtype=float)

    if kind != "sum":
        return DailyHistory(kind, first, series(kpi))
    numerator = series(kpi.model_copy(update={"denominator": None}))
    denominator = (series(kpi.model_copy(update={"numerator": kpi.denominator,
                                                 "denominator": None}))
                   if kpi.denominator else None)
    return DailyHistory(kind, first, numerator, denominator)


class HistoryCache:
    """Daily histories kept across the segments of one attainment run.

    A run over a range cuts it where floating windows (``this_month``) move, and asks
    for every goal's history in each segment; the segments of a range overlap in the
    days they resample. The first request of a KPI and scope reads through ``last`` (the
    run's last day) and later requests are answered from it, so a two-year backfill
    reads each history about once instead of once per month."""

    def __init__(self, last: date) -> None:
        self.last = last
        self._kept: dict[tuple[str, str, str | None], tuple[date, date, DailyHistory]] = {}

    def get(self, conn: duckdb.DuckDBPyConnection, kpi: Kpi, scope_key: str,
            scope: str | None, first: date, last: date) -> DailyHistory:
        key = (kpi.name, scope_key, scope)
        last = max(last, self.last)
        kept = self._kept.get(key)
        if kept is not None and kept[0] <= first and last <= kept[1]:
            return kept[2]
        if kept is not None:
            first, last = min(first, kept[0]), max(last, kept[1])
        history = daily_history(conn, kpi, scope_key, scope, first, last)
        self._kept[key] = (first, last, history)
        return history


@dataclass(frozen=True)
class Forecast:
    """The chance of meeting the target by the end, and where the end value may land."""

    probability: float | None
    p10: float | None
    p90: float | None


def seed_for(goal_id: str, as_of: date) -> int:
    """A stable seed per goal and day (Python's ``hash`` of a str changes per process)."""
    return zlib.crc32(f"{goal_id}|{as_of.isoformat()}".encode())


def _trailing(through: int, *series: np.ndarray) -> list[np.ndarray]:
    """The ``HISTORY_DAYS`` up to index ``through`` of each series, from the first day any
    of them has data; a day without data inside it counts as zero (nothing happened)."""
    lo = max(0, through + 1 - HISTORY_DAYS)
    seen = np.flatnonzero(np.any([~np.isnan(s[lo:through + 1]) for s in series], axis=0))
    start = lo + (int(seen[0]) if seen.size else through + 1 - lo)
    return [np.nan_to_num(s[start:through + 1], nan=0.0) for s in series]


def block_starts(length: int) -> np.ndarray:
    """The blocks of a history of ``length`` days that ends the day before the first
    simulated day: whole weeks ending on its last day, each starting on the weekday of the
    first simulated day (starts ``length - 7``, ``length - 14``, ... down to 0)."""
    return np.arange(length - BLOCK_DAYS, -1, -WEEK)


def resampled_sums(series: list[np.ndarray], days: int, simulations: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """For each series (same days), the sum over ``days`` simulated days of ``simulations``
    paths; all series draw the same blocks, so a numerator and its denominator stay
    together day by day.

    A path is whole weeks followed by the first days of one more week; the weeks' totals
    and running totals are computed once per block, so the cost grows with the number of
    weeks, not days, per path."""
    starts = block_starts(series[0].size)
    full, part = divmod(days, BLOCK_DAYS)
    # Two stages: each path first redraws the history itself (as many weeks as it has,
    # with replacement), then draws its future weeks from that redrawn history. A few
    # months pin the KPI's usual week only so well; drawing the future straight from
    # them treats their mean as known and makes the far tails too thin.
    histories = rng.integers(0, starts.size, size=(simulations, starts.size))
    drawn = rng.integers(0, starts.size, size=(simulations, full + (part > 0)))
    picked = np.take_along_axis(histories, drawn, axis=1)
    sums = []
    for values in series:
        weeks = values[starts[:, None] + np.arange(BLOCK_DAYS)]
        running = np.concatenate([np.zeros((starts.size, 1)), np.cumsum(weeks, axis=1)],
                                 axis=1)  # running[b, r]: the first r days of block b
        total = running[picked[:, :full], BLOCK_DAYS].sum(axis=1)
        if part:
            total = total + running[picked[:, full], part]
        sums.append(total)
    return sums


def simulate_end(history: DailyHistory, kpi: Kpi, target_type: str, first: date,
                 through: date, last: date, current: float | None, seed: int,
                 simulations: int = SIMULATIONS) -> np.ndarray | None:
    """Simulated values of the KPI at the end of [first, last] as attainment measures it
    (None without enough history). ``current`` is the level or growth so far (``level``
    and ``growth`` KPIs); sums so far are read from the history itself."""
    at = history.index(through)
    remaining = (last - through).days
    rng = np.random.default_rng(seed)
    if history.kind == "sum":
        parts = [history.numerator] + ([] if history.denominator is None
                                       else [history.denominator])
        trailing = _trailing(at, *parts)
        if trailing[0].size < MIN_HISTORY_DAYS:
            return None
        added = resampled_sums(trailing, remaining, simulations, rng)
        lo = history.index(first)
        ends = np.nansum(history.numerator[lo:at + 1]) + added[0]
        if history.denominator is not None:
            sums = np.nansum(history.denominator[lo:at + 1]) + added[1]
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(sums != 0, ends / np.where(sums != 0, sums, 1.0), np.nan)
        if target_type == "change" and kpi.additive:
            return ends / ((last - first).days + 1) * 7  # weekly run rate, as attainment
        return ends
    if current is None:
        return None
    (days,) = _trailing(at, history.numerator)
    if history.kind == "level":
        days = np.diff(days)  # the level's daily changes
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            days = np.log1p(days)  # growth compounds: a product is a sum of logs
    if days.size < MIN_HISTORY_DAYS:
        return None
    (added,) = resampled_sums([days], remaining, simulations, rng)
    if history.kind == "level":
        return current + added
    return (1 + current) * np.exp(added) - 1


def meets(values: np.ndarray, target: float, higher_is_better: bool) -> np.ndarray:
    return values >= target if higher_is_better else values <= target


def forecast(ends: np.ndarray | None, target: float, higher_is_better: bool) -> Forecast:
    """Probability and 10th-90th percentile interval from simulated end values."""
    if ends is None:
        return Forecast(None, None, None)
    ends = ends[~np.isnan(ends)]
    if ends.size == 0:
        return Forecast(None, None, None)
    low, high = np.percentile(ends, [LOW, HIGH])
    return Forecast(float(meets(ends, target, higher_is_better).mean()), float(low),
                    float(high))


# ------------------------------------------------------------------ calibration
def brier_score(predicted: np.ndarray, outcome: np.ndarray) -> float:
    """Mean squared gap between predicted probabilities and what happened (1 or 0): 0 is
    perfect, 0.25 is what always saying 50 % scores."""
    predicted, outcome = np.asarray(predicted, float), np.asarray(outcome, float)
    return float(np.mean((predicted - outcome) ** 2))


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions in [low, high): how many, their mean, and how often the goal made it."""

    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed: float | None


def reliability_table(predicted: np.ndarray, outcome: np.ndarray,
                      bins: int = 10) -> list[ReliabilityBin]:
    """Predictions cut into ``bins`` equal-width bins of probability (deciles: [0, 0.1),
    ..., [0.9, 1.0], the last closed), each with its observed frequency: a calibrated
    forecaster's 70 % goals make it about 70 % of the time."""
    predicted, outcome = np.asarray(predicted, float), np.asarray(outcome, float)
    which = np.minimum((predicted * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        table.append(ReliabilityBin(b / bins, (b + 1) / bins, count,
                                    float(predicted[mask].mean()) if count else None,
                                    float(outcome[mask].mean()) if count else None))
    return table


SETTLED = ("achieved", "missed")  # a probability of 1 or 0 that nothing can change


def probability_drops(latest: dict[str, dict[str, object]], threshold: float,
                      below: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The goals to announce and the goals below the threshold afterwards.

    ``latest`` maps goal id -> ``probability_record`` of its newest day; ``below`` the
    goals already announced as below (goal id -> as-of day). A running goal whose
    probability is under ``threshold`` is announced once when it falls below, and again
    only after it has come back up: a goal that stays unlikely does not page every day.
    Returns ([(goal id, message)], below)."""
    below = dict(below)
    found = []
    for goal_id, record in sorted(latest.items()):
        probability = record.get("probability")
        if probability is None:
            continue  # no verdict today: keep what was announced
        if record.get("status") in SETTLED or float(probability) >= threshold:
            below.pop(goal_id, None)
            continue
        if goal_id in below:
            continue
        below[goal_id] = str(record.get("as_of"))
        interval = ""
        if record.get("p10") is not None and record.get("p90") is not None:
            interval = (f"; the end value is likely between {record['p10']:.4g} and "
                        f"{record['p90']:.4g} (10th-90th percentile)")
        target = "" if record.get("target") is None else f" of {record['target']:.4g}"
        found.append((goal_id, f"probability {float(probability):.0%} of reaching the "
                      f"target{target} as of {record.get('as_of')} (alert below "
                      f"{threshold:.0%}): {record.get('kpi')} at {record.get('scope_key')}, "
                      f"{record.get('status')}{interval}"))
    return found, below
