"""TikTok API for Business v1.3: the business account, its videos and the ads report.

Two connectors share this module because TikTok issues two credentials: ``tiktok``
(Accounts API, a business-account token, ``$KPI_PIPELINE_TIKTOK_TOKEN``) serves
``tiktok_account`` and ``tiktok_videos``; ``tiktok_ads`` (Marketing API, an advertiser
token, ``$KPI_PIPELINE_TIKTOK_ADS_TOKEN``) serves ``tiktok_ads``. Both send the token in
the ``Access-Token`` header, never in the query.

TikTok reports most errors as HTTP 200 with ``code != 0`` in the body, so every answer's
``code`` is classified before anything else looks at it:

- 40001, 40102, 40104, 40105 (no permission on the advertiser, token expired, empty,
  incorrect or revoked): the token must be renewed or re-authorized, so the pull fails
  at once naming the variable that holds it;
- 40100 (requests made too frequently): TikTok's rate limit, per token: back off;
- 50000-51999 (system and service errors): transient on TikTok's side: back off;
- anything else (40002 parameter errors, ...): a request we got wrong; retrying cannot
  fix it, so the pull fails with the code, TikTok's message and its ``request_id`` (what
  TikTok support asks for).

The requests are exactly the demo simulator's (both take the platform contract,
``lib.core.platforms.tiktok``): same paths, same JSON-array ``fields``, ``dimensions``
and ``metrics`` parameters; page sizes are the API's (tests align them with the demo's
smaller pages). Days are the advertiser's (or business account's) local days:
``start_date = end_date = day``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms import tiktok as contract
from kpi_pipeline.lib.core.platforms.tiktok import (
    ADGROUP_PATH,
    BUSINESS_PATH,
    LOOKBACK_NOTE,
    REPORT_PATH,
    VIDEO_LIST_PATH,
)
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline.lib.sources.api.client import FetchContext, Fetcher
from kpi_pipeline.lib.sources.api.connectors import Connector
from kpi_pipeline.lib.sources.api.errors import ApiError, RetryableError
from kpi_pipeline.lib.sources.api.session import ApiSession, RetryPolicy, retry_after

#: Codes that mean the token cannot be used (TikTok's return-code list): 40001 no
#: permission on this advertiser/account, 40102 expired, 40104 empty, 40105 incorrect or
#: revoked. Renewing or re-authorizing the token is the only fix.
AUTH_CODES = frozenset({40001, 40102, 40104, 40105})
#: "Requests made too frequently": the per-token rate limit.
RATE_LIMIT_CODES = frozenset({40100})
#: System and service errors on TikTok's side (50000 "system error", 51xxx).
SYSTEM_ERROR_CODES = range(50000, 52000)

#: Page sizes: the report API allows 1000 rows per page, the ad group list 1000 ad groups,
#: the video list 20 videos. (The demo pages reports and ad groups by 2 so its paging is
#: exercised; tests align these with the demo.)
REPORT_PAGE_SIZE = 1000
ADGROUP_PAGE_SIZE = 1000
VIDEO_PAGE_SIZE = 20

#: The reporting API answers at most 30 days of ``stat_time_day`` per query.
REPORT_MAX_DAYS = 30



# ------------------------------------------------------------------ session
def make_session(connector: Connector, token: str, base_url: str,
                 policy: RetryPolicy) -> ApiSession:
    """A session sending ``Access-Token``; auth failures name ``connector.token_env``."""
    session = ApiSession(platform=connector.name, base_url=base_url, token=token,
                         token_env=connector.token_env or "",
                         auth_headers={"Access-Token": token}, classify=classify,
                         policy=policy)
    return session


def classify(session: ApiSession, response: requests.Response, body: Any) -> None:
    """Raise the error a TikTok answer stands for; None lets the HTTP status decide.

    A body with ``code`` is TikTok's envelope whatever the HTTP status (a 429 may carry
    40100 too). A 2xx JSON body without ``code`` is not TikTok's envelope at all.
    """
    path = urlsplit(response.url).path
    if not isinstance(body, dict) or "code" not in body:
        if response.status_code < 400 and body is not None:
            raise ApiError(f"{session.describe(path)}: HTTP {response.status_code} answer "
                           "without TikTok's 'code' field; cannot tell success from failure")
        return
    code = _code(body["code"])
    if code == 0:
        return
    detail = session.redact(f"TikTok code {body['code']}: {body.get('message')!r}, "
                            f"request_id {body.get('request_id')}")
    where = session.describe(path)
    if code in AUTH_CODES:
        raise session.auth_failure(path, detail)
    if code in RATE_LIMIT_CODES:
        raise RetryableError(f"{where}: rate limited ({detail})",
                             retry_after=retry_after(response))
    if code is not None and code in SYSTEM_ERROR_CODES:
        raise RetryableError(f"{where}: TikTok system error ({detail})",
                             retry_after=retry_after(response))
    raise ApiError(f"{where}: {detail}; retrying will not help")


def _code(value: Any) -> int | None:
    """TikTok's numeric ``code`` (None if it is not a number: treated as an error)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------ helpers
def _json_list(names: tuple[str, ...]) -> str:
    """TikTok takes list parameters as compact JSON-array strings."""
    return json.dumps(list(names), separators=(",", ":"))


def report_window(start: date, end: date) -> tuple[str, str]:
    """``start_date``/``end_date`` of a ``stat_time_day`` report, at most 30 days long.

    The days are the advertiser's local days (its account time zone), as TikTok reports.
    """
    days = (end - start).days + 1
    if not 1 <= days <= REPORT_MAX_DAYS:
        raise ValueError(f"TikTok reports by stat_time_day cover 1 to {REPORT_MAX_DAYS} days "
                         f"per query; {start}..{end} is {days}")
    return start.isoformat(), end.isoformat()


