"""Source freshness: every stream's newest landing file is recent enough.

``source_fresh`` is one asset check per ``raw/<platform>`` (one multi-asset check, so a
run evaluates all platforms in one step, or any subset): it passes when the newest
landing file of each of the platform's streams is dated at least ``today - lag``, the lag
being the days that stream may trail (``LAG_DAYS``: a day by default, LinkedIn 3, whose
statistics settle late). A failure is a WARNING (never blocking): it shows on the raw
asset and in the reports' data-quality footer, naming the streams behind.

The check reads the landing folder, not Dagster's materialization history, so it also
notices files that were deleted or never arrived although a run succeeded. It runs:

- every morning from ``daily_freshness_schedule`` (after the daily pull), through the
  checks-only ``daily_freshness_job``, so a source that stopped is noticed even when no
  other run happens;
- in a run of raw assets launched from the asset graph (the checks target them); not in
  ``daily_ingest_job``, whose weeks say nothing of today.

Dagster's built-in freshness checks (``build_last_update_freshness_checks`` with
``build_sensor_for_freshness_checks``) judge the time of the last materialization, not
the date of the data landed, and are superseded by freshness policies; hence a custom
check plus a schedule.
"""


from datetime import date, timedelta

import dagster as dg
from pydantic import Field

from kpi_pipeline.defs.resources import Settings
from kpi_pipeline.defs.schedules import schedule_timezone, schedule_today
from kpi_pipeline.lib.core.streams import platforms, streams_for_platform
from kpi_pipeline.lib.sources.landing_checks import latest_landing_day

SOURCE_FRESH = "source_fresh"
DEFAULT_LAG_DAYS = 1
LAG_DAYS = {"linkedin_organization": 3, "linkedin_posts": 3, "linkedin_ads": 3}
FRESHNESS_CRON = "0 7 * * *"  # after the 06:15 daily pull


def lag_days(stream: str) -> int:
    """How many days the newest landing file of ``stream`` may trail today."""
    return LAG_DAYS.get(stream, DEFAULT_LAG_DAYS)


class FreshnessConfig(dg.Config):
    today: str = Field(
        default="",
        description="The day to judge freshness on (YYYY-MM-DD). Empty: today in the "
                    "schedules' time zone (KPI_PIPELINE_SCHEDULE_TIMEZONE, default UTC).")


def _today(config: FreshnessConfig) -> date:
    if config.today:
        return date.fromisoformat(config.today)
    return schedule_today()


def _lags(platform: str) -> str:
    return ", ".join(f"{s.name} {lag_days(s.name)} day(s)"
                     for s in streams_for_platform(platform))


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(
        SOURCE_FRESH, asset=dg.AssetKey(["raw", platform]), blocking=False,
        description=(f"The newest landing file of every {platform} stream is recent enough "
                     f"(at most {_lags(platform)} older than today): the source still "
                     "delivers. A warning, never a blocker."))
        for platform in platforms()],
    can_subset=True,
    name="source_freshness_checks",
)
def source_freshness_checks(context: dg.AssetCheckExecutionContext, config: FreshnessConfig,
                            settings: Settings):
    today = _today(config)
    store = settings.landing()
    selected = {key.asset_key for key in context.selected_asset_check_keys}
    for platform in platforms():
        key = dg.AssetKey(["raw", platform])
        if key not in selected:
            continue
        behind, streams = [], {}
        for stream in streams_for_platform(platform):
            lag = lag_days(stream.name)
            due = today - timedelta(days=lag)
            newest = latest_landing_day(store, stream.name)
            streams[stream.name] = {"latest_landing_day": str(newest) if newest else "none",
                                    "days_behind": (today - newest).days if newest else -1,
                                    "lag_days": lag, "expected_at_least": str(due)}
            if newest is None:
                behind.append(f"{stream.name}: no landing file under "
                              f"{store.child(stream.name)}")
            elif newest < due:
                behind.append(f"{stream.name}: newest landing file is for {newest}, "
                              f"{(today - newest).days} day(s) before {today}; expected "
                              f"{due} or later (lag {lag} day(s))")
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=SOURCE_FRESH,
            passed=not behind,
            severity=dg.AssetCheckSeverity.WARN,
            description=None if not behind else f"raw/{platform}: " + "; ".join(behind),
            metadata={"streams": dg.MetadataValue.json(streams),
                      "streams_behind": len(behind), "judged_on": str(today)},
        )


daily_freshness_job = dg.define_asset_job(
    name="daily_freshness_job",
    selection=dg.AssetSelection.checks(source_freshness_checks),
    description="Source freshness checks only: how far each stream's landing files trail.",
)


@dg.definitions
def defs() -> dg.Definitions:
    schedule = dg.ScheduleDefinition(
        name="daily_freshness_schedule",
        job=daily_freshness_job,
        cron_schedule=FRESHNESS_CRON,
        execution_timezone=schedule_timezone(),
        description="Every morning at 07:00: is every source's newest landing file recent "
                    "enough? Runs even when nothing else does.",
    )
    return dg.Definitions(asset_checks=[source_freshness_checks],
                          jobs=[daily_freshness_job], schedules=[schedule])
