"""Meta: the Graph API (Facebook Page, Page posts, Instagram user and media insights) and
the Marketing API (campaign insights), for the ``meta`` and ``meta_ads`` connectors.

Each fetcher asks exactly the requests the demo builders in
``kpi_pipeline/lib/sources/demo/payloads_meta.py`` simulate (same paths, same query parameters),
so the Meta parsers read the same records whichever client pulled them. What a real
Graph answer can add, and how it is met:

- the token travels as ``Authorization: Bearer``, never as ``access_token`` in a query;
  Graph still writes ``access_token`` into its ``paging`` links, so those are cleaned
  before a record is stored;
- error codes (``classify_graph_answer``): authentication (190, 102, 450, 452, 2500) fails
  at once naming the token variable; rate limits (4, 17, 32, 613, 80000-80099) and
  ``is_transient`` errors are retried by the session; 1 "reduce the amount of data"
  splits the metric list in halves; 100 "valid insights metric" drops the retired metric
  (or asks its catalogue replacement) so one retired name cannot sink the others; the
  per-media errors (100/2108006, 10 "Not enough viewers") skip that item only;
- the usage headers (``x-app-usage``, ``x-business-use-case-usage``,
  ``x-ad-account-usage``) pause requests once any percentage reaches 90 (``usage_pause``);
- list edges follow ``paging.next`` to the end; insights asked with since/until never do
  (their ``next`` walks forward in time forever);
- spans: page and user insights ask one local day (Graph allows 90), ads one day, and a
  day Graph no longer serves (older than 2 years, 37 months for ads) fails before asking.

Metric names come from the catalogue (``data/meta_metrics.yaml``): a requested metric that
is retired on the pull day is replaced by its replacement before the first request.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import requests

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms.meta import (
    AD_FIELDS,
    meta_catalog,
    served_attribution_windows,
)
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS, STREAMS_BY_NAME
from kpi_pipeline.lib.sources.api.client import FetchContext, Fetcher
from kpi_pipeline.lib.sources.api.connectors import Connector
from kpi_pipeline.lib.sources.api.errors import (
    ApiError,
    ItemSkipped,
    MetricRetired,
    RequestTooLarge,
    RetryableError,
)
from kpi_pipeline.lib.sources.api.session import SECRET_PARAMS, ApiSession, RetryPolicy, retry_after

# ------------------------------------------------------------------ what is asked
#: Items per list page (``limit``); the demo pages by the same number.
LIST_LIMIT = 25
#: Longest since..until Graph accepts for page and user insights (we ask one day).
MAX_INSIGHTS_SPAN = timedelta(days=90)
#: How far back Graph serves organic insights, and the Marketing API ad insights.
ORGANIC_MONTHS_BACK = 24
ADS_MONTHS_BACK = 37
#: A runaway guard for list edges: a 28-day listing is a handful of pages.
MAX_PAGES = 1000

PAGE_INSIGHTS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("page_media_view", "page_total_media_view_unique", "page_daily_follows_unique",
      "page_daily_unfollows_unique", "page_follows", "page_views_total",
      "page_actions_post_reactions_total"), {"period": "day"}),
    (("page_total_media_view_unique",), {"period": "week"}),
    (("page_total_media_view_unique",), {"period": "days_28"}),
)
IG_USER_INSIGHTS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("reach", "follower_count"), {"period": "day"}),
    (("reach",), {"period": "week"}),
    (("reach",), {"period": "days_28"}),
    (("views", "profile_views", "likes", "comments", "shares"),
     {"metric_type": "total_value", "period": "day"}),
    (("follows_and_unfollows",),
     {"breakdown": "follow_type", "metric_type": "total_value", "period": "day"}),
)
IG_USER_FIELDS = "followers_count"
FB_POST_FIELDS = ("id,created_time,message,status_type,permalink_url,shares,"
                  "comments.limit(0).summary(true)")
FB_POST_METRICS = ("post_media_view", "post_total_media_view_unique",
                   "post_reactions_by_type_total", "post_clicks_by_type")
FB_VIDEO_METRICS = ("post_video_views", "post_video_complete_views_organic",
                    "post_video_view_time")
IG_MEDIA_FIELDS = "id,caption,media_type,media_product_type,timestamp,permalink"
IG_MEDIA_METRICS = ("views", "reach", "likes", "comments", "shares", "saved")
IG_REEL_METRICS = ("ig_reels_avg_watch_time", "ig_reels_video_view_total_time")

# ------------------------------------------------------------------ Graph's errors
AUTH_CODES = frozenset({190, 102, 450, 452, 2500})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80100)})
TRANSIENT_CODES = frozenset({1, 2})  # "unknown error", "service temporarily unavailable"
MEDIA_TOO_OLD_SUBCODE = 2108006  # media posted before the business account existed
USAGE_HEADERS = ("x-app-usage", "x-business-use-case-usage", "x-ad-account-usage")
USAGE_PERCENTS = ("call_count", "total_cputime", "total_time", "acc_id_util_pct")
#: Slow down once any usage percentage reaches this.
SLOWDOWN_PERCENT = 90.0
#: The pause when Meta says usage is high but not for how long.
DEFAULT_PAUSE_SECONDS = 60.0


# ======================================================================= the session
def make_session(connector: Connector, token: str, base_url: str,
                 policy: RetryPolicy) -> ApiSession:
    """A Graph session: bearer token, Graph's error codes, usage-header throttle.

    ``meta`` and ``meta_ads`` differ only in name and token variable, which every message
    about a rejected token names.
    """
    session = ApiSession(platform=connector.name, base_url=base_url, token=token,
                         token_env=connector.token_env or "",
                         auth_headers={"Authorization": f"Bearer {token}"},
                         classify=classify_graph_answer, policy=policy, throttle=usage_pause)
    return session


def classify_graph_answer(session: ApiSession, response: requests.Response, body: Any) -> None:
    """Map Graph's ``{"error": {code, error_subcode, is_transient, message}}`` to an action.

    Graph answers most errors with HTTP 400 or 403 whatever they mean, so the code
    decides, not the status. Errors Meta does not document an action for are left to the
    session's generic status mapping.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return
    code, subcode = _int_or_none(error.get("code")), _int_or_none(error.get("error_subcode"))
    message = str(error.get("message", ""))
    path = urlsplit(response.url).path
    where = session.describe(path)
    detail = session.redact(f"Graph error {code}{f'/{subcode}' if subcode else ''}: {message}")
    if code in AUTH_CODES and not message.startswith("Unknown path components"):
        raise session.auth_failure(path, detail)
    if code in RATE_LIMIT_CODES:
        raise RetryableError(f"{where}: rate limited ({detail})", retry_after=_rate_wait(response))
    if code == 1 and "reduce the amount of data" in message.lower():
        raise RequestTooLarge(f"{where}: {detail}")
    if (code == 100 and subcode == MEDIA_TOO_OLD_SUBCODE) or (
            code == 10 and "not enough viewers" in message.lower()):
        raise ItemSkipped(f"{where}: {detail}")
    if code == 100 and "valid insights metric" in message.lower():
        raise MetricRetired(f"{where}: {detail}", metric=_named_metric(message, response.url))
    if error.get("is_transient") is True or code in TRANSIENT_CODES:
        raise RetryableError(f"{where}: transient ({detail})", retry_after=retry_after(response))
    if code == 10 or (code is not None and 200 <= code <= 299):
        raise session.auth_failure(path, f"{detail}; the token lacks a permission")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _named_metric(message: str, url: str) -> str | None:
    """Which requested metric Graph's "(#100) ... valid insights metric" message names.

    Graph names it either by name ("... page_impressions") or by position
    ("metric[2] must be ..."); None when it names none or several (then the caller
    narrows it down by halving the list).
    """
    asked = dict(parse_qsl(urlsplit(url).query)).get("metric", "")
    metrics = [m for m in asked.split(",") if m]
    position = re.search(r"metric\[(\d+)\]", message)
    if position and int(position.group(1)) < len(metrics):
        return metrics[int(position.group(1))]
    named = [m for m in metrics if re.search(rf"(?<![\w.]){re.escape(m)}(?!\w)", message)]
    return named[0] if len(named) == 1 else None