def _data(record: RequestRecord, session: ApiSession) -> dict[str, Any]:
    """The ``data`` object of a checked (code 0) answer."""
    data = record["body"].get("data")
    if not isinstance(data, dict):
        raise ApiError(f"{session.describe(record['path'])}: code 0 but 'data' is not an "
                       "object")
    return data


# ------------------------------------------------------------------ fetchers
def tiktok_account(session: ApiSession, account: AccountRef, day: date,
                   ctx: FetchContext) -> list[RequestRecord]:
    """The business account's metrics of one local day (one request)."""
    params = {"business_id": account.account_id, "start_date": day.isoformat(),
              "end_date": day.isoformat(), "fields": _json_list(contract.ACCOUNT_FIELDS)}
    return [session.get(BUSINESS_PATH, params)]


def tiktok_videos(session: ApiSession, account: AccountRef, day: date,
                  ctx: FetchContext) -> list[RequestRecord]:
    """The account's video list with lifetime metrics, followed by ``cursor`` to the end.

    The list is a snapshot taken now; ``day`` only names the partition it lands in.
    """
    records: list[RequestRecord] = []
    cursor = 0
    oldest_wanted = lookback_start(account, day)
    while True:
        params = {"business_id": account.account_id, "fields": _json_list(contract.VIDEO_FIELDS),
                  "cursor": cursor, "max_count": VIDEO_PAGE_SIZE}
        record = session.get(VIDEO_LIST_PATH, params)
        records.append(record)
        data = _data(record, session)
        if not data.get("has_more"):
            return records
        if _reaches_before(data, oldest_wanted):
            record[LOOKBACK_NOTE] = (f"stopped paging: the videos that follow were published "
                                     f"before the {POST_LOOKBACK_DAYS}-day look-back")
            return records
        following = data.get("cursor")
        if not isinstance(following, int) or following <= cursor:
            raise ApiError(f"{session.describe(VIDEO_LIST_PATH)}: has_more is true but the "
                           f"cursor did not advance ({cursor} -> {following!r})")
        cursor = following


def lookback_start(account: AccountRef, day: date) -> int:
    """Unix time of the local midnight starting the look-back window that ends on ``day``."""
    first = day - timedelta(days=POST_LOOKBACK_DAYS - 1)
    return int(datetime.combine(first, time(0), tzinfo=ZoneInfo(account.timezone)).timestamp())


def _reaches_before(data: dict[str, Any], oldest_wanted: int) -> bool:
    """True when a page (newest first) already holds a video older than the look-back:
    the list is sorted by create_time descending, so every later page is older still."""
    times = [v.get("create_time") for v in data.get("videos") or [] if isinstance(v, dict)]
    times = [t for t in times if isinstance(t, int)]
    return bool(times) and min(times) < oldest_wanted


def tiktok_ads(session: ApiSession, account: AccountRef, day: date,
               ctx: FetchContext) -> list[RequestRecord]:
    """The campaign-by-day report of one advertiser-local day, pages 1..total_page, then
    the ad groups of the campaigns it names, whose attribution windows its conversions
    were counted in (the report takes none)."""
    start, end = report_window(day, day)
    records: list[RequestRecord] = []
    page = 1
    while True:
        params = {"advertiser_id": account.account_id, "report_type": "BASIC",
                  "data_level": "AUCTION_CAMPAIGN",
                  "dimensions": _json_list(contract.REPORT_DIMENSIONS),
                  "metrics": _json_list(contract.REPORT_METRICS), "start_date": start,
                  "end_date": end, "page": page, "page_size": REPORT_PAGE_SIZE}
        record = session.get(REPORT_PATH, params)
        records.append(record)
        total = _total_page(record, session)
        if page >= total:
            break
        page += 1
    campaigns = list(dict.fromkeys(
        str(row["dimensions"]["campaign_id"]) for record in records
        for row in _data(record, session).get("list") or []
        if isinstance(row, dict) and isinstance(row.get("dimensions"), dict)
        and row["dimensions"].get("campaign_id") is not None))
    return records + (_ad_groups(session, account, campaigns) if campaigns else [])


def _ad_groups(session: ApiSession, account: AccountRef,
               campaigns: list[str]) -> list[RequestRecord]:
    """The ad groups of ``campaigns`` with their attribution windows, pages 1..total_page."""
    records: list[RequestRecord] = []
    page = 1
    while True:
        params = {"advertiser_id": account.account_id,
                  "fields": _json_list(contract.ADGROUP_FIELDS),
                  "filtering": json.dumps({"campaign_ids": campaigns}, separators=(",", ":")),
                  "page": page, "page_size": ADGROUP_PAGE_SIZE}
        record = session.get(ADGROUP_PATH, params)
        records.append(record)
        if page >= _total_page(record, session, ADGROUP_PATH):
            return records
        page += 1


def _total_page(record: RequestRecord, session: ApiSession, path: str = REPORT_PATH) -> int:
    """``data.page_info.total_page`` (0 for an empty answer: page 1 was the only one)."""
    info = _data(record, session).get("page_info")
    total = info.get("total_page") if isinstance(info, dict) else None
    if not isinstance(total, int):
        raise ApiError(f"{session.describe(path)}: answer without "
                       "data.page_info.total_page; cannot tell whether pages remain")
    return total


FETCHERS: dict[str, Fetcher] = {
    "tiktok_account": tiktok_account,
    "tiktok_videos": tiktok_videos,
    "tiktok_ads": tiktok_ads,
}
