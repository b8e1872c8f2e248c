"""Demo answers in the exact shapes of the Meta APIs (Graph API v24.0 and Marketing API).

Each builder turns the demo world's ground truth for one account and local day into the
request records a real client would have stored: the path and parameters asked, and the
body Meta sends back. Shapes follow /work/shared/SOURCES.md, including Meta's quirks, so the
parsers are exercised on what production sends:

- Page and Instagram user insights use ``data[].values[].end_time`` marking the END of the
  local day; Instagram ``metric_type=total_value`` metrics have no end_time at all.
- Some values are objects: reactions and clicks by type (zero buckets omitted), and
  ``total_value.breakdowns`` for follows/unfollows.
- Post and media insights are lifetime totals (``period: "lifetime"``, no end_time).
- Durations are milliseconds; Marketing API numbers are strings; the same purchases appear
  under three action types; lists page by 25 with ``paging.cursors`` and a full ``next`` URL.
- Only current metric names are requested (see ``data/meta_metrics.yaml``).

Choices where the real API offers several: Facebook comments and shares come from the post
object (``comments.summary.total_count``, ``shares.count``, omitted when zero), likes from the
"like" bucket of ``post_reactions_by_type_total``; Facebook reels are ``added_video`` posts
whose permalink is under ``/reel/``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms.meta import AD_FIELDS, served_attribution_windows
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS, STREAMS_BY_NAME
from kpi_pipeline.lib.sources.demo.world import RECENT_DAYS, Brand, Post, World

VERSION = "v24.0"
GRAPH_HOST = "https://graph.facebook.com"
PAGE_SIZE = 25

Builder = Callable[[World, AccountRef, date, date], list[RequestRecord]]

FB_STATUS_TYPE = {"photo": "added_photos", "video": "added_video", "reel": "added_video",
                  "link": "shared_story"}
IG_KIND = {"photo": ("IMAGE", "FEED"), "carousel": ("CAROUSEL_ALBUM", "FEED"),
           "reel": ("VIDEO", "REELS")}
PURCHASE_TYPES = ("offsite_conversion.fb_pixel_purchase", "purchase", "omni_purchase")
LEAD_TYPES = ("lead", "offsite_conversion.fb_pixel_lead")
#: The attribution windows the demo's advertisers ask for: a week after a click or a view.
#: Meta stopped serving 7-day view on 2026-01-12, so from then their pulls ask 7d_click
#: only, and the view-through conversions (a fifth of them) are no longer counted.
DEMO_ATTRIBUTION_WINDOWS = ("7d_click", "7d_view")
#: The share of the demo's conversions a view window counts (the rest come after a click).
VIEW_SHARE = 5  # one in five, rounded down


# ----------------------------------------------------------------------- shared shapes
def _record(path: str, params: dict[str, Any], body: dict[str, Any]) -> RequestRecord:
    return {"method": "GET", "path": path, "params": params, "status": 200, "body": body}


@lru_cache(maxsize=256)
def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _entry_templates(owner: str, period: str,
                     names: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    """Each metric's ``data[]`` element but its values, the same every day an object is
    asked for. Only ever copied: what a builder returns is its own."""
    return tuple({"name": name, "period": period, "values": None, "title": _title(name),
                  "description": f"{_title(name)} ({period})",
                  "id": f"{owner}/insights/{name}/{period}"} for name in names)


# Pages and Instagram users: a few owners, periods and metric lists.
_account_entry_templates = lru_cache(maxsize=256)(_entry_templates)


def _entries(templates: tuple[dict[str, Any], ...], metrics: dict[str, Any],
             end_time: str | None = None) -> list[dict[str, Any]]:
    """The ``data[]`` elements of a Graph insights body, one value per metric (with the
    ``end_time`` of the day it closes, if any)."""
    entries = []
    for template, value in zip(templates, metrics.values(), strict=True):
        entry = template.copy()
        entry["values"] = ([{"value": value}] if end_time is None
                           else [{"value": value, "end_time": end_time}])
        entries.append(entry)
    return entries


def _total_value_entry(owner: str, name: str, total: dict[str, Any]) -> dict[str, Any]:
    """A ``metric_type=total_value`` element: no values[], no end_time."""
    return {"name": name, "period": "day", "title": _title(name),
            "description": f"{_title(name)} (total value)", "total_value": total,
            "id": f"{owner}/insights/{name}/day"}


@lru_cache(maxsize=RECENT_DAYS)
def _day_bounds(brand: Brand, day: date) -> tuple[int, int, str]:
    """(since, until) as unix seconds of the local day, and Graph's end_time for it.

    ``end_time`` is the END of the local day: local midnight of the next day, in UTC.
    """
    start = brand.local_midnight_utc(day)
    end = brand.local_midnight_utc(day + timedelta(days=1))
    return int(start.timestamp()), int(end.timestamp()), end.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _day_insights(owner: str, period: str, metrics: dict[str, Any], bounds: tuple[int, int, str],
                  extra: dict[str, Any] | None = None) -> RequestRecord:
    """A ``/{owner}/insights?period=...`` request answered with one value per metric."""
    since, until, end_time = bounds
    path = f"/{VERSION}/{owner}/insights"
    params = {"metric": ",".join(metrics), "period": period, "since": since, "until": until,
              **(extra or {})}
    data = _entries(_account_entry_templates(owner, period, tuple(metrics)), metrics, end_time)
    step = until - since
    paging = {"previous": _url(path, {**params, "since": since - step, "until": since}),
              "next": _url(path, {**params, "since": until, "until": until + step})}
    return _record(path, params, {"data": data, "paging": paging})


def _lifetime_insights(post: Post, metrics: dict[str, Any]) -> RequestRecord:
    """A post or media ``/insights`` request: lifetime totals, no end_time. A post always
    asks for the same metrics, so their request and elements are derived once."""
    path, metric, templates = post.derived("graph_lifetime_insights", lambda p: (
        f"/{VERSION}/{p.post_id}/insights", ",".join(metrics),
        _entry_templates(p.post_id, "lifetime", tuple(metrics))))
    return _record(path, {"metric": metric}, {"data": _entries(templates, metrics)})


def _url(path: str, params: dict[str, Any]) -> str:
    """``urlencode`` of str and int parameters, with the strings' quoting remembered."""
    query = "&".join(f"{_quoted(key)}={value if type(value) is int else _quoted(str(value))}"
                     for key, value in params.items())
    return f"{GRAPH_HOST}{path}?{query}"


