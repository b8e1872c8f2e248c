"""The KPI SQL against numbers worked out by hand on a fixture small enough to read.

Why: the production KPIs are one generated INSERT ... SELECT; the only independent check of
its arithmetic is a second derivation that does not share its code. Here that derivation
is the arithmetic written literally below each expectation, from the rows of the fixture.

The fixture (week W = Mon 2025-03-03 .. Sun 2025-03-09, ISO):
- posts: an Instagram reel of brand acme published before W (so W's first delta subtracts
  the Sunday before), an Instagram photo of brand bolt published in W, a LinkedIn text
  post of acme, and a Facebook video of bolt. Each platform leaves NULL what its parser
  leaves NULL (Instagram: impressions and completions; LinkedIn: views and saves; ...).
- accounts: the Instagram and LinkedIn accounts of acme, with the Sunday before W
  (followers_start), the Sunday of W (reach_week, followers_end), days around March for the
  monthly case, and the same Sunday a year earlier (52 weeks) for the year-ago value.
- ads: a Meta ad account of acme (a sales campaign and a traffic campaign with zero leads
  and purchases, money in EUR converted to USD) and a LinkedIn lead campaign of bolt; one
  Meta row in W+1.
- web: social sessions from Instagram (acme) and LinkedIn (bolt), a non-social Google row
  that must not count, and a row in W+1.
- email: a list per brand with its member count on the Sunday before W and on W's Sunday;
  bolt's list starts W empty (zero denominator for the growth rate).
- customers: purchases as the attribution layer stores them (conversions and their
  journeys' credits), with a lifetime-value window of 10 days, GA4 export days from 1 to 16
  March (and 20 February) and EUR rates for acme's purchases (see ``PURCHASES``).

The weekly KPIs are computed the way the weekly asset does: first = Monday, last = Sunday
(``window_bounds`` of the partition).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from kpi_pipeline.lib.core.schemas import (
    ACCOUNT_DAILY,
    AD_DAILY,
    EMAIL_DAILY,
    FX_DAILY,
    POST_DAILY,
    WEB_DAILY,
    Table,
    coerce_frame,
)
from kpi_pipeline.lib.kpis.attribution import (
    ensure_attribution_tables,
    replace_cohort_purchases,
)
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import replace_kpis
from kpi_pipeline.lib.normalized.store import ensure_tables, replace_window

MON = date(2025, 3, 3)  # week W
SUN = MON + timedelta(days=6)
PREV_MON = MON - timedelta(weeks=1)
NEXT_MON = MON + timedelta(weeks=1)
MARCH = date(2025, 3, 1)
FEBRUARY = date(2025, 2, 1)
ROW_META = {"source_stream": "hand_fixture", "api_version": "v0",
            "pulled_at": "2025-03-20T06:00:00Z"}

# ----------------------------------------------------------------------------- fixture


@dataclass(frozen=True)
class Post:
    """One post and its LIFETIME snapshots (day -> totals as of the end of that day)."""

    platform: str
    account_id: str
    brand: str
    post_id: str
    media_type: str
    published_at: str
    snapshots: dict[str, dict[str, float]]


POSTS = (
    Post("instagram", "ig-acme", "acme", "p1", "reel", "2025-02-27T10:00:00Z", {
        "2025-02-28": dict(views=600, likes=20, comments=2, shares=1, saves=1,
                           video_views=600, watch_time_seconds=1800.0),
        "2025-03-02": dict(views=1000, likes=40, comments=5, shares=2, saves=3,
                           video_views=1000, watch_time_seconds=3000.0),
        "2025-03-03": dict(views=1100, likes=90, comments=5, shares=2, saves=3,
                           video_views=1100, watch_time_seconds=3500.0),
        "2025-03-04": dict(views=2000, likes=95, comments=7, shares=3, saves=3,
                           video_views=2000, watch_time_seconds=5300.0),
        "2025-03-10": dict(views=2500, likes=100, comments=8, shares=3, saves=4,
                           video_views=2500, watch_time_seconds=6000.0),
    }),
    Post("instagram", "ig-bolt", "bolt", "p2", "photo", "2025-03-05T08:00:00Z", {
        "2025-03-05": dict(views=300, likes=30, comments=3, shares=0, saves=6),
        "2025-03-06": dict(views=500, likes=40, comments=3, shares=1, saves=6),
    }),
    Post("linkedin", "li-acme", "acme", "p3", "text", "2025-03-01T09:00:00Z", {
        "2025-03-02": dict(impressions=200, likes=10, comments=1, shares=1, link_clicks=4),
        "2025-03-03": dict(impressions=500, likes=16, comments=2, shares=1, link_clicks=10),
        "2025-03-09": dict(impressions=600, likes=20, comments=2, shares=3, link_clicks=12),
    }),
    Post("facebook", "fb-bolt", "bolt", "p4", "video", "2025-03-06T12:00:00Z", {
        "2025-03-07": dict(views=400, likes=10, comments=2, shares=2, link_clicks=8,
                           video_views=300, completions=60, watch_time_seconds=2400.0),
        "2025-03-08": dict(views=600, likes=14, comments=2, shares=4, link_clicks=12,
                           video_views=500, completions=100, watch_time_seconds=3400.0),
    }),
)

# (platform, account_id, brand) -> day -> account_daily values
ACCOUNTS: dict[tuple[str, str, str], dict[str, dict[str, int]]] = {
    ("instagram", "ig-acme", "acme"): {
        "2024-03-10": dict(followers=800, reach=40, reach_week=350),  # W - 52 weeks, Sunday
        "2025-02-28": dict(followers=990, reach=30, reach_week=500),  # day before March
        "2025-03-02": dict(followers=1000, reach=50, reach_week=700),  # Sunday before W
        "2025-03-03": dict(followers=1020, reach=120, reach_week=300),
        "2025-03-05": dict(followers=1050, reach=200, reach_week=420),
        "2025-03-09": dict(followers=1100, reach=90, reach_week=400),  # Sunday of W
        "2025-03-31": dict(followers=1200, reach=10, reach_week=150),  # last day of March
    },
    ("linkedin", "li-acme", "acme"): {  # LinkedIn publishes no 7-day reach: NULL
        "2025-02-28": dict(followers=480),
        "2025-03-02": dict(followers=500),
        "2025-03-09": dict(followers=450),
        "2025-03-31": dict(followers=460),
    },
}

_META_EUR = dict(platform="meta", ad_account_id="act-acme", brand="acme", currency="EUR",
                 reporting_currency="USD", fx_rate=1.25)
_LI_USD = dict(platform="linkedin", ad_account_id="li-ads-bolt", brand="bolt", currency="USD",
               reporting_currency="USD", fx_rate=1.0)
ADS: tuple[dict[str, Any], ...] = (
    dict(_META_EUR, report_date="2025-03-03", campaign_id="c1", spend=80.0,
         spend_reporting=100.0, revenue=320.0, revenue_reporting=400.0, impressions=10000,
         clicks=300, link_clicks=200, leads=5, purchases=4, objective="conversions"),
    dict(_META_EUR, report_date="2025-03-04", campaign_id="c1", spend=40.0,
         spend_reporting=50.0, revenue=0.0, revenue_reporting=0.0, impressions=5000,
         clicks=100, link_clicks=50, leads=0, purchases=1, objective="conversions"),
    dict(_META_EUR, report_date="2025-03-05", campaign_id="c2", spend=24.0,
         spend_reporting=30.0, revenue=48.0, revenue_reporting=60.0, impressions=3000,
         clicks=40, link_clicks=30, leads=0, purchases=0, objective="traffic"),  # zero leads
    dict(_LI_USD, report_date="2025-03-06", campaign_id="c3", spend=200.0,
         spend_reporting=200.0, revenue=100.0, revenue_reporting=100.0, impressions=4000,
         clicks=80, link_clicks=40, leads=8, purchases=2, objective="leads"),
    dict(_META_EUR, report_date="2025-03-10", campaign_id="c1", spend=800.0,  # week W+1
         spend_reporting=1000.0, revenue=0.0, revenue_reporting=0.0, impressions=1000,
         clicks=2, link_clicks=1, leads=1, purchases=0, objective="conversions"),
)

_ACME_IG = dict(property_id="p-acme", brand="acme", medium="social", campaign="spring",
                platform="instagram", is_social=True, is_paid=False, currency="EUR",
                reporting_currency="USD", fx_rate=1.25)
WEB: tuple[dict[str, Any], ...] = (
    dict(_ACME_IG, report_date="2025-03-03", source="ig", sessions=100, engaged_sessions=60,
         bounces=40, page_views=250, engagement_time_seconds=5000.0, sign_ups=10, leads=4,
         qualified_leads=3, booked_calls=1, orders=5, new_customers=3, purchasers=5,
         revenue=400.0, revenue_reporting=500.0),
    dict(_ACME_IG, report_date="2025-03-04", source="instagram", sessions=10,
         engaged_sessions=1, bounces=9, page_views=12, engagement_time_seconds=100.0,
         sign_ups=0, leads=2, qualified_leads=0, booked_calls=0, orders=1, new_customers=0,
         purchasers=1, revenue=40.0, revenue_reporting=50.0),
    dict(_ACME_IG, report_date="2025-03-04", source="google", medium="organic",  # not social
         campaign="(not set)", platform=None, is_social=False, sessions=1000,
         engaged_sessions=500, bounces=500, page_views=3000, engagement_time_seconds=60000.0,
         sign_ups=50, leads=20, qualified_leads=10, booked_calls=5, orders=50,
         new_customers=40, purchasers=45, revenue=4000.0, revenue_reporting=5000.0),
    dict(property_id="p-bolt", brand="bolt", report_date="2025-03-05", source="lnkd.in",
         medium="social", campaign="launch", platform="linkedin", is_social=True,
         is_paid=False, currency="USD", reporting_currency="USD", fx_rate=1.0, sessions=40,
         engaged_sessions=30, bounces=10, page_views=80, engagement_time_seconds=2400.0,
         sign_ups=2, leads=0, qualified_leads=0, booked_calls=2, orders=0, new_customers=0,
         purchasers=0, revenue=0.0, revenue_reporting=0.0),
    dict(_ACME_IG, report_date="2025-03-10", source="ig", sessions=7, bounces=7,  # W+1
         orders=0, new_customers=0, revenue=0.0, revenue_reporting=0.0),
)

EMAIL: tuple[dict[str, Any], ...] = (
    dict(list_id="list-acme", brand="acme", report_date="2025-03-02", subscribers=200,
         subscribes=3, unsubscribes=0),  # Sunday before W: start level; its flows are W-1's
    dict(list_id="list-acme", brand="acme", report_date="2025-03-04", subscribers=204,
         subscribes=5, unsubscribes=1),
    dict(list_id="list-acme", brand="acme", report_date="2025-03-09", subscribers=210,
         subscribes=7, unsubscribes=1),
    dict(list_id="list-bolt", brand="bolt", report_date="2025-03-02", subscribers=0,
         subscribes=0, unsubscribes=0),
    dict(list_id="list-bolt", brand="bolt", report_date="2025-03-09", subscribers=4,
         subscribes=4, unsubscribes=0),
)


# Revenue credited to bolt's LinkedIn social touches on Wed 5 March, per model; with an
# email credit and a social lead credit beside them that the social revenue KPIs skip.
ATTRIBUTED = {"last_click": 100.0, "last_non_direct": 120.0, "first_touch": 80.0,
              "linear": 90.0, "position_based": 96.0, "time_decay": 110.0}
ATTRIBUTION_ROWS = [
    *(("2025-03-05", "p-bolt", "purchase", model, "organic_social", "linkedin", "launch",
       0.5, revenue, 30) for model, revenue in ATTRIBUTED.items()),
    ("2025-03-05", "p-bolt", "purchase", "position_based", "email", "", "(none)", 0.5,
     999.0, 30),
    ("2025-03-05", "p-bolt", "lead", "position_based", "paid_social", "linkedin", "launch",
     1.0, 0.0, 30),
]


# Customers, as attribution.conversions and attribution.touch_credits store them, for the cohort
# lifetime value with a window of LTV_WINDOW days (the first purchase's day + 0 .. + 9).
# Every purchase's journey has two touches: an Instagram social first touch, then the
# session holding the purchase (its last click: the channel and platform below). The
# cohort is chosen by the LAST click, so an Instagram first touch never makes a customer
# social on its own.
LTV_WINDOW = 10
# (conversion id, property, user, local day, type, revenue in the property's currency,
#  last-click channel, its platform)
PURCHASES = (
    # u1 (bolt, USD): acquired Wed 5 March through LinkedIn; buys again on the 10th (day 6,
    # inside the window, by email) and the 15th (day 11: outside)
    ("u1-a", "p-bolt", "u1", "2025-03-05", "purchase", 100.0, "organic_social", "linkedin"),
    ("u1-b", "p-bolt", "u1", "2025-03-10", "purchase", 40.0, "email", None),
    ("u1-c", "p-bolt", "u1", "2025-03-15", "purchase", 70.0, "direct", None),
    # u2 (acme, EUR): acquired Mon 3 March through a paid Instagram session, 80 EUR at 1.25;
    # buys again on the 12th, the window's last day (day 10), 20 EUR at that day's 1.5
    ("u2-a", "p-acme", "u2", "2025-03-03", "purchase", 80.0, "paid_social", "instagram"),
    ("u2-b", "p-acme", "u2", "2025-03-12", "purchase", 20.0, "organic_search", None),
    # u3 (bolt): first bought on 20 February through Facebook (February's cohort); its
    # social purchase of 6 March is a repeat purchase, outside its window: in no cohort
    ("u3-a", "p-bolt", "u3", "2025-02-20", "purchase", 90.0, "paid_social", "facebook"),
    ("u3-b", "p-bolt", "u3", "2025-03-06", "purchase", 500.0, "organic_social", "instagram"),
    # u4 (bolt): a social lead on the 3rd, then a first purchase from search: not social
    ("u4-l", "p-bolt", "u4", "2025-03-03", "lead", 0.0, "organic_social", "instagram"),
    ("u4-a", "p-bolt", "u4", "2025-03-07", "purchase", 300.0, "organic_search", None),
    # u5 (bolt): acquired on Saturday the 8th from a social site no platform is tracked for
    ("u5-a", "p-bolt", "u5", "2025-03-08", "purchase", 60.0, "organic_social", None),
)
# The days the GA4 export holds for both properties: 20 February, 1 to 16 March.
EXPORT_DAYS = (date(2025, 2, 20), *(date(2025, 3, 1) + timedelta(days=i) for i in range(16)))
FX = {"2025-03-03": 1.25, "2025-03-12": 1.5}  # EUR -> USD; no other EUR purchase day


def load_customers(conn: duckdb.DuckDBPyConnection, window: int = LTV_WINDOW) -> None:
    """The export days, the purchases and their journeys, and the cohorts built from them."""
    for table, rows in ((FX_DAILY, [dict(report_date=day, currency="EUR",
                                         reporting_currency="USD", rate=rate,
                                         fixing_date=day) for day, rate in FX.items()]),):
        frame = coerce_frame(table, pd.DataFrame([{**ROW_META, **r} for r in rows]))
        replace_window(conn, table, frame, date(2025, 3, 1), date(2025, 3, 31))
    conn.executemany(
        "INSERT INTO normalized.web_events (property_id, event_date, event_ts, event_name, "
        "user_pseudo_id, ga_session_id, source_file, source_record) VALUES "
        "(?, ?, ?, 'session_start', 'x', 1, ?, 1)",
        [(prop, day, f"{day} 12:00:00", f"{prop}/{day}")
         for prop in ("p-acme", "p-bolt") for day in EXPORT_DAYS])
    for cid, prop, user, day, kind, revenue, channel, platform in PURCHASES:
        conn.execute(
            "INSERT INTO attribution.conversions VALUES (?, ?, ?, CAST(? AS TIMESTAMP), ?, ?, "
            "?, 2, 1.0, true, false, false, 'path', 30, 7.0)",
            [cid, prop, day, f"{day} 15:00:00", kind, revenue, user])
        touches = ((1, "organic_social", "instagram"), (2, channel, platform))
        # credits (the six models' columns): last click the second touch, first touch
        # the first, the others half each
        conn.executemany(
            "INSERT INTO attribution.touch_credits VALUES (?, ?, ?, CAST(? AS TIMESTAMP), ?, "
            "?, 'c', ?, ?, ?, 0.5, 0.5, 0.5)",
            [(cid, day, touch, f"{day} 1{touch}:00:00", ch, pl, float(touch == 2),
              float(touch == 2), float(touch == 1)) for touch, ch, pl in touches])
    replace_cohort_purchases(conn, window)


@dataclass
class Fixture:
    """The normalized rows of one test database; tests may append rows before loading."""

    posts: list[Post] = field(default_factory=lambda: list(POSTS))
    accounts: dict[tuple[str, str, str], dict[str, dict[str, int]]] = field(
        default_factory=lambda: dict(ACCOUNTS))
    ads: list[dict[str, Any]] = field(default_factory=lambda: list(ADS))
    web: list[dict[str, Any]] = field(default_factory=lambda: list(WEB))
    email: list[dict[str, Any]] = field(default_factory=lambda: list(EMAIL))

    def frames(self) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
        post_rows = [dict(report_date=day, platform=p.platform, account_id=p.account_id,
                          brand=p.brand, post_id=p.post_id, media_type=p.media_type,
                          published_at=p.published_at, **totals)
                     for p in self.posts for day, totals in p.snapshots.items()]
        account_rows = [dict(report_date=day, platform=platform, account_id=account_id,
                             brand=brand, timezone="Europe/Paris", **values)
                        for (platform, account_id, brand), days in self.accounts.items()
                        for day, values in days.items()]
        yield POST_DAILY, post_rows
        yield ACCOUNT_DAILY, account_rows
        yield AD_DAILY, self.ads
        yield WEB_DAILY, self.web
        yield EMAIL_DAILY, self.email

    def load(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Write every table through the production writer, typed by ``coerce_frame``."""
        ensure_tables(conn)
        for table, rows in self.frames():
            frame = coerce_frame(table, pd.DataFrame([{**ROW_META, **r} for r in rows]))
            replace_window(conn, table, frame, date(2024, 1, 1), date(2025, 12, 31))
        ensure_attribution_tables(conn)
        conn.executemany("INSERT INTO attribution.daily VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         ATTRIBUTION_ROWS)
        load_customers(conn)


# The fixture holds a few days of each week, far from whole weeks: the comparisons would
# all be NULL under the production rule (periods compared only when covered every day).
# The hand tests of the comparison arithmetic compute with no coverage required;
# test_coverage_days_by_hand checks the coverage and the production rule.
ANY_COVERAGE = 0.0


def compute_week(conn: duckdb.DuckDBPyConnection, monday: date,
                 min_coverage_share: float = ANY_COVERAGE) -> int:
    """Recompute one ISO week exactly as the weekly asset does (first=Monday, last=Sunday)."""
    return replace_kpis(conn, "week", monday, monday + timedelta(days=6),
                        min_coverage_share=min_coverage_share)


def compute_month(conn: duckdb.DuckDBPyConnection, first: date,
                  min_coverage_share: float = ANY_COVERAGE) -> int:
    """Recompute one calendar month as the monthly asset does (first day .. last day)."""
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return replace_kpis(conn, "month", first, last, min_coverage_share=min_coverage_share)


def fetch(conn: duckdb.DuckDBPyConnection, table: str, period: date, kpi: str,
          scope_key: str) -> tuple | None:
    """One row as (numerator, denominator, value, previous_value, change_vs_previous,
    year_ago_value, change_vs_year_ago, definition, scope), straight from DuckDB so that
    NULL (None) and NaN stay distinct (a DataFrame would turn both into NaN)."""
    return conn.execute(
        f"""SELECT numerator, denominator, value, previous_value, change_vs_previous,
                   year_ago_value, change_vs_year_ago, definition, scope
            FROM {table} WHERE period_start = ? AND kpi = ? AND scope_key = ?""",
        [period, kpi, scope_key]).fetchone()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The hand fixture in a temporary DuckDB file, week W and March 2025 computed."""
    conn = duckdb.connect(str(Path(tmp_path_factory.mktemp("kpi_hand")) / "hand.duckdb"))
    Fixture().load(conn)
    compute_week(conn, MON)
    compute_month(conn, MARCH)
    compute_month(conn, FEBRUARY)
    yield conn
    conn.close()


def weekly(conn: duckdb.DuckDBPyConnection, kpi: str, scope_key: str) -> tuple | None:
    return fetch(conn, "kpi.weekly", MON, kpi, scope_key)


# ------------------------------------------------------- every KPI, value by hand


@dataclass(frozen=True)
class Expect:
    """A row computed by hand: numerator, denominator (None for counts) and value."""

    kpi: str
    scope_key: str
    numerator: float
    denominator: float | None = None

    @property
    def value(self) -> float:
        return self.numerator if self.denominator is None else self.numerator / self.denominator


# Post deltas in W (snapshot minus the previous snapshot of the same post):
#   p1 instagram reel: Mon views 1100-1000=100, likes 90-40=50; Tue views 2000-1100=900,
#      likes 5, comments 2, shares 1; video_views = views; watch 500 then 1800.
#   p2 instagram photo (first snapshot whole): views 500, likes 40, comments 3, shares 1,
#      saves 6.
#   p3 linkedin: impressions 500-200=300 then 100; likes 6+4, comments 1, shares 0+2,
#      link_clicks 6+2.
#   p4 facebook: views 600, likes 14, comments 2, shares 4, link_clicks 12,
#      video_views 500, completions 100, watch 3400.
WEEK_EXPECTED: list[Expect] = [
    Expect("views", "all", (100 + 900) + 500 + 600),
    Expect("views", "instagram", 100 + 900 + 500),
    Expect("views", "instagram/ig-acme", 100 + 900),
    Expect("views", "bolt", 500 + 600),
    Expect("views", "reel", 100 + 900),
    Expect("impressions", "all", 300 + 100),
    Expect("impressions", "linkedin/li-acme", 300 + 100),
    Expect("likes", "all", (50 + 5) + 40 + (6 + 4) + 14),
    Expect("likes", "linkedin", 6 + 4),
    Expect("comments", "all", (0 + 2) + 3 + 1 + 2),
    Expect("comments", "instagram", 2 + 3),
    Expect("shares", "all", (0 + 1) + 1 + (0 + 2) + 4),
    Expect("shares", "facebook", 4),
    Expect("saves", "all", 0 + 6),
    Expect("saves", "instagram/ig-bolt", 6),
    Expect("share_rate", "all", 1 + 1 + 2 + 4, 1000 + 500 + 400 + 600),
    Expect("share_rate", "linkedin", 2, 400),
    Expect("engagement_rate", "all", (50 + 8) + 50 + 13 + (14 + 2 + 4), 1500 + 400 + 600),
    Expect("engagement_rate", "instagram/ig-acme", 50 + (5 + 2 + 1), 100 + 900),
    Expect("average_watch_time", "all", 500 + 1800 + 3400, 100 + 900 + 500),
    Expect("average_watch_time", "instagram", 500 + 1800, 100 + 900),
    # completion rate and organic CTR are defined on Facebook (and TikTok / LinkedIn) only:
    # p1's Instagram video views and p1/p2's views must stay out of every scope
    Expect("completion_rate", "all", 100, 500),
    Expect("completion_rate", "facebook", 100, 500),
    Expect("organic_click_through_rate", "all", 8 + 12, 400 + 600),
    Expect("organic_click_through_rate", "bolt", 12, 600),
    Expect("organic_click_through_rate", "linkedin/li-acme", 6 + 2, 300 + 100),
    # accounts: followers_end on Sunday 03-09, followers_start on Sunday 03-02
    Expect("followers", "all", 1100 + 450),
    Expect("followers", "instagram/ig-acme", 1100),
    Expect("follower_growth_rate", "all", (1100 + 450) - (1000 + 500), 1000 + 500),
    Expect("follower_growth_rate", "linkedin/li-acme", 450 - 500, 500),
    Expect("reach", "instagram/ig-acme", 400),
    # ads (reporting currency): meta c1 100 + 50, meta c2 30, linkedin c3 200
    Expect("ad_spend", "all", 100 + 50 + 30 + 200),
    Expect("ad_spend", "meta", 100 + 50 + 30),
    Expect("ad_spend", "meta/act-acme/c2", 30),
    Expect("click_through_rate", "all", 200 + 50 + 30 + 40, 10000 + 5000 + 3000 + 4000),
    Expect("ad_link_clicks", "all", 200 + 50 + 30 + 40),
    Expect("ad_link_clicks", "meta/act-acme/c2", 30),
    Expect("click_through_rate", "linkedin/li-ads-bolt", 40, 4000),
    Expect("cost_per_click", "all", 100 + 50 + 30 + 200, 200 + 50 + 30 + 40),
    Expect("cost_per_click", "meta", 100 + 50 + 30, 200 + 50 + 30),
    Expect("cost_per_mille", "all", 100 + 50 + 30 + 200, (10000 + 5000 + 3000 + 4000) / 1000),
    Expect("cost_per_mille", "meta/act-acme", 100 + 50 + 30, (10000 + 5000 + 3000) / 1000),
    Expect("cost_per_lead", "all", 100 + 50 + 30 + 200, 5 + 0 + 0 + 8),
    Expect("cost_per_lead", "linkedin", 200, 8),
    Expect("return_on_ad_spend", "all", 400 + 0 + 60 + 100, 100 + 50 + 30 + 200),
    Expect("return_on_ad_spend", "meta", 400 + 0 + 60, 100 + 50 + 30),
    Expect("cost_per_purchase", "all", 100 + 50 + 30 + 200, 4 + 1 + 0 + 2),
    Expect("cost_per_purchase", "meta/act-acme/c1", 100 + 50, 4 + 1),
    # web, social rows only: instagram 03-03 and 03-04 (acme), linkedin 03-05 (bolt)
    Expect("landing_page_sessions", "all", 100 + 10 + 40),
    Expect("landing_page_sessions", "instagram", 100 + 10),
    Expect("bounce_rate", "all", 40 + 9 + 10, 100 + 10 + 40),
    Expect("bounce_rate", "linkedin", 10, 40),
    Expect("time_on_page", "all", 5000 + 100 + 2400, 100 + 10 + 40),
    Expect("time_on_page", "instagram", 5000 + 100, 100 + 10),
    Expect("pages_per_session", "all", 250 + 12 + 80, 100 + 10 + 40),
    Expect("pages_per_session", "linkedin", 80, 40),
    Expect("signup_conversion_rate", "all", 10 + 0 + 2, 100 + 10 + 40),
    Expect("signup_conversion_rate", "instagram", 10 + 0, 100 + 10),
    Expect("email_signups", "all", 10 + 0 + 2),
    Expect("email_signups", "linkedin", 2),
    Expect("leads", "all", 4 + 2 + 0),
    Expect("leads", "acme", 4 + 2),
    Expect("qualified_leads", "all", 3 + 0 + 0),
    Expect("qualified_leads", "instagram", 3 + 0),
    Expect("lead_quality", "all", 3 + 0 + 0, 4 + 2 + 0),
    Expect("lead_quality", "instagram", 3 + 0, 4 + 2),
    Expect("booked_calls", "all", 1 + 0 + 2),
    Expect("booked_calls", "linkedin", 2),
    Expect("order_conversion_rate", "all", 5 + 1 + 0, 100 + 10 + 40),
    Expect("order_conversion_rate", "linkedin", 0, 40),  # zero numerator: 0, not NULL
    Expect("social_revenue", "all", 500 + 50 + 0),
    Expect("social_revenue", "instagram", 500 + 50),
    Expect("average_order_value", "all", 500 + 50 + 0, 5 + 1 + 0),
    Expect("average_order_value", "instagram", 500 + 50, 5 + 1),
    # cohort lifetime value, window 10 days: the customers first acquired in W through a
    # social last click, u1 (5 March, LinkedIn: 100 + 40 on day 6; not 70 on day 11), u2
    # (3 March, Instagram: 80 EUR x 1.25 + 20 EUR x 1.5 on day 10) and u5 (8 March, an
    # untracked social site: 60); not u3 (first purchase in February), nor u4 (search)
    Expect("lifetime_value", "all", (100 + 40) + (80 * 1.25 + 20 * 1.5) + 60, 3),
    Expect("lifetime_value", "bolt", (100 + 40) + 60, 2),
    Expect("lifetime_value", "acme", 80 * 1.25 + 20 * 1.5, 1),
    Expect("lifetime_value", "linkedin", 100 + 40, 1),
    Expect("lifetime_value", "instagram", 80 * 1.25 + 20 * 1.5, 1),
    Expect("repeat_customer_rate", "all", (5 + 1 + 0) - (3 + 0 + 0), 5 + 1 + 0),
    Expect("repeat_customer_rate", "instagram", (5 + 1) - (3 + 0), 5 + 1),
    # estimated row by row, then summed: 03-03 500 x (5 - 3) / 5, 03-04 50 x (1 - 0) / 1,
    # linkedin 03-05 no orders: 0 (over the week's sums it would be 550 x 3 / 6 = 275)
    Expect("returning_customer_revenue", "all", 500 * (5 - 3) / 5 + 50 * (1 - 0) / 1 + 0),
    Expect("returning_customer_revenue", "instagram", 500 * (5 - 3) / 5 + 50 * (1 - 0) / 1),
    Expect("returning_customer_revenue", "acme", 500 * (5 - 3) / 5 + 50 * (1 - 0) / 1),
    Expect("returning_customer_revenue", "linkedin", 0),
    # email: member count on W's Sunday vs the Sunday before; opt-ins of W's days only
    Expect("email_opt_ins", "all", 5 + 7 + 4),
    Expect("email_opt_ins", "acme", 5 + 7),
    Expect("email_list_growth_rate", "all", (210 + 4) - (200 + 0), 200 + 0),
    Expect("email_list_growth_rate", "acme", 210 - 200, 200),
    # ads_web: all ad spend of the brand over its social first-time purchasers
    Expect("customer_acquisition_cost", "all", 100 + 50 + 30 + 200, 3 + 0),
    Expect("customer_acquisition_cost", "acme", 100 + 50 + 30, 3),
    # ... and the spend of conversion-objective campaigns only (c1; not traffic c2, leads c3)
    Expect("conversion_cac", "all", 100 + 50 + 0 + 0, 3 + 0),
    Expect("conversion_cac", "acme", 100 + 50 + 0, 3),
    # attribution.daily of W: bolt's LinkedIn social touches credited per model (USD, rate
    # 1); an email credit and a social lead credit count in none of them
    *(Expect(f"attributed_social_revenue_{model}", key, revenue)
      for model, revenue in ATTRIBUTED.items() for key in ("all", "bolt", "linkedin")),
]


@pytest.mark.parametrize("expect", WEEK_EXPECTED, ids=lambda e: f"{e.kpi}-{e.scope_key}")
def test_weekly_kpi_equals_hand_arithmetic(db: duckdb.DuckDBPyConnection,
                                           expect: Expect) -> None:
    row = weekly(db, expect.kpi, expect.scope_key)
    assert row is not None, f"no {expect.kpi} row for {expect.scope_key}"
    numerator, denominator, value = row[:3]
    assert numerator == pytest.approx(expect.numerator, rel=1e-12)
    if expect.denominator is None:
        assert denominator is None
    else:
        assert denominator == pytest.approx(expect.denominator, rel=1e-12)
    assert value == pytest.approx(expect.value, rel=1e-12)


def test_every_catalogue_kpi_is_checked_by_hand_at_all_and_a_narrower_scope() -> None:
    """Guards the table above: a KPI added to the catalogue must get a hand-made check."""
    scopes: dict[str, set[str]] = {}
    for expect in WEEK_EXPECTED:
        scopes.setdefault(expect.kpi, set()).add("all" if expect.scope_key == "all" else "other")
    assert set(scopes) == set(catalog())
    missing_all = {k for k, s in scopes.items()
                   if "all" in catalog()[k].computed_scopes and "all" not in s}
    assert missing_all == set()
    assert {k for k, s in scopes.items() if "other" not in s} == set()


# ------------------------------------------------------------------------ rules

ZERO_DENOMINATORS = [
    ("cost_per_lead", "meta/act-acme/c2", 30),  # campaign with zero leads
    ("cost_per_purchase", "meta/act-acme/c2", 30),
    ("lead_quality", "linkedin", 0),  # 0 qualified / 0 leads
    ("average_order_value", "linkedin", 0),
    ("lifetime_value", "facebook", 0),  # the export covers it, no customer acquired there
    ("repeat_customer_rate", "linkedin", 0 - 0),
    ("customer_acquisition_cost", "bolt", 200),  # bolt has spend, no social new customers
    ("conversion_cac", "bolt", 0),  # bolt's only campaign is a lead campaign
    ("email_list_growth_rate", "bolt", 4 - 0),  # bolt's list was empty on the Sunday before
]


@pytest.mark.parametrize(("kpi", "scope_key", "numerator"), ZERO_DENOMINATORS)
def test_zero_denominator_gives_null_value(db: duckdb.DuckDBPyConnection, kpi: str,
                                           scope_key: str, numerator: float) -> None:
    """NULL, not 0 and not inf: a missing ratio must not read as a real zero or blow up."""
    row = weekly(db, kpi, scope_key)
    assert row is not None
    assert row[:3] == (pytest.approx(numerator), 0.0, None)


def test_engagement_rate_uses_impressions_on_linkedin_and_views_on_instagram(
        db: duckdb.DuckDBPyConnection) -> None:
    """LinkedIn posts have no views and Instagram posts no impressions in this fixture, so
    the wrong exposure would give a NULL denominator, not the values below."""
    linkedin = weekly(db, "engagement_rate", "linkedin")
    instagram = weekly(db, "engagement_rate", "instagram")
    assert linkedin is not None and instagram is not None
    assert linkedin[:3] == (6 + 1 + 2 + 4, 300 + 100, pytest.approx((6 + 1 + 2 + 4) / 400))
    assert instagram[:3] == ((50 + 8) + 50, 100 + 900 + 500,
                             pytest.approx((50 + 8 + 50) / 1500))
    assert "impressions" in linkedin[7] and "views" not in linkedin[7]
    assert instagram[7].startswith("(likes + comments + shares + saves) / views")
    everything = weekly(db, "engagement_rate", "all")
    assert everything is not None
    assert "linkedin: (likes + comments + shares) / impressions" in everything[7]
    assert "instagram: (likes + comments + shares + saves) / views" in everything[7]


def test_reach_is_the_sunday_reach_week_per_account_and_week_only(
        db: duckdb.DuckDBPyConnection) -> None:
    """Unique reach cannot be summed: only the platform's 7-day figure on Sunday counts."""
    rows = db.execute("SELECT scope_key, scope, value FROM kpi.weekly "
                      "WHERE kpi = 'reach' AND period_start = ?", [MON]).fetchall()
    assert rows == [("instagram/ig-acme", "account", 400.0)]  # not LinkedIn, not all/platform
    assert rows[0][2] != 120 + 200 + 90  # the sum of daily reach
    assert db.execute("SELECT count(*) FROM kpi.monthly WHERE kpi = 'reach'").fetchone() == (0,)


def test_non_social_web_rows_do_not_count(db: duckdb.DuckDBPyConnection) -> None:
    """The google/organic row (1000 sessions, 40 new customers) is not social traffic."""
    sessions = weekly(db, "landing_page_sessions", "acme")
    cac = weekly(db, "customer_acquisition_cost", "acme")
    assert sessions is not None and cac is not None
    assert sessions[2] == 100 + 10
    assert cac[:3] == (100 + 50 + 30, 3, pytest.approx((100 + 50 + 30) / 3))
    assert cac[7].startswith("blended - all social ad spend (every campaign objective)")


@pytest.mark.parametrize(("kpi", "scope_key", "daily_ratios", "sum_over_sum"), [
    ("engagement_rate", "instagram",
     [50 / 100, 8 / 900, (30 + 3 + 0 + 6) / 300, (10 + 0 + 1 + 0) / 200], 108 / 1500),
    ("bounce_rate", "instagram", [40 / 100, 9 / 10], (40 + 9) / (100 + 10)),
    ("click_through_rate", "meta", [200 / 10000, 50 / 5000, 30 / 3000],
     (200 + 50 + 30) / (10000 + 5000 + 3000)),
])
def test_ratio_is_sum_over_sum_not_mean_of_daily_ratios(
        db: duckdb.DuckDBPyConnection, kpi: str, scope_key: str, daily_ratios: list[float],
        sum_over_sum: float) -> None:
    row = weekly(db, kpi, scope_key)
    assert row is not None
    mean_of_days = sum(daily_ratios) / len(daily_ratios)
    assert not math.isclose(mean_of_days, sum_over_sum)  # the fixture tells them apart
    assert row[2] == pytest.approx(sum_over_sum, rel=1e-12)


def test_previous_week_and_year_ago_values(db: duckdb.DuckDBPyConnection) -> None:
    """W-1 holds p1's first snapshot (600, counted whole) and its delta 1000-600."""
    views = weekly(db, "views", "instagram")
    assert views is not None
    assert views[3:5] == (600 + (1000 - 600), pytest.approx(1500 / 1000 - 1))
    followers = weekly(db, "followers", "instagram/ig-acme")
    assert followers is not None
    assert followers[3:7] == (1000, pytest.approx(1100 / 1000 - 1),
                              800, pytest.approx(1100 / 800 - 1))
    reach = weekly(db, "reach", "instagram/ig-acme")
    assert reach is not None
    assert reach[3:7] == (700, pytest.approx(400 / 700 - 1), 350, pytest.approx(400 / 350 - 1))
    spend = weekly(db, "ad_spend", "all")  # no ads before W
    assert spend is not None
    assert spend[3:7] == (None, None, None, None)


def test_coverage_days_by_hand(tmp_path: Path) -> None:
    """The days of W holding rows of every table a KPI reads, for the scope, counted from
    the fixture's dates above; with the production rule, no comparison for such weeks."""
    conn = duckdb.connect(str(tmp_path / "hand.duckdb"))
    try:
        Fixture().load(conn)
        compute_week(conn, MON, min_coverage_share=1.0)

        def coverage(kpi: str, scope_key: str) -> tuple:
            return conn.execute(
                "SELECT coverage_days, period_days, previous_value, change_vs_previous, "
                "year_ago_value FROM kpi.weekly WHERE period_start = ? AND kpi = ? "
                "AND scope_key = ?", [MON, kpi, scope_key]).fetchone()

        # ads: 3, 4, 5 (meta) and 6 March (linkedin); meta alone: 3, 4, 5
        assert coverage("ad_spend", "all")[:2] == (4, 7)
        assert coverage("ad_spend", "meta")[:2] == (3, 7)
        assert coverage("ad_spend", "meta/act-acme/c2")[:2] == (1, 7)
        # social sessions: 3, 4 (the Google row of the 4th is not social) and 5 March
        assert coverage("landing_page_sessions", "all")[:2] == (3, 7)
        assert coverage("landing_page_sessions", "linkedin")[:2] == (1, 7)
        # followers: ig-acme reports 3, 5, 9 March (the 2nd is before W); li-acme the 9th
        assert coverage("followers", "instagram/ig-acme")[:2] == (3, 7)
        assert coverage("followers", "all")[:2] == (3, 7)
        # email lists: 4 and 9 March
        assert coverage("email_opt_ins", "all")[:2] == (2, 7)
        # CAC reads ads and social web: the days with both, 3, 4 and 5 March; bolt has ads
        # on the 6th and sessions on the 5th: no day with both
        assert coverage("customer_acquisition_cost", "all")[:2] == (3, 7)
        assert coverage("customer_acquisition_cost", "bolt")[:2] == (0, 7)
        # a week covered 3 of 7 days is compared with nothing (previous and year-ago)
        assert coverage("followers", "instagram/ig-acme")[2:] == (None, None, None)
    finally:
        conn.close()


def test_monthly_kpis(db: duckdb.DuckDBPyConnection) -> None:
    """March: p1's deltas from its Feb 28 snapshot, followers at Feb 28 and Mar 31."""
    def monthly(kpi: str, scope_key: str) -> tuple:
        row = fetch(db, "kpi.monthly", MARCH, kpi, scope_key)
        assert row is not None, (kpi, scope_key)
        return row

    views = monthly("views", "instagram")
    assert views[2] == (1000 - 600) + (1100 - 1000) + (2000 - 1100) + (2500 - 2000) + 500
    assert views[3:5] == (600, pytest.approx(2400 / 600 - 1))  # February: p1's first 600
    assert monthly("followers", "all")[2] == 1200 + 460
    growth = monthly("follower_growth_rate", "all")
    assert growth[:3] == ((1200 + 460) - (990 + 480), 990 + 480,
                          pytest.approx(190 / 1470))
    assert monthly("ad_spend", "all")[2] == 100 + 50 + 30 + 200 + 1000  # W+1 is in March
    assert monthly("landing_page_sessions", "all")[2] == 100 + 10 + 40 + 7


# ------------------------------------------------------------ recomputation


def table_snapshot(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute("SELECT * FROM kpi.weekly ORDER BY period_start, kpi, scope_key").df()


def test_recomputing_a_week_is_idempotent_and_leaves_other_weeks_alone(
        tmp_path: Path) -> None:
    """W+1's input changes after it was computed; recomputing W must not rewrite W+1."""
    conn = duckdb.connect(str(tmp_path / "hand.duckdb"))
    Fixture().load(conn)
    for monday in (PREV_MON, MON, NEXT_MON):
        compute_week(conn, monday)
    before = table_snapshot(conn)
    assert set(before["period_start"].dt.date) == {PREV_MON, MON, NEXT_MON}
    conn.execute("UPDATE normalized.ad_daily SET spend_reporting = 5000 "
                 "WHERE report_date = ?", [NEXT_MON])
    compute_week(conn, MON)
    compute_week(conn, MON)
    pd.testing.assert_frame_equal(table_snapshot(conn), before)
    next_spend = fetch(conn, "kpi.weekly", NEXT_MON, "ad_spend", "all")
    assert next_spend is not None and next_spend[2] == 1000  # not yet recomputed: 5000
    conn.close()


def test_a_week_asked_by_its_monday_alone_covers_the_whole_week(tmp_path: Path) -> None:
    """replace_kpis recomputes every period STARTING in [first, last]: (Monday, Monday) is
    the whole week, not Monday's data alone."""
    conn = duckdb.connect(str(tmp_path / "hand.duckdb"))
    Fixture().load(conn)
    replace_kpis(conn, "week", MON, MON)
    sessions = fetch(conn, "kpi.weekly", MON, "landing_page_sessions", "all")
    engagement = fetch(conn, "kpi.weekly", MON, "engagement_rate", "all")
    conn.close()
    assert sessions is not None and engagement is not None
    assert sessions[2] == 100 + 10 + 40  # Monday alone would be 100
    assert engagement[:2] == (108 + 13 + 20, 1500 + 400 + 600)


def test_a_window_starting_mid_week_writes_only_the_weeks_starting_in_it(
        tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "hand.duckdb"))
    Fixture().load(conn)
    wednesday = MON + timedelta(days=2)
    try:
        replace_kpis(conn, "week", wednesday, NEXT_MON + timedelta(days=6))
        periods = conn.execute("SELECT DISTINCT period_start FROM kpi.weekly").fetchall()
    finally:
        conn.close()
    assert periods == [(NEXT_MON,)]


def test_social_session_from_an_untracked_platform_does_not_break_the_week(
        tmp_path: Path) -> None:
    fixture = Fixture()
    fixture.web.append(dict(WEB[0], source="pinterest", platform=None, sessions=7))
    conn = duckdb.connect(str(tmp_path / "hand.duckdb"))
    fixture.load(conn)
    try:
        compute_week(conn, MON)
        keys = conn.execute("SELECT scope_key FROM kpi.weekly WHERE scope = 'platform' "
                            "AND kpi = 'landing_page_sessions' ORDER BY 1").fetchall()
    finally:
        conn.close()
    assert keys == [("instagram",), ("linkedin",)]


# A Facebook post from an older Page export (impressions, no views) and one that reports
# likes but no exposure at all, both of bolt's Page, published and first seen on 5 March.
IMPRESSIONS_ONLY = Post("facebook", "fb-bolt", "bolt", "p5", "photo", "2025-03-05T09:00:00Z", {
    "2025-03-05": dict(impressions=1000, likes=30, comments=5, shares=5, link_clicks=10),
})
NO_EXPOSURE = Post("facebook", "fb-bolt", "bolt", "p6", "photo", "2025-03-05T10:00:00Z", {
    "2025-03-05": dict(likes=7, shares=3, link_clicks=2),
})


@pytest.fixture(scope="module")
def mixed_exposure(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[duckdb.DuckDBPyConnection]:
    """The hand fixture plus p5 and p6, week W computed."""
    conn = duckdb.connect(str(Path(tmp_path_factory.mktemp("kpi_mixed")) / "hand.duckdb"))
    fixture = Fixture()
    fixture.posts += [IMPRESSIONS_ONLY, NO_EXPOSURE]
    fixture.load(conn)
    compute_week(conn, MON)
    yield conn
    conn.close()


# W's rows as above; p4 (facebook, views 600): interactions 14 + 2 + 4 = 20, shares 4,
# link clicks 12. p5 (impressions 1000): interactions 30 + 5 + 5 = 40, shares 5, clicks 10.
# p6 has no views and no impressions: its 7 likes, 3 shares and 2 clicks count as likes,
# shares and clicks, but in no rate, since it adds nothing below the line.
MIXED_EXPECTED: list[Expect] = [
    Expect("engagement_rate", "facebook", 20 + 40, 600 + 1000),
    Expect("engagement_rate", "facebook/fb-bolt", 20 + 40, 600 + 1000),
    Expect("engagement_rate", "bolt", (40 + 3 + 1 + 6) + 20 + 40, 500 + 600 + 1000),
    Expect("engagement_rate", "photo", (40 + 3 + 1 + 6) + 40, 500 + 1000),
    Expect("engagement_rate", "all", 141 + 40, 2500 + 1000),
    Expect("share_rate", "facebook", 4 + 5, 600 + 1000),
    Expect("share_rate", "all", 1 + 1 + 2 + 4 + 5, 2500 + 1000),
    Expect("organic_click_through_rate", "facebook", 12 + 10, 600 + 1000),
    Expect("organic_click_through_rate", "all", 8 + 12 + 10, 400 + 600 + 1000),
    Expect("likes", "facebook", 14 + 30 + 7),
    Expect("shares", "facebook", 4 + 5 + 3),
    Expect("views", "facebook", 600),
]


@pytest.mark.parametrize("expect", MIXED_EXPECTED, ids=lambda e: f"{e.kpi}-{e.scope_key}")
def test_rates_over_exposure_take_numerator_and_denominator_from_the_same_rows(
        mixed_exposure: duckdb.DuckDBPyConnection, expect: Expect) -> None:
    """A Facebook row with impressions and no views is rated over its impressions; a row
    with no exposure counts in no rate (it used to add to the numerator only)."""
    row = weekly(mixed_exposure, expect.kpi, expect.scope_key)
    assert row is not None, f"no {expect.kpi} row for {expect.scope_key}"
    numerator, denominator, value = row[:3]
    assert numerator == pytest.approx(expect.numerator, rel=1e-12)
    assert denominator == (None if expect.denominator is None
                           else pytest.approx(expect.denominator, rel=1e-12))
    assert value == pytest.approx(expect.value, rel=1e-12)


def test_the_definition_says_which_exposure_a_rate_uses(
        mixed_exposure: duckdb.DuckDBPyConnection) -> None:
    facebook = weekly(mixed_exposure, "engagement_rate", "facebook")
    linkedin = weekly(mixed_exposure, "share_rate", "linkedin")
    everything = weekly(mixed_exposure, "organic_click_through_rate", "all")
    assert facebook is not None and linkedin is not None and everything is not None
    assert facebook[7] == ("(likes + comments + shares + saves) / views (impressions where "
                           "a row has no views)")
    assert linkedin[7] == "shares / impressions"
    assert everything[7].startswith("link clicks / exposure, where exposure is views on "
                                    "facebook (impressions on rows without views) and "
                                    "impressions on linkedin")


def test_a_kpi_table_made_before_coverage_gains_the_columns_and_keeps_working(
        tmp_path: Path) -> None:
    """A store written before the coverage columns: the first KPI run appends them (NULL on
    the rows already there, whose coverage is unknown) and writes new rows whole."""
    from kpi_pipeline.lib.kpis.compute import COVERAGE_COLUMNS, KPI_COLUMNS, KPI_KEY
    from kpi_pipeline.lib.reports.coverage import incomplete_periods

    conn = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        Fixture().load(conn)
        old = [(name, kind) for name, kind in KPI_COLUMNS if name not in COVERAGE_COLUMNS]
        conn.execute("CREATE SCHEMA kpi")
        conn.execute("CREATE TABLE kpi.weekly (" + ", ".join(f"{n} {k}" for n, k in old)
                     + f", PRIMARY KEY ({', '.join(KPI_KEY)}))")
        conn.execute("INSERT INTO kpi.weekly (period_start, period_end, grain, kpi, scope, "
                     "scope_key, unit, definition, value) VALUES (?, ?, 'week', 'likes', "
                     "'all', 'all', 'count', 'x', 5)", [PREV_MON, PREV_MON + timedelta(6)])
        compute_week(conn, MON, min_coverage_share=1.0)
        columns = [c for (c,) in conn.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'kpi' AND "
            "table_name = 'weekly' ORDER BY column_index").fetchall()]
        assert columns == [name for name, _ in KPI_COLUMNS]  # appended, in the same order
        assert conn.execute("SELECT coverage_days, period_days FROM kpi.weekly WHERE "
                            "period_start = ?", [PREV_MON]).fetchall() == [(None, None)]
        assert conn.execute("SELECT coverage_days, period_days FROM kpi.weekly WHERE "
                            "period_start = ? AND kpi = 'ad_spend' AND scope_key = 'all'",
                            [MON]).fetchall() == [(4, 7)]
        # unknown coverage is not complete: the reports' index marks that week
        assert PREV_MON in incomplete_periods(conn, "week")
    finally:
        conn.close()


# ------------------------------------------------------------ cohort lifetime value

def test_lifetime_value_is_the_cohort_of_the_period_over_its_window(
        db: duckdb.DuckDBPyConnection) -> None:
    """February's cohort is u3 alone, with its first purchase only (its social purchase of
    6 March is outside its window 20 February .. 1 March); March's is W's (u1, u2, u5):
    u3's March purchase is a repeat, in no cohort of March."""
    february = fetch(db, "kpi.monthly", FEBRUARY, "lifetime_value", "all")
    assert february is not None and february[:3] == (90.0, 1.0, 90.0)
    assert fetch(db, "kpi.monthly", FEBRUARY, "lifetime_value", "facebook")[:3] == (90.0, 1.0,
                                                                                    90.0)
    march = fetch(db, "kpi.monthly", MARCH, "lifetime_value", "all")
    assert march is not None
    assert march[:2] == (pytest.approx((100 + 40) + (80 * 1.25 + 20 * 1.5) + 60), 3.0)


def test_the_lifetime_value_row_names_its_window_and_cohort_rule(
        db: duckdb.DuckDBPyConnection) -> None:
    definition = weekly(db, "lifetime_value", "all")[7]
    assert "within 10 days of the first purchase" in definition
    assert "first acquired in the period" in definition
    assert "{window_days}" not in definition


def test_a_cohort_is_complete_once_the_window_of_its_last_day_has_closed(
        tmp_path: Path) -> None:
    """The export ends on 16 March, so with a 10-day window the cohorts of the days up to
    7 March are final (7 + 9 = 16): 5 of W's days (3 to 7 March), 7 of March's (1 to 7),
    February's one export day. Under the production rule an open cohort is compared with
    no other period."""
    conn = duckdb.connect(str(tmp_path / "hand.duckdb"))
    try:
        Fixture().load(conn)
        compute_week(conn, PREV_MON, min_coverage_share=1.0)
        compute_week(conn, MON, min_coverage_share=1.0)
        compute_month(conn, FEBRUARY, min_coverage_share=1.0)
        compute_month(conn, MARCH, min_coverage_share=1.0)

        def coverage(table: str, start: date, key: str = "all") -> tuple:
            return conn.execute(
                f"SELECT coverage_days, period_days, previous_value FROM {table} "
                "WHERE period_start = ? AND kpi = 'lifetime_value' AND scope_key = ?",
                [start, key]).fetchone()

        assert coverage("kpi.weekly", MON) == (5, 7, None)
        assert coverage("kpi.weekly", MON, "linkedin") == (5, 7, None)
        assert coverage("kpi.weekly", MON, "bolt")[:2] == (5, 7)
        # the week before W: the export holds 1 and 2 March, both closed
        assert coverage("kpi.weekly", PREV_MON)[:2] == (2, 7)
        assert coverage("kpi.monthly", MARCH) == (7, 31, None)
        assert coverage("kpi.monthly", FEBRUARY)[:2] == (1, 28)
        # the export's days alone cover W whole: the attributed revenue says so
        assert conn.execute(
            "SELECT coverage_days FROM kpi.weekly WHERE period_start = ? AND scope_key = "
            "'all' AND kpi = 'attributed_social_revenue_linear'", [MON]).fetchone() == (7,)
    finally:
        conn.close()


def test_the_window_is_a_setting_of_the_cohorts(tmp_path: Path) -> None:
    """Built with a 5-day window, u1 keeps only its first purchase (the 10th is day 6) and
    u2 too (the 12th is day 10); the row says 5 days, and more of W's cohorts are final
    (days up to 12 March: all 7)."""
    conn = duckdb.connect(str(tmp_path / "hand.duckdb"))
    try:
        Fixture().load(conn)
        replace_cohort_purchases(conn, 5)
        compute_week(conn, MON)
        row = conn.execute(
            "SELECT numerator, denominator, definition, coverage_days FROM kpi.weekly "
            "WHERE period_start = ? AND kpi = 'lifetime_value' AND scope_key = 'all'",
            [MON]).fetchone()
    finally:
        conn.close()
    assert row[:2] == (pytest.approx(100 + 80 * 1.25 + 60), 3.0)
    assert "within 5 days" in row[2]
    assert row[3] == 7


def test_open_cohorts_do_not_make_a_report_period_incomplete(tmp_path: Path) -> None:
    """A period's cohort stays open for the window after the period: its rows are marked,
    but the report gate and the index judge the period by its other KPIs."""
    from kpi_pipeline.lib.reports.coverage import incomplete_periods, summarize

    conn = duckdb.connect(str(tmp_path / "hand.duckdb"))
    try:
        Fixture().load(conn)
        compute_week(conn, MON)
        conn.execute("UPDATE kpi.weekly SET coverage_days = period_days "
                     "WHERE kpi <> 'lifetime_value'")
        assert MON not in incomplete_periods(conn, "week")
        rows = conn.execute(
            "SELECT kpi, NULL AS source, coverage_days, period_days FROM kpi.weekly "
            "WHERE period_start = ? AND scope = 'all'", [MON]).df().itertuples()
        coverage = summarize(list(rows), catalog(), 7)
    finally:
        conn.close()
    assert not coverage.kpis_incomplete
    assert coverage.open_cohorts == (("lifetime_value", 5),)


def test_cohort_purchases_hold_each_customers_purchases_within_the_window(
        db: duckdb.DuckDBPyConnection) -> None:
    """The stored cohorts, by hand: every customer with their first purchase and their
    purchases up to day 10 (u1's 15 March and u3's 6 March are outside); u4's lead is no
    purchase, so its search purchase acquired it; the channel is the last click's."""
    rows = db.execute(
        "SELECT conversion_id, user_key, cohort_date, first_purchase, channel, platform, "
        "window_days FROM attribution.cohort_purchases ORDER BY conversion_id").fetchall()
    d = date.fromisoformat
    assert rows == [
        ("u1-a", "u1", d("2025-03-05"), True, "organic_social", "linkedin", 10),
        ("u1-b", "u1", d("2025-03-05"), False, "organic_social", "linkedin", 10),
        ("u2-a", "u2", d("2025-03-03"), True, "paid_social", "instagram", 10),
        ("u2-b", "u2", d("2025-03-03"), False, "paid_social", "instagram", 10),
        ("u3-a", "u3", d("2025-02-20"), True, "paid_social", "facebook", 10),
        ("u4-a", "u4", d("2025-03-07"), True, "organic_search", None, 10),
        ("u5-a", "u5", d("2025-03-08"), True, "organic_social", None, 10),
    ]
    # each purchase in the reporting currency at its own day's rate
    assert db.execute("SELECT revenue_reporting FROM attribution.cohort_purchases_reporting "
                      "WHERE conversion_id = 'u2-b'").fetchone() == (20 * 1.5,)
