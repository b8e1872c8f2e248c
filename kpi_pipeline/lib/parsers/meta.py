"""Parsers for the Meta streams: Facebook Page, Facebook posts, Instagram user and media
insights, and Meta Marketing API campaign insights.

Every Graph insights body, whatever its style (``values[]`` with end_time, lifetime values,
object values by type, ``total_value`` with breakdowns), goes through one walker,
``graph_cells``, which asks the metric catalogue (``data/meta_metrics.yaml``) which column a
metric fills and in which unit. Retired metric names therefore still land in the right
column, and a metric the catalogue does not know is an error rather than a silent drop.

Dates: day metrics take the account-local date before ``end_time`` (Graph marks the END of
the day); ``total_value`` metrics carry no end_time and take the local day of the request's
since/until; lifetime post snapshots and node fields take the last day of the pull window;
ads take ``date_start``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from kpi_pipeline.lib import schemas
from kpi_pipeline.lib.landing import Envelope
from kpi_pipeline.lib.metric_catalog import MetricCatalog, MetricSpec, meta_catalog
from kpi_pipeline.lib.parsers.common import (
    ParseError,
    envelope_meta,
    graph_end_time_to_report_date,
    integer,
    iter_bodies,
    millis_to_seconds,
    number,
    require,
    utc_timestamp,
    where,
)

Row = dict[str, Any]
META_COLUMNS = ("source_stream", "api_version", "pulled_at")  # filled from the envelope
Cells = dict[str, tuple[int, Any]]  # column -> (catalogue rank, value); lower rank wins
Cell = tuple[str | None, str, int, Any]  # (end_time, column, rank, value)


# ------------------------------------------------------------------ the Graph walker
def graph_cells(body: Any, obj: str, *, context: str) -> Iterator[Cell]:
    """Every column value in a Graph insights body, as (end_time, column, rank, value).

    Handles the three value styles Meta uses: a number, an object by type (only non-zero
    buckets are sent, so a missing bucket is 0) and ``total_value`` with optional
    ``breakdowns``. Units are converted here (milliseconds -> seconds).
    """
    index = meta_catalog().index
    for entry in _items(body, context=context):
        name = require(entry, "name", context=context)
        rank, spec = index.get((obj, name)) or _unknown_metric(obj, name, context=context)
        period = entry.get("period")
        for end_time, value, is_total in _points(entry, context=f"{context} metric {name!r}"):
            for column, raw in _targets(spec, period, value, is_total, context=context):
                yield end_time, column, rank, _convert(spec, raw, period, context=context)


def _points(entry: dict[str, Any], *, context: str) -> Iterator[tuple[str | None, Any, bool]]:
    """(end_time, value, is_total_value) of one metric: ``total_value`` has no end_time,
    lifetime values have none either."""
    if "total_value" in entry:
        yield None, entry["total_value"], True
        return
    for point in require(entry, "values", context=context):
        value = require(point, "value", context=context)  # also rejects a non-object point
        yield point.get("end_time"), value, False


def _items(body: Any, *, context: str) -> list[Any]:
    """The ``data`` list of a Graph body (a missing or non-list ``data`` is an error)."""
    data = require(body, "data", context=context)
    if not isinstance(data, list):
        raise ParseError(f"{context}: field 'data' is a {type(data).__name__}, expected a list")
    return data


def _unknown_metric(obj: str, name: str, *, context: str) -> tuple[int, MetricSpec]:
    raise ParseError(f"{context}: metric {name!r} ({obj}) is not in the Meta metric catalogue "
                     "(kpi_pipeline/data/meta_metrics.yaml); add it with the column it fills")


def _targets(spec: MetricSpec, period: str | None, value: Any, is_total: bool,
             *, context: str) -> Iterator[tuple[str, Any]]:
    """(column, raw value) pairs of one metric value, whatever its style."""
    if is_total:
        if not isinstance(value, dict):
            raise ParseError(f"{context}: metric {spec.name!r} total_value is not an object")
        scalar, buckets = value.get("value"), _breakdown_buckets(value, context=context)
    elif isinstance(value, dict):
        scalar, buckets = None, value
    else:
        scalar, buckets = value, None
    column = spec.column_for(period)
    if scalar is not None and column is not None:
        yield column, scalar
    if buckets is not None and spec.breakdown:
        for key, target in spec.breakdown.items():
            yield target, buckets.get(key, 0)
    elif buckets is not None and scalar is None and column is not None:
        raise ParseError(f"{context}: metric {spec.name!r} sent an object value but the "
                         "catalogue has no breakdown for it")


def _breakdown_buckets(total: dict[str, Any], *, context: str) -> dict[str, Any] | None:
    """``total_value.breakdowns[].results[]`` flattened to {"DIM|VALUES": value}."""
    if "breakdowns" not in total:
        return None
    buckets: dict[str, Any] = {}
    for breakdown in total["breakdowns"]:
        for result in require(breakdown, "results", context=context):
            key = "|".join(require(result, "dimension_values", context=context))
            buckets[key] = require(result, "value", context=context)
    return buckets


def _convert(spec: MetricSpec, raw: Any, period: str | None, *, context: str) -> Any:
    if type(raw) is int and raw >= 0 and spec.unit == "count":
        return raw  # the common case needs no checks: skip them, this runs per value
    field = spec.name if period in (None, "day", "lifetime") else f"{spec.name}/{period}"
    if spec.unit == "milliseconds":
        return millis_to_seconds(raw, field=field, context=context)
    return integer(raw, field=field, context=context)


def _put(cells: Cells, column: str, rank: int, value: Any) -> None:
    held = cells.get(column)
    if held is None or rank < held[0]:
        cells[column] = (rank, value)


def _values(cells: Cells) -> Row:
    return {column: value for column, (_, value) in cells.items()}


# -------------------------------------------------------------------- envelope walking
def _by_account(envelope: Envelope) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(account entry, its successful requests) for every account in the envelope."""
    for _, pairs in groupby(iter_bodies(envelope), key=lambda pair: id(pair[0])):
        requests = list(pairs)
        yield requests[0][0], [request for _, request in requests]


