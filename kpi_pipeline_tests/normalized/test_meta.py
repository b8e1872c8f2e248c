"""Meta: demo payloads in the real Graph and Marketing API shapes, parsed back to exactly the
world's values.

Covers Graph's end_time (the END of the local day), object values and total_value breakdowns,
lifetime post snapshots, milliseconds, numbers as strings, purchases reported under three
action types (counted once), cursor pagination, retired metric names from old payloads, and
bad values failing with the field named.
"""

from __future__ import annotations

import copy
import math
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.landing import Envelope
from kpi_pipeline.lib.core.platforms.meta import MetricCatalog, meta_catalog
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline.lib.core.values import ParseError
from kpi_pipeline.lib.normalized.parsing import parse
from kpi_pipeline.lib.sources.demo import payloads_meta
from kpi_pipeline.lib.sources.demo.world import World
from kpi_pipeline_tests.demo_helpers import demo_envelope, one

TODAY = date(2026, 11, 23)
DAY = date(2026, 11, 20)
TABLES = {"facebook_page": schemas.ACCOUNT_DAILY, "instagram_account": schemas.ACCOUNT_DAILY,
          "facebook_posts": schemas.POST_DAILY, "instagram_media": schemas.POST_DAILY,
          "meta_ads": schemas.AD_DAILY}



def pull(world: World, stream: str, day: date = DAY) -> Envelope:
    return demo_envelope(world, stream, day)


def hand_envelope(stream: str, requests: list[dict[str, Any]], *, tz: str = "Europe/Berlin",
                  day: date = DAY, account_id: str = "123") -> Envelope:
    """An envelope around hand-written request records, for edge cases."""
    return {
        "stream": stream, "platform": "facebook", "source": "test", "api_version": "v24.0",
        "partition": day.isoformat(), "pulled_at": "2026-11-23T06:00:00Z",
        "accounts": [{"platform": "facebook", "account_id": account_id, "brand": "b",
                      "timezone": tz, "currency": "EUR", "account_name": "B",
                      "window": {"start": day.isoformat(), "end": day.isoformat()},
                      "requests": requests}],
    }


