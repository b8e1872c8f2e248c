"""GA4 Data API: ``POST /v1beta/properties/{id}:runReport`` for the ``ga4_sessions`` stream.

GA4 allows 10 metrics per request and we need 12, so each property-day is asked twice
(the metric groups of ``lib.core.platforms.ga4``, which both carry ``sessions`` so the parser can
merge them), each paged with ``offset += limit`` while ``offset < rowCount``. The JSON
bodies are the demo simulator's (``lib.sources.demo.payloads_ga4``) but for the page size, which
is the API's (tests align it with the demo's smaller pages).

Errors are Google's ``{"error": {"code", "message", "status"}}``:

- 401 UNAUTHENTICATED: the OAuth token expired or was revoked: fail at once, naming
  ``$KPI_PIPELINE_GA4_TOKEN`` (or ``$KPI_PIPELINE_GA4_CREDENTIALS``);
- 403 PERMISSION_DENIED: the token's account cannot read this property (or the API is not
  enabled): fail at once naming the property, retrying cannot grant access;
- 429 RESOURCE_EXHAUSTED: one of the property's token quotas. The hourly and concurrency
  quotas come back within the hour: retried, honouring Retry-After when sent. The daily
  quota (tokensPerDay) resets at midnight Pacific time: ``QuotaExhausted`` at once;
- 500 INTERNAL / 503 UNAVAILABLE: retried by the session's generic mapping.

Credentials: a bearer token in ``$KPI_PIPELINE_GA4_TOKEN`` expires within the hour, so
unattended runs use a service account instead: its JSON key file, named by
``$KPI_PIPELINE_GA4_CREDENTIALS``, from which ``lib.sources.api.google_auth`` mints and renews
tokens (scope ``analytics.readonly``). The account needs Viewer access to each property.

Every request sets ``returnPropertyQuota`` and a warning is logged when the property's
daily tokens run low, before the quota stops the pull.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms.ga4 import (
    GA4_DIMENSIONS,
    GA4_MAX_METRICS_PER_REQUEST,
    GA4_METRIC_GROUPS,
)
from kpi_pipeline.lib.sources.api.client import FetchContext, Fetcher
from kpi_pipeline.lib.sources.api.connectors import Connector
from kpi_pipeline.lib.sources.api.errors import ApiError, QuotaExhausted, RetryableError
from kpi_pipeline.lib.sources.api.google_auth import ServiceAccountAuth
from kpi_pipeline.lib.sources.api.session import ApiSession, RetryPolicy, retry_after

API = "/v1beta"
#: A standard property's daily token quota (Analytics 360: 2,000,000). GA4 reports what
#: one request ``consumed`` and what the day has ``remaining``, not the limit itself.
STANDARD_TOKENS_PER_DAY = 200_000
#: Warn when the day's remaining tokens fall under this share of the quota.
LOW_QUOTA_SHARE = 0.10

_PROPERTY = re.compile(r"/properties/([^/:]+)")
_DAILY = re.compile(r"per[ -]day|tokensPerDay|daily", re.IGNORECASE)


# ------------------------------------------------------------------ session
#: Rows per runReport page. GA4 allows up to 250,000; 100,000 keeps one page for almost
#: any property's day while bounding one answer's size. (The demo pages by far fewer rows
#: so its paging is exercised; tests align this with it.)
PAGE_SIZE = 100_000
#: What a service account's tokens may do: read GA4 reports, nothing else.
SCOPES = ("https://www.googleapis.com/auth/analytics.readonly",)


def make_session(connector: Connector, token: str, base_url: str, policy: RetryPolicy,
                 credentials_file: str | None = None) -> ApiSession:
    """A session sending ``Authorization: Bearer``: the ``token`` given or, when it is empty
    and a service account key file is, tokens google-auth mints from that key and renews
    before they expire. Auth failures name the variable that holds the one in use."""
    use_key = not token and bool(credentials_file)
    session = ApiSession(platform=connector.name, base_url=base_url, token=token,
                         token_env=(connector.credentials_env if use_key
                                    else connector.token_env) or "",
                         auth_headers={} if use_key else {"Authorization": f"Bearer {token}"},
                         classify=classify, policy=policy)
    if use_key:
        session.refresh_auth = ServiceAccountAuth(
            platform=connector.name, key_file=str(credentials_file),
            key_env=connector.credentials_env or "", scopes=SCOPES, http=session.http,
            timeout_seconds=policy.timeout_seconds)
    return session


def classify(session: ApiSession, response: requests.Response, body: Any) -> None:
    """Raise the error a Google error body stands for; None lets the HTTP status decide."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return
    path = urlsplit(response.url).path
    status = str(error.get("status", ""))
    code = error.get("code", response.status_code)
    detail = session.redact(f"HTTP {code} {status}: {error.get('message', '')}")
    where = f"{session.describe(path)} (GA4 property {property_id(path)})"
    if response.status_code == 401 or status == "UNAUTHENTICATED":
        raise session.auth_failure(path, detail)
    if response.status_code == 403 or status == "PERMISSION_DENIED":
        raise ApiError(f"{where}: permission denied ({detail}). Give the token's account "
                       "at least Viewer access to this property (and enable the Analytics "
                       "Data API); retrying will not help.")
    if response.status_code == 429 or status == "RESOURCE_EXHAUSTED":
        if _DAILY.search(str(error.get("message", ""))):
            raise QuotaExhausted(f"{where}: the property's daily token quota is exhausted "
                                 f"({detail}). It resets at midnight Pacific time; pull "
                                 "again then.")
        raise RetryableError(f"{where}: token quota exhausted for now ({detail})",
                             retry_after=retry_after(response))


