"""Demo GA4 BigQuery export: users whose journeys cross channels, written as export files.

The aggregate GA4 stream (``payloads_ga4``) knows sessions by their own source only. For
multi-touch attribution the pipeline needs what a GA4 property's BigQuery export holds:
one record per event, per pseudonymous user, so a journey (Instagram post today, Google
next week, the newsletter the week after, then a purchase) can be followed. This module
simulates those users and writes ``analytics_<property>/events_YYYYMMDD.json.gz`` files in
the export's shape (``lib/core/platforms/ga4_export.py``), which the reader then reads like
any real export.

The model, per brand (one GA4 property each) and per month in which users first arrive:

- new users arrive at a rate that makes the brand's sessions about the same as the
  aggregate demo's (about 855 a day at scale 1, ``World.web_day``), with the same yearly
  rhythm; each user has 1 + a geometric number of sessions (mean about 2.2), days apart
  (exponential gaps, mean 5 days, so journeys span days to weeks);
- the first session comes through an acquisition mix where social (organic and paid, on
  Facebook, Instagram, LinkedIn and TikTok) and search dominate; later sessions through a
  return mix where search, email and direct dominate: the journeys that make last-click
  attribution undervalue social;
- every session may convert (sign-up, lead, purchase), more likely on later sessions.

Everything is vectorized with numpy per cohort, seeded by (seed, brand, month), so any
window of days gives the same records whatever window was asked before, and a cohort is
built once per run (bounded cache). The records are assembled and written by DuckDB
(one ``COPY`` per day from a month's table), not by Python loops: two years of four
brands are millions of events, and the ``make run`` path must stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

from kpi_pipeline.lib.core.platforms.ga4_export import dataset_name
from kpi_pipeline.lib.sources.demo.world import FX_BASE_PER_EUR, World, rng_for, season_factor


@dataclass(frozen=True)
class Channel:
    """One way into the site: the UTM values GA4 records, and the journey weights."""

    source: str
    medium: str
    campaign: str
    acquire: float  # weight in the first-session mix
    ret: float  # weight in the later-session mix


# Every platform organic and paid, search organic and paid, email, referral and direct.
CHANNELS: tuple[Channel, ...] = (
    Channel("google", "organic", "(organic)", 0.22, 0.30),
    Channel("google", "cpc", "brand_search", 0.05, 0.06),
    Channel("(direct)", "(none)", "(direct)", 0.10, 0.26),
    Channel("newsletter", "email", "weekly_digest", 0.00, 0.17),
    Channel("partnerblog.example", "referral", "(referral)", 0.04, 0.02),
    Channel("facebook", "social", "always_on", 0.08, 0.03),
    Channel("facebook", "paid_social", "prospecting", 0.06, 0.01),
    Channel("l.facebook.com", "referral", "(referral)", 0.03, 0.02),
    Channel("ig", "social", "bio_link", 0.10, 0.04),
    Channel("instagram", "paid_social", "spring_sale", 0.08, 0.02),
    Channel("lnkd.in", "social", "thought_leadership", 0.05, 0.02),
    Channel("linkedin", "paid_social", "lead_gen", 0.05, 0.01),
    Channel("tiktok", "social", "creator_posts", 0.06, 0.02),
    Channel("tiktok", "paid_social", "creator_collab", 0.08, 0.02),
)

# Mean sessions a user makes: 1 + geometric(P_MORE) - 1 extra sessions.
P_STOP = 0.45
MEAN_SESSIONS = 1 / P_STOP
MAX_SESSIONS = 10
MEAN_GAP_DAYS = 5.0
MAX_JOURNEY_DAYS = 75  # a cohort's users cannot have sessions later than this after arrival
SESSIONS_PER_DAY_AT_SCALE_1 = 855.0  # World.web_day's mean total at season 1
# Conversion probability per session, rising with the session's rank in the journey.
CONVERSION_RATES = {"sign_up": 0.010, "generate_lead": 0.008, "purchase": 0.007}
RANK_LIFT = 0.45  # each earlier session adds this much to the base rate
CHANNEL_LIFT = {"email": 1.8, "(none)": 1.3, "cpc": 1.4}
AOV_EUR = 55.0
# The share of the aggregate demo's users the export simulates. All of them (1.0) is about
# 2 million sessions and 5 million events for two years of four brands: 60 CPU-seconds to
# write, far too much for the ``make run`` path (DuckDB writes gzipped JSON at about 10 us
# an event); one user in twenty keeps the channel mix and the journeys at a twentieth of
# the volume (see the README's "Web events and attribution").
DEFAULT_SHARE = 0.05


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _weights(kind: str) -> np.ndarray:
    w = np.array([getattr(c, kind) for c in CHANNELS], dtype=float)
    return np.cumsum(w / w.sum())


@lru_cache(maxsize=32)  # a window of a few months for up to six brands
def _cohort(seed: int, brand_key: str, scale: float, currency: str, share: float,
            month: date) -> pd.DataFrame:
    """The sessions of the users who first arrive in ``month``: one row per session, with
    the session's local day, start second, channel index and conversion events."""
    rng = rng_for(seed, "ga4_events", brand_key, month.isoformat())
    days = (_next_month(month) - month).days
    # new users per day so that sessions per day match the aggregate demo's volume
    rate = np.array([SESSIONS_PER_DAY_AT_SCALE_1 * scale * season_factor(month + timedelta(d))
                     * share / MEAN_SESSIONS for d in range(days)])
    arrivals = rng.poisson(rate)
    n_users = int(arrivals.sum())
    first_day = np.repeat(np.arange(days), arrivals)
    n_sessions = np.minimum(rng.geometric(P_STOP, n_users), MAX_SESSIONS)
    user = np.repeat(np.arange(n_users), n_sessions)
    rank = np.arange(len(user)) - np.repeat(np.cumsum(n_sessions) - n_sessions, n_sessions)
    gaps = np.where(rank == 0, 0.0, rng.exponential(MEAN_GAP_DAYS, len(user)))
    # cumulative gap within each user's journey
    cum = np.cumsum(gaps)
    offset = cum - np.repeat(cum[np.cumsum(n_sessions) - n_sessions], n_sessions)
    day_index = first_day[user] + np.floor(offset).astype(np.int64)
    keep = (day_index - first_day[user]) <= MAX_JOURNEY_DAYS
    first_cdf, return_cdf = _weights("acquire"), _weights("ret")
    draw = rng.random(len(user))
    channel = np.where(rank == 0, np.searchsorted(first_cdf, draw, side="right"),
                       np.searchsorted(return_cdf, draw, side="right"))
    channel = np.minimum(channel, len(CHANNELS) - 1)
    # seconds after local midnight: 06:00 to 22:50, so a session's events stay on its day
    start_second = rng.integers(6 * 3600, 22 * 3600 + 40 * 60, len(user))
    # A user's sessions on one day start in the order of the journey, a second apart at
    # least (the same second would be the same ga_session_id): the rows are in (user,
    # rank) order, which is (user, day, rank) order, so the day's seconds are sorted into
    # it and each gets its place in the day added.
    start_second = start_second[np.lexsort((start_second, day_index, user))]
    same_day = np.concatenate(([False], (user[1:] == user[:-1])
                               & (day_index[1:] == day_index[:-1])))
    group_start = np.maximum.accumulate(np.where(~same_day, np.arange(len(user)), 0))
    start_second = start_second + (np.arange(len(user)) - group_start)
    mediums = np.array([c.medium for c in CHANNELS])[channel]
    lift = np.ones(len(user))
    for medium, factor in CHANNEL_LIFT.items():
        lift[mediums == medium] = factor
    lift *= 1.0 + RANK_LIFT * rank
    frame = pd.DataFrame({
        "user_index": user.astype(np.int64),
        "rank": rank.astype(np.int64),
        "day": pd.to_datetime(month) + pd.to_timedelta(day_index, unit="D"),
        "start_second": start_second.astype(np.int64),
        "channel": channel.astype(np.int64),
    })
    for event, base in CONVERSION_RATES.items():
        frame[event] = rng.random(len(user)) < base * lift
    aov = AOV_EUR * FX_BASE_PER_EUR[currency]
    frame["revenue"] = np.round(aov * rng.lognormal(0, 0.35, len(user)), 2)
    firsts = frame["rank"].to_numpy() == 0
    first_start = np.zeros(n_users, dtype=np.int64)
    first_start[user[firsts]] = start_second[firsts]
    frame["first_visit_second"] = first_start[user]
    frame["first_day"] = (pd.to_datetime(month)
                          + pd.to_timedelta(first_day[user], unit="D"))
    frame["first_channel"] = channel[np.cumsum(n_sessions) - n_sessions][user]
    frame["cohort_key"] = int(rng.integers(10**8, 10**9))
    return frame[keep].reset_index(drop=True)