@lru_cache(maxsize=256)  # parameter names and values that repeat: metrics, periods
def _quoted(text: str) -> str:
    return quote_plus(text)


def _cursor(item_id: str) -> str:
    return base64.b64encode(item_id.encode()).decode()


def _paginated(path: str, params: dict[str, Any], items: list[dict[str, Any]],
               id_key: str = "id") -> list[RequestRecord]:
    """A list edge answered page by page (``limit`` items), chained by ``cursors.after``."""
    params = {**params, "limit": PAGE_SIZE}
    chunks = [items[i:i + PAGE_SIZE] for i in range(0, len(items), PAGE_SIZE)] or [[]]
    records = []
    after: str | None = None
    for n, chunk in enumerate(chunks):
        page_params = params if after is None else {**params, "after": after}
        body: dict[str, Any] = {"data": chunk}
        if chunk:
            after = _cursor(str(chunk[-1][id_key]))
            body["paging"] = {"cursors": {"before": _cursor(str(chunk[0][id_key])),
                                          "after": after}}
            if n + 1 < len(chunks):
                body["paging"]["next"] = _url(path, {**params, "after": after})
        records.append(_record(path, page_params, body))
    return records


def _nonzero(buckets: Iterable[tuple[str, int]]) -> dict[str, int]:
    """An object value: Graph returns only the non-zero breakdown buckets."""
    return {key: value for key, value in buckets if value > 0}


