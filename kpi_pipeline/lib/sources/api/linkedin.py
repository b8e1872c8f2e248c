"""LinkedIn Marketing REST API (``/rest``, ``Linkedin-Version: YYYYMM``): organization
statistics, organization posts and ad analytics, with one OAuth 2.0 bearer token
(``$KPI_PIPELINE_LINKEDIN_TOKEN``).

The requests are exactly the demo simulator's: both take the paths, headers, fields and
posts page size from the platform contract (``lib.core.platforms.linkedin``), the page
size read at call time so a test that shrinks it shrinks both. Records keep the non-secret headers
(``Linkedin-Version``, ``X-Restli-Protocol-Version``); ``Authorization`` is sent and never stored.

Rest.li 2.0 wants its structures unencoded on the wire (``List(...)``, ``(key:value)``) and
the values inside them percent-encoded (``urn%3Ali%3Aorganization%3A1``); a plain URL
encoder escapes the parentheses and LinkedIn answers "Parameter 'timeIntervals' is
invalid". ``RestliHttp`` writes the wire form; requests and records keep the readable one.

Errors come back as HTTP statuses with ``{"status", "serviceErrorCode", "code", "message"}``:

- 401 (``INVALID_ACCESS_TOKEN``, expired or revoked tokens): fail at once, naming the
  variable that holds the token to renew;
- 403 ``ACCESS_DENIED``: the token lacks a scope (or its member the page/ad-account role)
  for this endpoint: fail at once naming the scope; retrying cannot grant it;
- 429: LinkedIn's limits are DAILY application and member quotas per endpoint that reset
  at midnight UTC, so retrying within a run only burns the wait budget: ``QuotaExhausted``
  at once, saying how long until the reset (LinkedIn rarely also answers 429 to protect
  its infrastructure; the next scheduled pull covers that case too);
- 5xx: retried by the session's generic mapping; other 4xx fail with LinkedIn's message.

Windows: organization statistics with ``timeIntervals`` go back 12 months (a rolling
window) and LinkedIn finalizes a day about 2 days later, so days outside
[today - 365 days, today - 2 days] are refused before any request. Ad analytics are asked
one day per ``dateRange``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import requests

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms import linkedin as contract
from kpi_pipeline.lib.core.platforms.linkedin import (
    AD_ANALYTICS_PATH,
    CONVERSIONS_PATH,
    FOLLOWER_STATISTICS_PATH,
    NETWORK_SIZES_PATH,
    POSTS_PATH,
    SHARE_STATISTICS_PATH,
)
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline.lib.sources.api.client import FetchContext, Fetcher
from kpi_pipeline.lib.sources.api.connectors import Connector
from kpi_pipeline.lib.sources.api.errors import ApiError, QuotaExhausted
from kpi_pipeline.lib.sources.api.session import ApiSession, RetryPolicy

#: Time-bound organization statistics cover a rolling 12-month window ...
STATISTICS_MAX_DAYS_BACK = 365
#: ... and end no later than 2 days before today.
STATISTICS_LAG_DAYS = 2
#: The campaign search finder's page size (cursor-paged with ``pageToken``).
CAMPAIGN_PAGE_SIZE = 100

#: Path prefix -> the OAuth scope (and role) LinkedIn checks there, named on a 403.
SCOPES: tuple[tuple[str, str], ...] = (
    ("/rest/organizationalEntity", "rw_organization_admin (an ADMINISTRATOR of the page)"),
    (NETWORK_SIZES_PATH, "rw_organization_admin (an ADMINISTRATOR of the page)"),
    (POSTS_PATH, "r_organization_social (an ADMINISTRATOR of the page)"),
    (AD_ANALYTICS_PATH, "r_ads_reporting (a user of the ad account)"),
    ("/rest/adAccounts/", "r_ads (a user of the ad account)"),
    (CONVERSIONS_PATH, "r_ads (a user of the ad account)"),
)

_POST_URNS = {"urn:li:share:": "shares", "urn:li:ugcPost:": "ugcPosts"}


# ------------------------------------------------------------------ Rest.li wire form
class RestliHttp(requests.Session):
    """A requests session that writes query strings and URN path keys as Rest.li 2.0 wants.

    ``ApiSession`` hands it the readable parameters (what the records keep); this writes
    them in the wire form instead of letting requests escape the structure characters.
    """

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                params: Mapping[str, Any] | None = None, *args: Any,
                **kwargs: Any) -> requests.Response:
        parts = urlsplit(url if isinstance(url, str) else url.decode())
        path = "/".join(quote(unquote(segment), safe="") for segment in parts.path.split("/"))
        query = restli_query(params or {})
        wire = urlunsplit((parts.scheme, parts.netloc, path, query, ""))
        return super().request(method, wire, None, *args, **kwargs)


def restli_query(params: Mapping[str, Any]) -> str:
    """The query string of readable parameters, each value in its Rest.li 2.0 wire form."""
    return "&".join(f"{quote(str(k), safe='')}={restli_wire(str(v))}"
                    for k, v in params.items())


def restli_wire(text: str) -> str:
    """One readable Rest.li value on the wire: ``List(...)`` and ``(key:value)`` structure
    stays as is, the values inside are percent-encoded (``:`` -> ``%3A``). A plain value
    keeps its commas (``fields=a,b``) and encodes the rest."""
    if not text.startswith(("(", "List(")):
        return quote(text, safe=",")
    wire, end = _wire_value(text, 0)
    if end != len(text):
        raise ValueError(f"not a Rest.li value: {text!r} (unexpected text at {end})")
    return wire


def _wire_value(text: str, i: int) -> tuple[str, int]:
    """The wire form of the value starting at ``i`` and the index just after it."""
    if text.startswith("List(", i):
        return _wire_sequence(text, i + len("List("), keyed=False, opening="List(")
    if text.startswith("(", i):
        return _wire_sequence(text, i + 1, keyed=True, opening="(")
    end = i
    while end < len(text) and text[end] not in ",)":
        end += 1
    return quote(text[i:end], safe=""), end


def _wire_sequence(text: str, i: int, *, keyed: bool, opening: str) -> tuple[str, int]:
    """A list's items or an object's ``key:value`` pairs, up to the closing parenthesis."""
    items: list[str] = []
    while i < len(text) and text[i] != ")":
        prefix = ""
        if keyed:
            colon = text.find(":", i)
            if colon < 0:
                break
            prefix, i = f"{quote(text[i:colon], safe='')}:", colon + 1
        value, i = _wire_value(text, i)
        items.append(prefix + value)
        if i < len(text) and text[i] == ",":
            i += 1
    if i >= len(text) or text[i] != ")":
        raise ValueError(f"not a Rest.li value: {text!r} (unbalanced parentheses)")
    return f"{opening}{','.join(items)})", i + 1


# ------------------------------------------------------------------ session
def make_session(connector: Connector, token: str, base_url: str,
                 policy: RetryPolicy) -> ApiSession:
    """A session sending the bearer token and the Rest.li headers, errors mapped below."""
    session = ApiSession(platform=connector.name, base_url=base_url, token=token,
                         token_env=connector.token_env or "",
                         auth_headers={"Authorization": f"Bearer {token}"},
                         classify=classify, policy=policy, headers=dict(contract.HEADERS),
                         record_headers=dict(contract.HEADERS), http=RestliHttp())
    return session


def classify(session: ApiSession, response: requests.Response, body: Any) -> None:
    """Raise the error a LinkedIn answer stands for; None lets the session decide (2xx, 5xx)."""
    status = response.status_code
    if status < 400 or status >= 500:
        return
    path = unquote(urlsplit(response.url).path)
    where = session.describe(path)
    detail = _detail(session, response, body)
    if status == 401:
        raise session.auth_failure(path, detail)
    if status == 403:
        raise ApiError(f"{where}: access denied ({detail}). The token needs the scope "
                       f"{scope_for(path)}: re-authorize the app with it and set "
                       f"${session.token_env}; retrying will not help.")
    if status == 429:
        raise QuotaExhausted(f"{where}: LinkedIn's daily quota for this endpoint is used up "
                             f"({detail}). {quota_reset_text(_utc_now())}; pull again then, "
                             "retrying now will not help.")
    raise ApiError(f"{where}: {detail}; retrying will not help")


def _detail(session: ApiSession, response: requests.Response, body: Any) -> str:
    """LinkedIn's error fields (or the start of the raw answer), without the token."""
    if isinstance(body, dict) and ("code" in body or "message" in body):
        text = (f"HTTP {response.status_code} {body.get('code', '')} (serviceErrorCode "
                f"{body.get('serviceErrorCode')}): {body.get('message', '')!r}")
    else:
        text = f"HTTP {response.status_code}: {response.text[:300]}"
    return session.redact(text)


