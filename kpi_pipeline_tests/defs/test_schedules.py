"""The morning pull's schedule: which partitions each tick asks for, the re-read windows,
and the configurable time zone (what follows the pull: test_automation.py); the cohort
schedules, which compute a period's KPIs again once its lifetime-value window closed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from kpi_pipeline.defs.schedules import (
    TIMEZONE_ENV,
    build_schedules,
    cohort_close_requests,
    reread_requests,
    schedule_timezone,
    schedule_today,
)

RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def test_the_morning_runs_this_week_whole_and_earlier_weeks_only_where_rereads_reach():
    week, earlier = reread_requests(date(2025, 3, 19))  # a Wednesday
    assert (week.tags[RANGE[0]], week.tags[RANGE[1]]) == ("2025-03-17", "2025-03-17")
    assert week.asset_selection is None and week.run_key == "2025-03-19/ingest"
    # Meta ads re-read 28 days (20 Feb..19 Mar): the weeks of 17 Feb..10 Mar; TikTok's 7
    # days reach 13 March; GA4, LinkedIn and Facebook/Instagram stay in this week.
    assert (earlier.tags[RANGE[0]], earlier.tags[RANGE[1]]) == ("2025-02-17", "2025-03-10")
    assert {k.to_user_string() for k in earlier.asset_selection} == {
        "raw/meta", "raw/tiktok", "normalized/ad_daily", "normalized/account_daily"}
    assert earlier.run_key == "2025-03-19/reread"


def test_on_a_monday_morning_the_two_day_windows_reach_last_week():
    week, earlier = reread_requests(date(2025, 3, 17))  # yesterday: a Monday
    assert week.tags[RANGE[0]] == "2025-03-17"
    selected = {k.to_user_string() for k in earlier.asset_selection}
    assert {"raw/facebook", "raw/instagram", "raw/ga4", "raw/linkedin"} <= selected
    assert "raw/mailchimp" not in selected and "normalized/email_daily" not in selected


def test_each_stream_pulls_again_only_its_reread_window():
    """The raw assets' rule: with every day of four weeks already landed, the morning of
    20 March pulls each stream's re-read window ending yesterday, and nothing else."""
    from datetime import timedelta

    from kpi_pipeline.defs.raw.assets import days_to_pull
    from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME

    today = date(2025, 3, 20)
    days = [date(2025, 2, 17) + timedelta(days=i) for i in range(35)]  # up to 23 March
    landed = {d for d in days if d < today}
    expected = {"meta_ads": (date(2025, 2, 20), 28), "tiktok_ads": (date(2025, 3, 13), 7),
                "ga4_sessions": (date(2025, 3, 17), 3),
                "facebook_page": (date(2025, 3, 18), 2),
                "facebook_posts": (date(2025, 3, 19), 1)}
    for name, (first, count) in expected.items():
        pulled = days_to_pull(STREAMS_BY_NAME[name], days, today, landed)
        assert pulled == [first + timedelta(days=i) for i in range(count)], name
    # a day not landed yet is pulled wherever it is; days from today on never are
    missing = landed - {date(2025, 2, 18)}
    assert days_to_pull(STREAMS_BY_NAME["facebook_posts"], days, today, missing) == [
        date(2025, 2, 18), date(2025, 3, 19)]
    assert days_to_pull(STREAMS_BY_NAME["facebook_posts"], days, today, landed,
                        repull=True) == sorted(landed)


def test_windows_never_reach_before_the_first_partition():
    [request] = reread_requests(date(2024, 1, 3))  # the first week: nothing before it
    assert (request.tags[RANGE[0]], request.tags[RANGE[1]]) == ("2024-01-01", "2024-01-01")


def test_the_morning_run_pulls_the_reread_days_and_rebuilds_the_weeks(resources):
    from kpi_pipeline.defs.normalized.assets import normalized_assets
    from kpi_pipeline.defs.raw.assets import raw_assets

    # earlier mornings landed every closed day (the demo clock is 20 March)
    assert dg.materialize([*raw_assets, *normalized_assets], resources=resources,
                          tags=dict(zip(RANGE, ("2025-02-17", "2025-03-17"), strict=True)),
                          ).success
    count = "SELECT count(*) FROM normalized.web_daily WHERE report_date BETWEEN ? AND ?"
    with resources["warehouse"].get_connection(read_only=True) as conn:
        before = conn.execute(count, ["2025-03-17", "2025-03-19"]).fetchone()[0]
    pulled: dict[str, int] = {}
    assets = [*raw_assets, *normalized_assets]
    for request in reread_requests(date(2025, 3, 19)):
        selection = (None if request.asset_selection is None
                     else dg.AssetSelection.assets(*request.asset_selection))
        result = dg.materialize(assets, resources=resources, tags=request.tags,
                                selection=selection)
        assert result.success
        # a run over several weeks records one materialization per week, same metadata
        once = {e.asset_key: e.materialization.metadata
                for e in result.get_asset_materialization_events()}
        for meta in once.values():
            for stream, days in meta.get("pulled_by_stream", dg.MetadataValue.json({})
                                         ).value.items():
                pulled[stream] = pulled.get(stream, 0) + days
    assert pulled["meta_ads"] == 28 and pulled["tiktok_ads"] == 7
    assert pulled["ga4_sessions"] == 3 and pulled["facebook_page"] == 2
    assert pulled["facebook_posts"] == 1 and pulled["mailchimp_list"] == 1
    with resources["warehouse"].get_connection(read_only=True) as conn:
        assert conn.execute(count, ["2025-03-17", "2025-03-19"]).fetchone()[0] == before > 0


