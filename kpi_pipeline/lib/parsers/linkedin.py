"""Parsers for the LinkedIn streams (Marketing REST API, ``Linkedin-Version: YYYYMM``).

LinkedIn answers in ``{"elements": [...], "paging": {...}}`` lists whose days are
``timeRange`` epoch-millisecond instants: a DAY bucket starts at the organization's local
midnight, so the report date is the LOCAL date of ``timeRange.start`` (the UTC date is a
day early for every organization east of Greenwich).

What LinkedIn does not publish stays NULL instead of being guessed: views (LinkedIn counts
impressions), follower losses (only gains), 7/28-day unique reach, saves, post video
metrics, and the ad campaigns' daily unique reach. Daily likes and comments of an
organization can be negative (un-likes) and are kept; a post's lifetime counts cannot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from kpi_pipeline.lib import schemas
from kpi_pipeline.lib.landing import Envelope
from kpi_pipeline.lib.parsers import common
from kpi_pipeline.lib.parsers.common import ParseError

PLATFORM = "linkedin"
CAMPAIGN_URN = "urn:li:sponsoredCampaign:"

# Request path prefix -> kind of answer. An unknown path is an error: a parser that
# silently skipped a new request would silently drop its numbers.
_PATH_KINDS: tuple[tuple[str, str], ...] = (
    ("/rest/organizationalEntityShareStatistics", "share_statistics"),
    ("/rest/organizationalEntityFollowerStatistics", "follower_statistics"),
    ("/rest/networkSizes/", "network_size"),
    ("/rest/posts", "posts"),
    ("/rest/adAnalytics", "ad_analytics"),
    ("/rest/adAccounts/", "ad_campaigns"),
)

# totalShareStatistics field -> column, for the organization's day and for a post's lifetime.
_ACCOUNT_SHARE_FIELDS = {"impressions": "impressionCount", "reach": "uniqueImpressionsCount",
                         "clicks": "clickCount", "likes": "likeCount",
                         "comments": "commentCount", "shares": "shareCount"}
_POST_SHARE_FIELDS = {"impressions": "impressionCount", "reach": "uniqueImpressionsCount",
                      "link_clicks": "clickCount", "likes": "likeCount",
                      "comments": "commentCount", "shares": "shareCount"}
_AD_COUNT_FIELDS = {"impressions": "impressions", "clicks": "clicks",
                    "link_clicks": "landingPageClicks", "leads": "oneClickLeads",
                    "purchases": "externalWebsiteConversions", "video_views": "videoViews"}

# Posts API `content` -> our media type; a post without content is text.
_MEDIA_URN_TYPES = {"urn:li:image:": "photo", "urn:li:video:": "video"}

Bodies = dict[str, list[tuple[dict[str, Any], str]]]


# ------------------------------------------------------------------ walkers
def _kind(path: Any, context: str) -> str:
    for prefix, kind in _PATH_KINDS:
        if isinstance(path, str) and path.startswith(prefix):
            return kind
    raise ParseError(f"{context}: unexpected LinkedIn request path {path!r}")


def _bodies_by_account(envelope: Envelope) -> Iterator[tuple[dict[str, Any], Bodies]]:
    """Each account entry with its answered bodies grouped by kind (and a context each)."""
    grouped: dict[int, tuple[dict[str, Any], Bodies]] = {}
    for account, request in common.iter_bodies(envelope):
        context = f"{common.where(envelope, account)} request {request.get('path')}"
        body = request.get("body")
        if not isinstance(body, dict):
            raise ParseError(f"{context}: body is not a JSON object")
        _, bodies = grouped.setdefault(id(account), (account, defaultdict(list)))
        bodies[_kind(request.get("path"), context)].append((body, context))
    yield from grouped.values()


def _elements(bodies: Bodies, kind: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every element of every ``{"elements": [...]}`` body of one kind, with its context."""
    for body, context in bodies.get(kind, []):
        elements = common.require(body, "elements", context=context)
        if not isinstance(elements, list):
            raise ParseError(f"{context}: 'elements' is a {type(elements).__name__}, "
                             "expected a list")
        for i, element in enumerate(elements):
            where = f"{context} elements[{i}]"
            if not isinstance(element, dict):
                raise ParseError(f"{where}: element is not a JSON object")
            yield element, where


