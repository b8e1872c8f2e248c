"""Properties the KPI SQL must keep on any small normalized data set, found by hypothesis.

Why: the hand-made fixture (test_kpi_hand.py) checks chosen numbers; these properties
check rules that must hold for every input, including the corners nobody writes by hand
(zero counts, a platform with no rows in a week, a missing Sunday, two weeks at once):

(a) rates bounded by construction stay in [0, 1] (or NULL);
(b) the platform and brand parts of an additive count, and of the numerator and
    denominator of an ads/web ratio, add up to the 'all' scope;
(c) a zero or missing denominator gives a NULL value, and no value is NaN or infinite;
(d) weekly reach at account scope is the platform's 7-day reach on Sunday, never a sum of
    daily reach.

The generator lets each platform report a random subset of the post metrics (so LinkedIn
may carry views and Instagram completions, which KPIs defined elsewhere must not add up),
keeps lifetime snapshots growing, keeps completions <= video views and every web count
<= sessions, and takes web rows from tracked platforms only (an untracked social platform
crashes the KPI insert: see test_kpi_hand.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kpi_pipeline.lib.core.schemas import (
    ACCOUNT_DAILY,
    AD_DAILY,
    EMAIL_DAILY,
    POST_DAILY,
    WEB_DAILY,
    Table,
    coerce_frame,
)
from kpi_pipeline.lib.kpis.catalog import Kpi, catalog
from kpi_pipeline.lib.kpis.compute import replace_kpis
from kpi_pipeline.lib.kpis.facts import POST_METRICS
from kpi_pipeline.lib.normalized.store import ensure_tables, replace_window

pytestmark = pytest.mark.slow  # 100 generated stores, each through the KPI SQL
MON = date(2025, 3, 3)
BRANDS = ("acme", "bolt")
ROW_META = {"source_stream": "hypothesis", "api_version": "v0",
            "pulled_at": "2025-03-20T06:00:00Z"}
POST_PLATFORMS = ("facebook", "instagram", "linkedin", "tiktok")
REACH_PLATFORMS = ("facebook", "instagram")  # LinkedIn publishes no 7-day unique reach
AD_PLATFORMS = ("meta", "linkedin", "tiktok")
WEB_PLATFORMS = ("facebook", "instagram", "linkedin", "tiktok")
BOUNDED_RATES = ("bounce_rate", "lead_quality", "repeat_customer_rate", "completion_rate",
                 "signup_conversion_rate", "order_conversion_rate")

counts = st.integers(min_value=0, max_value=40)  # small, so zeros come up often
money = st.integers(min_value=0, max_value=20_000).map(lambda cents: cents / 100)
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None)

# ----------------------------------------------------------------------- generator


@dataclass
class Data:
    """A generated normalized data set covering ``weeks`` ISO weeks from MON."""

    weeks: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    ads: list[dict[str, Any]] = field(default_factory=list)
    web: list[dict[str, Any]] = field(default_factory=list)
    email: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_day(self) -> date:
        return MON + timedelta(weeks=self.weeks, days=-1)

    def tables(self) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
        yield POST_DAILY, self.posts
        yield ACCOUNT_DAILY, self.accounts
        yield AD_DAILY, self.ads
        yield WEB_DAILY, self.web
        yield EMAIL_DAILY, self.email


def _days(draw: st.DrawFn, days: list[date], max_size: int) -> list[date]:
    return sorted(draw(st.lists(st.sampled_from(days), max_size=max_size, unique=True)))


def _posts(draw: st.DrawFn, data: Data, days: list[date]) -> None:
    platforms = draw(st.lists(st.sampled_from(POST_PLATFORMS), min_size=2, max_size=3,
                              unique=True))
    for platform in platforms:
        reported = draw(st.sets(st.sampled_from(POST_METRICS), min_size=1))
        if "completions" in reported:  # a completion rate needs the views it divides by
            reported.add("video_views")
        for number in range(draw(st.integers(1, 2))):
            brand = draw(st.sampled_from(BRANDS))
            media_type = draw(st.sampled_from(("photo", "video")))
            totals = dict.fromkeys(reported, 0)
            for day in _days(draw, days, 4) or [days[-1]]:
                step = {m: draw(counts) for m in totals if m != "completions"}
                if "completions" in totals:  # no more completed views than views
                    step["completions"] = draw(st.integers(0, step["video_views"]))
                totals = {m: totals[m] + step[m] for m in totals}
                data.posts.append(dict(
                    totals, report_date=day, platform=platform, brand=brand,
                    account_id=f"{platform}-{brand}", post_id=f"{platform}-{number}",
                    published_at=days[0].isoformat(), media_type=media_type))


def _accounts(draw: st.DrawFn, data: Data, days: list[date]) -> None:
    accounts = {(p["platform"], p["account_id"], p["brand"]) for p in data.posts}
    sundays = [d for d in days if d.weekday() == 6]  # followers_start/end, reach_week
    for platform, account_id, brand in sorted(accounts):
        weekly_reach = platform in REACH_PLATFORMS
        kept = [d for d in sundays if draw(st.booleans())]
        for day in sorted({*kept, *_days(draw, days, 3)}):
            data.accounts.append(dict(
                report_date=day, platform=platform, account_id=account_id, brand=brand,
                timezone="UTC", followers=draw(counts),
                reach=draw(counts) if weekly_reach else None,
                reach_week=draw(counts) if weekly_reach else None))


def _ads(draw: st.DrawFn, data: Data, days: list[date]) -> None:
    for platform in draw(st.lists(st.sampled_from(AD_PLATFORMS), min_size=2, max_size=3,
                                  unique=True)):
        brand = draw(st.sampled_from(BRANDS))
        for campaign in ("c1", "c2")[:draw(st.integers(1, 2))]:
            for day in _days(draw, days[1:], 4):
                spend, revenue = draw(money), draw(money)
                data.ads.append(dict(
                    report_date=day, platform=platform, ad_account_id=f"{platform}-ads",
                    brand=brand, campaign_id=campaign, currency="USD",
                    reporting_currency="USD", fx_rate=1.0, spend=spend,
                    spend_reporting=spend, revenue=revenue, revenue_reporting=revenue,
                    impressions=draw(counts), clicks=draw(counts), link_clicks=draw(counts),
                    leads=draw(counts), purchases=draw(counts)))


def _web(draw: st.DrawFn, data: Data, days: list[date]) -> None:
    sources = [(p, True) for p in draw(st.lists(st.sampled_from(WEB_PLATFORMS), min_size=2,
                                                max_size=3, unique=True))]
    sources.append(("google", False))  # not social: must never count
    for source, social in sources:
        brand = draw(st.sampled_from(BRANDS))
        for day in _days(draw, days[1:], 4):
            sessions = draw(counts)
            bounces = draw(st.integers(0, sessions))
            orders = draw(st.integers(0, sessions))
            leads = draw(counts)
            revenue = draw(money)
            data.web.append(dict(
                report_date=day, property_id=f"prop-{brand}", brand=brand, source=source,
                medium="social" if social else "organic", campaign="c",
                platform=source if social else None, is_social=social, is_paid=False,
                sessions=sessions, bounces=bounces, engaged_sessions=sessions - bounces,
                page_views=draw(counts), engagement_time_seconds=float(draw(counts)),
                sign_ups=draw(st.integers(0, sessions)), orders=orders,
                new_customers=draw(st.integers(0, orders)), leads=leads,
                qualified_leads=draw(st.integers(0, leads)), booked_calls=draw(counts),
                revenue=revenue, revenue_reporting=revenue, currency="USD",
                reporting_currency="USD", fx_rate=1.0))


def _email(draw: st.DrawFn, data: Data, days: list[date]) -> None:
    sundays = [d for d in days if d.weekday() == 6]  # subscribers_start/end
    for brand in draw(st.sets(st.sampled_from(BRANDS))):
        kept = [d for d in sundays if draw(st.booleans())]
        for day in sorted({*kept, *_days(draw, days, 2)}):
            data.email.append(dict(
                report_date=day, list_id=f"list-{brand}", brand=brand,
                subscribers=draw(counts), subscribes=draw(counts),
                unsubscribes=draw(counts), imports=draw(counts), removals=draw(counts)))


@st.composite
def datasets(draw: st.DrawFn) -> Data:
    """Posts, accounts, ads, web and email rows over 1-2 weeks plus the Sunday before."""
    data = Data(weeks=draw(st.integers(1, 2)))
    days = [MON + timedelta(days=i) for i in range(-1, 7 * data.weeks)]
    _posts(draw, data, days)
    _accounts(draw, data, days)
    _ads(draw, data, days)
    _web(draw, data, days)
    _email(draw, data, days)
    return data


def compute(data: Data, kpis: list[Kpi] | None = None) -> list[dict[str, Any]]:
    """Load ``data`` into a fresh in-memory DuckDB, compute its weeks, return kpi.weekly.

    ``kpis`` narrows the catalogue to the KPIs a property looks at: each KPI's rows come
    from its own SELECT, so a subset changes nothing but the time the (long) SQL takes.
    Rows come from fetchall, not a DataFrame, so NULL (None) and NaN stay distinct."""
    conn = duckdb.connect()
    try:
        ensure_tables(conn)
        for table, rows in data.tables():
            frame = coerce_frame(table, pd.DataFrame([{**ROW_META, **r} for r in rows]))
            replace_window(conn, table, frame, MON - timedelta(days=7), data.last_day)
        subset = None if kpis is None else {k.name: k for k in kpis}
        replace_kpis(conn, "week", MON, data.last_day, kpis=subset)
        cursor = conn.execute("SELECT * FROM kpi.weekly")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


# ---------------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(datasets())
def test_rates_bounded_by_construction_stay_in_the_unit_interval(data: Data) -> None:
    """Bounces, sign-ups and orders <= sessions, qualified <= leads, first-time <= orders
    and completions <= video views in every generated row, so the ratios of sums are too."""
    for row in compute(data, [catalog()[name] for name in BOUNDED_RATES]):
        if row["kpi"] in BOUNDED_RATES and row["value"] is not None:
            assert 0 <= row["value"] <= 1, row


def _linear(expression: str) -> bool:
    """True when a formula only adds, subtracts or scales measures by a number: then its
    value over a union of disjoint parts is the sum of the parts' values."""
    return re.search(r"\*|/\s*[A-Za-z_(]", expression) is None


