"""Demo answers of the LinkedIn Marketing REST API (header ``Linkedin-Version: 202511``).

The builders turn the demo world's values into the bodies LinkedIn itself returns, so the
LinkedIn parsers are exercised on the real shapes: epoch-millisecond ``timeRange``s that
start at the organization's LOCAL midnight, follower *gains* only (LinkedIn publishes no
losses), numbers as JSON numbers except ad money, which arrives as strings.

What the world knows but LinkedIn does not report is left out on purpose (views, saves,
follower losses, 7/28-day unique reach, post video metrics), so that a parser cannot
accidentally find it. Video views of organization posts live in ``/rest/videoAnalytics``,
which accepts ``urn:li:ugcPost`` entities only; the world's posts are ``urn:li:share``
URNs, so that endpoint is not modelled and post video columns stay NULL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms import linkedin as contract
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline.lib.sources.demo.world import RECENT_DAYS, Brand, Campaign, Post, World

PAID_FOLLOWER_SHARE = 0.15  # share of daily follower gains LinkedIn attributes to ads

Builder = Callable[[World, AccountRef, date, date], list[RequestRecord]]


# ------------------------------------------------------------------ helpers
def _record(path: str, params: dict[str, str], body: dict[str, Any]) -> RequestRecord:
    """One GET as the landing file keeps it (LinkedIn answers errors with HTTP codes)."""
    return {"method": "GET", "path": path, "params": params, "headers": dict(contract.HEADERS),
            "status": 200, "body": body}


@lru_cache(maxsize=RECENT_DAYS)  # local midnights and campaign bounds
def _epoch_ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def _day_range(brand: Brand, day: date) -> dict[str, int]:
    """LinkedIn's DAY bucket: local midnight to the next local midnight (23 h or 25 h on DST
    changes), as epoch milliseconds."""
    return {"start": _epoch_ms(brand.local_midnight_utc(day)),
            "end": _epoch_ms(brand.local_midnight_utc(day + timedelta(days=1)))}


def _time_intervals(time_range: dict[str, int]) -> str:
    return (f"(timeRange:(start:{time_range['start']},end:{time_range['end']}),"
            "timeGranularityType:DAY)")


def _stats_paging() -> dict[str, Any]:
    return {"start": 0, "count": 10, "links": []}


def _share_statistics(*, impressions: int, reach: int, clicks: int, likes: int,
                      comments: int, shares: int) -> dict[str, int | float]:
    """``totalShareStatistics``; ``engagement`` is LinkedIn's own rate
    (clicks + likes + comments + shares) / impressions."""
    interactions = clicks + likes + comments + shares
    return {
        "impressionCount": impressions,
        "uniqueImpressionsCount": reach,
        "clickCount": clicks,
        "likeCount": likes,
        "commentCount": comments,
        "shareCount": shares,
        "engagement": interactions / impressions if impressions else 0.0,
    }


def _linkedin_date(day: date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


# ------------------------------------------------------------- organization
def build_organization(world: World, account: AccountRef, day: date,
                       pulled_on: date) -> list[RequestRecord]:
    """Share statistics and follower gains of one local day, and the follower total."""
    brand = world.brand(account.brand)
    org = f"urn:li:organization:{account.account_id}"
    values = world.account_day(brand, "linkedin", day, pulled_on)
    time_range = _day_range(brand, day)
    finder = {"q": "organizationalEntity", "organizationalEntity": org,
              "timeIntervals": _time_intervals(time_range)}
    statistics = _share_statistics(
        impressions=values["impressions"], reach=values["reach"], clicks=values["clicks"],
        likes=values["likes"], comments=values["comments"], shares=values["shares"])
    paid = int(values["follower_gains"] * PAID_FOLLOWER_SHARE)
    gains = {"organicFollowerGain": values["follower_gains"] - paid, "paidFollowerGain": paid}
    return [
        _record(contract.SHARE_STATISTICS_PATH, dict(finder), {
            "elements": [{"totalShareStatistics": statistics, "timeRange": dict(time_range),
                          "organizationalEntity": org}],
            "paging": _stats_paging()}),
        _record(contract.FOLLOWER_STATISTICS_PATH, dict(finder), {
            "elements": [{"followerGains": gains, "timeRange": dict(time_range),
                          "organizationalEntity": org}],
            "paging": _stats_paging()}),
        # The live API returns today's size; the demo answers as of the end of `day`.
        _record(contract.NETWORK_SIZES_PATH + org, {"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
                {"firstDegreeSize": values["followers"]}),
    ]


# -------------------------------------------------------------------- posts
def _post_content(post: Post, brand: Brand) -> dict[str, Any] | None:
    """The ``content`` union of the Posts API; text posts have none."""
    parts = post.derived("linkedin_content", lambda p: _content_parts(p, brand.key))
    if parts is None:
        return None
    union, first, first_value, second, second_value = parts
    return {union: {first: first_value, second: second_value}}


def _content_parts(post: Post, brand_key: str) -> tuple[str, str, str, str, str] | None:
    tail = post.post_id.rsplit(":", 1)[-1]
    if post.media_type == "photo":
        return "media", "id", f"urn:li:image:D4E22AQ{tail}", "altText", ""
    if post.media_type == "video":
        return "media", "id", f"urn:li:video:D4E05AQ{tail}", "title", ""
    if post.media_type == "link":
        return ("article", "source", f"https://www.example.com/{brand_key}/{tail}", "title",
                post.caption[:70])
    return None


def _post_element(post: Post, brand: Brand, org: str) -> dict[str, Any]:
    published = post.derived("epoch_ms", lambda p: round(p.published_at.timestamp() * 1000))
    element: dict[str, Any] = {
        "id": post.post_id,
        "author": org,
        "commentary": post.caption,
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                         "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
        "createdAt": published,
        "lastModifiedAt": published,
        "publishedAt": published,
        "lifecycleStateInfo": {"isEditedByAuthor": False},
    }
    content = _post_content(post, brand)
    if content is not None:
        element["content"] = content
    return element


def _posts_paging(org: str, start: int, count: int, total: int) -> dict[str, Any]:
    links = []
    if start + count < total:
        links.append({"type": "application/json", "rel": "next",
                      "href": f"/rest/posts?q=author&author={quote(org, safe='')}"
                              f"&count={count}&start={start + count}"})
    return {"start": start, "count": count, "links": links, "total": total}


def _lifetime_statistics(post: Post, day: date, org: str) -> dict[str, Any]:
    """Lifetime statistics of one share as of the end of local ``day``."""
    totals = post.lifetime(day)
    statistics = _share_statistics(
        impressions=int(totals["impressions"]), reach=int(totals["reach"]),
        clicks=int(totals["link_clicks"]), likes=int(totals["likes"]),
        comments=int(totals["comments"]), shares=int(totals["shares"]))
    return {"totalShareStatistics": statistics, "share": post.post_id,
            "organizationalEntity": org}


def build_posts(world: World, account: AccountRef, day: date,
                pulled_on: date) -> list[RequestRecord]:
    """The organization's posts of the look-back window, page by page, each page followed
    by one lifetime-statistics call for its shares (no ``timeIntervals`` = lifetime)."""
    del pulled_on  # lifetime totals as of `day` do not restate
    brand = world.brand(account.brand)
    org = f"urn:li:organization:{account.account_id}"
    posts = sorted(world.posts_live(brand, "linkedin", day, POST_LOOKBACK_DAYS),
                   key=lambda p: p.published_at, reverse=True)
    size = contract.POSTS_PAGE_SIZE
    records: list[RequestRecord] = []
    for start in range(0, max(len(posts), 1), size):
        page = posts[start:start + size]
        records.append(_record(
            contract.POSTS_PATH,
            {"q": "author", "author": org, "count": str(size), "start": str(start)},
            {"elements": [_post_element(p, brand, org) for p in page],
             "paging": _posts_paging(org, start, size, len(posts))}))
        if page:
            shares = ",".join(p.post_id for p in page)
            records.append(_record(
                contract.SHARE_STATISTICS_PATH,
                {"q": "organizationalEntity", "organizationalEntity": org,
                 "shares": f"List({shares})"},
                {"elements": [_lifetime_statistics(p, day, org) for p in page],
                 "paging": _stats_paging()}))
    return records


# ---------------------------------------------------------------------- ads
def _analytics_element(campaign: Campaign, values: dict[str, float],
                       day: date) -> dict[str, Any]:
    """One adAnalytics row (pivot CAMPAIGN, DAILY); LinkedIn sends money as strings."""
    return {
        "pivotValues": [f"{contract.CAMPAIGN_URN}{campaign.campaign_id}"],
        "dateRange": {"start": _linkedin_date(day), "end": _linkedin_date(day)},
        "costInLocalCurrency": f"{values['spend']:.2f}",
        "impressions": int(values["impressions"]),
        "clicks": int(values["clicks"]),
        "landingPageClicks": int(values["link_clicks"]),
        "oneClickLeads": int(values["leads"]),
        "externalWebsiteConversions": int(values["purchases"]),
        "conversionValueInLocalCurrency": f"{values['revenue']:.2f}",
        "videoViews": int(values["video_views"]),
    }


def _campaign_element(campaign: Campaign, brand: Brand, sponsored: str, currency: str,
                      day: date) -> dict[str, Any]:
    return {
        "id": int(campaign.campaign_id),
        "name": campaign.name,
        "account": sponsored,
        "type": "SPONSORED_UPDATES",
        "objectiveType": campaign.objective,
        "costType": "CPM",
        "status": "COMPLETED" if campaign.end < day else "ACTIVE",
        "dailyBudget": {"amount": f"{campaign.daily_budget:.2f}", "currencyCode": currency},
        "runSchedule": {"start": _epoch_ms(brand.local_midnight_utc(campaign.start)),
                        "end": _epoch_ms(brand.local_midnight_utc(
                            campaign.end + timedelta(days=1)))},
    }


def build_ads(world: World, account: AccountRef, day: date,
              pulled_on: date) -> list[RequestRecord]:
    """Campaign analytics of one day (adAnalytics does not paginate), then the names of the
    campaigns that delivered, looked up by id through the campaign search finder, and the
    ad account's conversion rules (one page)."""
    brand = world.brand(account.brand)
    sponsored = f"urn:li:sponsoredAccount:{account.account_id}"
    delivered = [(c, v) for c in world.campaigns(brand, "linkedin")
                 if (v := world.ad_day(c, day, pulled_on)) is not None]
    when = (f"(start:(year:{day.year},month:{day.month},day:{day.day}),"
            f"end:(year:{day.year},month:{day.month},day:{day.day}))")
    records = [_record(
        contract.AD_ANALYTICS_PATH,
        {"q": "analytics", "pivot": "CAMPAIGN", "timeGranularity": "DAILY", "dateRange": when,
         "accounts": f"List({sponsored})", "fields": ",".join(contract.AD_FIELDS)},
        {"elements": [_analytics_element(c, v, day) for c, v in delivered],
         "paging": _stats_paging()})]
    if delivered:
        ids = ",".join(f"{contract.CAMPAIGN_URN}{c.campaign_id}" for c, _ in delivered)
        records.append(_record(
            f"/rest/adAccounts/{account.account_id}/adCampaigns",
            {"q": "search", "search": f"(id:(values:List({ids})))", "pageSize": "100"},
            {"elements": [_campaign_element(c, brand, sponsored, account.currency, day)
                          for c, _ in delivered],
             "paging": {"start": 0, "count": 100, "links": [], "total": len(delivered)},
             "metadata": {}}))
        rules = conversion_rules(account, world.campaigns(brand, "linkedin"))
        records.append(_record(
            contract.CONVERSIONS_PATH,
            {"q": "account", "account": sponsored, "start": "0",
             "count": str(contract.CONVERSIONS_PAGE_SIZE)},
            {"elements": rules,
             "paging": {"start": 0, "count": contract.CONVERSIONS_PAGE_SIZE, "links": [],
                        "total": len(rules)}}))
    return records


