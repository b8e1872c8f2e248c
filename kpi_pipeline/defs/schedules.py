"""Jobs and schedules: what runs when.

``daily_ingest_job`` pulls every platform and rebuilds the normalized tables for a range
of ingest weeks in one run (single-run backfill policies). Every morning the daily
schedule runs it ONCE, over the weeks from the longest re-read window's first day to the
day that closed: each raw asset pulls, per stream, the day that closed and the days its
platform revises (Meta ads 28 days, TikTok 7, GA4 and LinkedIn 3, Facebook and Instagram
account insights 2; ``lib/core/streams.py``), keeping every other landed day, and the
normalized tables are rebuilt over those weeks from the landing files. The weekly and
monthly runs follow once the period has closed, then the day's goal attainment, then
the report pages.

Schedules run in the time zone ``KPI_PIPELINE_SCHEDULE_TIMEZONE`` (an IANA name, read
when the definitions load; default UTC).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

from kpi_pipeline.defs.partitions import START_DATE, parse_day, range_tags, week_start
from kpi_pipeline.lib.core.streams import STREAMS, platforms

TIMEZONE_ENV = "KPI_PIPELINE_SCHEDULE_TIMEZONE"

# normalized/exports is not partitioned and reads a folder, not the day's pulls: it runs
# when files are dropped (export_folder_sensor, or by hand), not with the daily ingest.
# The source freshness checks judge today, not the run's weeks: daily_freshness_schedule
# runs them on their own after the morning pull.
INGEST_SELECTION = (dg.AssetSelection.groups("raw", "normalized")
                    - dg.AssetSelection.assets(["normalized", "exports"])
                    - dg.AssetSelection.checks(*(
                        dg.AssetCheckKey(dg.AssetKey(["raw", p]), "source_fresh")
                        for p in platforms())))

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


def schedule_today(now: datetime | None = None) -> date:
    """Today in the schedules' time zone (of ``now``, else of the clock): the days before
    it are closed. The schedules, the pulls and the freshness checks share it, so the
    morning run pulls the day that closed wherever the time zone lies from UTC."""
    zone = ZoneInfo(schedule_timezone())
    return now.astimezone(zone).date() if now else datetime.now(zone).date()


def reread_requests(yesterday: date) -> list[dg.RunRequest]:
    """The morning's ingest, in as few runs as the re-read windows allow: one over the
    ingest week holding ``yesterday`` with every platform and table, and, when some
    stream's re-read window reaches into earlier weeks, one over those weeks with only the
    platforms of such streams and the tables they feed. Which days a raw asset pulls again
    inside its weeks is its own rule (``days_to_pull``)."""
    current = week_start(yesterday)
    requests = [dg.RunRequest(
        run_key=f"{yesterday.isoformat()}/ingest",
        tags=range_tags(current.isoformat(), current.isoformat()))]
    start = parse_day(START_DATE)
    reaching = {s: max(yesterday - timedelta(days=s.reread_days - 1), start) for s in STREAMS}
    earlier = [s for s, first in reaching.items() if first < current]
    if earlier:
        first = min(reaching[s] for s in earlier)
        keys = [dg.AssetKey(["raw", p]) for p in sorted({s.platform for s in earlier})]
        keys += [dg.AssetKey(["normalized", t]) for t in sorted({s.table for s in earlier})]
        requests.append(dg.RunRequest(
            run_key=f"{yesterday.isoformat()}/reread",
            asset_selection=keys,
            tags=range_tags(week_start(first).isoformat(),
                            (current - timedelta(days=7)).isoformat())
            | {"kpi_pipeline/reread_days": str(max(s.reread_days for s in earlier))}))
    return requests


def daily_ingest_schedule(timezone: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_ingest_schedule",
        job=daily_ingest_job,
        cron_schedule="15 6 * * *",
        execution_timezone=timezone,
        description="Every morning: the week of the day that closed, every platform and "
                    "table; and the earlier weeks that re-read windows reach (Meta ads 28 "
                    "days), with only those platforms and tables.",
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
