"""LinkedIn: demo payloads in the real REST shapes, parsed back to exactly the world's values.

Covers the epoch-millisecond ``timeRange`` that must land on the organization's LOCAL day,
the posts finder's pagination, money sent as strings, negative daily likes (allowed for an
organization, not for a post), and bad values failing with the field named.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.landing import Envelope
from kpi_pipeline.lib.core.platforms import linkedin as linkedin_contract
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline.lib.core.values import ParseError
from kpi_pipeline.lib.normalized.parsing import parse
from kpi_pipeline.lib.sources.demo.world import World
from kpi_pipeline_tests.demo_helpers import demo_envelope, one

TODAY = date(2026, 11, 23)
DAY = date(2026, 11, 20)  # LinkedIn data ends 2 days before today
DST_DAY = date(2026, 3, 29)  # Europe/Berlin springs forward: a 23-hour local day



def pull(world: World, stream: str, day: date = DAY) -> Envelope:
    return demo_envelope(world, stream, day)



# ------------------------------------------------------------- round trips
def test_organization_round_trip(demo_world: World) -> None:
    df = parse(pull(demo_world, "linkedin_organization"))

    assert list(df.columns) == schemas.ACCOUNT_DAILY.parsed_columns
    assert len(df) == len(demo_world.brands)
    for brand in demo_world.brands:
        row = one(df, brand=brand.key)
        followers, gains, _ = demo_world.follower_day(brand, "linkedin", DAY)
        truth = demo_world.account_day(brand, "linkedin", DAY, TODAY)
        assert row["report_date"] == pd.Timestamp(DAY)
        assert row["timezone"] == brand.timezone
        assert (row["followers"], row["follower_gains"]) == (followers, gains)
        for column in ("impressions", "reach", "clicks", "likes", "comments", "shares"):
            assert row[column] == truth[column], column
        # LinkedIn publishes no losses, no views and no 7/28-day unique reach.
        for column in ("follower_losses", "views", "reach_week", "reach_28d", "profile_views"):
            assert pd.isna(row[column]), column
    schemas.validate(schemas.ACCOUNT_DAILY, df, source="test", start=DAY, end=DAY)


def test_negative_daily_likes_and_comments_pass_through(demo_world: World) -> None:
    envelope = pull(demo_world, "linkedin_organization")
    stats = envelope["accounts"][0]["requests"][0]["body"]["elements"][0]
    stats["totalShareStatistics"].update(likeCount=-3, commentCount=-1)

    row = parse(envelope).iloc[0]

    assert (row["likes"], row["comments"]) == (-3, -1)


def test_posts_round_trip(demo_world: World) -> None:
    df = parse(pull(demo_world, "linkedin_posts"))

    assert list(df.columns) == schemas.POST_DAILY.parsed_columns
    for brand in demo_world.brands:
        posts = demo_world.posts_live(brand, "linkedin", DAY, POST_LOOKBACK_DAYS)
        assert (df["brand"] == brand.key).sum() == len(posts) > 0
        for post in posts:
            row = one(df, post_id=post.post_id)
            lifetime = post.lifetime(DAY)
            assert row["report_date"] == pd.Timestamp(DAY)
            assert row["published_at"] == pd.Timestamp(post.published_at.replace(tzinfo=None))
            assert row["media_type"] == post.media_type
            assert row["caption"] == post.caption  # unescaped: escaping is the renderer's
            for column in ("impressions", "reach", "likes", "comments", "shares",
                           "link_clicks"):
                assert row[column] == lifetime[column], column
            for column in ("views", "saves", "video_views", "completions",
                           "watch_time_seconds"):
                assert pd.isna(row[column]), column
    # the store derives the increments: the rows a parser gives lack them
    schemas.validate(schemas.POST_DAILY, schemas.coerce_frame(schemas.POST_DAILY, df),
                     source="test", start=DAY, end=DAY)


def test_ads_round_trip(demo_world: World) -> None:
    df = parse(pull(demo_world, "linkedin_ads"))

    assert list(df.columns) == schemas.AD_DAILY.parsed_columns
    expected = 0
    for brand in demo_world.brands:
        account = brand.account("linkedin_ad_account")
        for campaign in demo_world.campaigns(brand, "linkedin"):
            truth = demo_world.ad_day(campaign, DAY, TODAY)
            if truth is None:
                continue
            expected += 1
            row = one(df, campaign_id=campaign.campaign_id)
            assert row["ad_account_id"] == account.account_id
            assert row["campaign_name"] == campaign.name
            assert row["currency"] == brand.currency
            assert row["report_date"] == pd.Timestamp(DAY)
            assert row["spend"] == pytest.approx(truth["spend"])
            assert row["revenue"] == pytest.approx(truth["revenue"])
            for column in ("impressions", "clicks", "link_clicks", "leads", "purchases"):
                assert row[column] == truth[column], column
            assert pd.isna(row["reach"])
    assert len(df) == expected > 0
    assert df["campaign_name"].str.contains("<Promo>").any()
    # the windows of the account's one enabled conversion rule; its paused 90/30 rule counts
    # nothing
    assert set(df["attribution_setting"]) == {"30d_click,7d_view"}


def _with_rules(envelope: Envelope, rules: list[dict[str, Any]] | None) -> Envelope:
    """``envelope`` with every account's conversion rules replaced (None: not asked)."""
    changed = copy.deepcopy(envelope)
    for account in changed["accounts"]:
        account["requests"] = [r for r in account["requests"]
                               if r["path"] != linkedin_contract.CONVERSIONS_PATH]
        if rules is not None:
            account["requests"].append({
                "method": "GET", "path": linkedin_contract.CONVERSIONS_PATH,
                "params": {"q": "account"}, "status": 200, "body": {"elements": rules}})
    return changed


