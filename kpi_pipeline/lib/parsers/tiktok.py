"""Parsers for the TikTok streams (Business API v1.3: Accounts API and Reporting API).

TikTok answers errors with HTTP 200 and ``code != 0`` (40100 rate limit, 40105 invalid
token, 50000 system error, ...): every body's ``code`` is checked before its ``data`` is
read, or a failed pull would land as an empty, "successful" day.

Units are normalized here: report numbers arrive as strings, ``stat_time_day`` is
"YYYY-MM-DD 00:00:00" in the advertiser's time zone (already the local report date),
``create_time`` is epoch seconds, watch times are seconds. Completions are derived as
round(video_views * full_video_watched_rate): TikTok sends the rate, not the count, so
the count is exact only up to the rate's rounding.

TikTok reports no impressions for organic videos (``video_views`` are plays, stored as
both views and video_views), no account reach and no follower gains or losses (the KPI
layer uses the day-to-day difference of ``followers_count``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from kpi_pipeline.lib import schemas
from kpi_pipeline.lib.landing import Envelope
from kpi_pipeline.lib.parsers import common
from kpi_pipeline.lib.parsers.common import ParseError
from kpi_pipeline.lib.streams import POST_LOOKBACK_DAYS

#: The key a client adds to the last page it asked when it stopped at the look-back.
LOOKBACK_NOTE = "stopped_at_lookback"

PLATFORM = "tiktok"

_ACCOUNT_FIELDS = {"followers": "followers_count", "views": "video_views",
                   "profile_views": "profile_views", "likes": "likes", "comments": "comments",
                   "shares": "shares"}
_VIDEO_FIELDS = {"video_views": "video_views", "reach": "reach", "likes": "likes",
                 "comments": "comments", "shares": "shares"}
# clicks are TikTok's destination clicks, so they are the link clicks too.
_AD_FIELDS = {"impressions": "impressions", "reach": "reach", "clicks": "clicks",
              "link_clicks": "clicks", "leads": "onsite_form",
              "purchases": "complete_payment", "video_views": "video_play_actions"}


# ------------------------------------------------------------------ walkers
def _data(body: Any, context: str) -> dict[str, Any]:
    """The ``data`` of a TikTok body, after checking its ``code`` (HTTP 200 hides errors)."""
    if not isinstance(body, dict):
        raise ParseError(f"{context}: body is not a JSON object")
    code = common.require(body, "code", context=context)
    if code != 0:
        raise ParseError(f"{context}: TikTok answered code {code} "
                         f"({body.get('message')!r}, request_id {body.get('request_id')}) "
                         "with HTTP 200; nothing from this pull can be trusted")
    data = common.require(body, "data", context=context)
    if not isinstance(data, dict):
        raise ParseError(f"{context}: 'data' is not a JSON object")
    return data


def _responses(envelope: Envelope) -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    """(account entry, checked ``data``, context) for every request of an envelope."""
    for account, _request, data, context in _responses_with_requests(envelope):
        yield account, data, context


def _responses_with_requests(
        envelope: Envelope) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]]:
    """(account entry, request record, checked ``data``, context) for every request."""
    for account, request in common.iter_bodies(envelope):
        context = f"{common.where(envelope, account)} request {request.get('path')}"
        yield account, request, _data(request.get("body"), context), context


def _items(data: dict[str, Any], key: str, context: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every object of the list ``data[key]``, with its own context."""
    items = common.require(data, key, context=context)
    if not isinstance(items, list):
        raise ParseError(f"{context}: 'data.{key}' is a {type(items).__name__}, expected a list")
    for i, item in enumerate(items):
        where = f"{context} data.{key}[{i}]"
        if not isinstance(item, dict):
            raise ParseError(f"{where}: item is not a JSON object")
        yield item, where


# ------------------------------------------------------------------ values
def _counts(values: dict[str, Any], fields: dict[str, str], *, prefix: str,
            context: str) -> dict[str, int | None]:
    return {column: common.integer(values.get(name), field=f"{prefix}{name}", context=context)
            for column, name in fields.items()}


def _local_date(value: Any, *, field: str, context: str) -> date:
    """"YYYY-MM-DD" or "YYYY-MM-DD 00:00:00" (TikTok's advertiser-local day)."""
    if isinstance(value, str) and len(value) in (10, 19):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise ParseError(f"{context}: field {field!r} value {value!r} is not a TikTok date")


def _account_base(envelope: Envelope, account: dict[str, Any], id_column: str,
                  meta: dict[str, Any]) -> dict[str, Any]:
    context = common.where(envelope, account)
    return {"platform": PLATFORM,
            id_column: common.require(account, "account_id", context=context),
            "brand": common.require(account, "brand", context=context), **meta}


def _frame(table: schemas.Table, rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=table.parsed_columns)
    return df


# ------------------------------------------------------------------ account
def parse_account(envelope: Envelope) -> pd.DataFrame:
    """Account days from ``/business/get/``: one row per ``data.metrics`` date."""
    meta = common.envelope_meta(envelope)
    rows: list[dict[str, Any]] = []
    for account, data, context in _responses(envelope):
        base = _account_base(envelope, account, "account_id", meta)
        base["timezone"] = common.require(account, "timezone", context=context)
        for metric, where in _items(data, "metrics", context):
            rows.append({**base,
                         "report_date": _local_date(common.require(metric, "date",
                                                                   context=where),
                                                    field="date", context=where),
                         **_counts(metric, _ACCOUNT_FIELDS, prefix="", context=where)})
    return _frame(schemas.ACCOUNT_DAILY, rows)


