"""Real public data: Fivetran's Graph API post snapshots through the KPI attribution.

The seed holds lifetime post metrics snapshotted daily (5 posts x 5 days), stamped with
Graph's end_time convention (07:00 UTC = the end of a US-Pacific day). The KPI layer
must count each post's lifetime value once, as the latest snapshot, never the sum of its
snapshots.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest

from kpi_pipeline.lib.core.schemas import POST_DAILY, coerce_frame
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import replace_kpis
from kpi_pipeline.lib.normalized.parsing import parse
from kpi_pipeline.lib.normalized.store import ensure_tables, replace_window

SEED = "fivetran-facebook-pages-seed/facebook_pages_lifetime_post_metrics_total_data.csv"


def pacific_day_before(stamp: str) -> date:
    """Graph's end_time marks the END of a day: the day is the Pacific date one second
    before it (worked out here by hand, not by the parsers)."""
    instant = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    return (instant - timedelta(seconds=1)).astimezone(ZoneInfo("America/Los_Angeles")).date()


@pytest.fixture
def seed(shared_data) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / SEED)
    frame["report_date"] = [pacific_day_before(t) for t in frame["date"]]
    return frame


def test_end_time_convention_puts_snapshots_on_the_pacific_day_before(seed):
    assert sorted(set(seed["report_date"])) == [date(2021, 9, d) for d in range(8, 13)]


def test_the_page_parser_dates_the_seeds_end_times_the_same_way(seed):
    """The seed's end_times, as a Page insights answer would carry them, land on the
    days worked out by hand."""
    stamps = sorted(set(seed["date"]))
    values = [{"value": i, "end_time": datetime.strptime(t, "%Y-%m-%d %H:%M:%S UTC")
               .strftime("%Y-%m-%dT%H:%M:%S+0000")} for i, t in enumerate(stamps)]
    envelope = {
        "stream": "facebook_page", "platform": "facebook", "source": "seed",
        "api_version": "v11.0", "partition": "2021-09-12", "pulled_at": "2021-09-13T20:22:54Z",
        "accounts": [{"platform": "facebook", "account_id": "1", "brand": "seed",
                      "timezone": "America/Los_Angeles", "currency": "USD",
                      "window": {"start": "2021-09-08", "end": "2021-09-12"},
                      "requests": [{"method": "GET", "path": "/v11.0/1/insights",
                                    "params": {}, "status": 200, "body": {"data": [
                                        {"name": "page_media_view", "period": "day",
                                         "values": values}]}}]}]}
    days = parse(envelope).set_index("views")["report_date"].dt.date.to_dict()
    assert days == {i: pacific_day_before(t) for i, t in enumerate(stamps)}


def test_weekly_likes_count_each_posts_latest_snapshot_once(seed, tmp_path):
    rows = pd.DataFrame({
        "report_date": seed["report_date"], "platform": "facebook",
        "account_id": seed["post_id"].str.split("_").str[0], "brand": "seed",
        # each post published on the day of its first snapshot, so its lifetime counts
        # (a post first seen later counts from its second snapshot on)
        "post_id": seed["post_id"],
        "published_at": seed.groupby("post_id")["report_date"].transform("min"),
        "media_type": "video", "caption": None, "impressions": seed["post_impressions"],
        "views": None, "reach": None, "likes": seed["post_reactions_like_total"],
        "comments": None, "shares": None, "saves": None, "link_clicks": None,
        "video_views": seed["post_video_views"], "completions": None,
        "watch_time_seconds": seed["post_video_view_time"] / 1000,
        "source_stream": "facebook_posts", "api_version": "v11.0",
        "pulled_at": "2021-09-13T20:22:54Z"})
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_tables(conn)
    replace_window(conn, POST_DAILY, coerce_frame(POST_DAILY, rows), date(2021, 9, 8),
                   date(2021, 9, 12))
    replace_kpis(conn, "week", date(2021, 9, 6), date(2021, 9, 12),
                 {k: catalog()[k] for k in ("likes", "average_watch_time")})
    got = dict(conn.execute("SELECT kpi, value FROM kpi.weekly WHERE scope = 'all'").fetchall())
    conn.close()
    latest = seed.sort_values("report_date").groupby("post_id").last()
    assert got["likes"] == latest["post_reactions_like_total"].sum()
    assert got["likes"] != seed["post_reactions_like_total"].sum()  # summing snapshots: wrong
    expected_watch = (latest["post_video_view_time"] / 1000).sum() / latest[
        "post_video_views"].sum()
    assert got["average_watch_time"] == pytest.approx(expected_watch)
