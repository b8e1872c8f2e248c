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

import warnings
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

from kpi_pipeline.defs.partitions import START_DATE, parse_day, range_tags, week_start
from kpi_pipeline.defs.settings import SCHEDULE_TIMEZONE, ltv_window_days
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN, period_first_day, period_last_day
from kpi_pipeline.lib.core.streams import STREAMS, platforms

TIMEZONE_ENV = SCHEDULE_TIMEZONE.name

# normalized/exports is not partitioned and reads a folder, not the day's pulls: it runs
# when files are dropped (export_folder_sensor, or by hand), not with the daily ingest.
# The source freshness checks judge today, not the run's weeks: daily_freshness_schedule
# runs them on their own after the morning pull.
INGEST_SELECTION = (dg.AssetSelection.groups("raw", "normalized", "attribution")
                    - dg.AssetSelection.assets(["normalized", "exports"])
                    - dg.AssetSelection.checks(*(
                        dg.AssetCheckKey(dg.AssetKey(["raw", p]), "source_fresh")
                        for p in platforms())))

daily_ingest_job = dg.define_asset_job(
    name="daily_ingest_job",
    selection=INGEST_SELECTION,
    description="Pull every source stream, rebuild the validated normalized tables and "
                "attribute the weeks' web conversions.",
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

quarterly_kpi_job = dg.define_asset_job(
    name="quarterly_kpi_job",
    selection=dg.AssetSelection.assets(["kpi", "quarterly"], ["baseline", "quarterly"],
                                       ["diagnostic", "quarterly"]),
    description="Quarterly KPIs, baseline snapshots and diagnostics for closed quarters.",
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

quarterly_report_job = dg.define_asset_job(
    name="quarterly_report_job",
    selection=dg.AssetSelection.assets(["report", "quarterly"]),
    description="The quarterly report pages, after the quarter's KPIs and goal attainment.",
)


def schedule_timezone() -> str:
    """The IANA time zone the schedules tick in; a name that does not exist fails the
    code location's load with the variable named, rather than ticking at a wrong hour."""
    name = SCHEDULE_TIMEZONE.value()
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


# The days a cohort schedule looks back for windows that closed: a tick missed (the daemon
# down for a few days) is made up by the next one; run keys keep each period to one run.
COHORT_CATCH_UP_DAYS = 7


def cohort_close_requests(grain: str, yesterday: date, window_days: int
                          ) -> list[dg.RunRequest]:
    """The KPI runs of the periods of ``grain`` whose last customers' lifetime-value window
    closed on ``yesterday`` or on one of the days before it (``COHORT_CATCH_UP_DAYS``):
    computed again, their cohort lifetime value is final and complete (a period's KPIs are
    otherwise computed once, when it closes, with its cohort still open). One run per
    period, keyed by it, so each period is recomputed once."""
    first_key = period_first_day(parse_day(START_DATE), grain)
    requests = []
    for back in range(COHORT_CATCH_UP_DAYS):
        window_end = yesterday - timedelta(days=back)
        last = window_end - timedelta(days=window_days - 1)  # the cohort's last day
        if period_last_day(last, grain) != last or period_first_day(last, grain) < first_key:
            continue
        key = period_first_day(last, grain).isoformat()
        requests.append(dg.RunRequest(
            run_key=f"cohort/{grain}/{key}", partition_key=key,
            asset_selection=[dg.AssetKey(["kpi", TABLE_FOR_GRAIN[grain]])],
            tags={"kpi_pipeline/cohort_window_days": str(window_days)}))
    return requests


COHORT_JOBS = {"week": weekly_kpi_job, "month": monthly_kpi_job, "quarter": quarterly_kpi_job}


def cohort_kpi_schedule(grain: str, timezone: str) -> dg.ScheduleDefinition:
    noun = {"week": "weekly", "month": "monthly", "quarter": "quarterly"}[grain]

    @dg.schedule(
        name=f"{noun}_cohort_kpi_schedule",
        job=COHORT_JOBS[grain],
        cron_schedule="0 12 * * *",
        execution_timezone=timezone,
        description=f"Every day at noon: kpi/{TABLE_FOR_GRAIN[grain]} again for the {grain} "
                    "whose customers' lifetime-value window closed the day before (its last "
                    "day + KPI_PIPELINE_LTV_WINDOW_DAYS - 1), so its cohort lifetime value "
                    "is final; each period once.",
    )
    def _cohort(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        today = context.scheduled_execution_time.astimezone(ZoneInfo(timezone)).date()
        return cohort_close_requests(grain, today - timedelta(days=1), ltv_window_days())

    return _cohort


#: When each period is over, in the schedules' time zone: from that tick an asset waits
#: for its upstream data to be updated, then runs.
PERIOD_CRONS = {"day": "0 0 * * *", "week": "0 0 * * 1", "month": "0 0 1 * *",
                "quarter": "0 0 1 1,4,7,10 *"}
AUTOMATION_SENSOR = "period_automation_sensor"


def period_conditions(timezone: str) -> dict[dg.AssetKey, dg.AutomationCondition]:
    """What runs after what, as conditions on the assets rather than hours on a clock.

    Each period's assets wait from the period's end (midnight in ``timezone``) until every
    upstream asset has been updated since then, then run for the period that closed:
    the weekly and monthly KPIs after the morning pull of the period's last day, the
    baselines at once (a snapshot as of the period's start reads the periods before it),
    the diagnostics after both, the day's attainment after the pull (and the
    goal definitions, read again each day), the report pages after all of those and only
    when every blocking check upstream passed. A late or failed pull delays what depends
    on it instead of letting it run on stale data. Attainment does not wait for the
    weekly baselines: a goal is judged against the snapshot taken at its start, long
    before the day."""
    def on(grain: str) -> dg.AutomationCondition:
        return dg.AutomationCondition.on_cron(PERIOD_CRONS[grain], timezone)

    conditions: dict[dg.AssetKey, dg.AutomationCondition] = {
        dg.AssetKey(["goal", "definitions"]): on("day"),
        dg.AssetKey(["goal", "attainment"]): on("day").ignore(
            dg.AssetSelection.assets(["baseline", "weekly"])),
    }
    for grain, table in TABLE_FOR_GRAIN.items():
        # the export folder loads when files are dropped, not every period: not waited for
        conditions[dg.AssetKey(["kpi", table])] = on(grain).ignore(
            dg.AssetSelection.assets(["normalized", "exports"]))
        # a snapshot as of the period's start reads only the periods before it: it can be
        # taken as soon as the period closes
        conditions[dg.AssetKey(["baseline", table])] = on(grain).ignore(
            dg.AssetSelection.assets(["kpi", table]))
        conditions[dg.AssetKey(["diagnostic", table])] = on(grain)
        conditions[dg.AssetKey(["report", table])] = (
            on(grain) & dg.AutomationCondition.all_deps_blocking_checks_passed())
    return conditions


def with_period_automation(defs: dg.Definitions, timezone: str) -> dg.Definitions:
    """``defs`` with :func:`period_conditions` set on their assets.

    Set here rather than in each asset's decorator so the time zone is read when the
    definitions load (as the schedules read it), not when a module is first imported.
    ``map_asset_specs`` is marked preview in Dagster 1.13; its warning is silenced here
    only, so every load does not print it."""
    conditions = period_conditions(timezone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_asset_specs(func=lambda spec: spec.replace_attributes(
            automation_condition=conditions[spec.key]) if spec.key in conditions else spec)


def build_schedules(timezone: str) -> list[dg.ScheduleDefinition]:
    """Every schedule of the project, ticking in ``timezone``: the morning pull, and the
    KPIs of the periods whose cohort window has just closed. What follows the pull runs on
    the assets' conditions (``period_conditions``)."""
    return [daily_ingest_schedule(timezone),
            *(cohort_kpi_schedule(grain, timezone) for grain in TABLE_FOR_GRAIN)]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[daily_ingest_job, weekly_kpi_job, monthly_kpi_job, quarterly_kpi_job,
              goal_attainment_job, weekly_report_job, monthly_report_job,
              quarterly_report_job],
        schedules=build_schedules(schedule_timezone()),
        sensors=[dg.AutomationConditionSensorDefinition(
            AUTOMATION_SENSOR, target=dg.AssetSelection.all(),
            description="Runs each period's KPIs, baselines, diagnostics, goal attainment "
                        "and report pages once the period has closed and their upstream "
                        "data has been updated since (the assets' automation conditions).")])