# ------------------------------------------------------------------- videos
def _video_row(video: dict[str, Any], base: dict[str, Any], context: str) -> dict[str, Any]:
    item_id = common.require(video, "item_id", context=context)
    created = common.integer(common.require(video, "create_time", context=context),
                             field="create_time", context=context)
    if created is None:
        raise ParseError(f"{context}: field 'create_time' is empty")
    counts = _counts(video, _VIDEO_FIELDS, prefix="", context=context)
    rate = common.number(video.get("full_video_watched_rate"),
                         field="full_video_watched_rate", context=context)
    if rate is not None and rate > 1:
        raise ParseError(f"{context}: field 'full_video_watched_rate' value {rate!r} is "
                         "above 1; TikTok sends a ratio")
    views = counts["video_views"]
    return {**base, "post_id": str(item_id),
            "published_at": datetime.fromtimestamp(created, tz=UTC).replace(tzinfo=None),
            "media_type": "video", "caption": video.get("caption"), **counts,
            "views": views,
            "completions": None if views is None or rate is None else round(views * rate),
            "watch_time_seconds": common.number(video.get("total_time_watched"),
                                                field="total_time_watched", context=context)}


def parse_videos(envelope: Envelope) -> pd.DataFrame:
    """Lifetime snapshots of the account's videos as of the end of the partition day.

    Pages are followed by ``cursor``; an account whose last page still says
    ``has_more`` was pulled incompletely and is an error, not a shorter list, unless the
    client noted that it stopped at the look-back (TikTok lists every video, newest
    first). Videos published before the look-back window are left out, so the stream
    holds the same videos whichever page the list stopped on.
    """
    meta = common.envelope_meta(envelope)
    snapshot = date.fromisoformat(envelope["partition"])
    first_day = snapshot - timedelta(days=POST_LOOKBACK_DAYS - 1)
    rows: list[dict[str, Any]] = []
    has_more: dict[str, tuple[Any, str]] = {}
    for account, request, data, context in _responses_with_requests(envelope):
        base = {**_account_base(envelope, account, "account_id", meta),
                "report_date": snapshot}
        zone = ZoneInfo(common.require(account, "timezone", context=context))
        for video, where in _items(data, "videos", context):
            row = _video_row(video, base, where)
            published = row["published_at"].replace(tzinfo=UTC).astimezone(zone).date()
            if published >= first_day:
                rows.append(row)
        more = data.get("has_more") and not request.get(LOOKBACK_NOTE)
        has_more[base["account_id"]] = (more, context)
    for more, context in has_more.values():
        if more:
            raise ParseError(f"{context}: the last page says has_more=true; the video list "
                             "was not pulled to the end")
    return _frame(schemas.POST_DAILY, rows)


# ---------------------------------------------------------------------- ads
def _ad_row(item: dict[str, Any], base: dict[str, Any], context: str) -> dict[str, Any]:
    dimensions = common.require(item, "dimensions", context=context)
    metrics = common.require(item, "metrics", context=context)
    if not isinstance(metrics, dict):
        raise ParseError(f"{context}: 'metrics' is not a JSON object")
    spend = common.number(common.require(metrics, "spend", context=context),
                          field="metrics.spend", context=context)
    if spend is None:
        raise ParseError(f"{context}: field 'metrics.spend' is empty")
    return {**base,
            "report_date": _local_date(common.require(dimensions, "stat_time_day",
                                                      context=context),
                                       field="dimensions.stat_time_day", context=context),
            "campaign_id": str(common.require(dimensions, "campaign_id", context=context)),
            "campaign_name": metrics.get("campaign_name"), "spend": spend,
            **_counts(metrics, _AD_FIELDS, prefix="metrics.", context=context),
            "revenue": common.number(metrics.get("total_complete_payment_rate"),
                                     field="metrics.total_complete_payment_rate",
                                     context=context)}


def _page_info(data: dict[str, Any], context: str) -> tuple[int, int]:
    """(page, total_page) of one report answer."""
    info = common.require(data, "page_info", context=context)
    numbers = []
    for key in ("page", "total_page"):
        value = common.integer(common.require(info, key, context=context),
                               field=f"page_info.{key}", context=context)
        if value is None:
            raise ParseError(f"{context}: field 'page_info.{key}' is empty")
        numbers.append(value)
    return numbers[0], numbers[1]


def _check_pages(pages: dict[int, int], context: str) -> None:
    """Every page 1..total_page of one report was answered (an empty report has one page
    saying total_page 0)."""
    total = max(pages.values())
    expected = set(range(1, total + 1)) or {1}
    if set(pages) != expected:
        raise ParseError(f"{context}: report pages {sorted(pages)} answered, but page_info "
                         f"says total_page={total}; the report was not pulled completely")


def parse_ads(envelope: Envelope) -> pd.DataFrame:
    """Campaign days from the integrated report, across all its pages.

    Money is in the advertiser currency (the account's currency in the envelope).
    """
    meta = common.envelope_meta(envelope)
    rows: list[dict[str, Any]] = []
    pages: dict[str, tuple[dict[int, int], str]] = {}
    for account, data, context in _responses(envelope):
        base = _account_base(envelope, account, "ad_account_id", meta)
        base["currency"] = common.require(account, "currency", context=context)
        rows.extend(_ad_row(item, base, where) for item, where in _items(data, "list", context))
        page, total = _page_info(data, context)
        pages.setdefault(base["ad_account_id"], ({}, context))[0][page] = total
    for seen, context in pages.values():
        _check_pages(seen, context)
    return _frame(schemas.AD_DAILY, rows)


PARSERS: dict[str, Callable[[Envelope], pd.DataFrame]] = {
    "tiktok_account": parse_account,
    "tiktok_videos": parse_videos,
    "tiktok_ads": parse_ads,
}
