"""Benchmark the weekly run against an independent plain-DuckDB floor of the same work.

Run it from the repository root (it is a script people run, not a test)::

    .venv/bin/python benchmarks/kpi_benchmark.py --sizes 1000000 10000000 --repeats 3

The weekly run is what the schedules do for the week that closed: ``weekly_kpi_job``
(kpi/weekly with its two Great Expectations checks, baseline/weekly, diagnostic/weekly)
for that week, and ``goal_attainment_job`` for its seven days (one range run).

What it does, and why:

1. Builds synthetic normalized tables directly in DuckDB SQL (``range()`` plus
   ``hash()``-based pseudo-random values), so 10M ``post_daily`` rows take seconds to make
   instead of hours through the demo simulator. The post increments are computed by this
   script's own SQL from the rule the README states, then the production store is asked to
   recompute them (``refresh_post_increments``) and must change nothing. Like a store in
   production, the file also holds the KPIs and baselines of every earlier week (made with
   the production code, outside the clock) and a goals file about the synthetic brands.
   Datasets live in ``--workdir`` (default under /tmp) and are reused while their
   parameters have not changed.
2. Times, in the same run and interleaved round by round so a noisy neighbour hurts every
   step alike, each in a fresh subprocess on a fresh copy of the dataset:

   - ``floor``: ``benchmarks/floor_weekly.sql``, written by hand from the KPI catalogue,
     DOMAIN.md and the diagnostic rules, run with plain duckdb. It computes the same
     statistics as the weekly run (KPIs with previous and year-ago values, the checks'
     rules as counts, the baseline snapshot, the findings, every goal's value per day and
     its leading indicators' trends) and reads the same stored tables (post increments
     included), but shares no code with ``kpi_pipeline``.
   - ``chain``: the two jobs of the code location, ``execute_in_process`` on an ephemeral
     instance, as the schedules launch them.
   - ``library``: the same ``kpi_pipeline.lib`` calls on a plain connection, without
     Dagster and without Great Expectations, to split the chain's cost.
   - ``fixed``: the chain on a store with every table but no rows (per-run costs of
     Dagster and Great Expectations that do not depend on the data).

   Imports (duckdb, pandas, dagster, great_expectations, the code location) happen before
   the clock starts, in every step alike. CPU seconds are the subprocess's user + sys time
   over the step (``getrusage(RUSAGE_SELF)``, which covers DuckDB's threads), wall seconds
   the elapsed time, peak RSS the subprocess's ``ru_maxrss`` from ``os.wait4``. The parent
   never loads DuckDB: Linux carries a parent's RSS over into a forked child's
   ``ru_maxrss``, so datasets are built in a subprocess too.
3. Compares what floor and chain wrote (KPI rows and values, baseline rows, findings,
   goal values), so a floor that does less work than the chain shows up, then prints
   Markdown tables: datasets; per-step medians; CPU ratio chain / floor against the
   target (1.5), and beside it (chain - fixed) / floor. ``--json`` keeps every sample.
   Targets are reported, never asserted. Every step runs with the warehouse's DuckDB
   settings as shipped (``Warehouse.connection_config``) unless ``--memory-limit`` says
   otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

START = date(2024, 1, 1)  # the project's first partition (a Monday): data must not precede it
POST_LIFETIME_DAYS = 28  # a post is snapshotted for 28 days after publishing, then stops
SOCIAL = ("facebook", "instagram", "linkedin", "tiktok")
AD_PLATFORMS = ("meta", "linkedin", "tiktok")
STEPS = ("floor", "chain", "library", "fixed")
# --write-path: what storing the increments costs when post snapshots are written (a day
# and a week at the end of the history, a day in its middle: the normalized asset's
# replace_window, against the same DELETE + INSERT without increments), and what they
# save: one KPI over the whole history with lag() over the snapshots, and with the
# stored increments.
WRITE_STEPS = ("write_day", "plain_day", "write_week", "plain_week", "write_mid_day",
               "plain_mid_day", "one_kpi_lag", "one_kpi_increments")
DATASET_FORMAT = 5  # bump when the generator changes so cached datasets are rebuilt
TARGET_RATIO = 1.5
FLOOR_SQL = Path(__file__).resolve().with_name("floor_weekly.sql")
SHIPPED = "shipped"  # --memory-limit default: the Warehouse's own connection_config

# (source, medium, campaign, platform, is_social, is_paid, share of a property's sessions)
# pinterest / social is social traffic from a platform the pipeline does not track
# (is_social true, platform NULL, as utm_sources.yaml allows): it counts in the all and
# brand totals only, a path the benchmark should exercise.
WEB_MIX = (
    ("google", "organic", "(organic)", None, False, False, 0.30),
    ("google", "cpc", "brand_search", None, False, False, 0.08),
    ("(direct)", "(none)", "(direct)", None, False, False, 0.18),
    ("newsletter", "email", "weekly_digest", None, False, False, 0.06),
    ("bing", "organic", "(organic)", None, False, False, 0.03),
    ("pinterest", "social", "pins", None, True, False, 0.02),
    ("facebook", "social", "always_on", "facebook", True, False, 0.07),
    ("l.facebook.com", "referral", "(referral)", "facebook", True, False, 0.02),
    ("facebook", "paid_social", "retargeting", "facebook", True, True, 0.03),
    ("ig", "social", "bio_link", "instagram", True, False, 0.08),
    ("instagram", "paid_social", "spring_sale", "instagram", True, True, 0.05),
    ("lnkd.in", "social", "thought_leadership", "linkedin", True, False, 0.03),
    ("linkedin", "paid_social", "lead_gen", "linkedin", True, True, 0.03),
    ("tiktok", "social", "organic_clips", "tiktok", True, False, 0.01),
    ("tiktok", "paid_social", "creator_collab", "tiktok", True, True, 0.01),
)


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class Dataset:
    """One synthetic history: its size follows from the posting density and its length.

    ``posts_per_day`` is fractional so a target row count is met closely; accounts,
    campaigns and brands scale with it so the side tables stay proportionate.
    """

    label: str
    weeks: int
    posts_per_day: float

    @property
    def days(self) -> int:
        return self.weeks * 7

    @property
    def first_day(self) -> date:
        return START

    @property
    def last_day(self) -> date:
        return START + timedelta(days=self.days - 1)

    @property
    def last_monday(self) -> date:
        return START + timedelta(weeks=self.weeks - 1)

    @property
    def publish_span(self) -> int:
        """Posts are published from 27 days before the start, so every day of the history
        carries a full 28-day set of lifetime snapshots (flat rows per week)."""
        return self.days + POST_LIFETIME_DAYS - 1

    @property
    def n_posts(self) -> int:
        return round(self.posts_per_day * self.publish_span)

    @property
    def n_accounts(self) -> int:
        return max(8, round(self.posts_per_day))  # about one post per account per day

    @property
    def n_brands(self) -> int:
        return max(4, self.n_accounts // 20)

    @property
    def n_campaigns(self) -> int:
        return max(6, self.n_accounts // 2)

    def spec(self) -> dict[str, object]:
        """What decides the content: a cached file is reused only if this matches."""
        return {"format": DATASET_FORMAT, "weeks": self.weeks, "n_posts": self.n_posts,
                "posts_per_day": self.posts_per_day}


def dataset_for(rows: int, weeks: int, density_weeks: int | None = None) -> Dataset:
    """A dataset of about ``rows`` post-day rows, at the density that ``rows`` would have
    over ``density_weeks`` (default: ``weeks``): same density, different length."""
    density_weeks = density_weeks or weeks
    per_day = rows / (density_weeks * 7 * POST_LIFETIME_DAYS)
    total = round(per_day * weeks * 7 * POST_LIFETIME_DAYS)
    label = f"{_short(total)} rows / {weeks} wk"
    return Dataset(label=label, weeks=weeks, posts_per_day=per_day)


def _short(n: int) -> str:
    """1000000 -> '1.0M': labels a reader can scan."""
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _sql_text(value: str | None) -> str:
    """A literal from our own constants (never user input): quoted text or NULL."""
    return "NULL" if value is None else f"'{value}'"


def _rand(n: int, *key: str) -> str:
    """A pseudo-random integer in [0, n) from the hash of the key (SQL expressions)."""
    return f"CAST(hash({', '.join(key)}) % {n} AS BIGINT)"


def _uniform(*key: str) -> str:
    """A pseudo-random number in [0, 1) from the hash of the key: reproducible, no state."""
    return f"((hash({', '.join(key)}) % 1000003) / 1000003.0)"


def post_daily_sql(ds: Dataset) -> str:
    """Lifetime snapshots: each post's totals grow (1 - 0.8^(k+1)) over its 28 days.

    LinkedIn reports impressions, the others views (Meta retired impressions); TikTok
    posts are videos; video views, completions and watch time exist for video media only.
    """
    first = f"DATE '{ds.first_day}'"
    return f"""
    CREATE TEMP TABLE post_snapshots AS
    WITH posts AS (
      SELECT p, acct,
             CAST(floor(p * {ds.publish_span} / {ds.n_posts}) AS INTEGER)
               - {POST_LIFETIME_DAYS - 1} AS pub_day,
             {_sql_list(SOCIAL)}[acct % 4 + 1] AS platform,
             200 + {_rand(20000, 'p', "'exposure'")} AS exposure,
             0.01 + 0.06 * {_uniform('p', "'likes'")} AS like_rate,
             {_rand(1000, 'p', "'media'")} AS media_hash
      FROM (SELECT range AS p, {_rand(ds.n_accounts, 'range', "'account'")}
                   AS acct FROM range({ds.n_posts}))
    ), typed AS (
      SELECT *, CASE platform
                  WHEN 'tiktok' THEN 'video'
                  WHEN 'linkedin' THEN ['text', 'photo', 'video', 'link', 'carousel']
                                        [media_hash % 5 + 1]
                  ELSE ['photo', 'carousel', 'video', 'reel', 'story', 'link'][media_hash % 6 + 1]
                END AS media_type
      FROM posts
    ), snapshots AS (
      SELECT t.*, k, 1 - pow(0.8, k + 1) AS grown,
             media_type IN ('video', 'reel') AS is_video
      FROM typed t, range({POST_LIFETIME_DAYS}) r(k)
      WHERE pub_day + k BETWEEN 0 AND {ds.days - 1}
    )
    SELECT {first} + CAST(pub_day + k AS INTEGER) AS report_date, platform,
           platform || '_' || acct AS account_id,
           'brand_' || lpad(CAST(acct % {ds.n_brands} AS VARCHAR), 3, '0') AS brand,
           'post_' || p AS post_id,
           CAST({first} + pub_day AS TIMESTAMP) + to_seconds({_rand(86400, 'p')}) AS published_at,
           media_type, 'Synthetic caption for post ' || p AS caption,
           CASE WHEN platform = 'linkedin' THEN CAST(exposure * grown AS BIGINT) END
             AS impressions,
           CASE WHEN platform <> 'linkedin' THEN CAST(exposure * grown AS BIGINT) END AS views,
           CAST(exposure * 0.7 * grown AS BIGINT) AS reach,
           CAST(exposure * like_rate * grown AS BIGINT) AS likes,
           CAST(exposure * like_rate * 0.12 * grown AS BIGINT) AS comments,
           CAST(exposure * like_rate * 0.08 * grown AS BIGINT) AS shares,
           CASE WHEN platform <> 'linkedin' THEN CAST(exposure * like_rate * 0.1 * grown
                AS BIGINT) END AS saves,
           CAST(exposure * 0.004 * grown AS BIGINT) AS link_clicks,
           CASE WHEN is_video THEN CAST(exposure * 0.6 * grown AS BIGINT) END AS video_views,
           CASE WHEN is_video THEN CAST(exposure * 0.18 * grown AS BIGINT) END AS completions,
           CASE WHEN is_video THEN round(exposure * 4.5 * grown, 1) END AS watch_time_seconds,
           platform || '_posts' AS source_stream, 'v1' AS api_version,
           CAST({first} + CAST(pub_day + k + 1 AS INTEGER) AS TIMESTAMP) AS pulled_at
    FROM snapshots;
    {POST_INCREMENTS_SQL}"""


# The increments as the README states them, written here (not taken from lib/normalized/store.py):
# a day's value minus the post's previous snapshot's, 0 for none or NULL, NULL stays NULL.
# build_dataset then asks the production store to recompute them: nothing may change.
POST_INCREMENTS_SQL = """
    INSERT INTO normalized.post_daily BY NAME
    SELECT *, """ + ",\n           ".join(
    f"{m} - coalesce(lag({m}) OVER snapshots, 0) AS {m}_delta"
    for m in ("views", "impressions", "likes", "comments", "shares", "saves", "link_clicks",
              "video_views", "completions", "watch_time_seconds")) + """
    FROM post_snapshots
    WINDOW snapshots AS (PARTITION BY platform, account_id, post_id ORDER BY report_date)
    ORDER BY report_date, platform, account_id, post_id"""


def account_daily_sql(ds: Dataset) -> str:
    """One row per account and day: a follower level that grows, daily exposure, and the
    platform's 7- and 28-day unique reach. LinkedIn likes/comments can be negative."""
    first = f"DATE '{ds.first_day}'"
    return f"""
    INSERT INTO normalized.account_daily BY NAME
    WITH grid AS (
      SELECT a, d, {_sql_list(SOCIAL)}[a % 4 + 1] AS platform,
             1000 + {_rand(50000, 'a', "'size'")} AS size
      FROM range({ds.n_accounts}) ra(a), range({ds.days}) rd(d)
    )
    SELECT {first} + CAST(d AS INTEGER) AS report_date, platform,
           platform || '_' || a AS account_id,
           'brand_' || lpad(CAST(a % {ds.n_brands} AS VARCHAR), 3, '0') AS brand,
           ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'UTC'][a % 4 + 1] AS timezone,
           size + d * (size // 400) AS followers,
           size // 300 + {_rand(20, 'a', 'd', "'gain'")} AS follower_gains,
           {_rand(10, 'a', 'd', "'loss'")} AS follower_losses,
           CASE WHEN platform = 'linkedin' THEN size // 3 + {_rand(500, 'a', 'd')} END
             AS impressions,
           CASE WHEN platform <> 'linkedin' THEN size // 2 + {_rand(800, 'a', 'd')} END
             AS views,
           size // 4 + {_rand(300, 'a', 'd', "'reach'")} AS reach,
           size // 2 + {_rand(900, 'a', 'd', "'week'")} AS reach_week,
           size + {_rand(2000, 'a', 'd', "'month'")} AS reach_28d,
           {_rand(200, 'a', 'd', "'profile'")} AS profile_views,
           {_rand(150, 'a', 'd', "'clicks'")} AS clicks,
           {_rand(300, 'a', 'd', "'likes'")}
             - CASE WHEN platform = 'linkedin' THEN 5 ELSE 0 END AS likes,
           {_rand(40, 'a', 'd', "'comments'")} AS comments,
           {_rand(30, 'a', 'd', "'shares'")} AS shares,
           platform || '_account' AS source_stream, 'v1' AS api_version,
           CAST({first} + CAST(d + 1 AS INTEGER) AS TIMESTAMP) AS pulled_at
    FROM grid
    ORDER BY report_date, platform, account_id"""


