"""Jobs and schedules: what runs when.

``daily_ingest_job`` pulls every stream and rebuilds the normalized tables for a range of
local days in one run (single-run backfill policies). Every morning the daily schedule
runs it for the day that closed, and once more per re-read window: each stream whose
platform revises recent days is pulled again over its own window (Meta ads 28 days,
TikTok 7, GA4 and LinkedIn 3, Facebook and Instagram account insights 2), and the
normalized tables those streams feed are rebuilt over the same days. The weekly and
monthly runs follow once the period has closed, then the day's goal attainment, then
the report pages.

Schedules run in the time zone ``KPI_PIPELINE_SCHEDULE_TIMEZONE`` (an IANA name, read
when the definitions load; default UTC).
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

from kpi_pipeline.defs.partitions import START_DATE, parse_day
from kpi_pipeline.lib.streams import STREAMS, Stream

TIMEZONE_ENV = "KPI_PIPELINE_SCHEDULE_TIMEZONE"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# normalized/exports is not partitioned and reads a folder, not the day's pulls: it runs
# when files are dropped (export_folder_sensor, or by hand), not with the daily ingest.
INGEST_SELECTION = (dg.AssetSelection.groups("raw", "normalized")
                    - dg.AssetSelection.assets(["normalized", "exports"]))

daily_ingest_job = dg.define_asset_job(
    name="daily_ingest_job",
    selection=INGEST_SELECTION,
    description="Pull every source stream and rebuild the validated normalized tables.",
)

weekly_kpi_job = dg.define_asset_job(
    name="weekly_kpi_job",
    selection=dg.AssetSelection.assets(["kpi", "weekly"], ["baseline", "weekly"],
                                       ["diagnostic", "weekly"]),
    description="Weekly KPIs, baseline snapshots and diagnostics for closed weeks "
                "(Monday to Sunday).",
)

monthly_kpi_job = dg.define_asset_job(
    name="monthly_kpi_job",
    selection=dg.AssetSelection.assets(["kpi", "monthly"], ["baseline", "monthly"],
                                       ["diagnostic", "monthly"]),
    description="Monthly KPIs, baseline snapshots and diagnostics for closed months.",
)

goal_attainment_job = dg.define_asset_job(
    name="goal_attainment_job",
    selection=dg.AssetSelection.groups("goal"),
    description="Goal attainment for each day: after the day's pull and the weekly baselines.",
)

weekly_report_job = dg.define_asset_job(
    name="weekly_report_job",
    selection=dg.AssetSelection.assets(["report", "weekly"]),
    description="The weekly report pages, after the week's KPIs and goal attainment.",
)

monthly_report_job = dg.define_asset_job(
    name="monthly_report_job",
    selection=dg.AssetSelection.assets(["report", "monthly"]),
    description="The monthly report pages, after the month's KPIs and goal attainment.",
)


def schedule_timezone() -> str:
    """The IANA time zone the schedules tick in; a name that does not exist fails the
    code location's load with the variable named, rather than ticking at a wrong hour."""
    name = os.environ.get(TIMEZONE_ENV) or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{TIMEZONE_ENV}={name!r} is not an IANA time zone "
                         "(for example Europe/Berlin or America/New_York)") from exc
    return name


def reread_requests(yesterday: date) -> list[dg.RunRequest]:
    """The morning's ingest runs: every stream and table for ``yesterday``, then one run
    per longer re-read window over the days before it, with only that window's streams
    and the normalized tables they feed.

    The re-read runs stop the day before ``yesterday`` so they never need a landing file
    the morning's first run is still writing: a table rebuilt over a window reads every
    stream's file for those days, and the older ones are already there."""
    requests = [dg.RunRequest(run_key=f"{yesterday.isoformat()}/day",
                              partition_key=yesterday.isoformat())]
    windows: dict[int, list[Stream]] = {}
    for stream in STREAMS:
        if stream.reread_days > 1:
            windows.setdefault(stream.reread_days, []).append(stream)
    start = parse_day(START_DATE)
    last = yesterday - timedelta(days=1)
    for days, streams in sorted(windows.items(), reverse=True):
        first = max(yesterday - timedelta(days=days - 1), start)
        if first > last:
            continue
        keys = [dg.AssetKey(["raw", s.name]) for s in streams]
        keys += [dg.AssetKey(["normalized", t]) for t in sorted({s.table for s in streams})]
        requests.append(dg.RunRequest(
            run_key=f"{yesterday.isoformat()}/reread-{days}d",
            asset_selection=keys,
            tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat(),
                  "kpi_pipeline/reread_days": str(days)},
        ))
    return requests


def daily_ingest_schedule(timezone: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_ingest_schedule",
        job=daily_ingest_job,
        cron_schedule="15 6 * * *",
        execution_timezone=timezone,
        description="Every morning: pull every stream for the day that closed, and pull "
                    "again each stream's re-read window before it (one run per window), "
                    "rebuilding the normalized tables those streams feed.",
    )
    def _daily(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        today = context.scheduled_execution_time.astimezone(ZoneInfo(timezone)).date()
        return reread_requests(today - timedelta(days=1))

    return _daily


def last_closed_period(today: date, grain: str) -> date:
    """Start of the last day, week (Monday) or month wholly before ``today``."""
    if grain == "day":
        return today - timedelta(days=1)
    if grain == "week":
        return today - timedelta(days=today.weekday() + 7)
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def period_schedule(job, grain: str, cron: str, timezone: str,
                    description: str) -> dg.ScheduleDefinition:
    """A schedule that runs ``job`` for the last closed day, week or month as seen in
    ``timezone`` when it ticks."""

    @dg.schedule(name=job.name.replace("_job", "_schedule"), job=job, cron_schedule=cron,
                 execution_timezone=timezone, description=description)
    def _period(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        today = context.scheduled_execution_time.astimezone(ZoneInfo(timezone)).date()
        key = last_closed_period(today, grain).isoformat()
        return dg.RunRequest(run_key=key, partition_key=key)

    return _period


def build_schedules(timezone: str) -> list[dg.ScheduleDefinition]:
    """Every schedule of the project, ticking in ``timezone``."""
    return [
        daily_ingest_schedule(timezone),
        period_schedule(weekly_kpi_job, "week", "0 8 * * 1", timezone,
                        "Monday 08:00: KPIs, baselines and diagnostics of the week that "
                        "just closed."),
        period_schedule(monthly_kpi_job, "month", "0 8 2 * *", timezone,
                        "On the 2nd at 08:00: KPIs, baselines and diagnostics of the month "
                        "that just closed."),
        period_schedule(goal_attainment_job, "day", "0 9 * * *", timezone,
                        "Every morning at 09:00: goal attainment of the day that closed, "
                        "after the pull and (on Mondays) the weekly run."),
        period_schedule(weekly_report_job, "week", "30 9 * * 1", timezone,
                        "Monday 09:30: the weekly report pages, after the weekly KPIs and "
                        "the day's goal attainment."),
        period_schedule(monthly_report_job, "month", "30 9 2 * *", timezone,
                        "On the 2nd at 09:30: the monthly report pages, after the monthly "
                        "KPIs and the day's goal attainment."),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(schedules=build_schedules(schedule_timezone()))