def _request_context(envelope: Envelope, account: dict[str, Any], request: dict[str, Any]) -> str:
    return f"{where(envelope, account)} {request.get('path')}"


def _insights_owner(request: dict[str, Any]) -> str | None:
    """The object id of a ``/{id}/insights`` request, None for any other request."""
    parts = str(request.get("path", "")).rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-1] == "insights" else None


def _iso_date(text: Any, *, field: str, context: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ParseError(f"{context}: field {field!r} value {text!r} is not a date") from None


def _window_end(account: dict[str, Any], *, context: str) -> date:
    """The last local day of the pull window: the day lifetime and "now" values belong to."""
    window = require(account, "window", context=context)
    return _iso_date(require(window, "end", context=context), field="window.end", context=context)


def _request_day(request: dict[str, Any], tz: str, *, context: str) -> date:
    """The local day a ``total_value`` answer covers: its since..until must be one day."""
    params = request.get("params") or {}
    since = integer(require(params, "since", context=context), field="since", context=context)
    until = integer(require(params, "until", context=context), field="until", context=context)
    first = _local_date(since, tz)
    if first != _local_date(until - 1, tz):
        raise ParseError(f"{context}: a total_value answer over since={since} until={until} spans "
                         "more than one local day and cannot be stored per day")
    return first


@lru_cache(maxsize=65_536)
def _end_time_day(end_time: str, tz: str) -> date:
    return graph_end_time_to_report_date(end_time, tz, context="")


def _report_date(end_time: Any, tz: str, *, context: str) -> date:
    """``graph_end_time_to_report_date``, cached: every metric of a day repeats its end_time."""
    try:
        return _end_time_day(end_time, tz)
    except (ParseError, TypeError):
        return graph_end_time_to_report_date(end_time, tz, context=context)  # raises with context


@lru_cache(maxsize=65_536)
def _utc_time(text: str) -> datetime:
    return utc_timestamp(text, field="", context="")


def _published_at(text: Any, *, field: str, context: str) -> datetime:
    """``utc_timestamp``, cached: a post is re-read in every daily snapshot for 28 days."""
    try:
        return _utc_time(text)
    except (ParseError, TypeError):
        return utc_timestamp(text, field=field, context=context)  # raises with context


def _local_date(epoch_seconds: int, tz: str) -> date:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).astimezone(ZoneInfo(tz)).date()


def _check_pages(bodies: list[Any], *, context: str) -> None:
    """Every list page that announced a ``next`` page must have been followed.

    Call it after ``_items`` accepted each body, so every body is an object.
    """
    announced = sum(1 for body in bodies if "next" in (body.get("paging") or {}))
    if announced != len(bodies) - 1:
        raise ParseError(f"{context}: pagination is incomplete ({len(bodies)} page(s) fetched, "
                         f"{announced} announced a next page)")


def _frame(table: schemas.Table, rows: list[Row], envelope: Envelope) -> pd.DataFrame:
    """Rows plus the envelope's metadata, typed and ordered as the table's parsed columns."""
    columns = [c for c in table.parsed_columns if c not in META_COLUMNS]
    df = pd.DataFrame.from_records(rows, columns=columns)
    for name, value in envelope_meta(envelope).items():
        df[name] = value
    return df.reindex(columns=table.parsed_columns)