# ------------------------------------------------------------------ values
def _counts(stats: Any, fields: Mapping[str, str], *, prefix: str, context: str,
            allow_negative: tuple[str, ...] = ()) -> dict[str, int | None]:
    """Counts of one statistics object by column; an absent field is NULL, not zero."""
    if not isinstance(stats, dict):
        raise ParseError(f"{context}: {prefix or 'element'} is not a JSON object")
    return {column: common.integer(stats.get(name), field=f"{prefix}{name}", context=context,
                                   allow_negative=column in allow_negative)
            for column, name in fields.items()}


def _account_base(account: dict[str, Any], context: str) -> dict[str, Any]:
    return {"platform": PLATFORM,
            "account_id": common.require(account, "account_id", context=context),
            "brand": common.require(account, "brand", context=context)}


def _utc_from_ms(value: Any, *, field: str, context: str) -> datetime:
    ms = common.integer(value, field=field, context=context)
    if ms is None:
        raise ParseError(f"{context}: field {field!r} is missing")
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def _report_date(element: dict[str, Any], tz: str, context: str) -> date:
    time_range = common.require(element, "timeRange", context=context)
    start = common.require(time_range, "start", context=f"{context} timeRange")
    return common.epoch_ms_to_local_date(start, tz, context=context)


def _frame(table: schemas.Table, rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=table.parsed_columns)
    return df


# ------------------------------------------------------------- organization
def parse_organization(envelope: Envelope) -> pd.DataFrame:
    """Organization days: share statistics, follower gains and the follower total.

    The follower total (``networkSizes``) is a single number for the pull, dated to the
    window's last day; gains are organic + paid; losses stay NULL (LinkedIn has none).
    """
    meta = common.envelope_meta(envelope)
    rows: list[dict[str, Any]] = []
    for account, bodies in _bodies_by_account(envelope):
        rows.extend(_organization_days(envelope, account, bodies, meta))
    return _frame(schemas.ACCOUNT_DAILY, rows)