# ----------------------------------------------------------------- usage headers
def usage_pause(response: requests.Response) -> float:
    """Seconds to pause after an answer whose usage headers reach ``SLOWDOWN_PERCENT``.

    Meta's hint (``estimated_time_to_regain_access``, minutes; ``reset_time_duration``,
    seconds) is used when it gives one, else ``DEFAULT_PAUSE_SECONDS``. Below the
    threshold: 0, no pause.
    """
    pauses = [_entry_pause(entry) for entry in _usage_entries(response)
              if _entry_percent(entry) >= SLOWDOWN_PERCENT]
    return max(pauses, default=0.0)


def _rate_wait(response: requests.Response) -> float | None:
    """The wait a rate-limited answer asks for: Retry-After or the usage headers' hint."""
    hints = [_regain_seconds(entry) for entry in _usage_entries(response)]
    waits = [w for w in (retry_after(response), *hints) if w]
    return max(waits) if waits else None


def _usage_entries(response: requests.Response) -> Iterator[dict[str, Any]]:
    """Every usage object in the headers (business-use-case usage is a list per business)."""
    for header in USAGE_HEADERS:
        text = response.headers.get(header)
        if not text:
            continue
        try:
            yield from _usage_objects(json.loads(text))
        except ValueError:
            logging.getLogger(__name__).debug("unreadable %s header ignored", header)