def property_id(path: str) -> str:
    """The property id in a ``/v1beta/properties/{id}:runReport`` path ("?" if none)."""
    match = _PROPERTY.search(path)
    return match.group(1) if match else "?"


# ------------------------------------------------------------------ requests
def report_body(day: date, metrics: tuple[str, ...], offset: int, limit: int) -> dict[str, Any]:
    """One ``runReport`` body: the property-local ``day``, one metric group, one page.

    ``orderBys`` give a total order (first metric descending, then the dimensions), which
    is what makes offset paging safe: without it GA4 may order pages differently.
    """
    if len(metrics) > GA4_MAX_METRICS_PER_REQUEST:
        raise ValueError(f"GA4 rejects more than {GA4_MAX_METRICS_PER_REQUEST} metrics per "
                         f"request; got {len(metrics)}")
    return {
        "dateRanges": [{"startDate": day.isoformat(), "endDate": day.isoformat()}],
        "dimensions": [{"name": d} for d in GA4_DIMENSIONS],
        "metrics": [{"name": m} for m in metrics],
        "orderBys": [{"metric": {"metricName": metrics[0]}, "desc": True},
                     *({"dimension": {"dimensionName": d}} for d in list(GA4_DIMENSIONS)[1:])],
        "limit": limit,
        "offset": offset,
        "returnPropertyQuota": True,
    }


def _row_count(record: RequestRecord) -> int:
    """``rowCount`` of an answer; proto3 JSON leaves it out when it is 0."""
    value = record["body"].get("rowCount", 0)
    if not isinstance(value, int):
        raise ApiError(f"ga4 {record['path']}: rowCount {value!r} is not an integer")
    return value


def warn_if_quota_low(record: RequestRecord, ctx: FetchContext) -> None:
    """Log a warning when the property's daily tokens are under 10 % of its quota.

    GA4 sends this request's ``consumed`` and the day's ``remaining``; the quota is taken
    as the larger of their sum and a standard property's daily quota.
    """
    quota = (record["body"].get("propertyQuota") or {}).get("tokensPerDay") or {}
    remaining = quota.get("remaining", 0)  # proto3 JSON drops zeros: missing means 0
    consumed = quota.get("consumed", 0)
    if not quota or not isinstance(remaining, int) or not isinstance(consumed, int):
        return
    limit = max(consumed + remaining, STANDARD_TOKENS_PER_DAY)
    if remaining < LOW_QUOTA_SHARE * limit:
        ctx.log.warning("ga4 property %s: %d of about %d daily tokens remain (%.1f %%); "
                        "the pull fails with QuotaExhausted once they run out",
                        property_id(record["path"]), remaining, limit,
                        100 * remaining / limit)


# ------------------------------------------------------------------ fetcher
def ga4_sessions(session: ApiSession, account: AccountRef, day: date,
                 ctx: FetchContext) -> list[RequestRecord]:
    """Both metric groups of one property-local day, each paged to its ``rowCount``."""
    path = f"{API}/properties/{account.account_id}:runReport"
    limit = PAGE_SIZE
    records: list[RequestRecord] = []
    for metrics in GA4_METRIC_GROUPS:
        offset = 0
        while True:
            record = session.post(path, report_body(day, metrics, offset, limit))
            warn_if_quota_low(record, ctx)
            records.append(record)
            offset += limit
            if offset >= _row_count(record):
                break
    return records


FETCHERS: dict[str, Fetcher] = {"ga4_sessions": ga4_sessions}