def _rule(click: Any, view: Any, enabled: Any = True) -> dict[str, Any]:
    rule = {"enabled": enabled, "postClickAttributionWindowSize": click,
            "viewThroughAttributionWindowSize": view}
    return {k: v for k, v in rule.items() if v is not None}


@pytest.mark.parametrize(("rules", "setting"), [
    ([_rule(30, 7)], "30d_click,7d_view"),
    ([_rule(7, 1), _rule(30, 7), _rule(30, 7)], "30d_click,7d_view / 7d_click,1d_view"),
    ([_rule(30, 7), _rule(90, 30, enabled=False)], "30d_click,7d_view"),
    ([_rule(30, None)], None),  # a window left out: LinkedIn's default is not assumed
    ([_rule(30, 0)], None),
    ([_rule(90, 30, enabled=False)], None),  # no enabled rule: nothing says
    ([], None),
    (None, None),  # a landing file from before the rules were asked
])
def test_the_attribution_setting_is_that_of_the_enabled_conversion_rules(
        demo_world: World, rules: list[dict[str, Any]] | None, setting: str | None) -> None:
    df = parse(_with_rules(pull(demo_world, "linkedin_ads"), rules))
    assert len(df) > 0
    if setting is None:
        assert df["attribution_setting"].isna().all()
    else:
        assert set(df["attribution_setting"]) == {setting}


# -------------------------------------------------------------- time zones
def test_berlin_day_range_is_local_midnight_to_local_midnight(demo_world: World) -> None:
    berlin = demo_world.brand("alpenglow")
    assert berlin.timezone == "Europe/Berlin"
    envelope = pull(demo_world, "linkedin_organization", DST_DAY)
    entry = next(a for a in envelope["accounts"] if a["brand"] == "alpenglow")
    time_range = entry["requests"][0]["body"]["elements"][0]["timeRange"]

    # 2026-03-29 00:00 CET is 2026-03-28 23:00 UTC: 20540 days after 1970-01-01 plus 23 h.
    assert time_range["start"] == (20540 * 86_400 + 23 * 3_600) * 1000 == 1_774_738_800_000
    # The day ends at 2026-03-30 00:00 CEST = 2026-03-29 22:00 UTC: only 23 hours later.
    assert time_range["end"] - time_range["start"] == 23 * 3_600_000

    row = one(parse(envelope), brand="alpenglow")
    assert row["report_date"] == pd.Timestamp(DST_DAY)  # the UTC date would be the 28th


def test_tokyo_time_range_lands_on_the_local_date(demo_world: World) -> None:
    envelope = pull(demo_world, "linkedin_organization", TODAY)
    envelope["accounts"] = envelope["accounts"][:1]
    entry = envelope["accounts"][0]
    entry["timezone"] = "Asia/Tokyo"
    # 2026-11-23 00:00 JST is 2026-11-22 15:00 UTC: 20779 days after 1970-01-01 plus 15 h.
    start = (20779 * 86_400 + 15 * 3_600) * 1000
    for request in entry["requests"][:2]:
        request["body"]["elements"][0]["timeRange"] = {"start": start,
                                                      "end": start + 86_400_000}

    df = parse(envelope)

    assert df["report_date"].tolist() == [pd.Timestamp(TODAY)]  # not the UTC date, the 22nd


