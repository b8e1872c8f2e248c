"""What deserves an alert, decided from the store and from Dagster's check records.

Two things page a human when nobody watches the weekly and monthly runs: a goal whose
status turns "off track" or "missed", and a blocking data-quality check that fails
(the reports downstream of it did not render). Both are plain functions here; the
sensors in ``kpi_pipeline/defs/alerts`` call them and hand each alert to a notifier.

Goal turns are found by the ``goal/attainment`` asset for the window it computes
(``goal_turns``) and carried in its materialization metadata (``turn_records``); the
goal sensor reads them back (``AttainmentTurns``, ``goal_alerts``) without opening the
store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import duckdb

BAD_STATUSES = ("off track", "missed")
TURNS_KEPT = 50  # newest goal turns listed in one materialization's metadata


@dataclass(frozen=True)
class Alert:
    """One alert: what kind, what it is about, and a sentence a marketer understands."""

    kind: str  # "goal_off_track" or "check_failed"
    subject: str  # the goal id, or the asset check key
    text: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.subject}: {self.text}"


@dataclass(frozen=True)
class GoalTurn:
    """A goal whose status became off track or missed on ``as_of``; ``was`` is the status
    of the day before (None when the goal had no row that day)."""

    goal_id: str
    as_of: date
    status: str
    was: str | None
    kpi: str
    scope_key: str
    percent_of_target: float | None
    rule: str

    def alert(self) -> Alert:
        percent = self.percent_of_target
        share = "" if percent is None else f", {percent:.0%} of target"
        was = f" (was {self.was})" if self.was else ""
        return Alert("goal_off_track", self.goal_id,
                     f"{self.status} as of {self.as_of}{was}: {self.kpi} at {self.scope_key}"
                     f"{share}; {self.rule}")

    def record(self) -> dict[str, object]:
        """JSON-ready form, as kept in the materialization metadata."""
        percent = self.percent_of_target
        return {"goal_id": self.goal_id, "as_of": self.as_of.isoformat(),
                "status": self.status, "was": self.was, "kpi": self.kpi,
                "scope_key": self.scope_key,
                "percent_of_target": percent if percent is None or math.isfinite(percent)
                else None,
                "rule": self.rule}

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> GoalTurn:
        percent, was = record.get("percent_of_target"), record.get("was")
        return cls(str(record["goal_id"]), date.fromisoformat(str(record["as_of"])),
                   str(record["status"]), None if was is None else str(was),
                   str(record.get("kpi", "")), str(record.get("scope_key", "")),
                   None if percent is None else float(percent), str(record.get("rule", "")))


def _has_attainment(conn: duckdb.DuckDBPyConnection) -> bool:
    return bool(conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = "
                             "'goal' AND table_name = 'attainment'").fetchone()[0])


def goal_turns(conn: duckdb.DuckDBPyConnection, first: date | None = None,
               last: date | None = None, after: date | None = None) -> list[GoalTurn]:
    """Goals whose status became off track or missed on a day in [first, last] (either end
    open when None) and after ``after``: the previous day's status was another one (or
    the goal had no row the day before). A goal that stays off track turns once, on the
    day it turned. Reads only the days from ``first - 1`` to ``last``."""
    if not _has_attainment(conn):
        return []
    rows = conn.execute(
        """WITH history AS (
               SELECT goal_id, as_of, status, status_rule, kpi, scope_key, actual, target,
                      percent_of_target,
                      lag(status) OVER (PARTITION BY goal_id ORDER BY as_of) AS before,
                      lag(as_of) OVER (PARTITION BY goal_id ORDER BY as_of) AS before_day
               FROM goal.attainment
               WHERE ($first IS NULL OR as_of >= CAST($first AS DATE) - INTERVAL 1 DAY)
                 AND ($last IS NULL OR as_of <= CAST($last AS DATE)))
           SELECT goal_id, as_of, status, status_rule, kpi, scope_key, percent_of_target,
                  before
           FROM history
           WHERE list_contains($bad, status)
             AND (before IS NULL OR NOT list_contains($bad, before)
                  OR before_day <> as_of - INTERVAL 1 DAY)
             AND ($first IS NULL OR as_of >= CAST($first AS DATE))
             AND ($after IS NULL OR as_of > $after)
           ORDER BY as_of, goal_id""",
        {"bad": list(BAD_STATUSES), "first": first, "last": last, "after": after}).fetchall()
    return [GoalTurn(goal_id, as_of, status, before, kpi, scope_key,
                     None if percent is None else float(percent), rule)
            for goal_id, as_of, status, rule, kpi, scope_key, percent, before in rows]




def turn_records(turns: Sequence[GoalTurn], kept: int = TURNS_KEPT) -> list[dict[str, object]]:
    """The newest ``kept`` turns (by day, then goal), oldest first, JSON-ready."""
    newest = sorted(turns, key=lambda t: (t.as_of, t.goal_id))[-kept:] if kept else []
    return [turn.record() for turn in newest]


@dataclass(frozen=True)
class AttainmentTurns:
    """What one materialization of goal/attainment says about goal turns: the window it
    computed, its newest as-of day, the turns it listed and how many it found."""

    first: date | None
    last: date | None
    last_as_of: date | None
    turns: tuple[GoalTurn, ...]
    total: int

    @classmethod
    def from_metadata(cls, window: str | None, last_as_of: str | None,
                      records: Iterable[Mapping[str, object]] | None,
                      total: int | None) -> AttainmentTurns:
        first = last = None
        if window and ".." in window:
            first, last = (date.fromisoformat(part) for part in window.split("..", 1))
        turns = tuple(GoalTurn.from_record(r) for r in records or ())
        return cls(first, last, date.fromisoformat(last_as_of) if last_as_of else None,
                   turns, len(turns) if total is None else total)

    def covers(self, day: date) -> bool:
        return self.first is not None and self.last is not None and \
            self.first <= day <= self.last


def goal_alerts(runs: Sequence[AttainmentTurns], after: date | None
                ) -> tuple[list[Alert], date | None]:
    """The alerts for the goal turns after ``after`` listed by ``runs`` (oldest first), and
    the newest as-of day they reached. A later run that recomputed a window replaces the
    turns of the runs before it for the days of that window, so each turn of the final
    table is announced once. When a run listed fewer turns than it found and the ones left
    out may be newer than ``after``, one alert says how many to look up."""
    pending: dict[tuple[str, date], GoalTurn] = {}
    newest = after
    unlisted: list[AttainmentTurns] = []
    for run in runs:
        pending = {key: turn for key, turn in pending.items() if not run.covers(turn.as_of)}
        pending.update({(t.goal_id, t.as_of): t for t in run.turns})
        if run.total > len(run.turns):
            oldest_listed = min((t.as_of for t in run.turns), default=None)
            if after is None or oldest_listed is None or oldest_listed > after:
                unlisted.append(run)
        if run.last_as_of and (newest is None or run.last_as_of > newest):
            newest = run.last_as_of
    turns = sorted((t for t in pending.values() if after is None or t.as_of > after),
                   key=lambda t: (t.as_of, t.goal_id))
    alerts = [turn.alert() for turn in turns]
    for run in unlisted:
        alerts.append(Alert("goal_off_track", "goal/attainment",
                            f"{run.total - len(run.turns)} more goal turn(s) in "
                            f"{run.first}..{run.last} than the metadata lists; see the "
                            "goal scorecard"))
    return alerts, newest


def check_failure_alert(asset_key: str, check_name: str, passed: bool, blocking: bool,
                        severity: str, partition: str | None,
                        description: str | None, window: str | None = None) -> Alert | None:
    """An alert for a failed check that blocks (or is an error), else None. Warnings
    show in the UI and the reports' footer; they do not page anyone. ``window`` is the
    partition window the evaluation judged ("YYYY-MM-DD..YYYY-MM-DD"), when known."""
    if passed or not (blocking or severity == "ERROR"):
        return None
    where = f" partition {partition}" if partition else (f" window {window}" if window else "")
    what = "blocking check" if blocking else "check"
    detail = f": {description}" if description else ""
    return Alert("check_failed", f"{asset_key}:{check_name}",
                 f"{what} failed on {asset_key}{where}; downstream assets (reports "
                 f"included) did not run{detail}")