def _midnights(timezone: str, first: date, last: date) -> pd.DataFrame:
    """Each local day's midnight as UTC epoch seconds (time zones shift with DST)."""
    zone = ZoneInfo(timezone)
    days = [first + timedelta(d) for d in range((last - first).days + 1)]
    return pd.DataFrame({
        "day": pd.to_datetime(days),
        "midnight": [int(datetime(d.year, d.month, d.day, tzinfo=zone).timestamp())
                     for d in days],
    })


def sessions(world: World, brand_key: str, first: date, last: date,
             share: float = DEFAULT_SHARE) -> pd.DataFrame:
    """Every demo session of a brand with a local day in ``first``..``last``, from the
    cohorts that can reach it (users who arrived up to MAX_JOURNEY_DAYS before)."""
    brand = world.brand(brand_key)
    month = _month_start(first - timedelta(days=MAX_JOURNEY_DAYS + 1))
    parts = []
    while month <= last:
        cohort = _cohort(world.seed, brand.key, brand.scale, brand.currency, share, month)
        in_window = cohort["day"].between(pd.Timestamp(first), pd.Timestamp(last))
        part = cohort[in_window].copy()
        part["cohort"] = month.strftime("%Y%m")
        parts.append(part)
        month = _next_month(month)
    frame = pd.concat(parts, ignore_index=True)
    return frame


