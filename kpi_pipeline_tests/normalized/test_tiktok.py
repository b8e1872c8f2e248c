"""TikTok: demo payloads in the Business API v1.3 shapes, parsed back to the world's values.

Covers TikTok's HTTP-200 errors (``code != 0``), numbers sent as strings, cursor and page
pagination (including a pull that stopped early), the completions derived from a rate,
and bad values failing with the field named.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
import pytest

from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.landing import Envelope
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline.lib.core.values import ParseError
from kpi_pipeline.lib.normalized.parsing import parse
from kpi_pipeline.lib.sources.demo import payloads_tiktok
from kpi_pipeline.lib.sources.demo.world import World
from kpi_pipeline_tests.demo_helpers import demo_envelope, one

TODAY = date(2026, 11, 23)
DAY = date(2026, 11, 20)  # a Black Friday campaign runs: three campaigns deliver



def pull(world: World, stream: str, day: date = DAY) -> Envelope:
    return demo_envelope(world, stream, day)



# ------------------------------------------------------------- round trips
def test_account_round_trip(demo_world: World) -> None:
    df = parse(pull(demo_world, "tiktok_account"))

    assert list(df.columns) == schemas.ACCOUNT_DAILY.parsed_columns
    assert len(df) == len(demo_world.brands)
    for brand in demo_world.brands:
        row = one(df, brand=brand.key)
        truth = demo_world.account_day(brand, "tiktok", DAY, TODAY)
        assert row["report_date"] == pd.Timestamp(DAY)
        assert row["followers"] == demo_world.follower_day(brand, "tiktok", DAY)[0]
        for column in ("views", "profile_views", "likes", "comments", "shares"):
            assert row[column] == truth[column], column
        # TikTok gives followers_count only, no reach and no impressions for accounts.
        for column in ("follower_gains", "follower_losses", "reach", "reach_week",
                       "reach_28d", "impressions", "clicks"):
            assert pd.isna(row[column]), column
    schemas.validate(schemas.ACCOUNT_DAILY, df, source="test", start=DAY, end=DAY)


def test_videos_over_several_pages_round_trip(demo_world: World,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payloads_tiktok, "VIDEO_PAGE_SIZE", 7)
    envelope = pull(demo_world, "tiktok_videos")

    df = parse(envelope)

    assert list(df.columns) == schemas.POST_DAILY.parsed_columns
    for brand, entry in zip(demo_world.brands, envelope["accounts"], strict=True):
        posts = demo_world.posts_live(brand, "tiktok", DAY, POST_LOOKBACK_DAYS)
        assert len(entry["requests"]) == -(-len(posts) // 7) > 1
        assert (df["brand"] == brand.key).sum() == len(posts)
        for post in posts:
            row = one(df, post_id=post.post_id)
            lifetime = post.lifetime(DAY)
            assert row["published_at"] == pd.Timestamp(post.published_at.replace(tzinfo=None))
            assert row["media_type"] == "video"
            assert row["caption"] == post.caption
            # TikTok's video_views are plays: they are both the views and the video views.
            assert row["views"] == row["video_views"] == lifetime["video_views"]
            for column in ("reach", "likes", "comments", "shares"):
                assert row[column] == lifetime[column], column
            assert row["watch_time_seconds"] == pytest.approx(lifetime["watch_time_seconds"])
            # completions = round(video_views * rate), the rate having four decimals
            tolerance = lifetime["video_views"] * 0.00005 + 1
            assert abs(row["completions"] - lifetime["completions"]) <= tolerance
            for column in ("impressions", "saves", "link_clicks"):
                assert pd.isna(row[column]), column
    # the store derives the increments: the rows a parser gives lack them
    schemas.validate(schemas.POST_DAILY, schemas.coerce_frame(schemas.POST_DAILY, df),
                     source="test", start=DAY, end=DAY)


def test_ads_over_several_pages_round_trip(demo_world: World,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payloads_tiktok, "REPORT_PAGE_SIZE", 1)
    envelope = pull(demo_world, "tiktok_ads")

    df = parse(envelope)

    assert list(df.columns) == schemas.AD_DAILY.parsed_columns
    for brand, entry in zip(demo_world.brands, envelope["accounts"], strict=True):
        delivered = [(c, v) for c in demo_world.campaigns(brand, "tiktok")
                     if (v := demo_world.ad_day(c, DAY, TODAY)) is not None]
        report = [r for r in entry["requests"] if r["path"].endswith("/report/integrated/get/")]
        assert len(report) == len(delivered) > 1  # one campaign per page
        assert (df["brand"] == brand.key).sum() == len(delivered)
        for campaign, truth in delivered:
            row = one(df, campaign_id=campaign.campaign_id)
            assert row["campaign_name"] == campaign.name
            assert row["currency"] == brand.currency
            assert row["report_date"] == pd.Timestamp(DAY)
            assert row["spend"] == pytest.approx(truth["spend"])  # "47.49" -> 47.49
            assert row["revenue"] == pytest.approx(truth["revenue"])
            # TikTok's clicks are destination clicks, i.e. link clicks.
            assert row["clicks"] == row["link_clicks"] == truth["link_clicks"]
            for column in ("impressions", "reach", "leads", "purchases", "video_views"):
                assert row[column] == truth[column], column
            # the windows of the campaign's ad group: 7 days after a click, 1 after a view
            assert row["attribution_setting"] == "7d_click,1d_view"
    assert df["campaign_name"].str.contains("<Promo>").any()


def test_default_report_page_size_pages_on_busy_days(demo_world: World) -> None:
    entry = pull(demo_world, "tiktok_ads")["accounts"][0]
    info = [r["body"]["data"]["page_info"] for r in entry["requests"]
            if r["path"].endswith("/report/integrated/get/")]

    assert [i["page"] for i in info] == [1, 2]
    assert {i["total_number"] for i in info} == {3}


def test_an_empty_report_is_one_page_with_total_page_zero(demo_world: World) -> None:
    envelope = pull(demo_world, "tiktok_ads", date(2021, 6, 1))  # before any campaign

    df = parse(envelope)

    assert df.empty
    assert list(df.columns) == schemas.AD_DAILY.parsed_columns


# --------------------------------------------------------- TikTok's errors
@pytest.mark.parametrize("stream", ["tiktok_account", "tiktok_videos", "tiktok_ads"])
def test_http_200_with_an_error_code_raises(demo_world: World, stream: str) -> None:
    envelope = pull(demo_world, stream)
    request = envelope["accounts"][1]["requests"][0]
    assert request["status"] == 200
    request["body"] = {"code": 40105, "message": "Access token is invalid or has expired.",
                       "request_id": "202611230600001A2B3C4D", "data": {}}

    with pytest.raises(ParseError, match="40105") as caught:
        parse(envelope)

    assert "Access token is invalid" in str(caught.value)
    assert f"account {envelope['accounts'][1]['account_id']}" in str(caught.value)


def test_a_report_missing_a_page_is_an_error(demo_world: World) -> None:
    envelope = pull(demo_world, "tiktok_ads")
    requests = envelope["accounts"][0]["requests"]
    pages = [r for r in requests if r["path"].endswith("/report/integrated/get/")]
    requests.remove(pages[-1])  # the client stopped after page 1 of 2

    with pytest.raises(ParseError, match="total_page=2"):
        parse(envelope)


def test_a_video_list_stopped_early_is_an_error(demo_world: World,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payloads_tiktok, "VIDEO_PAGE_SIZE", 7)
    envelope = pull(demo_world, "tiktok_videos")
    envelope["accounts"][0]["requests"].pop()

    with pytest.raises(ParseError, match="has_more"):
        parse(envelope)


# -------------------------------------------------------------- bad values
def _data(envelope: Envelope) -> dict[str, Any]:
    return envelope["accounts"][0]["requests"][0]["body"]["data"]


BAD_PAYLOADS: list[tuple[str, Callable[[Envelope], None], str]] = [
    ("tiktok_account", lambda e: _data(e)["metrics"][0].update(followers_count="1,234"),
     "followers_count"),
    ("tiktok_account", lambda e: _data(e)["metrics"][0].update(date="20/11/2026"), "date"),
    ("tiktok_videos", lambda e: _data(e)["videos"][0].update(likes=float("nan")), "likes"),
    ("tiktok_videos", lambda e: _data(e)["videos"][0].update(full_video_watched_rate=35.0),
     "full_video_watched_rate"),
    ("tiktok_videos", lambda e: _data(e).pop("videos"), "videos"),
    ("tiktok_ads", lambda e: _data(e)["list"][0]["metrics"].update(spend="NaN"), "spend"),
    ("tiktok_ads", lambda e: _data(e)["list"][0]["metrics"].update(impressions="1,234"),
     "impressions"),
    ("tiktok_ads", lambda e: _data(e)["list"][0]["metrics"].update(clicks="-4"), "clicks"),
    ("tiktok_ads", lambda e: _data(e)["list"][0]["dimensions"].update(stat_time_day="2026"),
     "stat_time_day"),
]


@pytest.mark.parametrize(("stream", "spoil", "field"), BAD_PAYLOADS,
                         ids=[f"{s}-{f}" for s, _, f in BAD_PAYLOADS])
def test_bad_values_name_the_field(demo_world: World, stream: str,
                                   spoil: Callable[[Envelope], None], field: str) -> None:
    envelope = copy.deepcopy(pull(demo_world, stream))
    spoil(envelope)
    account = envelope["accounts"][0]["account_id"]

    with pytest.raises(ParseError, match=field) as caught:
        parse(envelope)

    assert f"{stream} partition {DAY} account {account}" in str(caught.value)


# ------------------------------------------------------------ attribution windows
def _with_ad_groups(envelope: Envelope, groups: list[dict[str, Any]] | None) -> Envelope:
    """The first account's ad groups replaced by ``groups`` for every campaign of its
    report (None: not asked), on one page."""
    changed = copy.deepcopy(envelope)
    entry = changed["accounts"][0]
    entry["requests"] = [r for r in entry["requests"] if not r["path"].endswith("/adgroup/get/")]
    campaigns = [row["dimensions"]["campaign_id"] for r in entry["requests"]
                 for row in r["body"]["data"]["list"]]
    if groups is not None:
        listed = [{**g, "campaign_id": c} for c in campaigns for g in groups]
        entry["requests"].append({
            "method": "GET", "path": "/open_api/v1.3/adgroup/get/", "params": {},
            "status": 200, "body": {"code": 0, "message": "OK", "request_id": "1", "data": {
                "list": listed, "page_info": {"page": 1, "total_page": 1}}}})
    return changed


@pytest.mark.parametrize(("groups", "setting"), [
    ([{"click_attribution_window": "SEVEN_DAYS", "view_attribution_window": "ONE_DAY"}],
     "7d_click,1d_view"),
    ([{"click_attribution_window": "TWENTY_EIGHT_DAYS", "view_attribution_window": "OFF",
       "engaged_view_attribution_window": "SEVEN_DAYS"}], "28d_click,7d_ev"),
    ([{"click_attribution_window": "SEVEN_DAYS", "view_attribution_window": "ONE_DAY"},
      {"click_attribution_window": "ONE_DAY", "view_attribution_window": "OFF"}],
     "1d_click / 7d_click,1d_view"),
    ([{"click_attribution_window": "SEVEN_DAYS"}], None),  # no view window: not assumed
    ([{"click_attribution_window": "NINE_DAYS", "view_attribution_window": "ONE_DAY"}], None),
    ([], None),
    (None, None),  # a landing file from before the ad groups were asked
])
def test_the_attribution_setting_is_that_of_the_campaign_s_ad_groups(
        demo_world: World, groups: list[dict[str, Any]] | None, setting: str | None) -> None:
    df = parse(_with_ad_groups(pull(demo_world, "tiktok_ads"), groups))
    first = df[df["ad_account_id"] == df["ad_account_id"].iloc[0]]
    assert len(first) > 0
    if setting is None:
        assert first["attribution_setting"].isna().all()
    else:
        assert set(first["attribution_setting"]) == {setting}
    others = df[df["ad_account_id"] != df["ad_account_id"].iloc[0]]
    assert set(others["attribution_setting"]) == {"7d_click,1d_view"}  # the demo's own