# ---------------------------------------------------------------- account insights
def _account_rows(envelope: Envelope, obj: str, platform: str) -> list[Row]:
    """One row per account and local day from page or IG-user insights (and node fields)."""
    rows: list[Row] = []
    for account, requests in _by_account(envelope):
        ctx = where(envelope, account)
        tz = require(account, "timezone", context=ctx)
        days: dict[date, Cells] = {}
        for request in requests:
            rctx = _request_context(envelope, account, request)
            if _insights_owner(request) is None:
                _node_cells(days, request["body"], obj, _window_end(account, context=ctx),
                            context=rctx)
                continue
            for end_time, column, rank, value in graph_cells(request["body"], obj, context=rctx):
                day = (_report_date(end_time, tz, context=rctx) if end_time
                       else _request_day(request, tz, context=rctx))
                _put(days.setdefault(day, {}), column, rank, value)
        rows.extend({"report_date": day, "platform": platform,
                     "account_id": account["account_id"], "brand": account["brand"],
                     "timezone": tz, **_values(cells)} for day, cells in sorted(days.items()))
    return rows


def _node_cells(days: dict[date, Cells], body: Any, obj: str, day: date, *, context: str) -> None:
    """Node fields (``GET /{id}?fields=followers_count``): values as of the pull, on ``day``."""
    if not isinstance(body, dict):
        raise ParseError(f"{context}: body is not an object")
    index = meta_catalog().index
    for name, raw in body.items():
        if name == "id":
            continue
        rank, spec = index.get((obj, name)) or _unknown_metric(obj, name, context=context)
        if spec.column is not None:
            _put(days.setdefault(day, {}), spec.column, rank,
                 _convert(spec, raw, None, context=context))


def parse_facebook_page(envelope: Envelope) -> pd.DataFrame:
    """account_daily rows from Facebook Page insights."""
    return _frame(schemas.ACCOUNT_DAILY, _account_rows(envelope, "page", "facebook"), envelope)


def parse_instagram_account(envelope: Envelope) -> pd.DataFrame:
    """account_daily rows from Instagram user insights and the follower total."""
    return _frame(schemas.ACCOUNT_DAILY, _account_rows(envelope, "ig_user", "instagram"),
                  envelope)


# ------------------------------------------------------------------- post insights
Describe = Callable[[dict[str, Any], str], Row]


def _post_rows(envelope: Envelope, obj: str, platform: str, describe: Describe) -> list[Row]:
    """One row per post: list-page fields plus the post's lifetime insights, as of the
    last day of the pull window (a snapshot: later snapshots replace it, never add to it).

    A listed post without an insights answer (Meta's "not enough viewers" or media older
    than the business account: the client skips those) has no snapshot and no row.
    """
    rows: list[Row] = []
    for account, requests in _by_account(envelope):
        ctx = where(envelope, account)
        snapshot = _window_end(account, context=ctx)
        listed: dict[str, Row] = {}
        metrics: dict[str, Cells] = {}
        pages: list[Any] = []
        for request in requests:
            rctx = _request_context(envelope, account, request)
            owner = _insights_owner(request)
            if owner is None:
                pages.append(request["body"])
                listed.update((d["post_id"], d) for d in
                              (describe(item, rctx) for item in _items(request["body"],
                                                                      context=rctx)))
                continue
            cells = metrics.setdefault(owner, {})
            for _, column, rank, value in graph_cells(request["body"], obj, context=rctx):
                _put(cells, column, rank, value)
        _check_pages(pages, context=ctx)
        for post_id, cells in metrics.items():
            if post_id not in listed:
                raise ParseError(f"{ctx}: insights for post {post_id!r}, which no list page "
                                 "returned (publish time and media type unknown)")
            rows.append({"report_date": snapshot, "platform": platform,
                         "account_id": account["account_id"], "brand": account["brand"],
                         **listed[post_id], **_values(cells)})
    return rows


def _media_type(platform: str, key: str, *, context: str) -> str:
    kinds = meta_catalog().media_types.get(platform, {})
    if key not in kinds:
        raise ParseError(f"{context}: media kind {key!r} is not mapped in media_types.{platform} "
                         "of kpi_pipeline/data/meta_metrics.yaml")
    return kinds[key]


def _facebook_post(item: dict[str, Any], context: str) -> Row:
    """A listed Facebook post: comments and shares are fields of the post object."""
    post_id = require(item, "id", context=context)
    ctx = f"{context} post {post_id}"
    kind = _media_type("facebook", require(item, "status_type", context=ctx), context=ctx)
    if kind == "video" and "/reel/" in str(item.get("permalink_url", "")):
        kind = "reel"
    comments = (item.get("comments") or {}).get("summary", {}).get("total_count")
    return {
        "post_id": post_id,
        "published_at": _published_at(require(item, "created_time", context=ctx),
                                      field="created_time", context=ctx),
        "media_type": kind,
        "caption": item.get("message"),
        "comments": integer(comments, field="comments.summary.total_count", context=ctx),
        # Graph omits ``shares`` on a post nobody shared.
        "shares": integer((item.get("shares") or {}).get("count", 0), field="shares.count",
                          context=ctx),
    }