def _channels_frame() -> pd.DataFrame:
    return pd.DataFrame([{"channel": i, "source": c.source, "medium": c.medium,
                          "campaign": c.campaign} for i, c in enumerate(CHANNELS)])


# One record per event, in the export's nested shape: first_visit, session_start and the
# conversions, the events attribution reads (page views and the other parameters a real
# export carries would only make make run slower: 40 % more records, none of them read).
# The session's UTMs are both collected with its first event and GA4's session-scoped
# last click; a direct session has no collected UTMs (GA4 leaves them NULL) and GA4
# carries the last non-direct source of the user into the session's last click only in
# its own reports, so the export's session_traffic_source_last_click of a direct session
# says (direct) / (none).
_EVENTS_SQL = """
WITH s AS (
    SELECT s.*, c.source, c.medium, c.campaign,
           fc.source AS first_source, fc.medium AS first_medium, fc.campaign AS first_campaign,
           m.midnight + s.start_second AS session_ts,
           fm.midnight_first + s.first_visit_second AS first_ts,
           cohort || lpad(CAST(s.user_index AS VARCHAR), 7, '0') || CAST(cohort_key AS VARCHAR)
               AS user_num
    FROM demo_sessions s
    JOIN channels c USING (channel)
    JOIN channels fc ON fc.channel = s.first_channel
    JOIN midnights m USING (day)
    JOIN (SELECT day AS first_day, midnight AS midnight_first FROM midnights) fm USING (first_day)
),
e AS (
    SELECT *, 'first_visit' AS event_name, 0 AS offset_s FROM s WHERE "rank" = 0
    UNION ALL SELECT *, 'session_start', 0 FROM s
    UNION ALL SELECT *, 'sign_up', 240 FROM s WHERE sign_up
    UNION ALL SELECT *, 'generate_lead', 300 FROM s WHERE generate_lead
    UNION ALL SELECT *, 'purchase', 420 FROM s WHERE purchase
)
SELECT
    strftime(day, '%Y%m%d') AS event_date,
    CAST((session_ts + offset_s) * 1000000 + (offset_s * 7919) % 1000 AS VARCHAR)
        AS event_timestamp,
    event_name,
    [{'key': 'ga_session_id', 'value': {'int_value': CAST(session_ts AS VARCHAR)}},
     {'key': 'ga_session_number', 'value': {'int_value': CAST("rank" + 1 AS VARCHAR)}}]
        AS event_params,
    NULL::VARCHAR AS user_id,
    user_num || '.' || CAST(first_ts AS VARCHAR) AS user_pseudo_id,
    {'name': first_campaign, 'medium': first_medium, 'source': first_source}
        AS traffic_source,
    CASE WHEN source = '(direct)' THEN NULL ELSE
        {'manual_source': source, 'manual_medium': medium, 'manual_campaign_name': campaign}
    END AS collected_traffic_source,
    {'manual_campaign': {'source': source, 'medium': medium, 'campaign_name': campaign}}
        AS session_traffic_source_last_click,
    CASE WHEN event_name = 'purchase' THEN
        {'purchase_revenue': revenue, 'transaction_id': 'T' || user_num || CAST("rank" AS VARCHAR)}
    END AS ecommerce,
    strftime(day, '%Y%m%d') AS file_day
FROM e
"""