def _usage_objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict) and any(k in value for k in USAGE_PERCENTS):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _usage_objects(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _usage_objects(inner)


def _entry_percent(entry: Mapping[str, Any]) -> float:
    return max((_number(entry.get(k)) for k in USAGE_PERCENTS), default=0.0)


def _regain_seconds(entry: Mapping[str, Any]) -> float:
    return max(_number(entry.get("estimated_time_to_regain_access")) * 60.0,
               _number(entry.get("reset_time_duration")))


def _entry_pause(entry: Mapping[str, Any]) -> float:
    return _regain_seconds(entry) or DEFAULT_PAUSE_SECONDS


def _number(value: Any) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0


# ================================================================ request helpers
def _version(stream: str) -> str:
    """The Graph version asked: the one the stream's envelopes declare."""
    return STREAMS_BY_NAME[stream].api_version


def _months_before(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, last)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def _check_reachable(session: ApiSession, account: AccountRef, day: date, ctx: FetchContext,
                     months: int) -> None:
    """Fail before asking when Meta no longer serves ``day`` (it would answer nothing)."""
    oldest = _months_before(ctx.today, months)
    if day < oldest:
        raise ApiError(f"{session.platform} {account.account_id}: {day} is older than Meta "
                       f"keeps insights ({months} months before {ctx.today}: {oldest} is the "
                       "oldest day it serves)")


def _local_midnight(account: AccountRef, day: date) -> int:
    """Unix seconds at which ``day`` starts in the account's time zone."""
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(account.timezone))
               .timestamp())


def _day_span(account: AccountRef, day: date) -> dict[str, int]:
    """since/until of one local day, as Graph insights take them (until is exclusive)."""
    since, until = _local_midnight(account, day), _local_midnight(account, day + timedelta(1))
    assert timedelta(seconds=until - since) <= MAX_INSIGHTS_SPAN
    return {"since": since, "until": until}


def _list_span(account: AccountRef, day: date) -> dict[str, int]:
    """The post lookback window ending with ``day`` (the demo lists the same 28 days)."""
    first = day - timedelta(days=POST_LOOKBACK_DAYS - 1)
    return {"since": _local_midnight(account, first),
            "until": _local_midnight(account, day + timedelta(1))}


