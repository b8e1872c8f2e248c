"""Parsers for the GA4 Data API (``ga4_sessions``) and the ECB reference rates (``fx_rates``).

GA4 answers ``runReport`` with every metric value as a string, typed only by
``metricHeaders[].type``, and allows at most 10 metrics per request. We need 12, so the
client asks twice with the same dimensions and two metric groups; this parser types every
value at the boundary and merges the two groups back on the dimension values.

The request definition (dimensions, metric groups, metric -> column) lives here because
the parser depends on it; clients (the demo builder, a real HTTP client) import it so that
what is asked and what is read can never drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from kpi_pipeline.lib import schemas
from kpi_pipeline.lib.landing import Envelope
from kpi_pipeline.lib.parsers import common
from kpi_pipeline.lib.parsers.common import ParseError
from kpi_pipeline.lib.schemas import WEB_DAILY

# GA4 dimension name -> web_daily column, in the order they are requested.
GA4_DIMENSIONS: dict[str, str] = {
    "date": "report_date",
    "sessionSource": "source",
    "sessionMedium": "medium",
    "sessionCampaignName": "campaign",
}

# GA4 metric name -> web_daily column.
GA4_METRIC_COLUMNS: dict[str, str] = {
    "sessions": "sessions",
    "engagedSessions": "engaged_sessions",
    "screenPageViews": "page_views",
    "userEngagementDuration": "engagement_time_seconds",
    "ecommercePurchases": "orders",
    "purchaseRevenue": "revenue",
    "firstTimePurchasers": "new_customers",
    "totalPurchasers": "purchasers",
    "keyEvents:sign_up": "sign_ups",
    "keyEvents:generate_lead": "leads",
    "keyEvents:qualify_lead": "qualified_leads",
    "keyEvents:book_appointment": "booked_calls",
}

# The metric that both groups carry: it keeps a session-carrying row from being dropped as
# "all metrics zero" in the key-events group and lets the parser check that both requests
# saw the same data.
ANCHOR_METRIC = "sessions"

# Two requests of at most 10 metrics each (GA4's limit), both starting with the anchor.
GA4_METRIC_GROUPS: tuple[tuple[str, ...], ...] = (
    ("sessions", "engagedSessions", "screenPageViews", "userEngagementDuration",
     "ecommercePurchases", "purchaseRevenue", "firstTimePurchasers", "totalPurchasers"),
    ("sessions", "keyEvents:sign_up", "keyEvents:generate_lead", "keyEvents:qualify_lead",
     "keyEvents:book_appointment"),
)

GA4_MAX_METRICS_PER_REQUEST = 10

_INT_COLUMNS = frozenset(c.name for c in WEB_DAILY.columns if c.kind == "int")
_DIMENSION_COLUMNS = tuple(GA4_DIMENSIONS.values())

FX_BASE = "EUR"
FX_COLUMNS: dict[str, str] = {  # column -> pandas dtype of the parsed fx frame
    "report_date": "datetime64[ns]",
    "currency": "string",
    "rate_per_eur": "Float64",
    "fixing_date": "datetime64[ns]",
    "source_stream": "string",
    "api_version": "string",
    "pulled_at": "datetime64[ns]",
}

FX_PARSED = ("report_date", "currency", "rate_per_eur", "fixing_date")  # the rest is meta

DimKey = tuple[str, ...]


# --------------------------------------------------------------------------- GA4 values
# GA4 MetricType -> converter. Every value arrives as a string; its header says what it is.
_METRIC_TYPES: dict[str, Callable[..., float | int | None]] = {
    "TYPE_INTEGER": common.integer,
    "TYPE_FLOAT": common.number,
    "TYPE_CURRENCY": common.number,
    "TYPE_SECONDS": common.number,
}


def _metric_value(raw: Any, metric: str, metric_type: str, context: str) -> float | int | None:
    """One metric value typed by its header, then fitted to its column's kind.

    Key events are TYPE_FLOAT in GA4 but are counts in our table: a whole float ("7" or
    "7.0") becomes 7, a fraction is an error rather than a silently truncated count.
    """
    value = _METRIC_TYPES[metric_type](raw, field=metric, context=context)
    if value is None or GA4_METRIC_COLUMNS[metric] not in _INT_COLUMNS:
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ParseError(f"{context}: metric {metric!r} value {raw!r} is not a whole count")
        return int(value)
    return value


def _report_date(raw: Any, context: str) -> date:
    """GA4's ``date`` dimension: "YYYYMMDD" in the property's time zone."""
    try:
        return datetime.strptime(raw, "%Y%m%d").date()
    except (TypeError, ValueError):
        raise ParseError(f"{context}: dimension 'date' value {raw!r} is not YYYYMMDD") from None


# --------------------------------------------------------------------------- GA4 pages
@dataclass
class _Group:
    """The pages of one metric group for one property, accumulated across offsets."""

    metrics: tuple[str, ...]
    row_count: int | None = None
    rows: dict[DimKey, dict[str, Any]] = field(default_factory=dict)


def _headers(body: dict[str, Any], context: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Dimension names and (metric name, type) pairs, checked against what we asked for."""
    dims = [common.require(h, "name", context=context)
            for h in common.require(body, "dimensionHeaders", context=context)]
    if sorted(dims) != sorted(GA4_DIMENSIONS):
        raise ParseError(f"{context}: dimensionHeaders {dims} differ from the requested "
                         f"dimensions {list(GA4_DIMENSIONS)}")
    metrics = []
    for header in common.require(body, "metricHeaders", context=context):
        name = common.require(header, "name", context=context)
        kind = common.require(header, "type", context=context)
        if name not in GA4_METRIC_COLUMNS:
            raise ParseError(f"{context}: metric {name!r} was not requested")
        if kind not in _METRIC_TYPES:
            raise ParseError(f"{context}: metric {name!r} has unsupported type {kind!r}")
        metrics.append((name, kind))
    if ANCHOR_METRIC not in dict(metrics):
        raise ParseError(f"{context}: metric group {[m for m, _ in metrics]} lacks the anchor "
                         f"metric {ANCHOR_METRIC!r} that both requests must carry")
    return dims, metrics


