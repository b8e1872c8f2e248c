"""Demo payloads for GA4 ``runReport`` and the Frankfurter (ECB) reference rates.

The bodies are exactly what the real APIs return: GA4 sends every metric value as a
string typed by ``metricHeaders``, pages with ``limit``/``offset`` and reports the total
in ``rowCount``; Frankfurter answers a weekend with the previous business day's fixing
and leaves its base currency out of ``rates``. The demo pages with a small limit on
purpose, so every run exercises the paging and the merge of the two metric groups.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms.ga4 import (
    GA4_DIMENSIONS,
    GA4_MAX_METRICS_PER_REQUEST,
    GA4_METRIC_COLUMNS,
    GA4_METRIC_GROUPS,
)
from kpi_pipeline.lib.sources.demo.world import World

GA4_PAGE_SIZE = 5  # small on purpose: several pages per request in every demo pull
GA4_METRIC_TYPES = {
    "userEngagementDuration": "TYPE_SECONDS",
    "purchaseRevenue": "TYPE_CURRENCY",
    "keyEvents:sign_up": "TYPE_FLOAT",  # GA4 types key events as floats
    "keyEvents:generate_lead": "TYPE_FLOAT",
    "keyEvents:qualify_lead": "TYPE_FLOAT",
    "keyEvents:book_appointment": "TYPE_FLOAT",
}  # everything else is TYPE_INTEGER
GA4_TOKENS_PER_PAGE = 11
# Standard-property quotas: (limit, consumed per page) for each quota GA4 reports.
GA4_QUOTAS = {
    "tokensPerDay": (200_000, GA4_TOKENS_PER_PAGE),
    "tokensPerHour": (40_000, GA4_TOKENS_PER_PAGE),
    "concurrentRequests": (10, 0),
    "serverErrorsPerProjectPerHour": (10, 0),
    "potentiallyThresholdedRequestsPerHour": (120, 0),
    "tokensPerProjectPerHour": (14_000, GA4_TOKENS_PER_PAGE),
}

FX_REPORTING_CANDIDATES = ("USD", "EUR")
FX_BASE = "EUR"

Builder = Callable[[World, AccountRef, date, date], list[RequestRecord]]


# ------------------------------------------------------------------------------ GA4
def _metric_text(value: Any) -> str:
    """GA4's string form of a number: "344", "1234.56" (whole floats without ".0")."""
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return str(int(value))


def _property_quota(pages_so_far: int) -> dict[str, dict[str, int]]:
    """``propertyQuota`` as GA4 reports it: this request's cost and what is left after it."""
    quota = {}
    for name, (limit, cost) in GA4_QUOTAS.items():
        status = (("consumed", cost), ("remaining", limit - cost * pages_so_far))
        quota[name] = {k: v for k, v in status if v}  # proto3 JSON drops zeros
    return quota