def summed_kpis() -> list[Kpi]:
    """Additive counts, and the ratios from ads and web whose terms are linear sums."""
    return [k for k in catalog().values()
            if (k.additive and k.denominator is None)
            or (k.denominator is not None and k.source in ("ads", "web", "ads_web")
                and _linear(k.numerator) and _linear(k.denominator))]


def test_summed_kpis_cover_what_the_property_is_about() -> None:
    """Guards the selection above against a catalogue edit that would empty it."""
    names = {k.name for k in summed_kpis()}
    assert {"views", "likes", "ad_spend", "landing_page_sessions", "click_through_rate",
            "cost_per_mille", "bounce_rate", "customer_acquisition_cost"} <= names
    assert "returning_customer_revenue" in names  # a sum of per-row estimates


@PROPERTY_SETTINGS
@given(datasets())
def test_platform_and_brand_parts_add_up_to_all(data: Data) -> None:
    """Platforms (and brands) partition the rows, so sums over the parts must give the
    whole: a dropped, doubled or mis-keyed group shows up here, and so does an 'all' or
    brand row adding up a platform the KPI is not defined on (the generator gives such
    platforms values too, e.g. LinkedIn views or Instagram saves)."""
    kpis = {k.name: k for k in summed_kpis()}
    by_scope: dict[tuple[date, str, str], list[dict[str, Any]]] = {}
    for row in compute(data, list(kpis.values())):
        by_scope.setdefault((row["period_start"], row["kpi"], row["scope"]), []).append(row)
    checked = 0
    for (period, name, scope), (whole, *_) in by_scope.items():
        if scope != "all":
            continue
        kpi = kpis[name]
        fields = ("numerator",) if kpi.denominator is None else ("numerator", "denominator")
        for part_scope in {"platform", "brand"} & set(kpi.computed_scopes):
            parts = by_scope.get((period, name, part_scope), [])
            assert {r["platform"] for r in parts} <= {*kpi.platforms, None}, (name, parts)
            for column in fields:
                values = [r[column] for r in parts if r[column] is not None]
                if whole[column] is None:
                    assert values == [], (name, part_scope, column)
                    continue
                assert math.isclose(sum(values), whole[column], rel_tol=1e-9, abs_tol=1e-9), (
                    name, part_scope, column, whole[column], parts)
                checked += 1
    assume(checked > 0)  # all-zero data has no sums to compare: draw another example


