"""Benchmark the weekly KPI computation: plain DuckDB floor versus the Dagster asset.

Run it from the repository root (it is a script people run, not a test)::

    .venv/bin/python benchmarks/kpi_benchmark.py --sizes 1000000 10000000 --repeats 3

What it does, and why:

1. Builds synthetic normalized tables directly in DuckDB SQL (``range()`` plus
   ``hash()``-based pseudo-random values), so 10M ``post_daily`` rows take seconds to make
   instead of hours through the demo simulator. Every dataset lives in ``--workdir``
   (default under /tmp) and is reused when its parameters have not changed.
2. For every dataset it times, in the same run and interleaved round by round so a noisy
   neighbour hurts every step alike:

   - ``floor``: the production SQL text (``kpi_sql("week")``) executed with plain duckdb
     as ``CREATE TABLE AS``. Same SQL as the asset, so the ratio to it isolates what
     Dagster (and the asset's write path) adds.
   - ``one_kpi``: a hand-written weekly engagement rate per platform with the same
     ``lag()`` delta, to show what the full catalogue costs compared to one KPI.
   - ``library``: ``replace_kpis()`` on a plain connection (DELETE + INSERT into the keyed
     ``kpi.weekly`` table), to split the asset's cost into "write path" and "Dagster".
   - ``dagster``: ``dagster.materialize([kpi_weekly])`` over the whole history as one
     single-run backfill, on an ephemeral instance.
   - ``fixed``: the same materialize on an empty partition (a database with the tables
     but no rows), which is Dagster's fixed per-run cost.

   Each timed step runs in a fresh subprocess on a fresh copy of the dataset; the wall
   time is measured inside the subprocess around the step only (imports excluded), and
   the peak RSS of that subprocess comes from ``os.wait4`` (the kernel's ``ru_maxrss`` for
   that one child and its descendants), so no step inherits another's memory.
   The parent process never imports DuckDB: Linux carries a parent's RSS over into a
   forked child's ``ru_maxrss``, so datasets are built in a subprocess too.
3. Prints Markdown tables (datasets; per-step medians; the ratio
   ``(dagster - fixed) / floor`` against the targets; peak memory by history length),
   optionally JSON. Targets are reported, never asserted. ``--memory-limit`` sets
   DuckDB's memory_limit for every step alike (the project ships DuckDB's default).
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

START = date(2024, 1, 1)  # the project's first partition (a Monday): data must not precede it
POST_LIFETIME_DAYS = 28  # a post is snapshotted for 28 days after publishing, then stops
SOCIAL = ("facebook", "instagram", "linkedin", "tiktok")
AD_PLATFORMS = ("meta", "linkedin", "tiktok")
STEPS = ("floor", "one_kpi", "library", "dagster", "fixed")
DATASET_FORMAT = 4  # bump when the generator changes so cached datasets are rebuilt
TARGET_RATIO = 1.5
TARGET_PEAK_MB = 1024.0

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
    INSERT INTO normalized.post_daily BY NAME
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
    FROM snapshots
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

    from kpi_pipeline.lib.store import ensure_tables

    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as conn:
        ensure_tables(conn)


def build_dataset(ds: Dataset, path: Path) -> None:
    """Write the dataset's DuckDB file and, beside it, its spec, row counts and build time.

    Runs in a subprocess (``--build``) so the parent never holds DuckDB memory: Linux
    carries a parent's RSS over into a forked child's ``ru_maxrss``. The tables are made
    with the production DDL (primary keys included), so the file has the layout the asset
    reads in production; rows go in report_date order, as daily partitions append them.
    """
    import duckdb

    started = time.perf_counter()
    create_empty_database(path)
    with duckdb.connect(str(path)) as conn:
        for _, make_sql in GENERATORS if ds.posts_per_day > 0 else ():
            conn.execute(make_sql(ds))
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

Step = Callable[[str, date, date, dict[str, str]], int]


def duckdb_config(memory_limit: str | None) -> dict[str, str]:
    """DuckDB settings for every step alike; none by default, as the project ships."""
    return {"memory_limit": memory_limit} if memory_limit else {}


def week_params(first: date, last_monday: date) -> dict[str, date]:
    """The parameters replace_kpis binds when the asset asks for weeks [first, last_monday]
    (it passes the window's last Sunday). Mirrors replace_kpis: keep the two in step; the
    report's row-count check shows when they drift apart."""
    from kpi_pipeline.lib.kpis.compute import comparison_start, period_last_day

    last = last_monday + timedelta(days=6)
    return {"lo": first, "hi": last, "from": comparison_start(first, "week"),
            "to": period_last_day(last, "week")}


# The session settings replace_kpis runs its INSERT under (division by zero gives NULL).
KPI_SETTINGS = ("SET ieee_floating_point_ops = false", "SET error_on_division_by_zero = false")


def step_floor(db: str, first: date, last_monday: date, config: dict[str, str]) -> int:
    """The production SQL, executed with plain duckdb into a scratch table."""
    import duckdb

    from kpi_pipeline.lib.kpis.compute import kpi_meta_frames, kpi_sql

    sql = kpi_sql("week")
    with duckdb.connect(db, config=config) as conn:
        meta, definitions = kpi_meta_frames()
        conn.register("kpi_meta", meta)
        conn.register("kpi_definitions", definitions)
        for setting in KPI_SETTINGS:
            conn.execute(setting)
        conn.execute("CREATE SCHEMA IF NOT EXISTS scratch")
        conn.execute(f"CREATE OR REPLACE TABLE scratch.kpi_weekly AS {sql}",
                     week_params(first, last_monday))
        return conn.execute("SELECT count(*) FROM scratch.kpi_weekly").fetchone()[0]


ONE_KPI_SQL = """
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
  WHERE report_date BETWEEN CAST($lo AS DATE) - 1 AND $hi
  WINDOW snapshots AS (PARTITION BY platform, account_id, post_id ORDER BY report_date)
)
SELECT CAST(date_trunc('week', report_date) AS DATE) AS period_start, platform,
       sum(interactions) / nullif(sum(exposure), 0) AS engagement_rate
FROM activity WHERE report_date BETWEEN $lo AND $hi
GROUP BY ALL
"""


def step_one_kpi(db: str, first: date, last_monday: date, config: dict[str, str]) -> int:
    """One KPI by hand: weekly engagement rate per platform, same lag() delta."""
    import duckdb

    params = week_params(first, last_monday)
    with duckdb.connect(db, config=config) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS scratch")
        conn.execute(ONE_KPI_SQL, {"lo": params["lo"], "hi": params["hi"]})
        return conn.execute("SELECT count(*) FROM scratch.engagement_rate").fetchone()[0]


def step_library(db: str, first: date, last_monday: date, config: dict[str, str]) -> int:
    """The asset's body without Dagster: replace_kpis into the keyed kpi.weekly table."""
    import duckdb

    from kpi_pipeline.lib.kpis.compute import replace_kpis

    with duckdb.connect(db, config=config) as conn:
        return replace_kpis(conn, "week", first, last_monday + timedelta(days=6))


def prepare_dagster() -> Step:
    """Import Dagster and make the instance before the clock starts: a deployment pays
    for those once per process, not per run."""
    import dagster as dg

    from kpi_pipeline.defs.kpis.assets import kpi_weekly
    from kpi_pipeline.defs.resources import Warehouse

    instance = dg.DagsterInstance.ephemeral()

    def run(db: str, first: date, last_monday: date, config: dict[str, str]) -> int:
        warehouse = Warehouse(database=db, connection_config=config)
        result = dg.materialize(
            [kpi_weekly], instance=instance, resources={"warehouse": warehouse},
            tags={"dagster/asset_partition_range_start": first.isoformat(),
                  "dagster/asset_partition_range_end": last_monday.isoformat()})
        events = result.asset_materializations_for_node("kpi__weekly")  # one per week
        return int(events[0].metadata["dagster/row_count"].value)

    return run


def prepare(step: str) -> Step:
    """The callable for a step name, with every import it needs already done.

    The asset module imports duckdb, pandas (through compute) and loads the catalogue
    when Dagster loads the code; the plain steps must not pay for those inside the clock
    either, or the floor would look slower than Dagster on small data.
    """
    import duckdb  # noqa: F401

    import kpi_pipeline.lib.kpis.compute  # noqa: F401  (imports pandas)
    from kpi_pipeline.lib.kpis.catalog import catalog

    catalog()
    if step in ("dagster", "fixed"):
        return prepare_dagster()
    return {"floor": step_floor, "one_kpi": step_one_kpi, "library": step_library}[step]


def worker(step: str, db: str, first: date, last_monday: date, out: Path,
           config: dict[str, str]) -> None:
    """Subprocess entry: run one step once, write its wall time and output row count."""
    setup = time.perf_counter()
    run = prepare(step)
    started = time.perf_counter()
    rows_out = run(db, first, last_monday, config)
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"seconds": seconds, "rows_out": rows_out,
                               "setup_seconds": started - setup,
                               "vm_hwm_mb": own_peak_mb()}))


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
    peak_mb: float
    rows_out: int
    setup_seconds: float
    vm_hwm_mb: float