def scope_for(path: str) -> str:
    """The OAuth scope LinkedIn checks on ``path`` (for the 403 message)."""
    return next((scope for prefix, scope in SCOPES if path.startswith(prefix)),
                "that this endpoint requires")


def _utc_now() -> datetime:
    """The clock of the quota message (a function so tests can fix it)."""
    return datetime.now(UTC)


def quota_reset_text(now: datetime) -> str:
    """When LinkedIn's daily quotas reset (the next midnight UTC) and how long until then."""
    reset = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(),
                             tzinfo=UTC)
    hours, minutes = divmod(math.ceil((reset - now).total_seconds() / 60), 60)
    return (f"It resets at midnight UTC, in {hours} h {minutes:02d} min "
            f"({reset:%Y-%m-%d %H:%M} UTC)")


# ------------------------------------------------------------------ request values
def _epoch_ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))


def time_intervals(day: date, timezone: str) -> str:
    """One DAY bucket from the organization's local midnight to the next (23 or 25 h on
    DST changes), as LinkedIn reports it, in epoch milliseconds."""
    start = _epoch_ms(_local_midnight(day, timezone))
    end = _epoch_ms(_local_midnight(day + timedelta(days=1), timezone))
    return f"(timeRange:(start:{start},end:{end}),timeGranularityType:DAY)"