def _organization_days(envelope: Envelope, account: dict[str, Any], bodies: Bodies,
                       meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One account's rows by local day, merged from its three kinds of answer."""
    context = common.where(envelope, account)
    tz = common.require(account, "timezone", context=context)
    base = {**_account_base(account, context), "timezone": tz, **meta}
    days: dict[date, dict[str, Any]] = {}

    def day_row(day: date) -> dict[str, Any]:
        return days.setdefault(day, {**base, "report_date": day})

    for element, where in _elements(bodies, "share_statistics"):
        day_row(_report_date(element, tz, where)).update(_counts(
            common.require(element, "totalShareStatistics", context=where),
            _ACCOUNT_SHARE_FIELDS, prefix="totalShareStatistics.", context=where,
            allow_negative=("likes", "comments")))
    for element, where in _elements(bodies, "follower_statistics"):
        gains = _counts(common.require(element, "followerGains", context=where),
                        {"organic": "organicFollowerGain", "paid": "paidFollowerGain"},
                        prefix="followerGains.", context=where)
        known = [v for v in gains.values() if v is not None]
        day_row(_report_date(element, tz, where))["follower_gains"] = (
            sum(known) if known else None)
    for body, where in bodies.get("network_size", []):
        day_row(_window_end(envelope, account))["followers"] = common.integer(
            common.require(body, "firstDegreeSize", context=where),
            field="firstDegreeSize", context=where)
    return list(days.values())


def _window_end(envelope: Envelope, account: dict[str, Any]) -> date:
    """The last local day the pull asked for (the partition when no window is recorded)."""
    text = (account.get("window") or {}).get("end") or envelope.get("partition")
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ParseError(f"{common.where(envelope, account)}: window end {text!r} is not "
                         "a date") from None


# -------------------------------------------------------------------- posts
def _media_type(element: dict[str, Any], context: str) -> str:
    content = element.get("content")
    if content is None:
        return "text"
    if isinstance(content, dict):
        if "article" in content:
            return "link"
        if "multiImage" in content:
            return "carousel"
        media_id = (content.get("media") or {}).get("id", "")
        for prefix, media_type in _MEDIA_URN_TYPES.items():
            if isinstance(media_id, str) and media_id.startswith(prefix):
                return media_type
    raise ParseError(f"{context}: post content {content!r} is of no known media type")


def _post_row(element: dict[str, Any], base: dict[str, Any], context: str) -> dict[str, Any]:
    post_id = common.require(element, "id", context=context)
    if not isinstance(post_id, str):
        raise ParseError(f"{context}: field 'id' value {post_id!r} is not a post URN")
    return {**base, "post_id": post_id,
            "published_at": _utc_from_ms(common.require(element, "publishedAt",
                                                        context=context),
                                         field="publishedAt", context=context),
            "media_type": _media_type(element, context),
            "caption": element.get("commentary")}


def parse_posts(envelope: Envelope) -> pd.DataFrame:
    """Lifetime snapshots of the organization's posts as of the end of the partition day.

    Posts come from the posts finder pages, their numbers from the lifetime share
    statistics; a post LinkedIn returned no statistics for keeps NULL counts.
    """
    meta = common.envelope_meta(envelope)
    snapshot = date.fromisoformat(envelope["partition"])
    rows: list[dict[str, Any]] = []
    for account, bodies in _bodies_by_account(envelope):
        base = {**_account_base(account, common.where(envelope, account)),
                "report_date": snapshot, **meta}
        posts: dict[str, dict[str, Any]] = {}
        for element, where in _elements(bodies, "posts"):
            row = _post_row(element, base, where)
            posts[row["post_id"]] = row
        for element, where in _elements(bodies, "share_statistics"):
            share = element.get("share") or element.get("ugcPost")
            if share not in posts:
                raise ParseError(f"{where}: statistics for {share!r}, which is not among the "
                                 "organization's listed posts")
            posts[share].update(_counts(
                common.require(element, "totalShareStatistics", context=where),
                _POST_SHARE_FIELDS, prefix="totalShareStatistics.", context=where))
        rows.extend(posts.values())
    return _frame(schemas.POST_DAILY, rows)


# ---------------------------------------------------------------------- ads
def _ad_date(element: dict[str, Any], context: str) -> date:
    """``dateRange`` of a DAILY row: start and end are the same calendar day."""
    date_range = common.require(element, "dateRange", context=context)
    days = []
    for edge in ("start", "end"):
        part = common.require(date_range, edge, context=f"{context} dateRange")
        try:
            days.append(date(part["year"], part["month"], part["day"]))
        except (KeyError, TypeError, ValueError):
            raise ParseError(f"{context}: dateRange.{edge} {part!r} is not a date") from None
    if days[0] != days[1]:
        raise ParseError(f"{context}: dateRange {days[0]}..{days[1]} is not one day; "
                         "the stream asks for timeGranularity=DAILY")
    return days[0]


def _campaign_id(element: dict[str, Any], context: str) -> str:
    pivots = common.require(element, "pivotValues", context=context)
    if (not isinstance(pivots, list) or len(pivots) != 1 or not isinstance(pivots[0], str)
            or not pivots[0].startswith(CAMPAIGN_URN)):
        raise ParseError(f"{context}: pivotValues {pivots!r} is not one campaign URN")
    return pivots[0].removeprefix(CAMPAIGN_URN)


def _ad_row(element: dict[str, Any], base: dict[str, Any], names: dict[str, str | None],
            context: str) -> dict[str, Any]:
    campaign_id = _campaign_id(element, context)
    spend = common.number(common.require(element, "costInLocalCurrency", context=context),
                          field="costInLocalCurrency", context=context)
    if spend is None:
        raise ParseError(f"{context}: field 'costInLocalCurrency' is empty")
    return {**base, "report_date": _ad_date(element, context), "campaign_id": campaign_id,
            "campaign_name": names.get(campaign_id), "spend": spend,
            **_counts(element, _AD_COUNT_FIELDS, prefix="", context=context),
            "revenue": common.number(element.get("conversionValueInLocalCurrency"),
                                     field="conversionValueInLocalCurrency", context=context)}


def parse_ads(envelope: Envelope) -> pd.DataFrame:
    """Campaign days from adAnalytics, named from the campaign search answers.

    Leads are one-click (Lead Gen Form) leads, purchases external website conversions,
    revenue their conversion value; all in the ad account currency.
    """
    meta = common.envelope_meta(envelope)
    rows: list[dict[str, Any]] = []
    for account, bodies in _bodies_by_account(envelope):
        context = common.where(envelope, account)
        base = {"platform": PLATFORM,
                "ad_account_id": common.require(account, "account_id", context=context),
                "brand": common.require(account, "brand", context=context),
                "currency": common.require(account, "currency", context=context), **meta}
        names = {str(common.require(e, "id", context=where)): e.get("name")
                 for e, where in _elements(bodies, "ad_campaigns")}
        rows.extend(_ad_row(element, base, names, where)
                    for element, where in _elements(bodies, "ad_analytics"))
    return _frame(schemas.AD_DAILY, rows)


PARSERS: dict[str, Callable[[Envelope], pd.DataFrame]] = {
    "linkedin_organization": parse_organization,
    "linkedin_posts": parse_posts,
    "linkedin_ads": parse_ads,
}