def ad_daily_sql(ds: Dataset) -> str:
    """One row per campaign and day, money in the account currency and in USD."""
    first = f"DATE '{ds.first_day}'"
    currencies = ("USD", "EUR", "GBP", "JPY", "BRL", "SEK")
    rates = "[1.0, 1.08, 1.27, 0.0067, 0.19, 0.095]"
    return f"""
    INSERT INTO normalized.ad_daily BY NAME
    WITH grid AS (
      SELECT c, d, c % {ds.n_accounts} AS a, {_sql_list(AD_PLATFORMS)}[c % 3 + 1] AS platform,
             c % 6 + 1 AS cur, 20 + {_rand(400, 'c', "'budget'")} AS budget,
             {_uniform('c', 'd', "'spend'")} AS u
      FROM range({ds.n_campaigns}) rc(c), range({ds.days}) rd(d)
    ), priced AS (
      SELECT *, round(budget * (0.6 + 0.8 * u), 2) AS spend,
             {rates}[cur] AS fx_rate, {_sql_list(currencies)}[cur] AS currency
      FROM grid
    )
    SELECT {first} + CAST(d AS INTEGER) AS report_date, platform,
           'ad_' || platform || '_' || a AS ad_account_id,
           'brand_' || lpad(CAST(a % {ds.n_brands} AS VARCHAR), 3, '0') AS brand,
           'cmp_' || c AS campaign_id, 'Campaign ' || c AS campaign_name, currency, spend,
           CAST(spend * 90 AS BIGINT) AS impressions, CAST(spend * 60 AS BIGINT) AS reach,
           CAST(spend * 1.1 AS BIGINT) AS clicks, CAST(spend * 0.8 AS BIGINT) AS link_clicks,
           CAST(spend * 0.05 AS BIGINT) AS leads, CAST(spend * 0.02 AS BIGINT) AS purchases,
           round(spend * 2.4, 2) AS revenue, CAST(spend * 20 AS BIGINT) AS video_views,
           'USD' AS reporting_currency, fx_rate, round(spend * fx_rate, 2) AS spend_reporting,
           round(spend * 2.4 * fx_rate, 2) AS revenue_reporting,
           platform || '_ads' AS source_stream, 'v1' AS api_version,
           CAST({first} + CAST(d + 1 AS INTEGER) AS TIMESTAMP) AS pulled_at
    FROM priced
    ORDER BY report_date, platform, ad_account_id, campaign_id"""