def _reactions(likes: int) -> dict[str, int]:
    return _nonzero((("like", likes), ("love", likes // 6), ("wow", likes // 40),
                     ("haha", likes // 25)))


def _utc(post: Post) -> str:
    return post.published_at.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _live_posts(world: World, brand: Brand, platform: str, day: date) -> list[Post]:
    """Posts of the lookback window, newest first as Graph lists them."""
    posts = world.posts_live(brand, platform, day, POST_LOOKBACK_DAYS)
    return sorted(posts, key=lambda p: p.published_at, reverse=True)


def _list_params(brand: Brand, day: date, fields: str) -> dict[str, Any]:
    since = _day_bounds(brand, day - timedelta(days=POST_LOOKBACK_DAYS - 1))[0]
    return {"fields": fields, "since": since, "until": _day_bounds(brand, day)[1]}


# ------------------------------------------------------------------- Facebook Page
def facebook_page(world: World, account: AccountRef, day: date,
                  pulled_on: date) -> list[RequestRecord]:
    """Page insights for one local day (period=day), plus Meta's own week and 28-day reach."""
    brand = world.brand(account.brand)
    v = world.account_day(brand, "facebook", day, pulled_on)
    bounds = _day_bounds(brand, day)
    page = account.account_id
    daily = {
        "page_media_view": v["views"],
        "page_total_media_view_unique": v["reach"],
        "page_daily_follows_unique": v["follower_gains"],
        "page_daily_unfollows_unique": v["follower_losses"],
        "page_follows": v["followers"],
        "page_views_total": v["profile_views"],
        "page_actions_post_reactions_total": _reactions(max(v["likes"], 0)),
    }
    return [
        _day_insights(page, "day", daily, bounds),
        _day_insights(page, "week", {"page_total_media_view_unique": v["reach_week"]}, bounds),
        _day_insights(page, "days_28", {"page_total_media_view_unique": v["reach_28d"]}, bounds),
    ]


def _fb_post_item(page: str, post: Post, totals: dict[str, Any]) -> dict[str, Any]:
    """A post as ``/{page-id}/posts`` lists it; ``shares`` is absent when nobody shared."""
    post_id, created_time, message, status_type, permalink = post.derived(
        "facebook_item", lambda p: _fb_post_fixed(page, p))
    item: dict[str, Any] = {
        "id": post_id, "created_time": created_time, "message": message,
        "status_type": status_type, "permalink_url": permalink,
        "comments": {"data": [], "summary": {"order": "ranked",
                                             "total_count": totals["comments"],
                                             "can_comment": True}},
    }
    if totals["shares"]:
        item["shares"] = {"count": totals["shares"]}
    return item


def _fb_post_fixed(page: str, post: Post) -> tuple[str, str, str, str, str]:
    """What a post's listing repeats every day: id, created time, message, status type and
    permalink."""
    suffix = post.post_id.split("_", 1)[1]
    permalink = (f"https://www.facebook.com/reel/{suffix}" if post.media_type == "reel"
                 else f"https://www.facebook.com/{page}/posts/{suffix}")
    return (post.post_id, _utc(post), post.caption, FB_STATUS_TYPE[post.media_type],
            permalink)


def _fb_post_metrics(post: Post, totals: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "post_media_view": totals["views"],
        "post_total_media_view_unique": totals["reach"],
        "post_reactions_by_type_total": _reactions(totals["likes"]),
        "post_clicks_by_type": _nonzero((("link clicks", totals["link_clicks"]),
                                         ("other clicks", totals["reach"] // 50))),
    }
    if "video_views" in totals:
        metrics["post_video_views"] = totals["video_views"]
        metrics["post_video_complete_views_organic"] = totals["completions"]
        metrics["post_video_view_time"] = round(totals["watch_time_seconds"] * 1000)
    return metrics


def facebook_posts(world: World, account: AccountRef, day: date,
                   pulled_on: date) -> list[RequestRecord]:
    """The Page's posts of the last 28 days, then each post's lifetime insights."""
    del pulled_on  # lifetime snapshots are as of the end of ``day``
    brand = world.brand(account.brand)
    page = account.account_id
    items, insights = [], []
    for post in _live_posts(world, brand, "facebook", day):
        totals = post.lifetime(day)
        items.append(_fb_post_item(page, post, totals))
        insights.append(_lifetime_insights(post, _fb_post_metrics(post, totals)))
    fields = ("id,created_time,message,status_type,permalink_url,shares,"
              "comments.limit(0).summary(true)")
    listing = _paginated(f"/{VERSION}/{page}/posts", _list_params(brand, day, fields), items)
    return listing + insights


# ---------------------------------------------------------------------- Instagram
def instagram_account(world: World, account: AccountRef, day: date,
                      pulled_on: date) -> list[RequestRecord]:
    """User insights for one local day: time series, total values, breakdowns, follower total."""
    brand = world.brand(account.brand)
    v = world.account_day(brand, "instagram", day, pulled_on)
    bounds = _day_bounds(brand, day)
    since, until, _ = bounds
    user = account.account_id
    path = f"/{VERSION}/{user}/insights"
    totals = {"views": v["views"], "profile_views": v["profile_views"],
              "likes": max(v["likes"], 0), "comments": v["comments"], "shares": v["shares"]}
    total_params = {"metric_type": "total_value", "period": "day", "since": since, "until": until}
    follows = {"breakdowns": [{"dimension_keys": ["follow_type"], "results": [
        {"dimension_values": ["FOLLOWER"], "value": v["follower_gains"]},
        {"dimension_values": ["NON_FOLLOWER"], "value": v["follower_losses"]},
    ]}]}
    return [
        _day_insights(user, "day", {"reach": v["reach"], "follower_count": v["follower_gains"]},
                      bounds),
        _day_insights(user, "week", {"reach": v["reach_week"]}, bounds),
        _day_insights(user, "days_28", {"reach": v["reach_28d"]}, bounds),
        _record(path, {"metric": ",".join(totals), **total_params},
                {"data": [_total_value_entry(user, k, {"value": n}) for k, n in totals.items()]}),
        _record(path, {"metric": "follows_and_unfollows", "breakdown": "follow_type",
                       **total_params},
                {"data": [_total_value_entry(user, "follows_and_unfollows", follows)]}),
        # The node's followers_count is "now"; the demo answers as of the end of ``day``.
        _record(f"/{VERSION}/{user}", {"fields": "followers_count"},
                {"followers_count": v["followers"], "id": user}),
    ]


def _ig_media_metrics(post: Post, totals: dict[str, Any]) -> dict[str, Any]:
    """Only the metrics Instagram allows for the media's type (others fail the request)."""
    metrics: dict[str, Any] = {"views": totals["views"], "reach": totals["reach"],
                               "likes": totals["likes"], "comments": totals["comments"],
                               "shares": totals["shares"], "saved": totals["saves"]}
    if post.media_type == "reel":
        metrics["ig_reels_avg_watch_time"] = round(totals["avg_watch_seconds"] * 1000)
        metrics["ig_reels_video_view_total_time"] = round(totals["watch_time_seconds"] * 1000)
    return metrics


def _ig_item(post: Post) -> tuple[str, str, str, str, str, str]:
    """A medium as ``/{ig-user-id}/media`` lists it: id, caption, media type, product type,
    timestamp, permalink."""
    media_type, product = IG_KIND[post.media_type]
    return (post.post_id, post.caption, media_type, product, _utc(post),
            f"https://www.instagram.com/p/{_cursor(post.post_id)[:11]}/")


def instagram_media(world: World, account: AccountRef, day: date,
                    pulled_on: date) -> list[RequestRecord]:
    """The account's media of the last 28 days, then each medium's lifetime insights."""
    del pulled_on  # lifetime snapshots are as of the end of ``day``
    brand = world.brand(account.brand)
    items, insights = [], []
    for post in _live_posts(world, brand, "instagram", day):
        post_id, caption, media_type, product, timestamp, permalink = post.derived(
            "instagram_item", _ig_item)
        items.append({"id": post_id, "caption": caption, "media_type": media_type,
                      "media_product_type": product, "timestamp": timestamp,
                      "permalink": permalink})
        insights.append(_lifetime_insights(post, _ig_media_metrics(post, post.lifetime(day))))
    fields = "id,caption,media_type,media_product_type,timestamp,permalink"
    listing = _paginated(f"/{VERSION}/{account.account_id}/media",
                         _list_params(brand, day, fields), items)
    return listing + insights


# --------------------------------------------------------------- Marketing API ads
def _actions(types: Iterable[str], value: str) -> list[dict[str, str]]:
    return [{"action_type": t, "value": value} for t in types]


def _windowed(types: Iterable[str], by_window: dict[str, str], value: str
              ) -> list[dict[str, str]]:
    """Conversion actions as Meta answers ``action_attribution_windows``: ``value`` (the
    requested windows together) and one count per window."""
    return [{"action_type": t, "value": value, **by_window} for t in types]


def attribution_windows(day: date, pulled_on: date) -> tuple[str, ...]:
    """The windows the demo's pull of ``day`` asked: a daily pipeline last re-reads a day
    28 days later, so a day is stored as that pull (or today's, if sooner) asked it."""
    last_pull = min(pulled_on, day + timedelta(days=STREAMS_BY_NAME["meta_ads"].reread_days))
    return served_attribution_windows(DEMO_ATTRIBUTION_WINDOWS, last_pull)


def _split(count: int, revenue: float, windows: tuple[str, ...]
           ) -> tuple[int, float, dict[str, str], dict[str, str]]:
    """(count, revenue, counts by window, revenue by window) of the world's conversions under
    ``windows``: a view window counts one in five, a click window the rest."""
    view = count // VIEW_SHARE
    shares = {w: (view if w.endswith(("_view", "_ev")) else count - view) for w in windows}
    kinds = {w.rsplit("_", 1)[-1] for w in windows}
    counted = (count - view if "click" in kinds else 0) + (view if kinds - {"click"} else 0)
    per_unit = revenue / count if count else 0.0
    counted_revenue = revenue if counted == count else round(counted * per_unit, 2)
    return (counted, counted_revenue, {w: str(n) for w, n in shares.items()},
            {w: f"{n * per_unit:.2f}" for w, n in shares.items()})


def _ad_row(campaign_id: str, name: str, objective: str, currency: str, day: date,
            d: dict[str, float], windows: tuple[str, ...]) -> dict[str, Any]:
    """One campaign-day as the insights edge returns it: numbers as strings, actions by type,
    the campaign's objective as Meta spells it (``OUTCOME_SALES``...).

    The purchase appears under three action types (the same events); zero actions are absent.
    Leads and purchases carry a count per attribution window (``windows``, as asked).
    """
    actions = _actions(("link_click",), str(d["link_clicks"])) if d["link_clicks"] else []
    values: list[dict[str, str]] = []
    leads, _, lead_windows, _ = _split(int(d["leads"]), 0.0, windows)
    if leads:
        actions += _windowed(LEAD_TYPES, lead_windows, str(leads))
    purchases, revenue, bought, earned = _split(int(d["purchases"]), d["revenue"], windows)
    if purchases:
        actions += _windowed(PURCHASE_TYPES, bought, str(purchases))
        values += _windowed(PURCHASE_TYPES, earned, f"{revenue:.2f}")
    row: dict[str, Any] = {
        "campaign_id": campaign_id, "campaign_name": name, "objective": objective,
        "account_currency": currency,
        "date_start": day.isoformat(), "date_stop": day.isoformat(),
        "spend": f"{d['spend']:.2f}", "impressions": str(d["impressions"]),
        "reach": str(d["reach"]), "clicks": str(d["clicks"]),
        "inline_link_clicks": str(d["link_clicks"]),
    }
    if actions:
        row["actions"] = actions
    if values:
        row["action_values"] = values
    return row


def meta_ads(world: World, account: AccountRef, day: date,
             pulled_on: date) -> list[RequestRecord]:
    """Campaign insights for one local day (``level=campaign&time_increment=1``), counted in
    the attribution windows the pull asked (``action_attribution_windows``)."""
    brand = world.brand(account.brand)
    windows = attribution_windows(day, pulled_on)
    rows = []
    for campaign in world.campaigns(brand, "meta"):
        delivery = world.ad_day(campaign, day, pulled_on)
        if delivery is not None:
            rows.append(_ad_row(campaign.campaign_id, campaign.name, campaign.objective,
                                account.currency, day, delivery, windows))
    params = {"level": "campaign", "time_increment": 1, "time_range": _time_range(day),
              "fields": AD_FIELDS, "action_attribution_windows": _window_list(windows)}
    return _paginated(f"/{VERSION}/{account.account_id}/insights", params, rows,
                      id_key="campaign_id")


def _window_list(windows: tuple[str, ...]) -> str:
    """``action_attribution_windows`` as Graph takes a list: compact JSON."""
    return json.dumps(list(windows), separators=(",", ":"))


@lru_cache(maxsize=RECENT_DAYS)
def _time_range(day: date) -> str:
    """The ``time_range`` parameter of one day, as compact JSON."""
    return json.dumps({"since": day.isoformat(), "until": day.isoformat()},
                      separators=(",", ":"))


BUILDERS: dict[str, Builder] = {
    "facebook_page": facebook_page,
    "facebook_posts": facebook_posts,
    "instagram_account": instagram_account,
    "instagram_media": instagram_media,
    "meta_ads": meta_ads,
}