def _clean_links(record: RequestRecord) -> RequestRecord:
    """The record with the credential parameters removed from Graph's paging links.

    Graph writes ``access_token`` into ``paging.next``/``previous``. The session already
    redacts the token's value in every stored body; dropping the parameter keeps the
    stored links usable (and free of a redaction marker).
    """
    body = record.get("body")
    paging = body.get("paging") if isinstance(body, dict) else None
    if isinstance(paging, dict):
        for key in ("next", "previous"):
            if isinstance(paging.get(key), str):
                paging[key] = _without_secrets(paging[key])
    return record


def _without_secrets(url: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k in SECRET_PARAMS for k, _ in query):
        return url
    kept = urlencode([(k, v) for k, v in query if k not in SECRET_PARAMS])
    return urlunsplit(parts._replace(query=kept))


def _pages(session: ApiSession, path: str, params: Mapping[str, Any]) -> list[RequestRecord]:
    """A list edge (posts, media, ad insights), every page: ``paging.next`` until none.

    Never for insights asked with since/until: their ``next`` is the following period,
    and following it walks forward in time without end.
    """
    assert not (path.endswith("/insights") and "since" in params), path
    records = [_clean_links(session.get(path, params))]
    followed: set[str] = set()
    while (link := _next_link(records[-1])) is not None:
        if link in followed or len(records) >= MAX_PAGES:
            raise ApiError(f"{session.describe(path)}: paging does not end "
                           f"({len(records)} pages; next link repeats or never stops)")
        followed.add(link)
        records.append(_clean_links(session.get(link)))
    return records


def _next_link(record: RequestRecord) -> str | None:
    body = record.get("body")
    paging = body.get("paging") if isinstance(body, dict) else None
    link = paging.get("next") if isinstance(paging, dict) else None
    return link if isinstance(link, str) and link else None


def _listed(records: Sequence[RequestRecord]) -> list[dict[str, Any]]:
    """The items of every list page, in order."""
    return [item for record in records for item in (record.get("body") or {}).get("data", [])
            if isinstance(item, dict)]


# ====================================================== insights with a metric list
@dataclass
class InsightsAsk:
    """Asks one insights request so that no single metric can sink it.

    Before asking, metrics the catalogue retires on the pull day become their
    replacement. While asking: Graph's "reduce the amount of data" splits the metric
    list in halves; "not a valid insights metric" drops the metric it names (asking its
    replacement instead when that is not already asked) or, when it names none, halves
    the list until the one request that fails holds a single metric. The answers are
    merged back into one record, shaped like an answer to the whole list.
    """

    session: ApiSession
    ctx: FetchContext
    obj: str  # catalogue object: page, post, ig_user, ig_media
    dropped: set[str] = field(default_factory=set)
    warned: set[str] = field(default_factory=set)

    def __call__(self, path: str, metrics: Sequence[str],
                 params: Mapping[str, Any] | None = None) -> list[RequestRecord]:
        """The record answering ``metrics`` (none when every metric was dropped)."""
        current = self.current(metrics)
        parts = self._ask(path, current, dict(params or {})) if current else []
        return [_merged(parts)] if parts else []

    def current(self, metrics: Sequence[str]) -> list[str]:
        """``metrics`` with names retired on the pull day replaced (or dropped)."""
        result: list[str] = []
        for name in metrics:
            now = self._served_name(name)
            if now is not None and now not in result:
                result.append(now)
        return result

    def _served_name(self, name: str) -> str | None:
        catalog = meta_catalog()
        seen = {name}
        while (found := catalog.lookup(self.obj, name)) and found[1].retired_on(self.ctx.today):
            replacement = found[1].replacement
            if name not in self.warned:  # once per fetch, not once per post
                self.warned.add(name)
                self.ctx.log.warning("%s: metric %r (%s) is retired since %s; asking %s "
                                     "instead", self.session.platform, name, self.obj,
                                     found[1].deprecated_after, replacement or "nothing")
            if replacement is None or replacement in seen:
                return None
            seen.add(replacement)
            name = replacement
        return name

    def _ask(self, path: str, metrics: list[str], params: dict[str, Any]) -> list[RequestRecord]:
        try:
            asked = {"metric": ",".join(metrics), **params}
            return [_clean_links(self.session.get(path, asked))]
        except RequestTooLarge:
            if len(metrics) < 2:
                raise
            self.ctx.log.info("%s: Graph asked for less data; splitting %d metrics in two",
                              self.session.describe(path), len(metrics))
            return self._halves(path, metrics, params)
        except MetricRetired as exc:
            if exc.metric in metrics or len(metrics) == 1:
                rest = self._without(path, metrics, exc.metric or metrics[0])
                return self._ask(path, rest, params) if rest else []
            return self._halves(path, metrics, params)

    def _halves(self, path: str, metrics: list[str],
                params: dict[str, Any]) -> list[RequestRecord]:
        middle = len(metrics) // 2
        return (self._ask(path, metrics[:middle], params)
                + self._ask(path, metrics[middle:], params))

    def _without(self, path: str, metrics: list[str], bad: str) -> list[str]:
        """``metrics`` without ``bad``, its catalogue replacement in its place if new."""
        self.dropped.add(bad)
        found = meta_catalog().lookup(self.obj, bad)
        replacement = found[1].replacement if found else None
        if replacement in metrics or replacement in self.dropped:
            replacement = None
        self.ctx.log.warning("%s: Graph no longer serves metric %r; %s",
                             self.session.describe(path), bad,
                             f"asking its replacement {replacement!r}" if replacement
                             else "asking the other metrics without it")
        return [replacement if m == bad else m for m in metrics if m != bad or replacement]