@dataclass
class StepResult:
    step: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        """The highest peak over the repeats: memory targets are about the worst case."""
        return max(s.peak_mb for s in self.samples)

    @property
    def spread(self) -> tuple[float, float]:
        return (min(s.seconds for s in self.samples), max(s.seconds for s in self.samples))


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


def measure(step: str, source: Path, scratch: Path, first: date, last_monday: date,
            log: Path, flags: list[str]) -> Sample:
    """Copy the dataset, run one step on the copy in a fresh subprocess, read its peak.

    Every step starts from the same file, so a step's writes never slow the next one,
    and the copy is flushed to disk first so its write-back does not land in the timing.
    """
    shutil.copyfile(source, scratch)
    with scratch.open("rb+") as copied:
        os.fsync(copied.fileno())
    out = scratch.with_suffix(".result.json")
    out.unlink(missing_ok=True)
    usage = spawn(["--worker", step, "--db", str(scratch), "--first", first.isoformat(),
                   "--last-monday", last_monday.isoformat(), "--out", str(out), *flags],
                  log, f"{step} {source.name} {first}..{last_monday}")
    result = json.loads(out.read_text())
    out.unlink()
    scratch.unlink()
    scratch.with_suffix(".duckdb.wal").unlink(missing_ok=True)
    return Sample(seconds=result["seconds"], peak_mb=usage.ru_maxrss / 1024,
                  rows_out=result["rows_out"], setup_seconds=result["setup_seconds"],
                  vm_hwm_mb=result["vm_hwm_mb"])


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

    def median(self, step: str) -> float:
        return self.steps[step].median_seconds

    @property
    def ratio(self) -> float:
        """Dagster's cost per unit of floor once the fixed per-run cost is set aside."""
        return (self.median("dagster") - self.median("fixed")) / self.median("floor")

    @property
    def ratio_of_minimums(self) -> float:
        """The same ratio on each step's fastest repeat: on a shared machine the minimum is
        the run least disturbed by neighbours, a cross-check on the median ratio."""
        fastest = {step: self.steps[step].spread[0] for step in ("dagster", "fixed", "floor")}
        return (fastest["dagster"] - fastest["fixed"]) / fastest["floor"]

    @property
    def same_output(self) -> bool:
        """Floor, library and Dagster wrote the same number of KPI rows every time: the
        floor binds the same parameters as the asset (a guard against drift)."""
        return len({s.rows_out for step in ("floor", "library", "dagster")
                    for s in self.steps[step].samples}) == 1