def _sorted_rows(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows in the request's ``orderBys``: first metric descending, then the dimensions.

    A total order is what makes offset paging safe; the two groups order differently, as
    GA4 may, so the parser has to merge on dimension values, not on positions.
    """
    first = GA4_METRIC_COLUMNS[metrics[0]]
    return sorted(rows, key=lambda r: (-r[first], r["source"], r["medium"], r["campaign"]))


@lru_cache(maxsize=8)  # one entry per metric group
def _group(metrics: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...],
                                              tuple[tuple[str, str], ...]]:
    """What a metric group's requests and answers repeat: the dimension names, the row
    columns of the metrics and the metric headers (name, type)."""
    return (tuple(GA4_DIMENSIONS), tuple(GA4_METRIC_COLUMNS[m] for m in metrics),
            tuple((m, GA4_METRIC_TYPES.get(m, "TYPE_INTEGER")) for m in metrics))


def _request_body(day: date, metrics: tuple[str, ...], offset: int) -> dict[str, Any]:
    dimensions = _group(metrics)[0]
    iso = day.isoformat()
    return {
        "dateRanges": [{"startDate": iso, "endDate": iso}],
        "dimensions": [{"name": d} for d in dimensions],
        "metrics": [{"name": m} for m in metrics],
        "orderBys": [{"metric": {"metricName": metrics[0]}, "desc": True},
                     *({"dimension": {"dimensionName": d}} for d in dimensions[1:])],
        "limit": GA4_PAGE_SIZE,
        "offset": offset,
        "returnPropertyQuota": True,
    }


def _response_body(account: AccountRef, day: date, metrics: tuple[str, ...],
                   page: list[dict[str, Any]], row_count: int,
                   pages_so_far: int) -> dict[str, Any]:
    ga4_date = f"{day.year:04d}{day.month:02d}{day.day:02d}"  # the property's local day
    dimensions, columns, headers = _group(metrics)
    body: dict[str, Any] = {
        "dimensionHeaders": [{"name": d} for d in dimensions],
        "metricHeaders": [{"name": m, "type": kind} for m, kind in headers],
    }
    if page:  # proto3 JSON: empty lists and zero counts are left out
        body["rows"] = [
            {"dimensionValues": [{"value": ga4_date}, {"value": r["source"]},
                                 {"value": r["medium"]}, {"value": r["campaign"]}],
             "metricValues": [{"value": str(v) if type(v) is int else _metric_text(v)}
                              for v in map(r.__getitem__, columns)]}
            for r in page
        ]
        body["rowCount"] = row_count
    body["metadata"] = {"currencyCode": account.currency, "timeZone": account.timezone}
    body["propertyQuota"] = _property_quota(pages_so_far)
    body["kind"] = "analyticsData#runReport"
    return body


def build_ga4_sessions(world: World, account: AccountRef, day: date,
                       pulled_on: date) -> list[RequestRecord]:
    """Two paged ``runReport`` requests (GA4 allows 10 metrics each; we need 12)."""
    rows = world.web_day(world.brand(account.brand), day, pulled_on)
    path = f"/v1beta/properties/{account.account_id}:runReport"
    records: list[RequestRecord] = []
    for metrics in GA4_METRIC_GROUPS:
        if len(metrics) > GA4_MAX_METRICS_PER_REQUEST:
            raise ValueError(f"GA4 rejects more than {GA4_MAX_METRICS_PER_REQUEST} metrics")
        ordered = _sorted_rows(rows, metrics)
        offset = 0
        while True:
            page = ordered[offset:offset + GA4_PAGE_SIZE]
            records.append({
                "method": "POST", "path": path, "params": {},
                "body_sent": _request_body(day, metrics, offset), "status": 200,
                "body": _response_body(account, day, metrics, page, len(ordered),
                                       len(records) + 1),
            })
            offset += GA4_PAGE_SIZE
            if offset >= len(ordered):
                break
    return records


# ------------------------------------------------------------------------------- FX
def fx_currencies(world: World) -> list[str]:
    """Every currency the brands use plus the reporting candidates, base excluded."""
    wanted = {b.currency for b in world.brands} | set(FX_REPORTING_CANDIDATES)
    return sorted(wanted - {FX_BASE})


def build_fx_rates(world: World, account: AccountRef, day: date,
                   pulled_on: date) -> list[RequestRecord]:
    """``GET /v1/{day}`` in Frankfurter's shape: the last ECB fixing on or before ``day``."""
    symbols = fx_currencies(world)
    fixing = world.fx_business_day(day)
    return [{
        "method": "GET",
        "path": f"/v1/{day.isoformat()}",
        "params": {"base": FX_BASE, "symbols": ",".join(symbols)},
        "status": 200,
        "body": {"amount": 1.0, "base": FX_BASE, "date": fixing.isoformat(),
                 "rates": {c: world.fx_per_eur(c, fixing) for c in symbols}},
    }]


BUILDERS: dict[str, Builder] = {
    "ga4_sessions": build_ga4_sessions,
    "fx_rates": build_fx_rates,
}
