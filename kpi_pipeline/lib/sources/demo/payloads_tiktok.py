"""Demo answers of the TikTok APIs (Business API v1.3: Accounts API and Reporting API).

Every body carries TikTok's envelope ``{"code": 0, "message": "OK", "request_id", "data"}``:
TikTok reports errors as HTTP 200 with ``code != 0``, so the parsers must look at ``code``
and the demo must send it. The report API sends numbers as STRINGS and ``ctr`` as a
percent; the Accounts API sends JSON numbers; video durations are seconds.

Metric choices (all real TikTok metric names):

- Account: ``followers_count`` is the only follower figure; no gains/losses, no reach.
- Videos: ``video_views`` are plays (TikTok has no impressions). ``full_video_watched_rate``
  is a ratio 0..1; the parser derives completions as round(video_views * rate).
- Ads (``/report/integrated/get/``, AUCTION_CAMPAIGN by campaign_id and stat_time_day):
  ``clicks`` are TikTok's destination clicks, i.e. link clicks; leads are ``onsite_form``
  (TikTok Instant Form submissions), purchases ``complete_payment`` and revenue
  ``total_complete_payment_rate``, which despite its name is the total VALUE of complete
  payments in the advertiser currency. Campaign names come from the ``campaign_name``
  attribute metric, so no second call is needed.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms.tiktok import (
    ACCOUNT_FIELDS,
    ADGROUP_FIELDS,
    API,
    REPORT_DIMENSIONS,
    REPORT_METRICS,
    VIDEO_FIELDS,
)
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline.lib.sources.demo.world import Campaign, Post, World

# Page sizes are module constants so tests can shrink them. The report page is small on
# purpose (the API allows 1000): on days with a seasonal campaign the demo then answers
# over two pages and the pagination path is exercised on every demo run.
VIDEO_PAGE_SIZE = 20
REPORT_PAGE_SIZE = 2
ADGROUP_PAGE_SIZE = 2

Builder = Callable[[World, AccountRef, date, date], list[RequestRecord]]


@lru_cache(maxsize=32)  # a handful of constant field lists
def _json_list(names: tuple[str, ...]) -> str:
    """TikTok takes list parameters as JSON-array strings."""
    return json.dumps(list(names), separators=(",", ":"))


def _request_id(pulled_on: date, *parts: object) -> str:
    """A stable request id in TikTok's style (timestamp followed by hex)."""
    digest = zlib.crc32("|".join(map(str, parts)).encode())
    return f"{pulled_on.year:04d}{pulled_on.month:02d}{pulled_on.day:02d}060000{digest:08X}"


def _record(path: str, params: dict[str, str], data: dict[str, Any],
            request_id: str) -> RequestRecord:
    """One GET with TikTok's success envelope (no Access-Token: it is a credential)."""
    return {"method": "GET", "path": f"{API}{path}", "params": params, "status": 200,
            "body": {"code": 0, "message": "OK", "request_id": request_id, "data": data}}


# ------------------------------------------------------------------ account
def build_account(world: World, account: AccountRef, day: date,
                  pulled_on: date) -> list[RequestRecord]:
    """Daily account metrics of one local day from the Accounts API."""
    brand = world.brand(account.brand)
    values = world.account_day(brand, "tiktok", day, pulled_on)
    metric = {
        "date": day.isoformat(),
        "followers_count": values["followers"],
        "video_views": values["views"],
        "profile_views": values["profile_views"],
        "likes": max(values["likes"], 0),  # TikTok has no un-likes in its daily counts
        "comments": values["comments"],
        "shares": values["shares"],
    }
    params = {"business_id": account.account_id, "start_date": day.isoformat(),
              "end_date": day.isoformat(), "fields": _json_list(ACCOUNT_FIELDS)}
    return [_record("/business/get/", params, {"metrics": [metric]},
                    _request_id(pulled_on, account.account_id, "business", day))]


# ------------------------------------------------------------------- videos
def _video(post: Post, day: date) -> dict[str, Any]:
    """One video of the list with its lifetime metrics as of the end of local ``day``."""
    totals = post.lifetime(day)
    views = int(totals["video_views"])
    rate = round(totals["completions"] / views, 4) if views else 0.0
    return {
        "item_id": post.post_id,
        "create_time": post.derived("unix_seconds", _unix_seconds),
        "caption": post.caption,
        "video_views": views,
        "likes": int(totals["likes"]),
        "comments": int(totals["comments"]),
        "shares": int(totals["shares"]),
        "reach": int(totals["reach"]),
        "average_time_watched": round(float(totals["avg_watch_seconds"]), 2),
        "total_time_watched": float(totals["watch_time_seconds"]),
        "full_video_watched_rate": rate,
    }


def _unix_seconds(post: Post) -> int:
    return int(post.published_at.timestamp())


