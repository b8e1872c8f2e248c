"""All partition definitions, with the one start date and week start of the project.

- The start date is ``KPI_PIPELINE_START_DATE`` (default 2024-01-01), read when the code
  location loads; each grain's first partition is its period holding that day.

- Daily partitions (goal attainment) are LOCAL report dates: partition 2025-03-03 holds
  each account's own 3 March, in that account's time zone.
- Weeks start on Monday (ISO weeks) everywhere: weekly KPIs, baselines and reports.
- The raw pulls and the normalized tables are partitioned by INGEST WEEK: the same
  Monday-to-Sunday local weeks, including the week in progress, so the morning pull of a
  Tuesday re-materializes this week's partition with the day that closed. Dagster records
  every asset and partition a run materializes (about 30 ms each in the SQLite instance):
  two years of 14 daily ingest assets were 10,192 asset-partitions, the same history by
  week is 1,456, and nothing reads the ingest layer a single day at a time.
- Months are calendar months; quarters are calendar quarters (January, April, July,
  October), one partition each.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from kpi_pipeline.defs import settings
from kpi_pipeline.lib.core.periods import period_first_day, shift_period

EARLIEST_START = date(2000, 1, 1)  # the first year the pipeline holds data for


def project_start(text: str | None = None) -> date:
    """The project's first day, from ``KPI_PIPELINE_START_DATE`` (``text`` for a test):
    a calendar date from 2000-01-01 to today; anything else stops the code location from
    loading with a message naming the variable."""
    raw = (settings.START_DATE.value() if text is None else text).strip()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{settings.START_DATE.name}={raw!r}: expected a date YYYY-MM-DD"
                         ) from None
    if not EARLIEST_START <= day <= date.today():
        raise ValueError(f"{settings.START_DATE.name}={raw}: expected a day from "
                         f"{EARLIEST_START} to today")
    return day


START = project_start()
START_DATE = START.isoformat()  # the daily partitions' first key
WEEK_START_DAY_OFFSET = 1  # Dagster's day_offset: 0 = Sunday, 1 = Monday
# each grain's first partition is its period holding the start: a week partition must
# begin on a Monday, a month on the 1st, a quarter on January, April, July or October 1st
FIRST_WEEK = period_first_day(START, "week").isoformat()

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE)
weekly_partitions = dg.WeeklyPartitionsDefinition(start_date=FIRST_WEEK,
                                                  day_offset=WEEK_START_DAY_OFFSET)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=period_first_day(START, "month").isoformat())
# Dagster has no quarterly definition of its own: a time window on the quarters' first days.
quarterly_partitions = dg.TimeWindowPartitionsDefinition(
    start=period_first_day(START, "quarter").isoformat(), cron_schedule="0 0 1 1,4,7,10 *",
    fmt="%Y-%m-%d")
PARTITIONS_FOR_GRAIN = {"week": weekly_partitions, "month": monthly_partitions,
                        "quarter": quarterly_partitions}
# end_offset=1: the week in progress is a partition too (its closed days are pulled daily).
ingest_weeks = dg.WeeklyPartitionsDefinition(start_date=FIRST_WEEK,
                                             day_offset=WEEK_START_DAY_OFFSET, end_offset=1)

# The tags by which a run names its partition or partition range (Dagster's own).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the partition keys ``first``..``last``."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def window_days(window: dg.TimeWindow) -> list[date]:
    """The local dates covered by a partition time window (end exclusive)."""
    first = window.start.date()
    count = (window.end.date() - first).days
    return [first + timedelta(days=i) for i in range(count)]


def window_bounds(window: dg.TimeWindow) -> tuple[date, date]:
    """First and last local date of a window (both inclusive)."""
    return window.start.date(), window.end.date() - timedelta(days=1)


def week_start(day: date) -> date:
    """The Monday of the week holding ``day``."""
    return day - timedelta(days=day.weekday())


def parse_day(key: str) -> date:
    return datetime.strptime(key, "%Y-%m-%d").date()


def period_starts(window: dg.TimeWindow, grain: str) -> list[date]:
    """The first day of every week, month or quarter inside a (single-run) partition
    window."""
    starts, current, end = [], window.start.date(), window.end.date()
    while current < end:
        starts.append(current)
        current = shift_period(current, grain, 1)
    return starts
