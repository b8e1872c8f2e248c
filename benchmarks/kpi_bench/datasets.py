"""Synthetic normalized tables, made in DuckDB SQL so 10M post rows take seconds.

The generators use ``range()`` plus ``hash()``-based pseudo-random values (reproducible,
no state). The post increments are computed by the benchmark's own SQL from the rule the
README states, then the production store is asked to recompute them and must change
nothing. A built file also holds the KPIs and baselines of every earlier week, as a store
in production does, and the goals file about the synthetic brands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from kpi_bench.goals import write_goals

START = date(2024, 1, 1)  # the project's first partition (a Monday): data must not precede it
POST_LIFETIME_DAYS = 28  # a post is snapshotted for 28 days after publishing, then stops
SOCIAL = ("facebook", "instagram", "linkedin", "tiktok")
AD_PLATFORMS = ("meta", "linkedin", "tiktok")
DATASET_FORMAT = 7  # bump when the generator changes so cached datasets are rebuilt

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
# a day's value minus the post's previous snapshot's, 0 for none or NULL, NULL stays NULL;
# and the first-seen rule: a post's first snapshot counts 0 when the post was published
# before that day began in any time zone (before 10:00 UTC of the day before), whole when
# it was published that day. build_dataset then asks the production store to recompute
# them: nothing may change.
POST_INCREMENTS_SQL = """
    INSERT INTO normalized.post_daily BY NAME
    SELECT *, """ + ",\n           ".join(
    f"CASE WHEN {m} IS NOT NULL AND row_number() OVER snapshots = 1 AND published_at < "
    f"CAST(report_date AS TIMESTAMP) - INTERVAL 14 HOUR THEN 0 "
    f"ELSE {m} - coalesce(lag({m}) OVER snapshots, 0) END AS {m}_delta"
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
    """One row per campaign and day, money in the account currency and in USD; a quarter
    of the campaigns have the conversions objective (conversion_cac's spend)."""
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
           'cmp_' || c AS campaign_id, 'Campaign ' || c AS campaign_name,
           ['conversions', 'traffic', 'leads', 'awareness'][c // 3 % 4 + 1] AS objective,
           currency, spend,
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
            # 13 weeks per statement: the same rows (each week's comparisons come from the
            # facts), and a statement's memory stays bounded (the whole history in one
            # statement runs out of the shipped 200MB at 10M rows on DuckDB 1.4.4)
            chunk = ds.first_day
            while chunk <= before:
                last = min(chunk + timedelta(weeks=13), before + timedelta(days=7))
                replace_kpis(conn, "week", chunk, last - timedelta(days=1))
                chunk = last
            take_snapshots(conn, "week", [ds.first_day + timedelta(weeks=i)
                                          for i in range(ds.weeks - 1)])
        conn.execute("CHECKPOINT")
        counts = {name: conn.execute(f"SELECT count(*) FROM normalized.{name}").fetchone()[0]
                  for name, _ in GENERATORS}
    spec = {"spec": ds.spec(), "counts": counts, "seconds": time.perf_counter() - started}
    path.with_suffix(".json").write_text(json.dumps(spec))