def run_dataset(ds: Dataset, workdir: Path, empty_db: Path, repeats: int, log: Path,
                flags: list[str]) -> DatasetResult:
    """Build the dataset, then time every step ``repeats`` times, round-robin."""
    path = workdir / f"posts_{ds.weeks}w_{ds.n_posts}.duckdb"
    print(f"[{ds.label}] building {path} ...", file=sys.stderr, flush=True)
    counts, build_seconds = ensure_dataset(ds, path, log)
    print(f"[{ds.label}] {counts} built in {build_seconds:.1f}s (0 = reused)", file=sys.stderr,
          flush=True)
    steps = {step: StepResult(step) for step in STEPS}
    scratch = workdir / "run.duckdb"
    for round_no in range(repeats):
        for step in STEPS:
            source, first, last = (path, ds.first_day, ds.last_monday)
            if step == "fixed":
                source, first, last = (empty_db, ds.last_monday, ds.last_monday)
            sample = measure(step, source, scratch, first, last, log, flags)
            steps[step].samples.append(sample)
            print(f"[{ds.label}] round {round_no + 1}/{repeats} {step:8s} "
                  f"{sample.seconds:7.2f}s  peak {sample.peak_mb:7.0f} MB  "
                  f"rows out {sample.rows_out}", file=sys.stderr, flush=True)
    return DatasetResult(ds, counts, build_seconds, path.stat().st_size / 2**20, steps)


# --------------------------------------------------------------------------- reporting