def _page_rows(body: dict[str, Any], dims: list[str], metrics: list[tuple[str, str]],
               context: str) -> Iterable[tuple[DimKey, dict[str, Any]]]:
    """Yield (dimension key, typed metrics) for every row of one response page."""
    order = [dims.index(d) for d in GA4_DIMENSIONS]
    names = [m for m, _ in metrics]
    for i, row in enumerate(body.get("rows", [])):  # GA4 omits "rows" when there are none
        dim_values = [common.require(v, "value", context=context)
                      for v in common.require(row, "dimensionValues", context=context)]
        met_values = [common.require(v, "value", context=context)
                      for v in common.require(row, "metricValues", context=context)]
        if len(dim_values) != len(dims):
            raise ParseError(f"{context}: row {i} has {len(dim_values)} dimension values but "
                             f"dimensionHeaders name {len(dims)} ({', '.join(dims)})")
        if len(met_values) != len(metrics):
            raise ParseError(f"{context}: row {i} has {len(met_values)} metric values but "
                             f"metricHeaders name {len(metrics)} metrics ({', '.join(names)})")
        key = tuple(str(dim_values[j]) for j in order)
        typed = {GA4_METRIC_COLUMNS[m]: _metric_value(raw, m, kind, f"{context} row {i}")
                 for (m, kind), raw in zip(metrics, met_values, strict=True)}
        yield key, typed