def web_daily_sql(ds: Dataset) -> str:
    """One row per brand property, day and (source, medium, campaign): a fixed mix of
    search, direct, email and social traffic, about half of the rows social."""
    first = f"DATE '{ds.first_day}'"
    mix = ", ".join(
        f"({i}, '{s}', '{m}', '{c}', {_sql_text(p)}, {soc}, {paid}, {share})"
        for i, (s, m, c, p, soc, paid, share) in enumerate(WEB_MIX))
    return f"""
    INSERT INTO normalized.web_daily BY NAME
    WITH mix(i, source, medium, campaign, platform, is_social, is_paid, share) AS (
      VALUES {mix}
    ), grid AS (
      SELECT b, d, mix.*, CAST((2000 + {_rand(8000, 'b')}) * share
                               * (0.8 + 0.4 * {_uniform('b', 'd', 'i')}) AS BIGINT) AS sessions
      FROM range({ds.n_brands}) rb(b), range({ds.days}) rd(d), mix
    )
    SELECT {first} + CAST(d AS INTEGER) AS report_date, 'ga4_' || b AS property_id,
           'brand_' || lpad(CAST(b AS VARCHAR), 3, '0') AS brand,
           source, medium, campaign, platform, is_social, is_paid, sessions,
           CAST(sessions * 0.6 AS BIGINT) AS engaged_sessions,
           sessions - CAST(sessions * 0.6 AS BIGINT) AS bounces,
           CAST(sessions * 2.3 AS BIGINT) AS page_views,
           round(sessions * 41.5, 1) AS engagement_time_seconds,
           CAST(sessions * 0.02 AS BIGINT) AS sign_ups, CAST(sessions * 0.015 AS BIGINT) AS leads,
           CAST(sessions * 0.006 AS BIGINT) AS qualified_leads,
           CAST(sessions * 0.002 AS BIGINT) AS booked_calls,
           CAST(sessions * 0.012 AS BIGINT) AS orders,
           CAST(sessions * 0.006 AS BIGINT) AS new_customers,
           CAST(sessions * 0.011 AS BIGINT) AS purchasers,
           round(sessions * 0.012 * 58, 2) AS revenue, 'EUR' AS currency,
           'USD' AS reporting_currency, 1.08 AS fx_rate,
           round(sessions * 0.012 * 58 * 1.08, 2) AS revenue_reporting,
           'ga4_traffic' AS source_stream, 'v1beta' AS api_version,
           CAST({first} + CAST(d + 1 AS INTEGER) AS TIMESTAMP) AS pulled_at
    FROM grid
    ORDER BY report_date, property_id, source, medium, campaign"""