def insights(owner: str, data: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    return {"method": "GET", "path": f"/v24.0/{owner}/insights", "params": params,
            "status": 200, "body": {"data": data}}


def day_metric(name: str, value: Any, end_time: str, period: str = "day") -> dict[str, Any]:
    return {"name": name, "period": period, "values": [{"value": value, "end_time": end_time}]}



# ------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("stream", list(payloads_meta.BUILDERS))
def test_every_stream_parses_to_a_valid_table(demo_world: World, stream: str) -> None:
    table = TABLES[stream]
    df = parse(pull(demo_world, stream))
    assert list(df.columns) == table.parsed_columns
    assert len(df) > 0
    if table is not schemas.AD_DAILY:  # the asset adds the FX columns before validating
        # (and the store post_daily's increments: a parser's rows lack them)
        schemas.validate(table, schemas.coerce_frame(table, df), source=stream, start=DAY,
                         end=DAY)


@pytest.mark.parametrize(("stream", "platform"), [("facebook_page", "facebook"),
                                                  ("instagram_account", "instagram")])
def test_account_insights_equal_the_world(demo_world: World, stream: str, platform: str) -> None:
    df = parse(pull(demo_world, stream))
    assert len(df) == len(demo_world.brands)
    for brand in demo_world.brands:
        truth = demo_world.account_day(brand, platform, DAY, TODAY)
        followers, gains, losses = demo_world.follower_day(brand, platform, DAY)
        row = one(df, brand=brand.key)
        assert row["report_date"] == pd.Timestamp(DAY)
        assert row["timezone"] == brand.timezone
        assert (row["followers"], row["follower_gains"], row["follower_losses"]) == (
            followers, gains, losses)
        for column in ("views", "reach", "reach_week", "reach_28d", "profile_views"):
            assert row[column] == truth[column], column
        assert row["likes"] == max(truth["likes"], 0)
        assert pd.isna(row["impressions"])  # retired by Meta: views are not impressions
        assert pd.isna(row["clicks"])
    if platform == "instagram":
        for brand in demo_world.brands:
            truth = demo_world.account_day(brand, platform, DAY, TODAY)
            row = one(df, brand=brand.key)
            assert (row["comments"], row["shares"]) == (truth["comments"], truth["shares"])


def test_facebook_posts_equal_lifetime_snapshots(demo_world: World) -> None:
    df = parse(pull(demo_world, "facebook_posts"))
    brand = demo_world.brands[0]
    posts = demo_world.posts_live(brand, "facebook", DAY, POST_LOOKBACK_DAYS)
    assert set(df.loc[df["brand"] == brand.key, "post_id"]) == {p.post_id for p in posts}
    for post in posts:
        row = one(df, post_id=post.post_id)
        totals = post.lifetime(DAY)
        share = 1.0 - math.exp(-((DAY - post.publish_day).days + 1) / post.tau)
        assert row["views"] == int(post.final["views"] * share)
        assert row["report_date"] == pd.Timestamp(DAY)
        assert row["published_at"] == pd.Timestamp(post.published_at.replace(tzinfo=None))
        assert row["media_type"] == post.media_type
        assert row["caption"] == post.caption  # passed through unchanged, "<3 &" included
        for column in ("reach", "likes", "comments", "shares", "link_clicks"):
            assert row[column] == totals[column], column
        assert pd.isna(row["impressions"]) and pd.isna(row["saves"])
        if post.media_type in ("video", "reel"):
            assert (row["video_views"], row["completions"]) == (totals["video_views"],
                                                                 totals["completions"])
            assert row["watch_time_seconds"] == pytest.approx(totals["watch_time_seconds"],
                                                              abs=1e-3)
        else:
            assert pd.isna(row["video_views"]) and pd.isna(row["watch_time_seconds"])


def test_instagram_media_equal_lifetime_snapshots(demo_world: World) -> None:
    df = parse(pull(demo_world, "instagram_media"))
    brand = demo_world.brands[1]
    posts = demo_world.posts_live(brand, "instagram", DAY, POST_LOOKBACK_DAYS)
    assert set(df.loc[df["brand"] == brand.key, "post_id"]) == {p.post_id for p in posts}
    assert {p.media_type for p in posts} == {"photo", "carousel", "reel"}
    for post in posts:
        row, totals = one(df, post_id=post.post_id), post.lifetime(DAY)
        assert row["media_type"] == post.media_type
        for column in ("views", "reach", "likes", "comments", "shares", "saves"):
            assert row[column] == totals[column], column
        assert pd.isna(row["impressions"]) and pd.isna(row["completions"])
        if post.media_type == "reel":
            assert row["video_views"] == totals["views"]  # a reel's views are its plays
            ms = round(totals["watch_time_seconds"] * 1000)
            assert row["watch_time_seconds"] == pytest.approx(ms / 1000)
        else:
            assert pd.isna(row["video_views"]) and pd.isna(row["watch_time_seconds"])


@pytest.mark.parametrize(("day", "setting"), [
    (date(2025, 11, 20), "7d_click,7d_view"),  # last re-read 2025-12-18: both windows served
    (date(2025, 12, 14), "7d_click,7d_view"),  # last re-read 2026-01-11
    (date(2025, 12, 15), "7d_click"),  # re-read on 2026-01-12, when Meta retired 7d_view
    (DAY, "7d_click"),
])
def test_meta_ads_equal_the_world_and_count_purchases_once(demo_world: World, day: date,
                                                           setting: str) -> None:
    """The world's conversions, counted once, in the windows the pull asked: after Meta
    retired 7-day view the one in five that came after a view is no longer counted."""
    envelope = pull(demo_world, "meta_ads", day)
    df = parse(envelope)
    expected = 0
    for brand in demo_world.brands:
        for campaign in demo_world.campaigns(brand, "meta"):
            truth = demo_world.ad_day(campaign, day, TODAY)
            if truth is None:
                continue
            expected += 1
            row = one(df, campaign_id=campaign.campaign_id)
            assert isinstance(row["spend"], float) and row["spend"] == truth["spend"]
            assert row["campaign_name"] == campaign.name
            assert row["currency"] == brand.currency and row["platform"] == "meta"
            assert row["attribution_setting"] == setting
            for column in ("impressions", "reach", "clicks", "link_clicks", "video_views"):
                assert row[column] == truth[column], column
            counted = {c: truth[c] - (truth[c] // 5 if setting == "7d_click" else 0)
                       for c in ("leads", "purchases")}
            assert (row["leads"], row["purchases"]) == (counted["leads"], counted["purchases"])
            share = counted["purchases"] / truth["purchases"] if truth["purchases"] else 0
            assert row["revenue"] == pytest.approx(truth["revenue"] * share, abs=0.005)
    assert len(df) == expected
    raw = [item for a in envelope["accounts"] for r in a["requests"] for item in r["body"]["data"]]
    buying = [item for item in raw if "action_values" in item]
    assert buying, "the demo day should have purchases"
    purchase_types = {a["action_type"] for a in buying[0]["actions"]} & {
        "purchase", "omni_purchase", "offsite_conversion.fb_pixel_purchase"}
    assert len(purchase_types) == 3  # the same purchases, three times in the payload


def ad_item(**fields: Any) -> dict[str, Any]:
    base = {"campaign_id": "1", "campaign_name": "C", "account_currency": "EUR",
            "date_start": DAY.isoformat(), "date_stop": DAY.isoformat(), "spend": "12.34",
            "impressions": "1000", "reach": "900", "clicks": "30", "inline_link_clicks": "21"}
    return {**base, **fields}


def ads_envelope(*items: dict[str, Any]) -> Envelope:
    request = {"method": "GET", "path": "/v24.0/act_1/insights", "params": {}, "status": 200,
               "body": {"data": list(items)}}
    return hand_envelope("meta_ads", [request], account_id="act_1")


def test_the_attribution_setting_is_the_windows_the_request_asked() -> None:
    """The windows in the request (Graph's JSON list, as the landing file keeps it) are
    the row's setting; a request that named none leaves it unknown, never a default."""
    asked = ads_envelope(ad_item())
    asked["accounts"][0]["requests"][0]["params"] = {
        "action_attribution_windows": '["7d_click","1d_view"]'}
    assert parse(asked)["attribution_setting"].tolist() == ["7d_click,1d_view"]
    assert parse(ads_envelope(ad_item()))["attribution_setting"].isna().all()
    for odd in ('"7d_click"', "[]", "7d_click"):  # not a JSON list of windows: unknown
        asked["accounts"][0]["requests"][0]["params"] = {"action_attribution_windows": odd}
        assert parse(asked)["attribution_setting"].isna().all(), odd


def test_purchase_priority_picks_one_action_type() -> None:
    actions = [{"action_type": "offsite_conversion.fb_pixel_purchase", "value": "4"},
               {"action_type": "purchase", "value": "4"},
               {"action_type": "omni_purchase", "value": "5"},
               {"action_type": "offsite_conversion.fb_pixel_lead", "value": "2"}]
    values = [{"action_type": "purchase", "value": "80.00"},
              {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "80.00"}]
    row = parse(ads_envelope(ad_item(actions=actions, action_values=values))).iloc[0]
    assert (row["purchases"], row["leads"], row["revenue"]) == (5, 2, 80.0)
    assert row["spend"] == 12.34
    bare = parse(ads_envelope(ad_item())).iloc[0]  # Meta omits zero actions
    assert (bare["purchases"], bare["leads"], bare["revenue"]) == (0, 0, 0.0)


# ------------------------------------------------------------------- Graph end_time
@pytest.mark.parametrize(("tz", "end_time", "expected"), [
    ("America/Los_Angeles", "2024-06-28T07:00:00+0000", date(2024, 6, 27)),
    ("Europe/Berlin", "2024-06-27T22:00:00+0000", date(2024, 6, 27)),
    ("Europe/Berlin", "2024-10-27T23:00:00+0000", date(2024, 10, 27)),  # 25-hour day
])
def test_end_time_is_the_end_of_the_local_day(tz: str, end_time: str, expected: date) -> None:
    envelope = hand_envelope("facebook_page", [
        insights("123", [day_metric("page_media_view", 42, end_time)])], tz=tz, day=expected)
    row = parse(envelope).iloc[0]
    assert (row["report_date"], row["views"]) == (pd.Timestamp(expected), 42)


def test_builder_end_time_is_local_midnight_of_the_next_day(demo_world: World) -> None:
    pacific, berlin = demo_world.brands  # northwind (Los Angeles), alpenglow (Berlin)
    assert pacific.timezone == "America/Los_Angeles" and berlin.timezone == "Europe/Berlin"
    for brand, day, end_time in ((pacific, date(2026, 6, 27), "2026-06-28T07:00:00+0000"),
                                 (berlin, date(2026, 10, 25), "2026-10-25T23:00:00+0000")):
        account = brand.account("facebook_page")
        first = payloads_meta.facebook_page(demo_world, account, day, TODAY)[0]
        assert first["body"]["data"][0]["values"][0]["end_time"] == end_time
        envelope = pull(demo_world, "facebook_page", day)
        assert set(parse(envelope)["report_date"]) == {pd.Timestamp(day)}


# ---------------------------------------------------------------------- pagination
def busy_day(world: World, platform: str) -> date:
    """A day whose 28-day window holds more than one list page of posts."""
    brand = world.brands[0]
    for back in range(60):
        day = DAY - timedelta(days=back)
        if len(world.posts_live(brand, platform, day, POST_LOOKBACK_DAYS)) > 25:
            return day
    raise AssertionError("no day with more than 25 live posts")


@pytest.mark.parametrize(("stream", "platform", "edge"), [
    ("facebook_posts", "facebook", "/posts"), ("instagram_media", "instagram", "/media")])
def test_more_than_one_list_page(demo_world: World, stream: str, platform: str,
                                 edge: str) -> None:
    day = busy_day(demo_world, platform)
    envelope = pull(demo_world, stream, day)
    account = envelope["accounts"][0]
    pages = [r for r in account["requests"] if r["path"].endswith(edge)]
    assert len(pages) > 1
    assert pages[1]["params"]["after"] == pages[0]["body"]["paging"]["cursors"]["after"]
    assert pages[0]["body"]["paging"]["next"].startswith("https://graph.facebook.com/v24.0/")
    posts = demo_world.posts_live(demo_world.brands[0], platform, day, POST_LOOKBACK_DAYS)
    df = parse(envelope)
    assert set(df.loc[df["account_id"] == account["account_id"], "post_id"]) == {
        p.post_id for p in posts}
    account["requests"].remove(pages[-1])  # a page announced but never fetched
    with pytest.raises(ParseError, match="pagination is incomplete"):
        parse(envelope)


# ---------------------------------------------------------- retired names, catalogue
def test_retired_metric_names_land_in_their_columns() -> None:
    end = "2024-06-27T22:00:00+0000"
    envelope = hand_envelope("facebook_page", [insights("123", [
        day_metric("page_impressions", 900, end), day_metric("page_fans", 111, end),
        day_metric("page_follows", 120, end),
        day_metric("page_impressions_unique", 700, end, period="days_28")])],
        day=date(2024, 6, 27))
    row = parse(envelope).iloc[0]
    assert row["impressions"] == 900 and pd.isna(row["views"])  # not the same measure
    assert row["followers"] == 120  # the current page_follows wins over page_fans
    assert row["reach_28d"] == 700


def test_every_requested_metric_is_current_in_the_catalogue(demo_world: World) -> None:
    catalog = meta_catalog()
    objects = {"facebook_page": "page", "facebook_posts": "post",
               "instagram_account": "ig_user", "instagram_media": "ig_media"}
    for stream, obj in objects.items():
        for request in pull(demo_world, stream)["accounts"][0]["requests"]:
            if not request["path"].endswith("/insights"):
                continue
            for name in request["params"]["metric"].split(","):
                found = catalog.lookup(obj, name)
                assert found is not None, (stream, name)
                assert not found[1].retired_on(TODAY), (stream, name)


def test_catalogue_rejects_an_unknown_column() -> None:
    data = meta_catalog().model_dump()
    data["metrics"][0]["column"] = "viewz"
    with pytest.raises(ValidationError, match="viewz"):
        MetricCatalog.model_validate(data)


# ------------------------------------------------------------------------ bad input
def page_value(value: Any, name: str = "page_media_view") -> Envelope:
    return hand_envelope("facebook_page", [
        insights("123", [day_metric(name, value, "2026-11-20T23:00:00+0000")])])


@pytest.mark.parametrize(("envelope", "message"), [
    (page_value("1,234"), r"'page_media_view'.*thousands separator"),
    (page_value(-3, "page_impressions"), r"'page_impressions'.*negative"),
    (page_value(float("nan")), r"'page_media_view'.*not a finite number"),
    (page_value(5, "page_bogus_metric"), r"'page_bogus_metric'.*not in the Meta metric catalogue"),
    (hand_envelope("facebook_page", [{"method": "GET", "path": "/v24.0/123/insights",
                                      "params": {}, "status": 200, "body": {"paging": {}}}]),
     r"required field 'data' is missing"),
    (ads_envelope(ad_item(impressions="-5")), r"'impressions'.*negative"),
    (ads_envelope(ad_item(spend="NaN")), r"'spend'.*not a finite number"),
    (ads_envelope({k: v for k, v in ad_item().items() if k != "spend"}),
     r"required field 'spend' is missing"),
    (ads_envelope(ad_item(date_start="20/11/2026", date_stop="20/11/2026")),
     r"'date_start'.*not a date"),
    (hand_envelope("facebook_posts", [{"method": "GET", "path": "/v24.0/123/posts",
                                       "params": {}, "status": 200, "body": {"data": [
                                           {"id": "123_1", "created_time": "2026-11-20T10:00:00Z",
                                            "status_type": "created_event"}]}}]),
     r"media kind 'created_event' is not mapped"),
])
def test_bad_values_fail_naming_the_field(envelope: Envelope, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        parse(envelope)
    assert "partition 2026-11-20 account" in str(caught.value)  # where to look


def test_bad_value_in_a_post_snapshot_names_the_metric(demo_world: World) -> None:
    envelope = copy.deepcopy(pull(demo_world, "instagram_media"))
    request = next(r for r in envelope["accounts"][0]["requests"]
                   if r["path"].endswith("/insights"))
    request["body"]["data"][0]["values"][0]["value"] = "1,234"
    with pytest.raises(ParseError, match=r"'views'.*thousands separator"):
        parse(envelope)


def test_empty_answers_give_typed_empty_frames(demo_world: World) -> None:
    before_any_campaign = parse(pull(demo_world, "meta_ads", date(2021, 12, 1)))
    assert before_any_campaign.empty
    assert list(before_any_campaign.columns) == schemas.AD_DAILY.parsed_columns
    listing = {"method": "GET", "path": "/v24.0/123/posts", "params": {}, "status": 200,
               "body": {"data": []}}
    no_posts = parse(hand_envelope("facebook_posts", [listing]))
    assert no_posts.empty and list(no_posts.columns) == schemas.POST_DAILY.parsed_columns
    assert str(no_posts["views"].dtype) == "Int64"


def test_timestamps_are_naive_utc(demo_world: World) -> None:
    df = parse(pull(demo_world, "facebook_posts"))
    assert df["pulled_at"].iloc[0] == pd.Timestamp(datetime(2026, 11, 23, 6, 0))
    assert str(df["published_at"].dtype) == "datetime64[ns]"