# -------------------------------------------------------------- pagination
def test_posts_over_several_pages_are_all_parsed(demo_world: World,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linkedin_contract, "POSTS_PAGE_SIZE", 4)
    envelope = pull(demo_world, "linkedin_posts")

    df = parse(envelope)

    for brand, entry in zip(demo_world.brands, envelope["accounts"], strict=True):
        posts = demo_world.posts_live(brand, "linkedin", DAY, POST_LOOKBACK_DAYS)
        pages = [r for r in entry["requests"] if r["path"] == "/rest/posts"]
        assert len(pages) == -(-len(posts) // 4) > 1
        assert pages[0]["body"]["paging"]["links"][0]["rel"] == "next"
        assert pages[-1]["body"]["paging"]["links"] == []
        parsed = set(df.loc[df["brand"] == brand.key, "post_id"])
        assert parsed == {p.post_id for p in posts}
        assert df.loc[df["brand"] == brand.key, "impressions"].notna().all()


# -------------------------------------------------------------- bad values
def _org_stats(envelope: Envelope) -> dict[str, Any]:
    return envelope["accounts"][0]["requests"][0]["body"]["elements"][0]["totalShareStatistics"]


def _post_stats(envelope: Envelope) -> dict[str, Any]:
    stats = next(r for r in envelope["accounts"][0]["requests"]
                 if r["path"] == "/rest/organizationalEntityShareStatistics")
    return stats["body"]["elements"][0]["totalShareStatistics"]


def _posts_body(envelope: Envelope) -> dict[str, Any]:
    return envelope["accounts"][0]["requests"][0]["body"]


BAD_PAYLOADS: list[tuple[str, Callable[[Envelope], None], str]] = [
    ("linkedin_organization",
     lambda e: _org_stats(e).update(impressionCount="1,234"), "impressionCount"),
    ("linkedin_organization",
     lambda e: _org_stats(e).update(clickCount=float("nan")), "clickCount"),
    ("linkedin_posts", lambda e: _post_stats(e).update(shareCount=-2), "shareCount"),
    ("linkedin_posts", lambda e: _post_stats(e).update(likeCount=-1), "likeCount"),
    ("linkedin_posts", lambda e: _posts_body(e).pop("elements"), "'elements'"),
    ("linkedin_ads",
     lambda e: _posts_body(e)["elements"][0].update(costInLocalCurrency="12,50"),
     "costInLocalCurrency"),
    ("linkedin_ads",
     lambda e: _posts_body(e)["elements"][0].update(impressions=12.5), "impressions"),
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


def test_statistics_for_an_unlisted_post_are_an_error(demo_world: World) -> None:
    envelope = pull(demo_world, "linkedin_posts")
    stats = next(r for r in envelope["accounts"][0]["requests"]
                 if r["path"] == "/rest/organizationalEntityShareStatistics")
    stats["body"]["elements"][0]["share"] = "urn:li:share:1"

    with pytest.raises(ParseError, match="urn:li:share:1"):
        parse(envelope)


def test_a_day_range_longer_than_a_day_is_rejected(demo_world: World) -> None:
    envelope = pull(demo_world, "linkedin_ads")
    element = _posts_body(envelope)["elements"][0]
    element["dateRange"]["end"] = {"year": 2026, "month": 11, "day": 21}

    with pytest.raises(ParseError, match="DAILY"):
        parse(envelope)


def test_an_empty_day_parses_to_an_empty_typed_frame(demo_world: World) -> None:
    envelope = pull(demo_world, "linkedin_ads", date(2021, 6, 1))  # before any campaign

    df = parse(envelope)

    assert df.empty
    assert list(df.columns) == schemas.AD_DAILY.parsed_columns
    assert str(df["spend"].dtype) == "Float64"


def test_follower_total_is_dated_to_the_window_end(demo_world: World) -> None:
    """The org stream's follower total is dated to the window's last day."""
    envelope = pull(demo_world, "linkedin_organization", DAY - timedelta(days=1))
    df = parse(envelope)
    assert set(df["report_date"]) == {pd.Timestamp(DAY - timedelta(days=1))}
    assert df["followers"].notna().all()


def test_statistics_of_a_ugc_post_attach_to_it(demo_world: World) -> None:
    """Lifetime statistics name a ``share`` or a ``ugcPost``; either finds its post."""
    envelope = pull(demo_world, "linkedin_posts")
    stats = next(r for r in envelope["accounts"][0]["requests"]
                 if r["path"] == "/rest/organizationalEntityShareStatistics")
    element = stats["body"]["elements"][0]
    element["ugcPost"] = element.pop("share")

    row = one(parse(envelope), post_id=element["ugcPost"])

    assert row["impressions"] == element["totalShareStatistics"]["impressionCount"]


def test_an_unknown_time_zone_names_the_account(demo_world: World) -> None:
    envelope = pull(demo_world, "linkedin_organization")
    envelope["accounts"][0]["timezone"] = "Mars/Olympus_Mons"
    account = envelope["accounts"][0]["account_id"]

    with pytest.raises(ParseError, match=rf"account {account}: time zone "
                                         r"'Mars/Olympus_Mons' is not a known time zone"):
        parse(envelope)