def email_daily_sql(ds: Dataset) -> str:
    """Two email lists per brand and day: a member level that grows with the daily flows."""
    first = f"DATE '{ds.first_day}'"
    return f"""
    INSERT INTO normalized.email_daily BY NAME
    WITH grid AS (
      SELECT l, d, 5000 + {_rand(40000, 'l', "'size'")} AS size
      FROM range({2 * ds.n_brands}) rl(l), range({ds.days}) rd(d)
    )
    SELECT {first} + CAST(d AS INTEGER) AS report_date, 'list_' || l AS list_id,
           'brand_' || lpad(CAST(l // 2 AS VARCHAR), 3, '0') AS brand,
           size + d * 6 AS subscribers, 8 + {_rand(10, 'l', 'd', "'sub'")} AS subscribes,
           {_rand(5, 'l', 'd', "'unsub'")} AS unsubscribes,
           {_rand(3, 'l', 'd', "'imp'")} AS imports, {_rand(2, 'l', 'd', "'rem'")} AS removals,
           CASE WHEN d % 7 = 1 THEN size END AS emails_sent,
           CASE WHEN d % 7 = 1 THEN size // 4 END AS unique_opens,
           CASE WHEN d % 7 = 1 THEN size // 40 END AS clicks,
           'mailchimp_lists' AS source_stream, '3.0' AS api_version,
           CAST({first} + CAST(d + 1 AS INTEGER) AS TIMESTAMP) AS pulled_at
    FROM grid
    ORDER BY report_date, list_id"""


GENERATORS: tuple[tuple[str, Callable[[Dataset], str]], ...] = (
    ("post_daily", post_daily_sql), ("account_daily", account_daily_sql),
    ("ad_daily", ad_daily_sql), ("web_daily", web_daily_sql), ("email_daily", email_daily_sql),
)


def create_empty_database(path: Path) -> None:
    """The production DDL (keys included) and nothing else."""
    import duckdb

    from kpi_pipeline.lib.normalized.store import ensure_tables

    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as conn:
        ensure_tables(conn)


# --------------------------------------------------------------------------- goals


def goal_start(week: date) -> date:
    """The first day of every benchmark goal's window."""
    return week - timedelta(weeks=12)


def goals_for(week: date) -> list[dict[str, Any]]:
    """The goals file of a dataset: active during ``week`` (the week the run measures),
    from 12 weeks before it (``goal_start``) to 3 weeks after; targets of every kind but
    per_period (see RESULTS.md: its value depends on the run's window), every KPI
    source, two goals on levels (followers, list members), four lagging ones with leading
    indicators. Scopes are the synthetic data's (brands ``brand_000``..., campaign 0)."""
    start, end = goal_start(week), week + timedelta(weeks=4, days=-1)
    window = {"start": start.isoformat(), "end": end.isoformat()}

    def goal(goal_id: str, objective: str, stage: str, kpi: str, scope: dict[str, str],
             target: dict[str, Any], leading: list[str] | None = None) -> dict[str, Any]:
        out = {"id": goal_id, "title": goal_id.replace("-", " "), "objective": objective,
               "stage": stage, "kpi": kpi, "scope": scope, "target": target,
               "window": dict(window)}
        if leading is not None:
            out["leading_indicators"] = leading
        return out

    return [
        goal("ig-engagement-rate", "brand_awareness", "engagement", "engagement_rate",
             {"kind": "platform", "key": "instagram"}, {"type": "level", "at_least": 0.03}),
        goal("brand-views", "brand_awareness", "awareness", "views",
             {"kind": "brand", "key": "brand_000"}, {"type": "change", "by": 0.2}),
        goal("brand-follower-growth", "brand_awareness", "awareness", "follower_growth_rate",
             {"kind": "brand", "key": "brand_001"}, {"type": "level", "at_least": 0.01},
             ["share_rate"]),
        goal("linkedin-cost-per-lead", "lead_generation", "lead_generation", "cost_per_lead",
             {"kind": "platform", "key": "linkedin"}, {"type": "change", "by": -0.1},
             ["click_through_rate"]),
        goal("brand-booked-calls", "lead_generation", "lead_generation", "booked_calls",
             {"kind": "brand", "key": "brand_001"}, {"type": "total", "value": 400},
             ["landing_page_sessions"]),
        goal("brand-email-opt-ins", "lead_generation", "lead_generation", "email_opt_ins",
             {"kind": "brand", "key": "brand_002"}, {"type": "total", "value": 3000}, []),
        goal("list-growth", "lead_generation", "lead_generation", "email_list_growth_rate",
             {"kind": "all"}, {"type": "level", "at_least": 0.002}, []),
        goal("brand-social-revenue", "revenue_growth", "revenue", "social_revenue",
             {"kind": "brand", "key": "brand_003"}, {"type": "change", "by": 0.15},
             ["landing_page_sessions", "bounce_rate"]),
        goal("campaign-link-clicks", "product_demand", "traffic", "ad_link_clicks",
             {"kind": "campaign", "key": "meta/ad_meta_0/cmp_0"},
             {"type": "total", "value": 5000}),
    ]


def goals_frame(week: date):  # -> pd.DataFrame (pandas is imported in workers only)
    """The goals as the floor reads them: one row per goal with its window bounds."""
    import pandas as pd

    rows = []
    for g in goals_for(week):
        rows.append({"goal_id": g["id"], "kpi": g["kpi"],
                     "scope_key": g["scope"].get("key", "all"),
                     "window_start": date.fromisoformat(g["window"]["start"]),
                     "window_end": date.fromisoformat(g["window"]["end"]),
                     "target_type": g["target"]["type"]})
    return pd.DataFrame(rows)


def write_goals(path: Path, week: date) -> None:
    import yaml

    path.write_text(yaml.safe_dump({"goals": goals_for(week)}, sort_keys=False))


# --------------------------------------------------------------------------- datasets