def build_videos(world: World, account: AccountRef, day: date,
                 pulled_on: date) -> list[RequestRecord]:
    """Videos of the look-back window, newest first, paginated by ``cursor``."""
    brand = world.brand(account.brand)
    posts = sorted(world.posts_live(brand, "tiktok", day, POST_LOOKBACK_DAYS),
                   key=lambda p: p.published_at, reverse=True)
    size = VIDEO_PAGE_SIZE
    records: list[RequestRecord] = []
    cursor = 0
    while True:
        page = posts[cursor:cursor + size]
        following = cursor + len(page)
        params = {"business_id": account.account_id, "fields": _json_list(VIDEO_FIELDS),
                  "cursor": str(cursor), "max_count": str(size)}
        data = {"videos": [_video(p, day) for p in page], "cursor": following,
                "has_more": following < len(posts)}
        records.append(_record("/business/video/list/", params, data,
                               _request_id(pulled_on, account.account_id, "videos", cursor)))
        if not data["has_more"]:
            return records
        cursor = following


# ---------------------------------------------------------------------- ads
def _report_row(campaign: Campaign, values: dict[str, float], day: date) -> dict[str, Any]:
    """One integrated-report row: metrics as strings, ``ctr`` in percent, and the
    campaign's ``objective_type`` attribute (``CONVERSIONS``, ``TRAFFIC``), as TikTok sends."""
    impressions = int(values["impressions"])
    clicks = int(values["link_clicks"])
    ctr = clicks / impressions * 100 if impressions else 0.0
    return {
        "dimensions": {"campaign_id": campaign.campaign_id,
                       "stat_time_day": f"{day.isoformat()} 00:00:00"},
        "metrics": {
            "campaign_name": campaign.name,
            "objective_type": campaign.objective,
            "spend": f"{values['spend']:.2f}",
            "impressions": str(impressions),
            "reach": str(int(values["reach"])),
            "clicks": str(clicks),
            "ctr": f"{ctr:.2f}",
            "onsite_form": str(int(values["leads"])),
            "complete_payment": str(int(values["purchases"])),
            "total_complete_payment_rate": f"{values['revenue']:.2f}",
            "video_play_actions": int(values["video_views"]),
        },
    }


def build_ads(world: World, account: AccountRef, day: date,
              pulled_on: date) -> list[RequestRecord]:
    """The campaign-by-day report of one advertiser-local day, page by page."""
    brand = world.brand(account.brand)
    rows = [_report_row(c, v, day)
            for c in sorted(world.campaigns(brand, "tiktok"), key=lambda c: c.campaign_id)
            if (v := world.ad_day(c, day, pulled_on)) is not None]
    size = REPORT_PAGE_SIZE
    total_page = math.ceil(len(rows) / size)
    records: list[RequestRecord] = []
    for page in range(1, max(total_page, 1) + 1):
        params = {"advertiser_id": account.account_id, "report_type": "BASIC",
                  "data_level": "AUCTION_CAMPAIGN", "dimensions": _json_list(REPORT_DIMENSIONS),
                  "metrics": _json_list(REPORT_METRICS), "start_date": day.isoformat(),
                  "end_date": day.isoformat(), "page": str(page), "page_size": str(size)}
        data = {"list": rows[(page - 1) * size:page * size],
                "page_info": {"page": page, "page_size": size, "total_number": len(rows),
                              "total_page": total_page}}
        records.append(_record("/report/integrated/get/", params, data,
                               _request_id(pulled_on, account.account_id, "report", day, page)))
    campaigns = [row["dimensions"]["campaign_id"] for row in rows]
    if campaigns:
        records += _ad_groups(account, campaigns, day, pulled_on)
    return records


def _ad_groups(account: AccountRef, campaigns: list[str], day: date,
               pulled_on: date) -> list[RequestRecord]:
    """The ad groups of the report's campaigns, as ``adgroup/get`` lists them page by page:
    one per campaign, counting conversions 7 days after a click and 1 day after a view
    (TikTok's default for website conversions), without an engaged-view window."""
    groups = [{"adgroup_id": f"{c}01", "campaign_id": c,
               "click_attribution_window": "SEVEN_DAYS", "view_attribution_window": "ONE_DAY"}
              for c in campaigns]
    size = ADGROUP_PAGE_SIZE
    total_page = math.ceil(len(groups) / size)
    filtering = json.dumps({"campaign_ids": campaigns}, separators=(",", ":"))
    records = []
    for page in range(1, total_page + 1):
        params = {"advertiser_id": account.account_id, "fields": _json_list(ADGROUP_FIELDS),
                  "filtering": filtering, "page": str(page), "page_size": str(size)}
        data = {"list": groups[(page - 1) * size:page * size],
                "page_info": {"page": page, "page_size": size, "total_number": len(groups),
                              "total_page": total_page}}
        records.append(_record("/adgroup/get/", params, data,
                               _request_id(pulled_on, account.account_id, "adgroups", day, page)))
    return records


BUILDERS: dict[str, Builder] = {
    "tiktok_account": build_account,
    "tiktok_videos": build_videos,
    "tiktok_ads": build_ads,
}