def ad_date_range(day: date) -> str:
    """adAnalytics' ``dateRange`` of one calendar day (the ad account's days)."""
    one = f"(year:{day.year},month:{day.month},day:{day.day})"
    return f"(start:{one},end:{one})"


def check_statistics_day(session: ApiSession, day: date, today: date) -> None:
    """Refuse a day LinkedIn's time-bound organization statistics do not serve."""
    where = session.describe(SHARE_STATISTICS_PATH)
    oldest = today - timedelta(days=STATISTICS_MAX_DAYS_BACK)
    latest = today - timedelta(days=STATISTICS_LAG_DAYS)
    if day < oldest:
        raise ApiError(f"{where}: LinkedIn serves organization statistics for the last 12 "
                       f"months only (back to {oldest}); {day} is too old")
    if day > latest:
        raise ApiError(f"{where}: LinkedIn serves organization statistics up to "
                       f"{STATISTICS_LAG_DAYS} days before today ({latest}); {day} is too "
                       "recent")


def _org_urn(account: AccountRef) -> str:
    return f"urn:li:organization:{account.account_id}"


def _elements(record: RequestRecord, session: ApiSession) -> list[dict[str, Any]]:
    """The ``elements`` list of an answer (an error if LinkedIn sent anything else)."""
    elements = record["body"].get("elements") if isinstance(record["body"], dict) else None
    if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
        raise ApiError(f"{session.describe(record['path'])}: answer without an 'elements' "
                       "list of objects")
    return elements


# ------------------------------------------------------------------ organization
def linkedin_organization(session: ApiSession, account: AccountRef, day: date,
                          ctx: FetchContext) -> list[RequestRecord]:
    """Share statistics and follower gains of one local day, and the follower total.

    ``networkSizes`` answers today's total whatever the day: the parser dates it to the
    pulled day, as the demo does.
    """
    check_statistics_day(session, day, ctx.today)
    org = _org_urn(account)
    finder = {"q": "organizationalEntity", "organizationalEntity": org,
              "timeIntervals": time_intervals(day, account.timezone)}
    return [session.get(SHARE_STATISTICS_PATH, finder),
            session.get(FOLLOWER_STATISTICS_PATH, finder),
            session.get(f"{NETWORK_SIZES_PATH}{org}", {"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"})]


# ------------------------------------------------------------------ posts
def linkedin_posts(session: ApiSession, account: AccountRef, day: date,
                   ctx: FetchContext) -> list[RequestRecord]:
    """The organization's posts, page by page (``start``/``count``), each page followed by
    one lifetime-statistics call for its posts (no ``timeIntervals`` = lifetime).

    Paging stops at the last page (``start + count >= total``, or no ``next`` link when
    LinkedIn leaves ``total`` out), on an empty page, or once a page reaches posts last
    modified before the look-back window: the finder lists the most recently modified
    first, so every later page is older still.
    """
    org = _org_urn(account)
    size = contract.POSTS_PAGE_SIZE
    window_start = _epoch_ms(_local_midnight(day - timedelta(days=POST_LOOKBACK_DAYS - 1),
                                             account.timezone))
    records: list[RequestRecord] = []
    start = 0
    while True:
        page = session.get(POSTS_PATH, {"q": "author", "author": org, "count": size,
                                         "start": start})
        records.append(page)
        posts = _elements(page, session)
        if posts:
            records.append(session.get(SHARE_STATISTICS_PATH,
                                       _post_statistics_params(session, org, posts)))
        if not _more_pages(page["body"], start, size, posts) or _older_than(posts,
                                                                             window_start):
            return records
        start += size