def build_dataset(ds: Dataset, path: Path) -> None:
    """Write the dataset's DuckDB file and, beside it, its goals, spec, row counts and build
    time.

    Runs in a subprocess (``--build``) so the parent never holds DuckDB memory: Linux
    carries a parent's RSS over into a forked child's ``ru_maxrss``. The tables are made
    with the production DDL (primary keys included), so the file has the layout the assets
    read in production; rows go in report_date order, as daily partitions append them.
    Then the history a weekly run finds in production: the KPIs of every earlier week and
    the baseline snapshots as of each of them.
    """
    import duckdb

    from kpi_pipeline.lib.baselines.snapshots import take_snapshots
    from kpi_pipeline.lib.kpis.compute import replace_kpis
    from kpi_pipeline.lib.normalized.store import refresh_post_increments

    started = time.perf_counter()
    create_empty_database(path)
    write_goals(path.with_suffix(".goals.yaml"), ds.last_monday)
    with duckdb.connect(str(path)) as conn:
        if ds.posts_per_day > 0:
            for _, make_sql in GENERATORS:
                conn.execute(make_sql(ds))
            changed = refresh_post_increments(conn, ds.first_day, ds.last_day)
            if changed:
                raise RuntimeError(f"the store recomputed {changed} post increments "
                                   "differently from the benchmark's own rule")
            before = ds.last_monday - timedelta(weeks=1)
            replace_kpis(conn, "week", ds.first_day, before + timedelta(days=6))
            take_snapshots(conn, "week", [ds.first_day + timedelta(weeks=i)
                                          for i in range(ds.weeks - 1)])
        conn.execute("CHECKPOINT")
        counts = {name: conn.execute(f"SELECT count(*) FROM normalized.{name}").fetchone()[0]
                  for name, _ in GENERATORS}
    spec = {"spec": ds.spec(), "counts": counts, "seconds": time.perf_counter() - started}
    path.with_suffix(".json").write_text(json.dumps(spec))


def ensure_dataset(ds: Dataset, path: Path, log: Path) -> tuple[dict[str, int], float]:
    """Reuse the file when its spec matches, else build it; returns counts and seconds
    (0 seconds means it was reused)."""
    spec_path = path.with_suffix(".json")
    if path.exists() and spec_path.exists():
        saved = json.loads(spec_path.read_text())
        if saved.get("spec") == ds.spec():
            return saved["counts"], 0.0
    spec_path.unlink(missing_ok=True)
    spawn(["--build", str(path), "--weeks", str(ds.weeks),
           "--posts-per-day", repr(ds.posts_per_day)], log, f"build {path.name}")
    saved = json.loads(spec_path.read_text())
    return saved["counts"], saved["seconds"]


# --------------------------------------------------------------------------- timed steps
# Each runs in its own subprocess (``--worker``); imports happen before the clock starts.


@dataclass(frozen=True)
class Job:
    """What a worker runs on: the database copy, the week, the goals, the settings."""

    db: str
    week: date
    goals: Path
    reports: Path
    config: dict[str, str]

    @property
    def sunday(self) -> date:
        return self.week + timedelta(days=6)


Step = Callable[[Job], dict[str, Any]]  # returns extra facts for the JSON (step timings)


def split_statements(sql: str) -> list[str]:
    """The floor file's statements, comment lines dropped (none holds a ';' in a string)."""
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def step_floor(job: Job) -> dict[str, Any]:
    """The hand-written floor: every statement of floor_weekly.sql, on plain duckdb."""
    import duckdb

    statements = split_statements(FLOOR_SQL.read_text(encoding="utf-8"))
    goals = goals_frame(job.week)
    params = {"week": job.week, "goal_start": goal_start(job.week)}
    with duckdb.connect(job.db, config=job.config) as conn:
        conn.register("bench_goals", goals)
        for statement in statements:
            conn.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
    return {}


def prepare_library() -> Step:
    """The lib calls the weekly job and the goal job make, with nothing else around them."""
    import duckdb

    from kpi_pipeline.defs.goals.assets import review_days
    from kpi_pipeline.lib.baselines.snapshots import take_snapshots
    from kpi_pipeline.lib.diagnostics.rules import replace_findings, rules
    from kpi_pipeline.lib.goals.loading import load_goals
    from kpi_pipeline.lib.goals.tables import (
        attainment_rows,
        goal_warnings_with_baselines,
        replace_attainment,
    )
    from kpi_pipeline.lib.kpis.catalog import catalog
    from kpi_pipeline.lib.kpis.compute import replace_kpis

    rules()

    def run(job: Job) -> dict[str, Any]:
        kpis = catalog()
        with duckdb.connect(job.db, config=job.config) as conn:
            replace_kpis(conn, "week", job.week, job.sunday)
            take_snapshots(conn, "week", [job.week])
            replace_findings(conn, "week", job.week, job.sunday)
            loaded = load_goals(job.goals, job.sunday, kpis)
            goal_warnings_with_baselines(conn, loaded, kpis)
            rows = attainment_rows(conn, loaded.goals, kpis, job.week, job.sunday,
                                   review_days(job.week, job.sunday))
            replace_attainment(conn, rows, job.week, job.sunday)
        return {}

    return run


def prepare_chain() -> Step:
    """Load the code location and make the instance before the clock starts: a deployed
    run process pays for those once, before its first step. Great Expectations is
    imported here too (the checks import it on first use)."""
    import dagster as dg
    import great_expectations  # noqa: F401

    from kpi_pipeline.definitions import defs

    definitions = defs()
    jobs = {name: definitions.resolve_job_def(name)
            for name in ("weekly_kpi_job", "goal_attainment_job")}
    instance = dg.DagsterInstance.ephemeral()

    def run(job: Job) -> dict[str, Any]:
        os.environ.update({"KPI_PIPELINE_DUCKDB": job.db, "KPI_PIPELINE_GOALS": str(job.goals),
                           "KPI_PIPELINE_REPORTS": str(job.reports)})
        config = {"resources": {"warehouse": {"config": {"connection_config": job.config}}}}
        steps: dict[str, float] = {}
        for name, (first, last) in (("weekly_kpi_job", (job.week, job.week)),
                                    ("goal_attainment_job", (job.week, job.sunday))):
            result = jobs[name].execute_in_process(
                run_config=config, instance=instance, raise_on_error=False,
                tags={"dagster/asset_partition_range_start": first.isoformat(),
                      "dagster/asset_partition_range_end": last.isoformat()})
            if not result.success:
                raise RuntimeError(f"{name} failed for {first}..{last}")
            for event in result.all_events:
                if event.event_type_value == "STEP_SUCCESS":
                    steps[event.step_key] = event.event_specific_data.duration_ms / 1000
        return {"step_seconds": steps}

    return run