@PROPERTY_SETTINGS
@given(datasets())
def test_zero_denominator_gives_null_and_no_value_is_nan_or_infinite(data: Data) -> None:
    """A missing ratio must read as missing, not as a real 0 or an infinity/NaN that
    poisons every roll-up, chart and goal computed from it. Only KPIs that divide can
    give either (sums of counts cannot), so only they are computed."""
    dividing = [k for k in catalog().values() if k.denominator or "/" in k.numerator]
    ratios = {k.name for k in dividing if k.denominator is not None}
    for row in compute(data, dividing):
        value = row["value"]
        assert value is None or math.isfinite(value), row
        if row["kpi"] in ratios and row["denominator"] in (None, 0):
            assert value is None, row


@PROPERTY_SETTINGS
@given(datasets())
def test_weekly_reach_is_the_sunday_reach_week_never_a_sum_of_days(data: Data) -> None:
    """Unique people cannot be added up over days or accounts: the only honest weekly
    figure is the platform's own 7-day reach on the week's last day, per account."""
    reach_week = {(r["account_id"], r["report_date"]): r["reach_week"] for r in data.accounts}
    reach_rows = compute(data, [catalog()["reach"]])
    assert {(r["scope"], r["platform"] in REACH_PLATFORMS) for r in reach_rows} <= {
        ("account", True)}
    seen = set()
    for row in reach_rows:
        sunday = row["period_start"] + timedelta(days=6)
        expected = reach_week.get((row["account_id"], sunday))
        assert row["value"] == expected, row
        daily = [r["reach"] for r in data.accounts if r["account_id"] == row["account_id"]
                 and row["period_start"] <= r["report_date"] <= sunday]
        if expected != sum(daily):
            assert row["value"] != sum(daily), row
        seen.add((row["account_id"], sunday))
    sundays = {(a, d) for (a, d), v in reach_week.items()
               if v is not None and d.weekday() == 6 and d >= MON}
    assert sundays <= seen  # every Sunday figure of the window is reported