def render(results: list[DatasetResult], repeats: int) -> str:
    """The report: datasets, per-step timings, ratios against the targets, history."""
    return "\n\n".join([render_datasets(results), render_steps(results, repeats),
                         render_summary(results), render_history(results)])


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
    lines = [f"Wall time: median of {repeats} (min-max beside it); peak RSS: highest of the "
             "repeats; rows/s = post_daily rows / median.", "",
             "| dataset | step | median s | min-max s | post rows/s | peak RSS MB "
             "| KPI rows out |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for res in results:
        for step in STEPS:
            sr = res.steps[step]
            lo, hi = sr.spread
            rate = "-" if step == "fixed" else f"{res.post_rows / sr.median_seconds:,.0f}"
            lines.append(f"| {res.dataset.label} | {step} | {sr.median_seconds:.2f} "
                         f"| {lo:.2f}-{hi:.2f} | {rate} | {sr.peak_mb:,.0f} "
                         f"| {sr.samples[-1].rows_out:,} |")
    return "\n".join(lines)


def render_summary(results: list[DatasetResult]) -> str:
    lines = ["| dataset | (dagster - fixed) / floor | same on minimums "
             "| (dagster - fixed) / library | library / floor | floor / one_kpi "
             "| dagster peak MB | ratio <= 1.5 | peak < 1 GB | same KPI rows |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for res in results:
        peak = res.steps["dagster"].peak_mb
        net = res.median("dagster") - res.median("fixed")
        lines.append(
            f"| {res.dataset.label} | {res.ratio:.2f} | {res.ratio_of_minimums:.2f} "
            f"| {net / res.median('library'):.2f} "
            f"| {res.median('library') / res.median('floor'):.2f} "
            f"| {res.median('floor') / res.median('one_kpi'):.1f} | {peak:,.0f} "
            f"| {'met' if res.ratio <= TARGET_RATIO else 'MISSED'} "
            f"| {'met' if peak < TARGET_PEAK_MB else 'MISSED'} "
            f"| {'yes' if res.same_output else 'NO'} |")
    return "\n".join(lines)


def render_history(results: list[DatasetResult]) -> str:
    """Same rows per week, different history length: does peak memory stay flat?"""
    lines = ["| same density | weeks | dagster peak MB | floor peak MB | dagster median s |",
             "|---|---:|---:|---:|---:|"]
    for res in sorted(results, key=lambda r: (round(r.dataset.posts_per_day, 6),
                                              r.dataset.weeks)):
        per_week = round(res.post_rows / res.dataset.weeks)
        lines.append(f"| {per_week:,} post rows/week | {res.dataset.weeks} "
                     f"| {res.steps['dagster'].peak_mb:,.0f} "
                     f"| {res.steps['floor'].peak_mb:,.0f} | {res.median('dagster'):.2f} |")
    return "\n".join(lines)


def as_json(results: list[DatasetResult]) -> str:
    return json.dumps([{
        "dataset": asdict(res.dataset), "counts": res.counts, "db_mb": res.db_mb,
        "build_seconds": res.build_seconds, "ratio": res.ratio,
        "ratio_of_minimums": res.ratio_of_minimums,
        "steps": {name: {"median_seconds": sr.median_seconds, "peak_mb": sr.peak_mb,
                         "samples": [asdict(s) for s in sr.samples]}
                  for name, sr in res.steps.items()},
    } for res in results], indent=2)


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="post_daily rows per dataset (over --weeks)")
    parser.add_argument("--weeks", type=int, default=104,
                        help="history length from 2024-01-01, in weeks (default 104 = 2 years)")
    parser.add_argument("--compare-weeks", type=int, default=52,
                        help="also run each size over this many weeks at the SAME rows per "
                             "week, to show how memory scales with history (0: skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "kpi-bench")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--memory-limit",
                        help="DuckDB memory_limit for every step (e.g. 600MB); default: "
                             "DuckDB's own (80%% of RAM), as the project ships")
    parser.add_argument("--worker", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--last-monday", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--posts-per-day", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def datasets(args: argparse.Namespace) -> list[Dataset]:
    """Every size over --weeks, each preceded by its same-density --compare-weeks twin."""
    out = []
    for rows in args.sizes:
        if args.compare_weeks and args.compare_weeks != args.weeks:
            out.append(dataset_for(rows, args.compare_weeks, density_weeks=args.weeks))
        out.append(dataset_for(rows, args.weeks))
    return out


def check_history(args: argparse.Namespace) -> None:
    """Partition keys must exist: the last week has to have ended before today."""
    for weeks in (args.weeks, args.compare_weeks):
        if weeks and START + timedelta(weeks=weeks) > date.today():
            raise SystemExit(f"--weeks {weeks} runs past today: weekly partitions start "
                             f"{START} and end with the last complete week")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, args.db, args.first, args.last_monday, args.out,
               duckdb_config(args.memory_limit))
        return
    if args.build:
        build_dataset(Dataset("", args.weeks, args.posts_per_day), args.build)
        return
    check_history(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / "workers.log"
    empty_db = args.workdir / "empty.duckdb"
    spawn(["--build", str(empty_db), "--weeks", "1", "--posts-per-day", "0"], log,
          "build empty.duckdb")
    flags = ["--memory-limit", args.memory_limit] if args.memory_limit else []
    results = [run_dataset(ds, args.workdir, empty_db, args.repeats, log, flags)
               for ds in datasets(args)]
    print(render(results, args.repeats))
    if args.json:
        args.json.write_text(as_json(results))


if __name__ == "__main__":
    main()