@dataclass
class WriteStep:
    """Rewrite a window of post_daily with the rows it holds (read before the clock, as a
    parsed frame would be): through ``replace_window`` (increments derived and the next
    snapshots' refreshed) or through the plain DELETE + INSERT it did before them."""

    window: str  # "day" (the last day), "week" (the last week), "mid_day" (52 weeks back)
    increments: bool
    frame: Any = None

    def bounds(self, job: Job) -> tuple[date, date]:
        if self.window == "day":
            return job.sunday, job.sunday
        if self.window == "week":
            return job.week, job.sunday
        return job.sunday - timedelta(weeks=52), job.sunday - timedelta(weeks=52)

    def before(self, job: Job) -> None:
        import duckdb

        from kpi_pipeline.lib.core.schemas import POST_DAILY, coerce_frame

        first, last = self.bounds(job)
        with duckdb.connect(job.db, read_only=True) as conn:
            rows = conn.execute("SELECT * FROM normalized.post_daily "
                                "WHERE report_date BETWEEN ? AND ?", [first, last]).df()
        self.frame = coerce_frame(POST_DAILY, rows)

    def __call__(self, job: Job) -> dict[str, Any]:
        import duckdb

        from kpi_pipeline.lib.core.schemas import POST_DAILY
        from kpi_pipeline.lib.normalized.store import replace_window, transaction

        first, last = self.bounds(job)
        streams = tuple(f"{p}_posts" for p in SOCIAL)
        with duckdb.connect(job.db, config=job.config) as conn:
            if self.increments:
                replace_window(conn, POST_DAILY, self.frame, first, last, sources=streams)
            else:
                with transaction(conn):
                    conn.execute("DELETE FROM normalized.post_daily WHERE report_date "
                                 "BETWEEN ? AND ? AND list_contains(?, source_stream)",
                                 [first, last, list(streams)])
                    conn.register("incoming_rows", self.frame)
                    conn.execute("INSERT INTO normalized.post_daily BY NAME "
                                 "SELECT * FROM incoming_rows")
        return {"rows_written": len(self.frame)}


# One KPI over the whole history, weekly engagement rate per platform, two ways.
ONE_KPI_SQL = {
    "one_kpi_lag": """
CREATE OR REPLACE TABLE scratch.engagement_rate AS
WITH activity AS (
  SELECT report_date, platform,
         coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0) + coalesce(saves, 0)
         - coalesce(lag(coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0)
                        + coalesce(saves, 0)) OVER snapshots, 0) AS interactions,
         CASE WHEN platform = 'linkedin' THEN impressions ELSE views END
         - coalesce(lag(CASE WHEN platform = 'linkedin' THEN impressions ELSE views END)
                    OVER snapshots, 0) AS exposure
  FROM normalized.post_daily
  WINDOW snapshots AS (PARTITION BY platform, account_id, post_id ORDER BY report_date))
SELECT CAST(date_trunc('week', report_date) AS DATE) AS period_start, platform,
       sum(interactions) / nullif(sum(exposure), 0) AS engagement_rate
FROM activity GROUP BY ALL""",
    "one_kpi_increments": """
CREATE OR REPLACE TABLE scratch.engagement_rate AS
SELECT CAST(date_trunc('week', report_date) AS DATE) AS period_start, platform,
       sum(coalesce(likes_delta, 0) + coalesce(comments_delta, 0) + coalesce(shares_delta, 0)
           + coalesce(saves_delta, 0))
       / nullif(sum(CASE WHEN platform = 'linkedin' THEN impressions_delta
                         ELSE views_delta END), 0) AS engagement_rate
FROM normalized.post_daily GROUP BY ALL""",
}


def step_one_kpi(step: str) -> Step:
    def run(job: Job) -> dict[str, Any]:
        import duckdb

        with duckdb.connect(job.db, config=job.config) as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS scratch")
            conn.execute(ONE_KPI_SQL[step])
            return {"rows_written": conn.execute(
                "SELECT count(*) FROM scratch.engagement_rate").fetchone()[0]}

    return run


def prepare(step: str) -> Step:
    """The callable for a step name, with every import it needs already done (duckdb,
    pandas and the catalogue for every step, so none pays for them inside the clock)."""
    import duckdb  # noqa: F401
    import pandas  # noqa: F401

    from kpi_pipeline.lib.kpis.catalog import catalog

    catalog()
    if step in ("chain", "fixed"):
        return prepare_chain()
    if step == "library":
        return prepare_library()
    if step.startswith(("write_", "plain_")):
        return WriteStep(step.split("_", 1)[1], step.startswith("write_"))
    if step.startswith("one_kpi"):
        return step_one_kpi(step)
    return step_floor


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(step: str, job: Job, out: Path) -> None:
    """Subprocess entry: run one step once, then write its times and what it produced."""
    setup_wall, setup_cpu = time.perf_counter(), cpu_seconds()
    run = prepare(step)
    if isinstance(run, WriteStep):
        run.before(job)
    started, started_cpu = time.perf_counter(), cpu_seconds()
    extra = run(job)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - started_cpu
    out.write_text(json.dumps({"seconds": seconds, "cpu_seconds": cpu,
                               "setup_seconds": started - setup_wall,
                               "setup_cpu_seconds": started_cpu - setup_cpu,
                               "vm_hwm_mb": own_peak_mb(),
                               "digest": digest(step, job) if step in STEPS else {},
                               **extra}, default=str))


def digest(step: str, job: Job) -> dict[str, Any]:
    """What the step wrote for the week, summarised so floor and chain can be compared:
    per KPI the rows and the sums of value, previous and year-ago values; baseline rows
    and their sums; findings per rule; each goal's value on each day. Read after the
    clock stopped."""
    import duckdb

    tables = ({"kpi": "scratch.floor_kpi", "baseline": "scratch.floor_baseline",
               "finding": "scratch.floor_finding", "goal": "scratch.floor_goal"}
              if step == "floor" else
              {"kpi": "kpi.weekly", "baseline": "baseline.weekly",
               "finding": "diagnostic.weekly", "goal": "goal.attainment"})
    week = [job.week]
    with duckdb.connect(job.db, read_only=True) as conn:
        def rows(sql: str) -> list[tuple]:
            try:
                return conn.execute(sql, week).fetchall()
            except duckdb.CatalogException:
                return []
        kpi = rows(f"""SELECT kpi, count(*), sum(value), sum(previous_value),
                              sum(year_ago_value) FROM {tables['kpi']}
                       WHERE period_start = ? GROUP BY kpi ORDER BY kpi""")
        base = rows(f"""SELECT count(*), sum(mean), sum(median), sum(stddev), sum(min),
                               sum(max), sum(pooled), sum(periods)
                        FROM {tables['baseline']} WHERE as_of = ?""")
        finds = rows(f"""SELECT rule, count(*) FROM {tables['finding']}
                         WHERE period_start = ? GROUP BY rule ORDER BY rule""")
        goal = rows(f"""SELECT goal_id, CAST(as_of AS VARCHAR), actual FROM {tables['goal']}
                        WHERE as_of BETWEEN ? AND ? + 6 ORDER BY 1, 2""".replace(
            "? + 6", f"DATE '{job.sunday}'"))
    return {"kpi": {k: list(v) for k, *v in kpi}, "baseline": list(base[0]) if base else [],
            "findings": dict(finds), "goals": {f"{g} {d}": a for g, d, a in goal}}