def _add_page(groups: dict[tuple[str, ...], _Group], body: dict[str, Any], context: str) -> str:
    """Fold one page into its metric group; return the page's currency code."""
    dims, metrics = _headers(body, context)
    names = tuple(m for m, _ in metrics)
    group = groups.setdefault(names, _Group(names))
    # proto3 JSON omits zero values: no rowCount means an empty report
    row_count = common.integer(body.get("rowCount", 0), field="rowCount", context=context)
    if group.row_count is not None and row_count != group.row_count:
        raise ParseError(f"{context}: rowCount changed between pages ({group.row_count} then "
                         f"{row_count}); the report moved while it was paged, pull again")
    group.row_count = row_count
    for key, typed in _page_rows(body, dims, metrics, context):
        if key in group.rows:
            raise ParseError(f"{context}: row {key} appears on two pages (offset paging "
                             "overlapped)")
        group.rows[key] = typed
    currency = (body.get("metadata") or {}).get("currencyCode")
    if not currency:
        raise ParseError(f"{context}: metadata.currencyCode is missing; revenue has no currency")
    return str(currency)


def _check_complete(groups: dict[tuple[str, ...], _Group], context: str) -> None:
    """Every group must hold exactly rowCount rows: a lost page would silently drop traffic."""
    for group in groups.values():
        if len(group.rows) != (group.row_count or 0):
            raise ParseError(f"{context}: metric group {list(group.metrics)} holds "
                             f"{len(group.rows)} rows but GA4 reported rowCount "
                             f"{group.row_count}; pages are missing")
    covered = {m for g in groups for m in g}
    missing = [m for m in GA4_METRIC_COLUMNS if m not in covered]
    if groups and missing:
        raise ParseError(f"{context}: no request returned the metrics {missing}")


def _merge_groups(groups: dict[tuple[str, ...], _Group], context: str,
                  ) -> dict[DimKey, dict[str, Any]]:
    """Outer-join the metric groups on the dimension values.

    A row missing from one group keeps that group's metrics NULL, not 0: with the anchor
    metric in both groups GA4 returns the same row set, so a gap means the two requests
    disagree, and a NULL stays visible where a 0 would pass as a measured fact (sums skip
    NULL either way). Both groups carry ``sessions``; differing values mean the data
    changed between the two requests, and mixing them would be wrong.
    """
    merged: dict[DimKey, dict[str, Any]] = {}
    for group in groups.values():
        for key, typed in group.rows.items():
            row = merged.setdefault(key, {})
            for column, value in typed.items():
                if column in row and row[column] != value:
                    raise ParseError(f"{context}: row {key}: {column} is {row[column]} in one "
                                     f"metric group and {value} in the other; the report "
                                     "changed between the two requests, pull again")
                row[column] = value
    return merged


def _output_row(key: DimKey, metrics: dict[str, Any], account: dict[str, Any], currency: str,
                context: str) -> dict[str, Any]:
    """One web_daily row (parser columns) from a merged dimension key and its metrics."""
    row: dict[str, Any] = dict(zip(_DIMENSION_COLUMNS, key, strict=True))
    row["report_date"] = _report_date(key[0], context)
    row["property_id"] = str(account.get("account_id"))
    row["brand"] = account.get("brand")
    row["currency"] = currency
    row.update(metrics)
    sessions, engaged = metrics.get("sessions"), metrics.get("engaged_sessions")
    if sessions is not None and engaged is not None:
        if engaged > sessions:
            raise ParseError(f"{context}: row {key}: engagedSessions {engaged} exceeds "
                             f"sessions {sessions}")
        row["bounces"] = sessions - engaged  # GA4: a bounce is a session that did not engage
    return row


