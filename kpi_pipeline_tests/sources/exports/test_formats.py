"""Every export format on a small file in its platform's real shape, worked by hand."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from kpi_pipeline.lib.core.schemas import FX_DAILY, coerce_frame
from kpi_pipeline.lib.normalized.store import replace_window
from kpi_pipeline.lib.sources.exports.folder import ExportsFailed, read_folder
from kpi_pipeline.lib.sources.exports.registry import registry
from kpi_pipeline_tests.sources.exports import samples
from kpi_pipeline_tests.sources.exports.conftest import query


def rows(read, table: str, **where) -> list[dict]:
    frame = read.frames[table]
    for column, value in where.items():
        frame = frame[frame[column] == value]
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def one(read, table: str, **where) -> dict:
    found = rows(read, table, **where)
    assert len(found) == 1, where
    return found[0]


def test_meta_business_suite_posts_facebook_and_instagram(drop, write, manifest):
    manifest(**samples.MANIFEST)
    write("fb_posts.csv", "\ufeff" + samples.META_FACEBOOK, newline="\r\n")  # BOM, CRLF
    write("ig_posts.csv", samples.META_INSTAGRAM)
    read = read_folder(drop)
    assert {r.name: (r.format, r.encoding) for r in read.files} == {
        "fb_posts.csv": ("meta_facebook_posts", "utf-8-sig"),
        "ig_posts.csv": ("meta_instagram_posts", "utf-8")}
    photo = one(read, "post_daily", post_id="104920372957382_122158000000000001")
    # 03/14/2025 09:30 in Los Angeles (PDT since 9 March, UTC-7) = 16:30 UTC.
    assert photo["published_at"] == pd.Timestamp("2025-03-14 16:30")
    assert photo["report_date"] == pd.Timestamp("2025-03-31")  # as_of
    assert (photo["platform"], photo["media_type"], photo["views"], photo["reach"],
            photo["likes"], photo["comments"], photo["shares"], photo["link_clicks"]) == (
        "facebook", "photo", 1250, 980, 40, 5, 2, 12)  # "1,250" -> 1250; likes = Reactions
    assert photo["caption"] == "New: oat latte, <script>alert(1)</script>"  # stored as is
    reel = one(read, "post_daily", post_id="104920372957382_122158000000000002")
    assert reel["published_at"] == pd.Timestamp("2025-03-21 01:05")
    assert (reel["media_type"], reel["caption"], reel["link_clicks"],
            reel["watch_time_seconds"]) == ("reel", "Barista reel", None, 9100.0)
    ig_reel = one(read, "post_daily", post_id="18011111111111111")
    assert (ig_reel["platform"], ig_reel["media_type"], ig_reel["views"],
            ig_reel["video_views"], ig_reel["saves"], ig_reel["caption"]) == (
        "instagram", "reel", 12400, 12400, 230, "Latte art \U0001f3a8")
    carousel = one(read, "post_daily", post_id="18022222222222222")
    assert carousel["media_type"] == "carousel" and carousel["shares"] is None


def test_meta_daily_series_utf16_with_title_merge_into_one_row_per_day(drop, write, manifest):
    manifest(**samples.MANIFEST)
    write("Views.csv", samples.meta_daily("Views", [("2025-03-01", 1500),
                                                   ("2025-03-02", 1720)]))
    write("Follows.csv", samples.meta_daily("Facebook follows", [("2025-03-01", 3),
                                                                ("2025-03-02", 5)]))
    read = read_folder(drop)
    assert {r.encoding for r in read.files} == {"utf-16"}
    assert read.merged["account_daily"] == 2
    day = one(read, "account_daily", report_date=pd.Timestamp("2025-03-02"))
    assert (day["platform"], day["views"], day["follower_gains"], day["followers"],
            day["timezone"]) == ("facebook", 1720, 5, None, "America/Los_Angeles")
    assert day["source_stream"] == "export:meta_page_daily"
    assert day["api_version"] == "export:Follows.csv+export:Views.csv"


def test_linkedin_posts_metrics_and_followers(drop, write, manifest):
    manifest(**samples.MANIFEST)
    write("linkedin_posts.csv", samples.LINKEDIN_POSTS)
    write("linkedin_metrics.csv", samples.LINKEDIN_METRICS)
    write("linkedin_followers.csv", samples.LINKEDIN_FOLLOWERS)
    read = read_folder(drop)
    hiring = one(read, "post_daily", post_id="urn:li:activity:7300000000000000001")
    assert (hiring["media_type"], hiring["impressions"], hiring["likes"], hiring["comments"],
            hiring["shares"], hiring["link_clicks"], hiring["video_views"],
            hiring["caption"]) == ("text", 2400, 48, 6, 3, 35, None, "We are hiring")
    # 03/10/2025 has no time: local midnight in Los Angeles (PDT) = 07:00 UTC.
    assert hiring["published_at"] == pd.Timestamp("2025-03-10 07:00")
    tour = one(read, "post_daily", post_id="urn:li:ugcPost:7300000000000000002")
    assert (tour["media_type"], tour["video_views"]) == ("video", 1900)
    day = one(read, "account_daily", report_date=pd.Timestamp("2025-03-11"))
    assert (day["impressions"], day["reach"], day["clicks"], day["likes"], day["comments"],
            day["shares"], day["follower_gains"]) == (1000, 600, 15, 13, 1, 0, 5)
    assert day["source_stream"] == "export:linkedin_followers+export:linkedin_page_metrics"
    ignored = {r.name: r.ignored_columns for r in read.files}["linkedin_metrics.csv"]
    assert "Engagement rate (total)" in ignored and "Impressions (total)" not in ignored


def test_tiktok_videos_overview_across_new_year_and_followers(drop, write, manifest):
    manifest(**samples.MANIFEST)
    write("tiktok_content.csv", samples.TIKTOK_VIDEOS)
    write("tiktok_overview.csv", samples.TIKTOK_OVERVIEW)
    write("tiktok_followers.csv", samples.TIKTOK_FOLLOWERS)
    read = read_folder(drop)
    video = one(read, "post_daily", post_id="7412345678901234567")
    # 2025-03-02 19:05 PST (UTC-8) = 03:05 UTC next day; 18,400 x 31.5 % = 5796.
    assert video["published_at"] == pd.Timestamp("2025-03-03 03:05")
    assert (video["views"], video["video_views"], video["likes"], video["saves"],
            video["completions"], video["watch_time_seconds"], video["caption"]) == (
        18400, 18400, 1200, 40, 5796, 52000.0, "Yacht day, white party")
    days = {r["report_date"].date(): r for r in rows(read, "account_daily")}
    assert sorted(days) == [date(2024, 12, 30), date(2024, 12, 31), date(2025, 1, 1)]
    assert (days[date(2025, 1, 1)]["views"], days[date(2025, 1, 1)]["profile_views"],
            days[date(2025, 1, 1)]["followers"]) == (200, 20, 9)
    assert days[date(2024, 12, 30)]["followers"] is None


def test_ga4_traffic_with_preamble_grand_total_fx_and_utm(drop, write, manifest, run,
                                                          warehouse):
    manifest(**samples.MANIFEST)
    write("ga4_traffic.csv", samples.GA4_TRAFFIC)
    fx = coerce_frame(FX_DAILY, pd.DataFrame({
        "report_date": ["2025-03-01", "2025-03-02"], "currency": ["EUR", "EUR"],
        "reporting_currency": ["USD", "USD"], "rate": [1.04, 1.05],
        "fixing_date": ["2025-02-28", "2025-02-28"], "source_stream": ["fx_rates"] * 2,
        "api_version": ["v1"] * 2, "pulled_at": ["2025-03-03T06:00:00Z"] * 2}))
    with warehouse.get_connection() as conn:
        replace_window(conn, FX_DAILY, fx, date(2025, 3, 1), date(2025, 3, 2))
    result = run()
    assert result.metadata["quirks"].value["ga4_traffic.csv"]["grand_total_rows_skipped"] == 1
    got = query(warehouse, "SELECT report_date, source, medium, campaign, platform, is_social, "
                           "is_paid, sessions, engaged_sessions, bounces, page_views, "
                           "engagement_time_seconds, orders, revenue, revenue_reporting, "
                           "sign_ups, leads, currency, property_id FROM normalized.web_daily "
                           "ORDER BY report_date, sessions")
    assert [r[:10] for r in got] == [
        (date(2025, 3, 1), "l.facebook.com", "referral", "spring", "facebook", True, False,
         120, 80, 40),
        (date(2025, 3, 1), "google", "organic", "(organic)", None, False, False, 200, 150, 50),
        (date(2025, 3, 2), "instagram", "paid_social", "spring", "instagram", True, True, 50,
         20, 30)]
    first = got[0]
    assert first[10:14] == (300, 5400.0, 3, 89.70)
    assert first[14] == pytest.approx(89.70 * 1.04)
    assert (first[15], first[16], first[17], first[18]) == (4, None, "EUR", "312345678")
    assert got[2][15] is None  # an empty key-event cell is missing, not zero


def test_every_format_is_exercised_by_a_test():
    exercised = {"uci_facebook_insights", "facebook_live_sellers", "meta_facebook_posts",
                 "meta_instagram_posts", "meta_page_daily", "linkedin_posts",
                 "linkedin_page_metrics", "linkedin_followers", "tiktok_videos",
                 "tiktok_overview", "tiktok_follower_history", "ga4_traffic"}
    assert {f.name for f in registry()} == exercised


def test_ga4_without_campaign_is_all_campaigns_and_cannot_mix_with_a_split(drop, write,
                                                                           manifest):
    manifest(**samples.MANIFEST)
    write("ga4_whole.csv", "Date,Session source,Session medium,Sessions\n"
                           "20250301,google,organic,200\n")
    whole = one(read_folder(drop), "web_daily")
    assert (whole["source"], whole["medium"], whole["campaign"], whole["sessions"],
            whole["engaged_sessions"], whole["bounces"]) == ("google", "organic", "(all)",
                                                             200, None, None)
    write("ga4_split.csv", samples.GA4_TRAFFIC)
    with pytest.raises(ExportsFailed) as err:
        read_folder(drop)
    assert ("ga4_split.csv, line 12: property 312345678 on 2025-03-01 is also in "
            "ga4_whole.csv (line 2) without the campaign breakdown") in str(err.value)