def own_peak_mb() -> float:
    """This process's own high-water RSS (VmHWM), a cross-check on the parent's wait4."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    peak_mb: float
    setup_seconds: float
    setup_cpu_seconds: float
    vm_hwm_mb: float
    digest: dict[str, Any]
    step_seconds: dict[str, float] = field(default_factory=dict)
    rows_written: int = 0


@dataclass
class StepResult:
    step: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def median_cpu(self) -> float:
        return statistics.median(s.cpu_seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        """The highest peak over the repeats: memory targets are about the worst case."""
        return max(s.peak_mb for s in self.samples)

    @property
    def cpu_spread(self) -> tuple[float, float]:
        return (min(s.cpu_seconds for s in self.samples),
                max(s.cpu_seconds for s in self.samples))


def spawn(args: list[str], log: Path, title: str) -> resource.struct_rusage:
    """Run this script with ``args`` in a fresh process; return that process's rusage.

    ``os.wait4`` gives the rusage of exactly that child (and the descendants it waited
    for), unlike ``RUSAGE_CHILDREN``, which keeps the maximum over every child so far.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    with log.open("a") as sink:
        sink.write(f"\n=== {title}\n")
        sink.flush()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=sink)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{title} failed (exit {proc.returncode}); see {log}")
    return usage


def measure(step: str, source: Path, scratch: Path, week: date, log: Path,
            flags: list[str]) -> Sample:
    """Copy the dataset, run one step on the copy in a fresh subprocess, read its peak.

    Every step starts from the same file, so a step's writes never slow the next one,
    and the copy is flushed to disk first so its write-back does not land in the timing.
    """
    shutil.copyfile(source, scratch)
    with scratch.open("rb+") as copied:
        os.fsync(copied.fileno())
    out = scratch.with_suffix(".result.json")
    out.unlink(missing_ok=True)
    reports = scratch.with_name("reports")
    shutil.rmtree(reports, ignore_errors=True)
    usage = spawn(["--worker", step, "--db", str(scratch), "--week", week.isoformat(),
                   "--goals", str(source.with_suffix(".goals.yaml")),
                   "--reports", str(reports), "--out", str(out), *flags],
                  log, f"{step} {source.name} {week}")
    result = json.loads(out.read_text())
    out.unlink()
    scratch.unlink()
    scratch.with_suffix(".duckdb.wal").unlink(missing_ok=True)
    return Sample(seconds=result["seconds"], cpu_seconds=result["cpu_seconds"],
                  peak_mb=usage.ru_maxrss / 1024, setup_seconds=result["setup_seconds"],
                  setup_cpu_seconds=result["setup_cpu_seconds"],
                  vm_hwm_mb=result["vm_hwm_mb"], digest=result["digest"],
                  step_seconds=result.get("step_seconds", {}),
                  rows_written=result.get("rows_written", 0))


def same_numbers(a: Any, b: Any, rel: float = 1e-6) -> bool:
    """Digests equal, numbers within ``rel`` (sums are added in a different order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y, rel)
                                        for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-9)
    return a == b


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Where two digests differ, for the log."""
    out = []
    for part in a.keys() | b.keys():
        x, y = a.get(part), b.get(part)
        if isinstance(x, dict) and isinstance(y, dict):
            out += [f"{part}/{k}: {x.get(k)} vs {y.get(k)}" for k in sorted(x.keys() | y.keys())
                    if not same_numbers(x.get(k), y.get(k))]
        elif not same_numbers(x, y):
            out.append(f"{part}: {x} vs {y}")
    return out


@dataclass
class DatasetResult:
    dataset: Dataset
    counts: dict[str, int]
    build_seconds: float
    db_mb: float
    steps: dict[str, StepResult]

    @property
    def post_rows(self) -> int:
        return self.counts["post_daily"]

    def cpu(self, step: str) -> float:
        return self.steps[step].median_cpu

    @property
    def ratio(self) -> float:
        """The target's ratio: the chain's CPU seconds per floor CPU second."""
        return self.cpu("chain") / self.cpu("floor")

    @property
    def ratio_net(self) -> float:
        """The same with the chain's fixed per-run cost (empty store) set aside."""
        return (self.cpu("chain") - self.cpu("fixed")) / self.cpu("floor")

    @property
    def same_output(self) -> bool:
        """Floor, library and chain wrote the same statistics in every repeat."""
        reference = self.steps["floor"].samples[0].digest
        return all(same_numbers(s.digest, reference)
                   for step in ("floor", "library", "chain") for s in self.steps[step].samples)


def run_dataset(ds: Dataset, workdir: Path, empty_db: Path, repeats: int, log: Path,
                flags: list[str], extra_steps: tuple[str, ...] = ()) -> DatasetResult:
    """Build the dataset, then time every step ``repeats`` times, round-robin."""
    path = workdir / f"posts_{ds.weeks}w_{ds.n_posts}.duckdb"
    print(f"[{ds.label}] building {path} ...", file=sys.stderr, flush=True)
    counts, build_seconds = ensure_dataset(ds, path, log)
    print(f"[{ds.label}] {counts} built in {build_seconds:.1f}s (0 = reused)", file=sys.stderr,
          flush=True)
    steps = {step: StepResult(step) for step in (*STEPS, *extra_steps)}
    scratch = workdir / "run.duckdb"
    for round_no in range(repeats):
        for step in steps:
            source = empty_db if step == "fixed" else path
            sample = measure(step, source, scratch, ds.last_monday, log, flags)
            steps[step].samples.append(sample)
            print(f"[{ds.label}] round {round_no + 1}/{repeats} {step:18s} "
                  f"cpu {sample.cpu_seconds:7.2f}s  wall {sample.seconds:7.2f}s  "
                  f"peak {sample.peak_mb:7.0f} MB", file=sys.stderr, flush=True)
    result = DatasetResult(ds, counts, build_seconds, path.stat().st_size / 2**20, steps)
    if not result.same_output:
        floor = steps["floor"].samples[0].digest
        for step in ("library", "chain"):
            for line in differences(floor, steps[step].samples[0].digest)[:20]:
                print(f"[{ds.label}] floor vs {step}: {line}", file=sys.stderr)
    return result


# --------------------------------------------------------------------------- reporting


def render(results: list[DatasetResult], repeats: int) -> str:
    parts = [render_datasets(results), render_steps(results, repeats),
             render_summary(results), render_chain_steps(results)]
    if any(step in res.steps for res in results for step in WRITE_STEPS):
        parts.append(render_write_path(results))
    return "\n\n".join(parts)