def _month_chunks(first: date, last: date) -> list[tuple[date, date]]:
    """``first``..``last`` cut at month ends: a chunk's sessions fit in memory whatever
    the window's length."""
    chunks, current = [], first
    while current <= last:
        end = min(_next_month(current) - timedelta(days=1), last)
        chunks.append((current, end))
        current = end + timedelta(days=1)
    return chunks


def write_export(world: World, folder: Path, first: date, last: date,
                 file_format: str = "json.gz", share: float = DEFAULT_SHARE) -> list[Path]:
    """Write every brand's export files for the local days ``first``..``last`` into
    ``folder/analytics_<property>/events_YYYYMMDD.<format>``; return the files written.

    A day's file is replaced whole (written in a staging folder, then moved over it), so
    a rerun over the same days leaves the same files; another window holding the same day
    writes the same records, in an order that may differ (DuckDB's partitioned COPY
    orders a file's rows by its partitioning, not by the query). ``file_format``: ``json.gz``
    (BigQuery's newline-delimited JSON extract, gzipped) or ``parquet``. ``share``: the
    share of the aggregate demo's users simulated (``DEFAULT_SHARE``).
    """
    if file_format not in ("json.gz", "parquet"):
        raise ValueError(f"file_format {file_format!r}: expected 'json.gz' or 'parquet'")
    if not 0 < share <= 1:
        raise ValueError(f"share {share}: expected a number in (0, 1]")
    options = "FORMAT json, COMPRESSION gzip" if file_format == "json.gz" else "FORMAT parquet"
    written: list[Path] = []
    conn = duckdb.connect()
    try:
        conn.execute("SET threads = 1")
        conn.register("channels", _channels_frame())
        for brand in world.brands:
            target = folder / dataset_name(brand.account("ga4_property").account_id)
            for low, high in _month_chunks(first, last):
                frame = sessions(world, brand.key, low, high, share)
                if frame.empty:
                    continue
                earliest = min(frame["first_day"].min().date(), low)
                conn.register("demo_sessions", frame)
                conn.register("midnights", _midnights(brand.timezone, earliest, high))
                target.mkdir(parents=True, exist_ok=True)
                conn.execute(f"CREATE OR REPLACE TEMP TABLE month_events AS {_EVENTS_SQL}")
                # One COPY per day (DuckDB 1.4 has no PARTITION_BY for JSON), each to a
                # temporary name renamed into place, so a reader never meets half a file.
                days = [d for (d,) in conn.execute(
                    "SELECT DISTINCT file_day FROM month_events ORDER BY 1").fetchall()]
                for day in days:
                    if not day.isdigit():
                        raise RuntimeError(f"unexpected export day {day!r}")
                    destination = target / f"events_{day}.{file_format}"
                    partial = destination.with_name(destination.name + ".writing")
                    path = partial.as_posix().replace("'", "''")  # COPY takes no bound target
                    conn.execute("COPY (SELECT * EXCLUDE (file_day) FROM month_events "
                                 f"WHERE file_day = '{day}') TO '{path}' ({options})")
                    partial.replace(destination)
                    written.append(destination)
                conn.unregister("demo_sessions")
                conn.unregister("midnights")
    finally:
        conn.close()
    return written