def _account_rows(envelope: Envelope, account: dict[str, Any],
                  requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All web_daily rows of one GA4 property: its pages folded, checked and merged."""
    context = common.where(envelope, account)
    groups: dict[tuple[str, ...], _Group] = {}
    currencies = set()
    for request in requests:
        offset = (request.get("body_sent") or {}).get("offset", 0)
        body = common.require(request, "body", context=context)
        currencies.add(_add_page(groups, body, f"{context} request {request.get('path')} "
                                                f"offset {offset}"))
    if len(currencies) > 1:
        raise ParseError(f"{context}: pages report different currencies {sorted(currencies)}")
    _check_complete(groups, context)
    currency = next(iter(currencies), "")
    return [_output_row(key, metrics, account, currency, context)
            for key, metrics in _merge_groups(groups, context).items()]


def parse_ga4_sessions(envelope: Envelope) -> pd.DataFrame:
    """web_daily rows (parser columns) from a ``ga4_sessions`` envelope.

    Source, medium and campaign pass through unchanged (campaign names are untrusted text
    and stay exactly as GA4 sent them); the UTM -> platform mapping happens later.
    """
    by_account: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for account, request in common.iter_bodies(envelope):
        by_account.setdefault(id(account), (account, []))[1].append(request)
    rows: list[dict[str, Any]] = []
    for account, requests in by_account.values():
        rows.extend(_account_rows(envelope, account, requests))
    if not rows:
        return schemas.empty_frame(WEB_DAILY, WEB_DAILY.parsed_columns)
    meta = common.envelope_meta(envelope)
    df = pd.DataFrame.from_records([{**row, **meta} for row in rows])
    return df.reindex(columns=WEB_DAILY.parsed_columns)


# --------------------------------------------------------------------------- FX
def _asked_day(request: dict[str, Any], context: str) -> date:
    """The day asked for: the last path segment of ``GET /v1/{YYYY-MM-DD}``."""
    segment = str(request.get("path", "")).rstrip("/").rsplit("/", 1)[-1]
    try:
        return date.fromisoformat(segment)
    except ValueError:
        raise ParseError(f"{context}: request path {request.get('path')!r} does not end in "
                         "the asked date") from None


def _fx_rows(body: dict[str, Any], asked: date, context: str) -> list[dict[str, Any]]:
    """Rates per EUR from one Frankfurter body (``amount`` units of the base)."""
    base = common.require(body, "base", context=context)
    if base != FX_BASE:
        raise ParseError(f"{context}: base is {base!r}; the cross rates assume {FX_BASE}")
    amount = common.number(common.require(body, "amount", context=context), field="amount",
                           context=context)
    if not amount:
        raise ParseError(f"{context}: amount {body.get('amount')!r} must be positive")
    raw_date = common.require(body, "date", context=context)
    try:
        fixing = date.fromisoformat(raw_date)
    except (TypeError, ValueError):
        raise ParseError(f"{context}: date {raw_date!r} is not YYYY-MM-DD") from None
    if fixing > asked:
        raise ParseError(f"{context}: fixing date {fixing} is after the asked day {asked}")
    rates = common.require(body, "rates", context=context)
    if not isinstance(rates, dict):
        raise ParseError(f"{context}: rates is a {type(rates).__name__}, expected an object")
    rows = []
    for currency, raw in rates.items():
        value = common.number(raw, field=f"rates.{currency}", context=context)
        if not value:
            raise ParseError(f"{context}: field 'rates.{currency}' value {raw!r} is not a "
                             "positive rate")
        rows.append({"report_date": asked, "currency": currency,
                     "rate_per_eur": value / amount, "fixing_date": fixing})
    return rows


def parse_fx_rates(envelope: Envelope) -> pd.DataFrame:
    """Rates per EUR by asked day and currency from an ``fx_rates`` envelope.

    This is the rate as fixed, not the fx_daily table: the cross rate to the reporting
    currency (and the EUR = 1.0 row that Frankfurter leaves out) is ``lib.fx``'s job.
    """
    rows: list[dict[str, Any]] = []
    for account, request in common.iter_bodies(envelope):
        context = f"{common.where(envelope, account)} request {request.get('path')}"
        body = common.require(request, "body", context=context)
        rows.extend(_fx_rows(body, _asked_day(request, context), context))
    keys = [(r["report_date"], r["currency"]) for r in rows]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise ParseError(f"{common.where(envelope)}: more than one rate for {dupes}")
    meta = common.envelope_meta(envelope)
    columns = {name: [r[name] for r in rows] if name in FX_PARSED else [meta[name]] * len(rows)
               for name in FX_COLUMNS}
    return pd.DataFrame({name: pd.Series(values, dtype=FX_COLUMNS[name])
                         for name, values in columns.items()})


PARSERS: dict[str, Callable[[Envelope], pd.DataFrame]] = {
    "ga4_sessions": parse_ga4_sessions,
    "fx_rates": parse_fx_rates,
}