def _more_pages(body: dict[str, Any], start: int, size: int,
                posts: list[dict[str, Any]]) -> bool:
    if not posts:
        return False
    paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
    total = paging.get("total")
    if isinstance(total, int):
        return start + size < total
    return any(isinstance(link, dict) and link.get("rel") == "next"
               for link in paging.get("links") or [])


def _older_than(posts: list[dict[str, Any]], instant_ms: int) -> bool:
    """True when the page's last post was last modified before ``instant_ms``."""
    last = posts[-1]
    modified = last.get("lastModifiedAt", last.get("publishedAt"))
    return isinstance(modified, int) and modified < instant_ms


def _post_statistics_params(session: ApiSession, org: str,
                            posts: list[dict[str, Any]]) -> dict[str, str]:
    """Lifetime statistics of these posts: shares and ugcPosts are separate parameters."""
    groups: dict[str, list[str]] = {}
    for post in posts:
        urn = post.get("id")
        kind = next((name for prefix, name in _POST_URNS.items()
                     if isinstance(urn, str) and urn.startswith(prefix)), None)
        if kind is None:
            raise ApiError(session.redact(f"{session.describe(POSTS_PATH)}: post id {urn!r} "
                                          "is neither a share nor a ugcPost URN"))
        groups.setdefault(kind, []).append(urn)
    params = {"q": "organizationalEntity", "organizationalEntity": org}
    params.update({kind: f"List({','.join(urns)})" for kind, urns in groups.items()})
    return params


# ------------------------------------------------------------------ ads
def linkedin_ads(session: ApiSession, account: AccountRef, day: date,
                 ctx: FetchContext) -> list[RequestRecord]:
    """Campaign analytics of one day (adAnalytics does not page), then the names of the
    campaigns that delivered, through the campaign search finder, and the ad account's
    conversion rules, whose windows its website conversions were counted in."""
    sponsored = f"urn:li:sponsoredAccount:{account.account_id}"
    analytics = session.get(AD_ANALYTICS_PATH, {
        "q": "analytics", "pivot": "CAMPAIGN", "timeGranularity": "DAILY",
        "dateRange": ad_date_range(day), "accounts": f"List({sponsored})",
        "fields": ",".join(contract.AD_FIELDS)})
    campaigns = list(dict.fromkeys(
        pivot for element in _elements(analytics, session)
        for pivot in element.get("pivotValues") or []
        if isinstance(pivot, str) and pivot.startswith(contract.CAMPAIGN_URN)))
    if not campaigns:
        return [analytics]
    return [analytics, *_campaign_search(session, account, campaigns),
            *_conversion_rules(session, sponsored)]


def _conversion_rules(session: ApiSession, sponsored: str) -> list[RequestRecord]:
    """The ad account's conversion rules, page by page (``start``/``count``)."""
    size = contract.CONVERSIONS_PAGE_SIZE
    records: list[RequestRecord] = []
    start = 0
    while True:
        page = session.get(CONVERSIONS_PATH, {"q": "account", "account": sponsored,
                                              "start": start, "count": size})
        records.append(page)
        if not _more_pages(page["body"], start, size, _elements(page, session)):
            return records
        start += size


def _campaign_search(session: ApiSession, account: AccountRef,
                     campaigns: list[str]) -> list[RequestRecord]:
    """The campaigns by id, following ``metadata.nextPageToken`` to the end."""
    path = f"/rest/adAccounts/{account.account_id}/adCampaigns"
    params: dict[str, Any] = {"q": "search",
                              "search": f"(id:(values:List({','.join(campaigns)})))",
                              "pageSize": CAMPAIGN_PAGE_SIZE}
    records: list[RequestRecord] = []
    seen: set[str] = set()
    while True:
        record = session.get(path, params)
        records.append(record)
        metadata = record["body"].get("metadata") if isinstance(record["body"], dict) else None
        token = metadata.get("nextPageToken") if isinstance(metadata, dict) else None
        if not token:
            return records
        if token in seen:
            raise ApiError(f"{session.describe(path)}: nextPageToken repeats; stopping")
        seen.add(token)
        params = {**params, "pageToken": token}


FETCHERS: dict[str, Fetcher] = {
    "linkedin_organization": linkedin_organization,
    "linkedin_posts": linkedin_posts,
    "linkedin_ads": linkedin_ads,
}
