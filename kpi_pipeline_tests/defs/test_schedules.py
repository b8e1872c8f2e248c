"""The schedules: which partitions each tick asks for, the re-read windows of the
morning pull, and the configurable time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from kpi_pipeline.defs.schedules import (
    TIMEZONE_ENV,
    build_schedules,
    last_closed_period,
    reread_requests,
    schedule_timezone,
)

RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


@pytest.mark.parametrize(("today", "grain", "start"), [
    (date(2025, 3, 20), "day", date(2025, 3, 19)),
    (date(2025, 3, 17), "week", date(2025, 3, 10)),  # a Monday: the week before
    (date(2025, 3, 20), "week", date(2025, 3, 10)),  # a Thursday: still that week
    (date(2025, 3, 2), "month", date(2025, 2, 1)),
    (date(2025, 1, 2), "month", date(2024, 12, 1)),
])
def test_last_closed_period(today, grain, start):
    assert last_closed_period(today, grain) == start


def test_the_morning_pulls_yesterday_whole_then_each_reread_window_before_it():
    requests = reread_requests(date(2025, 3, 19))
    first, *rereads = requests
    assert first.partition_key == "2025-03-19" and first.asset_selection is None
    windows = {r.tags["kpi_pipeline/reread_days"]: (
        r.tags[RANGE[0]], r.tags[RANGE[1]], {k.to_user_string() for k in r.asset_selection})
        for r in rereads}
    assert windows == {
        "28": ("2025-02-20", "2025-03-18", {"raw/meta_ads", "normalized/ad_daily"}),
        "7": ("2025-03-13", "2025-03-18", {"raw/tiktok_account", "raw/tiktok_ads",
                                           "normalized/account_daily", "normalized/ad_daily"}),
        "3": ("2025-03-17", "2025-03-18", {"raw/linkedin_organization", "raw/linkedin_ads",
                                           "raw/ga4_sessions", "normalized/account_daily",
                                           "normalized/ad_daily", "normalized/web_daily"}),
        "2": ("2025-03-18", "2025-03-18", {"raw/facebook_page", "raw/instagram_account",
                                           "normalized/account_daily"}),
    }
    assert len({r.run_key for r in requests}) == len(requests)


def test_windows_never_reach_before_the_first_partition():
    requests = reread_requests(date(2024, 1, 3))
    assert [(r.tags.get(RANGE[0]), r.tags.get(RANGE[1])) for r in requests] == [
        (None, None), ("2024-01-01", "2024-01-02"), ("2024-01-01", "2024-01-02"),
        ("2024-01-01", "2024-01-02"), ("2024-01-02", "2024-01-02")]


def test_a_reread_run_pulls_and_rebuilds_its_window(resources):
    from kpi_pipeline.defs.normalized.assets import normalized_assets
    from kpi_pipeline.defs.raw.assets import raw_assets

    # the days before, every stream, as earlier mornings landed them
    assert dg.materialize([*raw_assets, *normalized_assets], resources=resources,
                          tags=dict(zip(RANGE, ("2025-03-14", "2025-03-18"), strict=True)),
                          ).success
    request = next(r for r in reread_requests(date(2025, 3, 19))
                   if r.tags.get("kpi_pipeline/reread_days") == "3")
    selected = [a for a in [*raw_assets, *normalized_assets]
                if a.key in request.asset_selection]
    count = "SELECT count(*) FROM normalized.web_daily WHERE report_date BETWEEN ? AND ?"
    with resources["warehouse"].get_connection(read_only=True) as conn:
        before = conn.execute(count, ["2025-03-17", "2025-03-18"]).fetchone()[0]
    result = dg.materialize(selected, resources=resources, tags=request.tags)
    assert result.success
    written = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert written == {k.to_user_string() for k in request.asset_selection}
    with resources["warehouse"].get_connection(read_only=True) as conn:
        assert conn.execute(count, ["2025-03-17", "2025-03-18"]).fetchone()[0] == before > 0


def test_schedules_tick_in_the_configured_time_zone(monkeypatch):
    monkeypatch.setenv(TIMEZONE_ENV, "America/Los_Angeles")
    schedules = {s.name: s for s in build_schedules(schedule_timezone())}
    assert {s.execution_timezone for s in schedules.values()} == {"America/Los_Angeles"}
    # 03:00 UTC on the 20th is still the 19th in Los Angeles: yesterday is the 18th
    tick = datetime(2025, 3, 20, 3, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        attainment = schedules["goal_attainment_schedule"](context)
        daily = schedules["daily_ingest_schedule"](context)
    assert attainment.partition_key == "2025-03-18"
    assert daily[0].partition_key == "2025-03-18"


def test_weekly_and_monthly_schedules_ask_for_the_closed_period():
    schedules = {s.name: s for s in build_schedules("UTC")}
    tick = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)  # Monday 3 March
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        weekly = schedules["weekly_report_schedule"](context)
        monthly = schedules["monthly_kpi_schedule"](context)
    assert weekly.partition_key == "2025-02-24"
    assert monthly.partition_key == "2025-02-01"


def test_an_unknown_time_zone_is_named(monkeypatch):
    monkeypatch.setenv(TIMEZONE_ENV, "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match=f"{TIMEZONE_ENV}='Mars/Olympus_Mons'"):
        schedule_timezone()


def test_every_late_published_day_is_pulled_once_it_is_out():
    """A stream the platform publishes N days late lands "pending" for the newest N days;
    some morning's re-read window must then reach the day when it is out (today - N)."""
    from datetime import timedelta

    from kpi_pipeline.lib.streams import STREAMS

    today = date(2025, 3, 20)
    requests = reread_requests(today - timedelta(days=1))
    late = [s for s in STREAMS if s.publish_lag_days]
    assert [s.name for s in late] == ["linkedin_organization"]
    for stream in late:
        out = today - timedelta(days=stream.publish_lag_days)
        covering = [r for r in requests[1:]
                    if dg.AssetKey(["raw", stream.name]) in r.asset_selection
                    and r.tags[RANGE[0]] <= out.isoformat() <= r.tags[RANGE[1]]]
        assert len(covering) == 1, stream.name
