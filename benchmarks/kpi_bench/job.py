"""What a timed step is: its name, the job it runs on, and the callable it becomes.

Shared by the parent (which names the steps to spawn) and the worker (which runs one), so
neither imports the other's side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

STEPS = ("floor", "chain", "library", "fixed")
# --write-path: what storing the increments costs when post snapshots are written (a day
# and a week at the end of the history, a day in its middle: the normalized asset's
# replace_window, against the same DELETE + INSERT without increments), and what they
# save: one KPI over the whole history with lag() over the snapshots, and with the
# stored increments.
WRITE_STEPS = ("write_day", "plain_day", "write_week", "plain_week", "write_mid_day",
               "plain_mid_day", "one_kpi_lag", "one_kpi_increments")


@dataclass(frozen=True)
class Job:
    """What a worker runs on: the database copy, the week, the goals, the settings."""

    db: str
    week: date
    goals: Path
    reports: Path
    config: dict[str, str]

    @property
    def sunday(self) -> date:
        return self.week + timedelta(days=6)


Step = Callable[[Job], dict[str, Any]]  # returns extra facts for the JSON (step timings)