def render_write_path(results: list[DatasetResult]) -> str:
    """The increments' cost on the write path and their saving on the read path."""
    pairs = (("day at the end", "write_day", "plain_day"),
             ("week at the end", "write_week", "plain_week"),
             ("day 52 weeks back", "write_mid_day", "plain_mid_day"),
             ("one KPI, whole history", "one_kpi_increments", "one_kpi_lag"))
    lines = ["Write path: replace_window (increments derived, next snapshots refreshed) "
             "against the plain DELETE + INSERT; read path: one KPI with the stored "
             "increments against lag() over the snapshots. CPU s, medians.", "",
             "| dataset | what | rows | with increments CPU s | without CPU s | ratio "
             "| with peak MB | without peak MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        for label, new, old in pairs:
            if new not in res.steps:
                continue
            a, b = res.steps[new], res.steps[old]
            lines.append(f"| {res.dataset.label} | {label} | {a.samples[-1].rows_written:,} "
                         f"| {a.median_cpu:.2f} | {b.median_cpu:.2f} "
                         f"| {a.median_cpu / b.median_cpu:.2f} | {a.peak_mb:,.0f} "
                         f"| {b.peak_mb:,.0f} |")
    return "\n".join(lines)


def render_datasets(results: list[DatasetResult]) -> str:
    lines = ["| dataset | weeks | accounts | campaigns | brands | post_daily | account_daily "
             "| ad_daily | web_daily | email_daily | file MB | build s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        ds, c = res.dataset, res.counts
        built = f"{res.build_seconds:.0f}" if res.build_seconds else "reused"
        lines.append(f"| {ds.label} | {ds.weeks} | {ds.n_accounts} | {ds.n_campaigns} "
                     f"| {ds.n_brands} | {c['post_daily']:,} | {c['account_daily']:,} "
                     f"| {c['ad_daily']:,} | {c['web_daily']:,} | {c['email_daily']:,} "
                     f"| {res.db_mb:,.0f} | {built} |")
    return "\n".join(lines)


def render_steps(results: list[DatasetResult], repeats: int) -> str:
    lines = [f"CPU (user + sys) and wall seconds of the step: median of {repeats} (CPU min-max "
             "beside it); peak RSS: highest of the repeats; setup: the imports and loading "
             "before the clock (median CPU s).", "",
             "| dataset | step | CPU s | CPU min-max | wall s | peak RSS MB | setup CPU s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for res in results:
        for step in STEPS:
            sr = res.steps[step]
            lo, hi = sr.cpu_spread
            setup = statistics.median(s.setup_cpu_seconds for s in sr.samples)
            lines.append(f"| {res.dataset.label} | {step} | {sr.median_cpu:.2f} "
                         f"| {lo:.2f}-{hi:.2f} | {sr.median_seconds:.2f} "
                         f"| {sr.peak_mb:,.0f} | {setup:.1f} |")
    return "\n".join(lines)


def render_summary(results: list[DatasetResult]) -> str:
    lines = ["| dataset | chain / floor (CPU) | (chain - fixed) / floor | library / floor "
             "| chain / floor (wall) | chain peak MB | floor peak MB | ratio <= 1.5 "
             "| same results |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for res in results:
        wall = res.steps["chain"].median_seconds / res.steps["floor"].median_seconds
        lines.append(
            f"| {res.dataset.label} | {res.ratio:.2f} | {res.ratio_net:.2f} "
            f"| {res.cpu('library') / res.cpu('floor'):.2f} | {wall:.2f} "
            f"| {res.steps['chain'].peak_mb:,.0f} | {res.steps['floor'].peak_mb:,.0f} "
            f"| {'met' if res.ratio <= TARGET_RATIO else 'MISSED'} "
            f"| {'yes' if res.same_output else 'NO'} |")
    return "\n".join(lines)


def render_chain_steps(results: list[DatasetResult]) -> str:
    """Where the chain's wall time goes, from Dagster's own step durations (medians)."""
    keys = sorted({k for res in results for s in res.steps["chain"].samples
                   for k in s.step_seconds})
    lines = ["Chain steps, wall seconds (Dagster's step durations, median):", "",
             "| dataset | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for res in results:
        samples = res.steps["chain"].samples
        cells = [f"{statistics.median(s.step_seconds.get(k, 0.0) for s in samples):.2f}"
                 for k in keys]
        lines.append(f"| {res.dataset.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def as_json(results: list[DatasetResult]) -> str:
    return json.dumps([{
        "dataset": asdict(res.dataset), "counts": res.counts, "db_mb": res.db_mb,
        "build_seconds": res.build_seconds, "ratio": res.ratio, "ratio_net": res.ratio_net,
        "same_output": res.same_output,
        "steps": {name: {"median_cpu_seconds": sr.median_cpu,
                         "median_seconds": sr.median_seconds, "peak_mb": sr.peak_mb,
                         "samples": [asdict(s) for s in sr.samples]}
                  for name, sr in res.steps.items()},
    } for res in results], indent=2, default=str)


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="post_daily rows per dataset")
    parser.add_argument("--weeks", type=int, default=104,
                        help="history length from 2024-01-01, in weeks (default 104 = 2 "
                             "years); the run measures the last of them")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "kpi-bench")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--memory-limit", default=SHIPPED,
                        help="DuckDB memory_limit for every step (default: the warehouse's "
                             "shipped connection_config; 'none': DuckDB's own 80%% of RAM)")
    parser.add_argument("--write-path", action="store_true",
                        help="also time the write path of the increments and one KPI with "
                             "lag() versus the stored increments (second table)")
    parser.add_argument("--worker", choices=STEPS + WRITE_STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--week", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--goals", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reports", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--posts-per-day", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def duckdb_config(memory_limit: str) -> dict[str, str]:
    """DuckDB settings for every step alike (read in the workers: the parent stays light)."""
    if memory_limit == SHIPPED:
        from kpi_pipeline.defs.resources import Warehouse

        return dict(Warehouse.model_fields["connection_config"].default)
    return {} if memory_limit == "none" else {"memory_limit": memory_limit}


def check_history(args: argparse.Namespace) -> None:
    """Partition keys must exist: the last week has to have ended before today."""
    if START + timedelta(weeks=args.weeks) > date.today():
        raise SystemExit(f"--weeks {args.weeks} runs past today: weekly partitions start "
                         f"{START} and end with the last complete week")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, Job(args.db, args.week, args.goals, args.reports,
                                duckdb_config(args.memory_limit)), args.out)
        return
    if args.build:
        build_dataset(Dataset("", args.weeks, args.posts_per_day), args.build)
        return
    check_history(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / "workers.log"
    empty_db = args.workdir / "empty.duckdb"
    spawn(["--build", str(empty_db), "--weeks", str(args.weeks), "--posts-per-day", "0"], log,
          "build empty.duckdb")
    flags = ["--memory-limit", args.memory_limit]
    extra = WRITE_STEPS if args.write_path else ()
    results = [run_dataset(dataset_for(rows, args.weeks), args.workdir, empty_db, args.repeats,
                           log, flags, extra) for rows in args.sizes]
    print(render(results, args.repeats))
    if args.json:
        args.json.write_text(as_json(results))


if __name__ == "__main__":
    main()