def _instagram_media(item: dict[str, Any], context: str) -> Row:
    media_id = require(item, "id", context=context)
    ctx = f"{context} media {media_id}"
    key = (f"{require(item, 'media_product_type', context=ctx)}:"
           f"{require(item, 'media_type', context=ctx)}")
    return {
        "post_id": media_id,
        "published_at": _published_at(require(item, "timestamp", context=ctx),
                                      field="timestamp", context=ctx),
        "media_type": _media_type("instagram", key, context=ctx),
        "caption": item.get("caption"),
    }


def parse_facebook_posts(envelope: Envelope) -> pd.DataFrame:
    """post_daily lifetime snapshots of Facebook Page posts."""
    return _frame(schemas.POST_DAILY, _post_rows(envelope, "post", "facebook", _facebook_post),
                  envelope)


def parse_instagram_media(envelope: Envelope) -> pd.DataFrame:
    """post_daily lifetime snapshots of Instagram media. A reel's views are its video views
    (Instagram has no separate play count since April 2025); there is no completion metric."""
    rows = _post_rows(envelope, "ig_media", "instagram", _instagram_media)
    for row in rows:
        if row["media_type"] == "reel" and row.get("video_views") is None:
            row["video_views"] = row.get("views")
    return _frame(schemas.POST_DAILY, rows, envelope)


# ------------------------------------------------------------------------------- ads
def _first_action(actions: Any, priority: list[str], *, field: str, context: str,
                  money: bool = False) -> float | int:
    """The value of the first action type in ``priority`` present: the types in one list
    describe the same events, so adding them would count each event two or three times.
    Meta omits zero actions, so none present means 0."""
    by_type = {require(a, "action_type", context=context): a.get("value")
               for a in actions or []}
    for action_type in priority:
        if action_type in by_type:
            convert = number if money else integer
            value = convert(by_type[action_type], field=f"{field}[{action_type}]",
                            context=context)
            return 0 if value is None else value
    return 0.0 if money else 0


def _ad_row(item: Any, account: dict[str, Any], catalog: MetricCatalog, *, context: str) -> Row:
    campaign_id = require(item, "campaign_id", context=context)
    ctx = f"{context} campaign {campaign_id}"
    start, stop = require(item, "date_start", context=ctx), require(item, "date_stop", context=ctx)
    if start != stop:
        raise ParseError(f"{ctx}: date_start {start!r} != date_stop {stop!r}; request "
                         "time_increment=1 so that every row is one day")
    currency = item.get("account_currency") or account.get("currency")
    if currency != account.get("currency"):
        raise ParseError(f"{ctx}: account_currency {currency!r} differs from the account's "
                         f"{account.get('currency')!r}")
    spend = number(require(item, "spend", context=ctx), field="spend", context=ctx)
    if spend is None:
        raise ParseError(f"{ctx}: field 'spend' is empty")
    row: Row = {
        "report_date": _iso_date(start, field="date_start", context=ctx), "platform": "meta",
        "ad_account_id": account["account_id"], "brand": account["brand"],
        "campaign_id": str(campaign_id), "campaign_name": item.get("campaign_name"),
        "currency": currency, "spend": spend,
        **{column: integer(item.get(field), field=field, context=ctx) for column, field in
           (("impressions", "impressions"), ("reach", "reach"), ("clicks", "clicks"),
            ("link_clicks", "inline_link_clicks"))},
    }
    for column, priority in catalog.ad_actions.items():
        row[column] = _first_action(item.get("actions"), priority, field="actions", context=ctx)
    for column, priority in catalog.ad_action_values.items():
        row[column] = _first_action(item.get("action_values"), priority, field="action_values",
                                    context=ctx, money=True)
    return row


def parse_meta_ads(envelope: Envelope) -> pd.DataFrame:
    """ad_daily rows from Marketing API campaign insights (one row per campaign and day)."""
    catalog = meta_catalog()
    rows: list[Row] = []
    for account, requests in _by_account(envelope):
        ctx = where(envelope, account)
        for request in requests:
            rctx = _request_context(envelope, account, request)
            rows.extend(_ad_row(item, account, catalog, context=rctx)
                        for item in _items(request["body"], context=rctx))
        _check_pages([request["body"] for request in requests], context=ctx)
    return _frame(schemas.AD_DAILY, rows, envelope)


PARSERS: dict[str, Callable[[Envelope], pd.DataFrame]] = {
    "facebook_page": parse_facebook_page,
    "facebook_posts": parse_facebook_posts,
    "instagram_account": parse_instagram_account,
    "instagram_media": parse_instagram_media,
    "meta_ads": parse_meta_ads,
}