def _merged(parts: list[RequestRecord]) -> RequestRecord:
    """One record for the metric lists asked in ``parts``: their ``data`` in order."""
    if len(parts) == 1:
        return parts[0]
    metrics = ",".join(part["params"]["metric"] for part in parts)
    record = dict(parts[0])
    record["params"] = {**parts[0]["params"], "metric": metrics}
    body = dict(parts[0]["body"])
    body["data"] = [entry for part in parts for entry in part["body"].get("data", [])]
    if isinstance(body.get("paging"), dict):
        body["paging"] = {key: _with_param(link, "metric", metrics) if isinstance(link, str)
                          else link for key, link in body["paging"].items()}
    record["body"] = body
    return record


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, value if k == name else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _item_insights(ask: InsightsAsk, path: str, item_id: str,
                   metrics: Sequence[str]) -> list[RequestRecord]:
    """A post's or medium's lifetime insights; a known per-item error skips the item.

    The listing keeps the item: the parser makes rows from insights answers only, so a
    skipped item simply has no row this day.
    """
    try:
        return ask(path, metrics)
    except ItemSkipped as exc:
        ask.ctx.log.warning("%s: skipping %s, whose insights Meta will not give (%s)",
                            ask.session.platform, item_id, exc)
        return []


# ====================================================================== fetchers
def facebook_page(session: ApiSession, account: AccountRef, day: date,
                  ctx: FetchContext) -> list[RequestRecord]:
    """Page insights of one local day: daily metrics, then Meta's week and 28-day reach."""
    _check_reachable(session, account, day, ctx, ORGANIC_MONTHS_BACK)
    path = f"/{_version('facebook_page')}/{account.account_id}/insights"
    ask, span = InsightsAsk(session, ctx, "page"), _day_span(account, day)
    return [record for metrics, params in PAGE_INSIGHTS
            for record in ask(path, metrics, {**params, **span})]


def instagram_account(session: ApiSession, account: AccountRef, day: date,
                      ctx: FetchContext) -> list[RequestRecord]:
    """Instagram user insights of one local day, then the follower total (a node field)."""
    _check_reachable(session, account, day, ctx, ORGANIC_MONTHS_BACK)
    version = _version("instagram_account")
    path = f"/{version}/{account.account_id}/insights"
    ask, span = InsightsAsk(session, ctx, "ig_user"), _day_span(account, day)
    records = [record for metrics, params in IG_USER_INSIGHTS
               for record in ask(path, metrics, {**params, **span})]
    records.append(_clean_links(session.get(f"/{version}/{account.account_id}",
                                            {"fields": IG_USER_FIELDS})))
    return records