def test_schedules_tick_in_the_configured_time_zone(monkeypatch):
    monkeypatch.setenv(TIMEZONE_ENV, "America/Los_Angeles")
    schedules = {s.name: s for s in build_schedules(schedule_timezone())}
    assert {s.execution_timezone for s in schedules.values()} == {"America/Los_Angeles"}
    # 03:00 UTC on the 20th is still the 19th in Los Angeles: yesterday is the 18th
    tick = datetime(2025, 3, 20, 3, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        daily = schedules["daily_ingest_schedule"](context)
    assert daily[0].run_key == "2025-03-18/ingest"
    assert daily[0].tags[RANGE[1]] == "2025-03-17"  # the ingest week holding the 18th


def test_the_pulls_close_days_in_the_schedules_time_zone(monkeypatch):
    """06:15 in Tokyo is 21:15 UTC the day before: the morning run asks for Tokyo's
    yesterday, and the pulls count it as closed (a UTC clock would leave it out)."""
    from kpi_pipeline.defs.raw.assets import days_to_pull
    from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME

    monkeypatch.setenv(TIMEZONE_ENV, "Asia/Tokyo")
    tick = datetime(2025, 3, 19, 21, 15, tzinfo=UTC)
    assert schedule_today(tick) == date(2025, 3, 20)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        daily = {s.name: s for s in build_schedules(schedule_timezone())}[
            "daily_ingest_schedule"](context)
    assert daily[0].run_key == "2025-03-19/ingest"
    week = [date(2025, 3, 17 + i) for i in range(7)]
    pulled = days_to_pull(STREAMS_BY_NAME["mailchimp_list"], week, schedule_today(tick),
                          landed={date(2025, 3, 17), date(2025, 3, 18)})
    assert pulled == [date(2025, 3, 19)]


def test_an_unknown_time_zone_is_named(monkeypatch):
    monkeypatch.setenv(TIMEZONE_ENV, "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match=f"{TIMEZONE_ENV}='Mars/Olympus_Mons'"):
        schedule_timezone()


def test_every_late_published_day_is_pulled_once_it_is_out():
    """A stream the platform publishes N days late lands "pending" for the newest N days;
    a later morning's re-read window must then reach the day when it is out (today - N)."""
    from datetime import timedelta

    from kpi_pipeline.defs.raw.assets import days_to_pull
    from kpi_pipeline.lib.core.streams import STREAMS

    today = date(2025, 3, 20)
    requests = reread_requests(today - timedelta(days=1))
    days = [date(2025, 3, 10) + timedelta(days=i) for i in range(14)]
    late = [s for s in STREAMS if s.publish_lag_days]
    assert [s.name for s in late] == ["linkedin_organization"]
    for stream in late:
        out = today - timedelta(days=stream.publish_lag_days)
        assert out in days_to_pull(stream, days, today, set(days)), stream.name
        assert min(r.tags[RANGE[0]] for r in requests) <= out.isoformat()


# ------------------------------------------------------------------ cohort schedules
def keys(requests: list[dg.RunRequest]) -> list[str]:
    return [r.partition_key for r in requests]


def test_a_period_is_computed_again_the_day_after_its_cohort_window_closed():
    """180 days: January 2025's last customers (31 January) are followed to 29 July
    (31 January + 179), so the tick of the 30th asks for January's KPIs; the fourth
    quarter of 2024 closes on 28 June (31 December + 179); the week of 20 January, whose
    Sunday is the 26th, on 24 July."""
    january = cohort_close_requests("month", date(2025, 7, 29), 180)
    assert keys(january) == ["2025-01-01"]
    assert january[0].run_key == "cohort/month/2025-01-01"
    assert january[0].asset_selection == [dg.AssetKey(["kpi", "monthly"])]
    assert keys(cohort_close_requests("month", date(2025, 7, 28), 180)) == []
    assert keys(cohort_close_requests("quarter", date(2025, 6, 28), 180)) == ["2024-10-01"]
    assert keys(cohort_close_requests("week", date(2025, 7, 24), 180)) == ["2025-01-20"]
    # a tick missed is made up within a week, under the same run key
    assert keys(cohort_close_requests("month", date(2025, 8, 4), 180)) == ["2025-01-01"]
    assert keys(cohort_close_requests("month", date(2025, 8, 5), 180)) == []
    # a whole week of days looked back: one week closes each of them
    assert len(cohort_close_requests("week", date(2025, 7, 24), 180)) == 1


def test_the_cohort_schedules_tick_with_the_configured_window(monkeypatch):
    monkeypatch.setenv("KPI_PIPELINE_LTV_WINDOW_DAYS", "30")
    schedules = {s.name: s for s in build_schedules(schedule_timezone())}
    # the window of 31 January ends on 1 March (+ 29 days): the tick of the 3rd looks back
    tick = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        monthly = schedules["monthly_cohort_kpi_schedule"](context)
    assert keys(monthly) == ["2025-01-01"]
    monkeypatch.setenv("KPI_PIPELINE_LTV_WINDOW_DAYS", "six months")
    with (dg.build_schedule_context(scheduled_execution_time=tick) as context,
          pytest.raises(ValueError, match="KPI_PIPELINE_LTV_WINDOW_DAYS='six months'")):
        schedules["monthly_cohort_kpi_schedule"](context)