def conversion_rules(account: AccountRef, campaigns: list[Campaign]) -> list[dict[str, Any]]:
    """The demo ad account's conversion rules, as the conversions finder lists them: the
    website purchase rule its campaigns count (30 days after a click, 7 after a view,
    LinkedIn's defaults) and a disabled sign-up rule with longer windows, which counts
    nothing."""
    sponsored = f"urn:li:sponsoredAccount:{account.account_id}"
    base = int(account.account_id) * 10
    urns = [f"{contract.CAMPAIGN_URN}{c.campaign_id}" for c in campaigns]
    return [
        {"id": base + 1, "name": "Website purchase", "account": sponsored, "type": "PURCHASE",
         "enabled": True, "conversionMethod": "INSIGHT_TAG",
         "attributionType": "LAST_TOUCH_BY_CAMPAIGN", "postClickAttributionWindowSize": 30,
         "viewThroughAttributionWindowSize": 7, "campaigns": urns},
        {"id": base + 2, "name": "Newsletter sign-up (paused)", "account": sponsored,
         "type": "SIGN_UP", "enabled": False, "conversionMethod": "INSIGHT_TAG",
         "attributionType": "LAST_TOUCH_BY_CAMPAIGN", "postClickAttributionWindowSize": 90,
         "viewThroughAttributionWindowSize": 30, "campaigns": []},
    ]


BUILDERS: dict[str, Builder] = {
    "linkedin_organization": build_organization,
    "linkedin_posts": build_posts,
    "linkedin_ads": build_ads,
}