def _listing_with_insights(session: ApiSession, account: AccountRef, day: date,
                           ctx: FetchContext, *, stream: str, edge: str, fields: str,
                           obj: str, metrics: Callable[[dict[str, Any]], tuple[str, ...]]
                           ) -> list[RequestRecord]:
    """A list edge of the look-back window, then each listed item's lifetime insights
    (the metrics an item may be asked depend on its type: others fail the request)."""
    _check_reachable(session, account, day, ctx, ORGANIC_MONTHS_BACK)
    version = _version(stream)
    listing = _pages(session, f"/{version}/{account.account_id}/{edge}",
                     {"fields": fields, **_list_span(account, day), "limit": LIST_LIMIT})
    ask = InsightsAsk(session, ctx, obj)
    insights = []
    for item in _listed(listing):
        insights += _item_insights(ask, f"/{version}/{item['id']}/insights", item["id"],
                                   metrics(item))
    return listing + insights


def facebook_posts(session: ApiSession, account: AccountRef, day: date,
                   ctx: FetchContext) -> list[RequestRecord]:
    """The Page's posts of the look-back window with their lifetime insights (videos have
    three more metrics)."""
    def metrics(item: dict[str, Any]) -> tuple[str, ...]:
        video = item.get("status_type") == "added_video"
        return FB_POST_METRICS + (FB_VIDEO_METRICS if video else ())

    return _listing_with_insights(session, account, day, ctx, stream="facebook_posts",
                                  edge="posts", fields=FB_POST_FIELDS, obj="post",
                                  metrics=metrics)


def instagram_media(session: ApiSession, account: AccountRef, day: date,
                    ctx: FetchContext) -> list[RequestRecord]:
    """The account's media of the look-back window with their lifetime insights (reels
    have two more metrics)."""
    def metrics(item: dict[str, Any]) -> tuple[str, ...]:
        reel = item.get("media_product_type") == "REELS"
        return IG_MEDIA_METRICS + (IG_REEL_METRICS if reel else ())

    return _listing_with_insights(session, account, day, ctx, stream="instagram_media",
                                  edge="media", fields=IG_MEDIA_FIELDS, obj="ig_media",
                                  metrics=metrics)


def meta_ads(session: ApiSession, account: AccountRef, day: date,
             ctx: FetchContext) -> list[RequestRecord]:
    """Campaign insights of one local day (``time_range`` of one day, ``time_increment=1``),
    every page, with conversions counted in the configured attribution windows
    (``action_attribution_windows``), never in Meta's default or the ad sets' own setting.
    A window Meta no longer serves on the pull day is dropped with a warning, so the
    request, kept in the landing file, says which windows the conversions are counted in."""
    _check_reachable(session, account, day, ctx, ADS_MONTHS_BACK)
    windows = served_attribution_windows(ctx.meta_attribution_windows, ctx.today)
    retired = [w for w in ctx.meta_attribution_windows if w not in windows]
    if retired:
        ctx.log.warning("%s: Meta no longer serves the attribution window(s) %s; asking %s",
                        session.describe(account.account_id), ", ".join(retired),
                        ", ".join(windows) or "none")
    if not windows:
        raise ApiError(f"{session.describe(account.account_id)}: none of the attribution "
                       f"windows {', '.join(ctx.meta_attribution_windows)} is served any "
                       "more; set platforms.meta_attribution_windows")
    time_range = json.dumps({"since": day.isoformat(), "until": day.isoformat()},
                            separators=(",", ":"))
    params = {"level": "campaign", "time_increment": 1, "time_range": time_range,
              "fields": AD_FIELDS, "limit": LIST_LIMIT,
              "action_attribution_windows": json.dumps(list(windows), separators=(",", ":"))}
    return _pages(session, f"/{_version('meta_ads')}/{account.account_id}/insights", params)


FETCHERS: dict[str, Fetcher] = {
    "facebook_page": facebook_page,
    "facebook_posts": facebook_posts,
    "instagram_account": instagram_account,
    "instagram_media": instagram_media,
    "meta_ads": meta_ads,
}
