"""What deserves an alert, decided from the store and from Dagster's event log.

Two things page a human when nobody watches the weekly and monthly runs: a goal whose
status turns "off track" or "missed", and a blocking data-quality check that fails
(the reports downstream of it did not render). Both are plain functions here; the
sensors in ``kpi_pipeline/defs/alerts`` call them and hand each alert to a notifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

BAD_STATUSES = ("off track", "missed")


@dataclass(frozen=True)
class Alert:
    """One alert: what kind, what it is about, and a sentence a marketer understands."""

    kind: str  # "goal_off_track" or "check_failed"
    subject: str  # the goal id, or the asset check key
    text: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.subject}: {self.text}"


def _has_attainment(conn: duckdb.DuckDBPyConnection) -> bool:
    return bool(conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = "
                             "'goal' AND table_name = 'attainment'").fetchone()[0])


def goals_turned_bad(conn: duckdb.DuckDBPyConnection, after: date | None) -> list[Alert]:
    """Goals whose status became off track or missed on a day after ``after``: the
    previous day's status was another one (or the goal had no row the day before).
    A goal that stays off track alerts once, on the day it turned."""
    if not _has_attainment(conn):
        return []
    rows = conn.execute(
        """WITH history AS (
               SELECT goal_id, as_of, status, status_rule, kpi, scope_key, actual, target,
                      percent_of_target,
                      lag(status) OVER (PARTITION BY goal_id ORDER BY as_of) AS before,
                      lag(as_of) OVER (PARTITION BY goal_id ORDER BY as_of) AS before_day
               FROM goal.attainment)
           SELECT goal_id, as_of, status, status_rule, kpi, scope_key, percent_of_target,
                  before
           FROM history
           WHERE list_contains($bad, status)
             AND (before IS NULL OR NOT list_contains($bad, before)
                  OR before_day <> as_of - INTERVAL 1 DAY)
             AND ($after IS NULL OR as_of > $after)
           ORDER BY as_of, goal_id""",
        {"bad": list(BAD_STATUSES), "after": after}).fetchall()
    alerts = []
    for goal_id, as_of, status, rule, kpi, scope_key, percent, before in rows:
        share = "" if percent is None else f", {percent:.0%} of target"
        was = f" (was {before})" if before else ""
        alerts.append(Alert("goal_off_track", goal_id,
                            f"{status} as of {as_of}{was}: {kpi} at {scope_key}{share}; "
                            f"{rule}"))
    return alerts


def latest_attainment_day(conn: duckdb.DuckDBPyConnection) -> date | None:
    """The newest as-of day in goal.attainment, or None when there is none."""
    if not _has_attainment(conn):
        return None
    return conn.execute("SELECT max(as_of) FROM goal.attainment").fetchone()[0]


def check_failure_alert(asset_key: str, check_name: str, passed: bool, blocking: bool,
                        severity: str, partition: str | None,
                        description: str | None) -> Alert | None:
    """An alert for a failed check that blocks (or is an error), else None. Warnings
    show in the UI and the reports' footer; they do not page anyone."""
    if passed or not (blocking or severity == "ERROR"):
        return None
    where = f" partition {partition}" if partition else ""
    what = "blocking check" if blocking else "check"
    detail = f": {description}" if description else ""
    return Alert("check_failed", f"{asset_key}:{check_name}",
                 f"{what} failed on {asset_key}{where}; downstream assets (reports "
                 f"included) did not run{detail}")
