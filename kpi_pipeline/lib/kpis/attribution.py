"""Multi-touch attribution of web conversions to channels, platforms and campaigns, in SQL.

Last-click attribution undervalues social: a person finds the brand on Instagram, comes
back through search and buys from the newsletter, and the purchase goes to email. From
``normalized.web_sessions`` (one touch per session, with its channel, platform and
campaign) and the conversions in ``normalized.web_events`` this module gives each
conversion its journey and splits the conversion between the journey's touches under
several models, so social's part can be read beside the last click.

Rules:

- **User.** A touch belongs to a conversion's user when it is a session of the same GA4
  property and the same user: ``user_id`` where the site set one on any of the device's
  sessions, else ``user_pseudo_id`` (one browser).
- **Journey.** The user's sessions that started within the lookback window before the
  conversion (``lookback_days``, default 30; a session that started exactly
  ``lookback_days`` days before counts), up to and including the session holding the
  conversion. Touches are ordered by session start, then ``ga_session_id``, then
  ``user_pseudo_id``, so ties (two devices starting a session in the same second) are
  broken the same way on every run.
- **Conversions.** Events ``purchase``, ``sign_up``, ``generate_lead`` (reported as
  ``lead``). A purchase whose ``transaction_id`` was already counted is a duplicate GA4
  sent twice and counts once (the first). Revenue is ``ecommerce.purchase_revenue`` in
  the property's currency.
- **Models** (``MODELS``), each giving every conversion credits that sum to 1:
  ``last_click`` (the session holding the conversion: GA4's session source, direct
  included), ``last_non_direct`` (the last touch that is not direct; a direct-only journey
  gives it to its last touch), ``first_touch``, ``linear`` (1/n each),
  ``position_based`` (40 % first, 40 % last, 20 % shared by the ones between; two touches
  50/50; one touch 100 %) and ``time_decay`` (weight 2^(-age / half-life), age in days from
  the touch's start to the conversion, half-life ``half_life_days``, default 7; weights
  normalized to 1).
- **Assisted**: a conversion whose journey had a touch of a scope (a channel, platform or
  campaign) that did not get the last non-direct click. ``social_assisted``: the journey
  had a social touch and the last non-direct click was not social.
- Path length is the journey's touches; time to conversion is the days from its first
  touch to the conversion.
- **Customer cohorts.** A customer is a user (as above) of one property; the purchase
  that acquired them is their first stored purchase (by time, then conversion id), and
  its last click (the session holding it) is their acquisition channel and platform. The
  customer's window is ``cohort_window_days`` days from that purchase's local day, that
  day included (default 180). ``cohort_purchases`` holds every purchase of a customer
  within their window, the first one included, and is rebuilt whole from
  ``conversions`` and ``touch_credits`` with every window written, so a later purchase reaches
  its customer's cohort whatever week it was attributed in. The KPI layer's cohort
  lifetime value sums it (``lib/kpis/facts.py``).

Tables in schema ``attribution``: ``conversions`` (one row per conversion: its journey),
``touch_credits`` (conversion x touch: the touch and its credit under each model, one
column per model; the view ``credits`` reads it as conversion x touch x model), ``daily``
(conversion day x property x conversion type x model x channel x platform x campaign:
attributed conversions and revenue), the view ``assists_daily`` (the same scopes but the
model: conversions touched and assisted, read from ``touch_credits`` and ``conversions``),
``cohort_purchases`` (a customer's purchase within their window;
with the view ``cohort_purchases_reporting``, its revenue in the reporting currency), and
views ``weekly`` / ``monthly`` / ``quarterly`` (ISO weeks from Monday, calendar months and
quarters) and ``journeys_daily`` / ``_weekly`` / ``_monthly`` / ``_quarterly``, and
``daily_reporting``:
``daily`` with its revenue in the reporting currency (``revenue_reporting``: the
property's currency as GA4's Data API reports it in ``normalized.web_daily``, converted at
the day's rate in ``normalized.fx_daily``). A window of conversion days is replaced whole
in one transaction. No table declares its key (``KEYS``); ``duplicate_keys`` proves them
after a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from kpi_pipeline.lib.core.postgres_store import (
    create_views,
    is_postgres,
    query_server,
    run_on_server,
)
from kpi_pipeline.lib.normalized.store import ensure_tables, transaction
from kpi_pipeline.lib.normalized.web_events import ensure_web_tables

SCHEMA = "attribution"
MODELS = ("last_click", "last_non_direct", "first_touch", "linear", "position_based",
          "time_decay")
DEFAULT_LOOKBACK_DAYS = 30
DEFAULT_HALF_LIFE_DAYS = 7.0
SOCIAL_CHANNELS = ("organic_social", "paid_social")
DEFAULT_COHORT_WINDOW_DAYS = 180


@dataclass(frozen=True)
class AttributionSettings:
    """The journey window and the time-decay half-life, which every row stores, and the
    customers' lifetime-value window, which every cohort purchase stores."""

    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    cohort_window_days: int = DEFAULT_COHORT_WINDOW_DAYS

    def __post_init__(self) -> None:
        if not 1 <= self.lookback_days <= 365:
            raise ValueError(f"lookback_days {self.lookback_days}: expected 1..365 days")
        if not 1 <= self.cohort_window_days <= 3660:
            raise ValueError(f"cohort_window_days {self.cohort_window_days}: expected "
                             "1..3660 days")
        if not 0 < self.half_life_days <= 365:
            raise ValueError(f"half_life_days {self.half_life_days}: expected a number of "
                             "days in (0, 365]")


# Each table's key. None is declared: DuckDB builds and checks an index per declared key
# on every insert and writes it at commit, which cost more than the attribution itself,
# while every write replaces a window (or, for cohort_purchases, the table) whole from
# rows unique by construction. ``duplicate_keys`` proves them unique after a write.
KEYS = {
    "conversions": ("conversion_id",),
    "touch_credits": ("conversion_id", "touch"),
    "daily": ("day", "property_id", "conversion_type", "model", "channel", "platform",
              "campaign"),
    "cohort_purchases": ("conversion_id",),
}
# the column of the local day a window is replaced by (cohort_purchases: rebuilt whole)
WINDOW_COLUMNS = {"conversions": "conversion_date", "touch_credits": "conversion_date",
                  "daily": "day"}

DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.conversions (
        conversion_id VARCHAR NOT NULL,     -- key: the event's file and record
        property_id VARCHAR NOT NULL,
        conversion_date DATE NOT NULL,      -- local day of the conversion event
        conversion_ts TIMESTAMP NOT NULL,   -- UTC
        conversion_type VARCHAR NOT NULL,   -- purchase, sign_up, lead
        revenue DOUBLE NOT NULL,
        user_key VARCHAR NOT NULL,
        touches INTEGER NOT NULL,           -- path length
        days_to_convert DOUBLE NOT NULL,    -- from the first touch to the conversion
        social_touched BOOLEAN NOT NULL,
        last_non_direct_social BOOLEAN NOT NULL,
        social_assisted BOOLEAN NOT NULL,
        path VARCHAR NOT NULL,              -- e.g. 'instagram > organic_search > email'
        lookback_days INTEGER NOT NULL,
        half_life_days DOUBLE NOT NULL
    )""",
    # one row per touch, the six models' credits side by side (a row per touch and model
    # wrote six times the rows, each repeating the touch, for the same figures)
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.touch_credits (
        conversion_id VARCHAR NOT NULL,
        conversion_date DATE NOT NULL,
        touch INTEGER NOT NULL,             -- 1 = first touch of the journey
        session_start TIMESTAMP NOT NULL,
        channel VARCHAR NOT NULL,
        platform VARCHAR,
        campaign VARCHAR NOT NULL,
        {", ".join(f"{model} DOUBLE NOT NULL" for model in MODELS)}  -- credits (MODELS)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.daily (
        day DATE NOT NULL,
        property_id VARCHAR NOT NULL,
        conversion_type VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        channel VARCHAR NOT NULL,
        platform VARCHAR NOT NULL,          -- '' for a channel without a platform
        campaign VARCHAR NOT NULL,
        conversions DOUBLE NOT NULL,        -- attributed: sum of credits
        revenue DOUBLE NOT NULL,            -- attributed: sum of credit x revenue
        lookback_days INTEGER NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.cohort_purchases (
        conversion_id VARCHAR NOT NULL,     -- key: a purchase within its customer's window
        property_id VARCHAR NOT NULL,
        user_key VARCHAR NOT NULL,          -- the customer (user of the property)
        cohort_date DATE NOT NULL,          -- local day of the customer's first purchase
        conversion_date DATE NOT NULL,      -- local day of this purchase
        first_purchase BOOLEAN NOT NULL,    -- this purchase acquired the customer
        revenue DOUBLE NOT NULL,            -- property currency
        channel VARCHAR NOT NULL,           -- the first purchase's last click
        platform VARCHAR,                   -- ... and its social platform, if any
        window_days INTEGER NOT NULL        -- the window: cohort_date .. + window_days - 1
    )""",
)

_TABLE_DDL = dict(zip(KEYS, DDL[1:], strict=True))

_SOCIAL = "(" + ", ".join(f"'{c}'" for c in SOCIAL_CHANNELS) + ")"

# The journeys of the conversions of the days $first..$last (parameters: also $lookback,
# $half_life), as the temp table ``journey_touches``: one row per conversion x touch.
_JOURNEYS = """
CREATE OR REPLACE TEMP TABLE journey_touches AS
WITH stitched AS (
    SELECT property_id, user_pseudo_id, max(user_id) AS user_id
    FROM normalized.web_sessions
    WHERE session_date BETWEEN $first - ($lookback + 1) AND $last AND user_id IS NOT NULL
    GROUP BY ALL
),
conv_events AS (
    SELECT e.property_id, e.user_pseudo_id, e.user_id, e.ga_session_id, e.event_date,
           e.event_ts, e.conversion_type, e.revenue, e.transaction_id,
           e.source_file || ':' || CAST(e.source_record AS VARCHAR) AS conversion_id,
           row_number() OVER (PARTITION BY e.property_id, e.transaction_id
                              ORDER BY e.event_ts, e.source_file, e.source_record) AS copy
    FROM normalized.web_events e
    WHERE e.conversion_type IS NOT NULL AND e.event_date BETWEEN $first AND $last
),
touches AS (
    SELECT w.property_id, w.user_pseudo_id, w.ga_session_id, w.session_start, w.channel,
           w.platform, w.campaign, w.is_paid,
           coalesce(w.user_id, s.user_id, w.user_pseudo_id) AS user_key
    FROM normalized.web_sessions w
    LEFT JOIN stitched s USING (property_id, user_pseudo_id)
    WHERE w.session_date BETWEEN $first - ($lookback + 1) AND $last
),
-- The session holding the conversion ends its journey: a session another device of the
-- same user started after it (before the conversion) is not one of its touches, and the
-- last click is GA4's session source of the conversion. A conversion whose session is
-- not stored ends its journey at the conversion's time.
conversions AS (
    SELECT c.conversion_id, c.property_id, c.event_date AS conversion_date,
           c.event_ts AS conversion_ts, c.conversion_type, coalesce(c.revenue, 0) AS revenue,
           coalesce(c.user_id, s.user_id, c.user_pseudo_id) AS user_key,
           h.session_start AS holding_start, c.ga_session_id AS holding_session,
           c.user_pseudo_id AS holding_browser
    -- the sessions table itself, not touches: read once, touches is not materialized;
    -- a RIGHT JOIN, so DuckDB builds its hash table on the conversions and streams the
    -- sessions past it (a LEFT JOIN from the conversions hashed every session: 0.12 CPU s
    -- more at five times the demo's volume)
    FROM normalized.web_sessions h
    RIGHT JOIN (SELECT * FROM conv_events WHERE transaction_id IS NULL OR copy = 1) c
      ON h.property_id = c.property_id
     AND h.user_pseudo_id = c.user_pseudo_id AND h.ga_session_id = c.ga_session_id
     AND h.session_date BETWEEN $first - ($lookback + 1) AND $last
    LEFT JOIN stitched s ON s.property_id = c.property_id
     AND s.user_pseudo_id = c.user_pseudo_id
),
joined AS (
    SELECT c.*, t.session_start, t.ga_session_id, t.user_pseudo_id, t.channel,
           t.platform, t.campaign, t.is_paid,
           epoch(c.conversion_ts - t.session_start) / 86400.0 AS age_days
    FROM conversions c
    JOIN touches t ON t.property_id = c.property_id AND t.user_key = c.user_key
     AND t.session_start <= c.conversion_ts
     AND t.session_start >= c.conversion_ts - to_days(CAST($lookback AS INTEGER))
     AND (c.holding_start IS NULL
          OR (t.session_start, t.ga_session_id, t.user_pseudo_id)
             <= (c.holding_start, c.holding_session, c.holding_browser))
),
ordered AS (
    SELECT *,
           row_number() OVER (PARTITION BY conversion_id
                              ORDER BY session_start, ga_session_id, user_pseudo_id)
               AS touch,
           pow(2.0, -age_days / $half_life) AS decay
    FROM joined
),
-- one pass over each journey (the same window for all four): its length, its last
-- non-direct touch (a direct-only journey's last touch) and its decay weights' total
marked AS (
    SELECT *,
           count(*) OVER p AS n,
           coalesce(max(CASE WHEN channel <> 'direct' THEN touch END) OVER p,
                    count(*) OVER p) AS last_non_direct_touch,
           sum(decay) OVER p AS decay_total
    FROM ordered
    WINDOW p AS (PARTITION BY conversion_id)
)
SELECT conversion_id, property_id, conversion_date, conversion_ts, conversion_type, revenue,
       user_key, touch, n, session_start, channel, platform, campaign, is_paid, age_days,
       decay, decay_total, last_non_direct_touch
FROM marked
"""

# A conversion with no touch at all (its session's events arrived, its session_start did
# not: a file missing from the export) cannot be attributed; the check counts them.
# Each model's credit of a touch of ``journey_touches``.
_CREDIT_OF = {
    "last_click": "CASE WHEN touch = n THEN 1.0 ELSE 0.0 END",
    "last_non_direct": "CASE WHEN touch = last_non_direct_touch THEN 1.0 ELSE 0.0 END",
    "first_touch": "CASE WHEN touch = 1 THEN 1.0 ELSE 0.0 END",
    "linear": "1.0 / n",
    "position_based": """CASE WHEN n = 1 THEN 1.0
                              WHEN n = 2 THEN 0.5
                              WHEN touch = 1 OR touch = n THEN 0.4
                              ELSE 0.2 / (n - 2) END""",
    "time_decay": "decay / decay_total",
}
assert tuple(_CREDIT_OF) == MODELS

_CREDITS = f"""
INSERT INTO {SCHEMA}.touch_credits
SELECT conversion_id, conversion_date, touch, session_start, channel, platform, campaign,
       {", ".join(f"CAST({credit} AS DOUBLE)" for credit in _CREDIT_OF.values())}
FROM journey_touches
"""

# ``credits``, the view: one row per touch and model, as the table was before the models'
# credits became columns of ``touch_credits`` (portable SQL: PostgreSQL stores it too).
_CREDITS_VIEW = f"""
    SELECT t.conversion_id, t.conversion_date, m.model, t.touch, t.session_start,
           t.channel, t.platform, t.campaign,
           CASE m.model {" ".join(f"WHEN '{model}' THEN t.{model}" for model in MODELS)}
           END AS credit
    FROM {SCHEMA}.touch_credits t
    CROSS JOIN (VALUES {", ".join(f"('{model}')" for model in MODELS)}) AS m(model)"""

_CONVERSIONS = f"""
INSERT INTO {SCHEMA}.conversions
SELECT conversion_id, property_id, conversion_date, conversion_ts, conversion_type, revenue,
       user_key, n AS touches,
       max(age_days) AS days_to_convert,
       bool_or(channel IN {_SOCIAL}) AS social_touched,
       bool_or(touch = last_non_direct_touch AND channel IN {_SOCIAL})
           AS last_non_direct_social,
       bool_or(channel IN {_SOCIAL}) AND NOT bool_or(touch = last_non_direct_touch
                                                     AND channel IN {_SOCIAL})
           AS social_assisted,
       -- the touches' labels in touch order (sorting each journey's short list costs
       -- about half of an ordered string_agg over the journeys' touches)
       array_to_string(list_transform(list_sort(list({{'t': touch, 'p': coalesce(
           platform || CASE WHEN is_paid THEN ' (paid)' ELSE '' END, channel)}})),
           lambda x: x.p), ' > ') AS path,
       $lookback, $half_life
FROM journey_touches
GROUP BY conversion_id, property_id, conversion_date, conversion_ts, conversion_type,
         revenue, user_key, n
"""

# Summed from the journeys in memory, each scope's touches once with every model's credit
# side by side, then one row per model (the credits of a touch as ``touch_credits`` stores
# them: DOUBLE). Rounded (to 1e-9 conversions, 1e-6 money) so a rerun stores the same
# numbers whatever order DuckDB's threads add the credits in.
_DAILY = f"""
INSERT INTO {SCHEMA}.daily
WITH credited AS (
    SELECT conversion_date, property_id, conversion_type, channel,
           coalesce(platform, '') AS platform, campaign, revenue,
           {", ".join(f"CAST({credit} AS DOUBLE) AS {model}"
                      for model, credit in _CREDIT_OF.items())}
    FROM journey_touches
),
sums AS (
    SELECT conversion_date, property_id, conversion_type, channel, platform, campaign,
           {", ".join(f"round(fsum({m}), 9) AS {m}_c, round(fsum({m} * revenue), 6) AS {m}_r"
                      for m in _CREDIT_OF)}
    FROM credited GROUP BY ALL
),
long AS (
    UNPIVOT sums ON {", ".join(f"({m}_c, {m}_r) AS {m}" for m in _CREDIT_OF)}
    INTO NAME model VALUE conversions, revenue
)
SELECT conversion_date, property_id, conversion_type, model, channel, platform, campaign,
       conversions, revenue, $lookback
FROM long
"""

# ``assists_daily``, the view: per day and scope (channel, platform, campaign) the
# conversions whose journey had a touch of the scope (touched) and those of them whose
# last non-direct click was not the scope's (assisted: no touch of the scope has credit 1
# under last_non_direct), from the stored touches and conversions. It was a table written
# beside them on every run, for the same figures (portable SQL: PostgreSQL stores it too).
_ASSISTS_VIEW = f"""
    SELECT t.conversion_date AS day, v.property_id, v.conversion_type, t.channel,
           t.platform, t.campaign, count(*) AS touched_conversions,
           count(*) FILTER (WHERE NOT t.got_last_non_direct) AS assisted_conversions,
           v.lookback_days
    FROM (SELECT conversion_id, conversion_date, channel,
                 coalesce(platform, '') AS platform, campaign,
                 bool_or(last_non_direct = 1) AS got_last_non_direct
          FROM {SCHEMA}.touch_credits
          GROUP BY conversion_id, conversion_date, channel, coalesce(platform, ''),
                   campaign) AS t
    JOIN {SCHEMA}.conversions AS v ON v.conversion_id = t.conversion_id
    GROUP BY t.conversion_date, v.property_id, v.conversion_type, t.channel, t.platform,
             t.campaign, v.lookback_days"""

# Every customer's purchases within their window, from every stored purchase: the first
# purchase of a (property, user) by time then id, its last-click touch (credit 1 under
# last_click) as the acquisition channel, and the purchases from its day to the window's
# last day (parameter: $window).
_COHORTS = f"""
INSERT INTO {SCHEMA}.cohort_purchases
WITH purchases AS (
    SELECT conversion_id, property_id, user_key, conversion_date, revenue,
           row_number() OVER (PARTITION BY property_id, user_key
                              ORDER BY conversion_ts, conversion_id) AS nth
    FROM {SCHEMA}.conversions WHERE conversion_type = 'purchase'
),
firsts AS (
    SELECT p.property_id, p.user_key, p.conversion_id AS first_id,
           p.conversion_date AS cohort_date, c.channel, c.platform
    FROM purchases p
    JOIN {SCHEMA}.touch_credits c ON c.conversion_id = p.conversion_id
     AND c.last_click = 1
    WHERE p.nth = 1
)
SELECT p.conversion_id, p.property_id, p.user_key, f.cohort_date, p.conversion_date,
       p.conversion_id = f.first_id, p.revenue, f.channel, f.platform, $window
FROM purchases p JOIN firsts f USING (property_id, user_key)
WHERE p.conversion_date BETWEEN f.cohort_date
                            AND f.cohort_date + CAST($window - 1 AS INTEGER)
"""

TABLES = ("conversions", "touch_credits", "daily")


def replace_cohort_purchases(conn: duckdb.DuckDBPyConnection, window_days: int) -> int:
    """Rebuild ``cohort_purchases`` whole from the stored conversions and touch credits, with
    a window of ``window_days`` days (inside the caller's transaction, if any); return its
    rows."""
    conn.execute(f"DELETE FROM {SCHEMA}.cohort_purchases")
    return _inserted(conn, _COHORTS, {"window": int(window_days)})


# Each GA4 property's brand and currencies, as the GA4 Data API reports them in
# normalized.web_daily (one each per property; min() picks it in any dialect).
_PROPERTIES = """properties AS (
            SELECT property_id, min(brand) AS brand, min(currency) AS currency,
                   min(reporting_currency) AS reporting_currency
            FROM normalized.web_daily GROUP BY property_id)"""


def _views(conn: duckdb.DuckDBPyConnection) -> None:
    """The credits one row per touch and model, weekly and monthly roll-ups of the daily
    tables, and journey summaries per grain: sums only (path length and time to
    conversion as totals beside their counts), so any roll-up of the rows is exact. Each is
    made again only when its definition changed (``create_views``)."""
    views: dict[str, str] = {f"{SCHEMA}.credits": _CREDITS_VIEW,
                             f"{SCHEMA}.assists_daily": _ASSISTS_VIEW}
    for grain, unit in (("weekly", "week"), ("monthly", "month"), ("quarterly", "quarter")):
        views[f"{SCHEMA}.{grain}"] = f"""
            SELECT CAST(date_trunc('{unit}', day) AS DATE) AS period_start, property_id,
                   conversion_type, model, channel, platform, campaign,
                   sum(conversions) AS conversions, sum(revenue) AS revenue, lookback_days
            FROM {SCHEMA}.daily
            GROUP BY 1, property_id, conversion_type, model, channel, platform, campaign,
                     lookback_days"""
    # Money in the reporting currency: GA4 reports a property's revenue in the property's
    # own currency (a brand in euros, another in yen), so properties add up only once
    # converted. The property's currency is the one the GA4 Data API reports for it in
    # normalized.web_daily; the rate is the day's in normalized.fx_daily (1 for the
    # reporting currency itself). A property never seen in web_daily, or a day without a
    # rate, has no reporting-currency revenue (NULL), never an unconverted one.
    views[f"{SCHEMA}.daily_reporting"] = f"""
        WITH {_PROPERTIES}
        SELECT d.*, p.currency, p.reporting_currency,
               d.revenue * CASE WHEN p.currency = p.reporting_currency THEN 1.0
                                ELSE f.rate END AS revenue_reporting
        FROM {SCHEMA}.daily d
        LEFT JOIN properties p USING (property_id)
        LEFT JOIN normalized.fx_daily f ON f.report_date = d.day AND f.currency = p.currency
                                       AND f.reporting_currency = p.reporting_currency"""
    # the cohort purchases the same way, each at the rate of its own day
    views[f"{SCHEMA}.cohort_purchases_reporting"] = f"""
        WITH {_PROPERTIES}
        SELECT c.*, p.brand, p.currency, p.reporting_currency,
               c.revenue * CASE WHEN p.currency = p.reporting_currency THEN 1.0
                                ELSE f.rate END AS revenue_reporting
        FROM {SCHEMA}.cohort_purchases c
        LEFT JOIN properties p USING (property_id)
        LEFT JOIN normalized.fx_daily f ON f.report_date = c.conversion_date
                                       AND f.currency = p.currency
                                       AND f.reporting_currency = p.reporting_currency"""
    for grain, unit in (("daily", "day"), ("weekly", "week"), ("monthly", "month"),
                        ("quarterly", "quarter")):
        views[f"{SCHEMA}.journeys_{grain}"] = f"""
            SELECT CAST(date_trunc('{unit}', conversion_date) AS DATE) AS period_start,
                   property_id, conversion_type,
                   count(*) AS conversions,
                   sum(revenue) AS revenue,
                   count(*) FILTER (WHERE social_touched) AS social_touched_conversions,
                   count(*) FILTER (WHERE social_touched) / count(*) AS social_touched_share,
                   count(*) FILTER (WHERE social_assisted) AS social_assisted_conversions,
                   sum(touches) AS touches_total,
                   sum(touches) / count(*) AS mean_path_length,
                   sum(days_to_convert) AS days_to_convert_total,
                   sum(days_to_convert) / count(*) AS mean_days_to_convert,
                   median(days_to_convert) AS median_days_to_convert,
                   lookback_days
            FROM {SCHEMA}.conversions GROUP BY 1, property_id, conversion_type, lookback_days"""
    create_views(conn, views)


def ensure_attribution_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the schema, its tables and views if they do not exist yet (and the
    normalized tables they read: the web events and sessions, and the web and rate tables
    of the reporting-currency view), and drop the primary keys of a store's tables made
    when they had them."""
    ensure_tables(conn)
    ensure_web_tables(conn)
    for statement in DDL:
        conn.execute(statement)
    _tables_to_views(conn)
    _drop_primary_keys(conn)
    _views(conn)


def _tables_to_views(conn: duckdb.DuckDBPyConnection) -> None:
    """Bring a store's tables that are views now to their view, in one transaction each:
    ``credits``, one row per touch and model as it was made before the models' credits
    became columns, has its rows moved into ``touch_credits`` (one per touch) and is
    dropped; ``assists_daily``, derived from the stored touches and conversions, is
    dropped. The views of those names (``_views``) take their places. Idempotent: a store
    without either table costs one catalogue lookup."""
    if is_postgres(conn):
        # DuckDB's view of the server's catalogue may be cached: ask the server
        found = {name for (name,) in query_server(
            conn, "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON "
                  f"n.oid = c.relnamespace WHERE n.nspname = '{SCHEMA}' "
                  "AND c.relname IN ('credits', 'assists_daily') AND c.relkind = 'r'")}
    else:
        found = {name for (name,) in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = "
            "current_database() AND schema_name = ? "
            "AND table_name IN ('credits', 'assists_daily')", [SCHEMA]).fetchall()}
    if "assists_daily" in found:
        with transaction(conn):
            conn.execute(f"DROP TABLE {SCHEMA}.assists_daily")
    if "credits" not in found:
        return
    touch = "conversion_id, conversion_date, touch, session_start, channel, platform, campaign"
    with transaction(conn):
        conn.execute(f"""
            INSERT INTO {SCHEMA}.touch_credits
            SELECT {touch},
                   {", ".join(f"max(credit) FILTER (WHERE model = '{model}')"
                              for model in MODELS)}
            FROM {SCHEMA}.credits GROUP BY {touch}""")
        conn.execute(f"DROP TABLE {SCHEMA}.credits")


def _drop_primary_keys(conn: duckdb.DuckDBPyConnection) -> None:
    """Bring tables made with a declared primary key to the keyless shape of ``DDL``, with
    their rows. Idempotent: a store without keys costs one catalogue lookup.

    A PostgreSQL store drops the constraints (its views stay bound to the same tables) in
    one server transaction. DuckDB cannot drop a table's key, so each keyed table is
    copied first, beside the old one, committed, and a short final transaction drops the
    old tables and renames the copies (DuckDB binds views by name when read): a crash
    before it leaves the old tables as they were, and the next attempt copies again.
    """
    if is_postgres(conn):
        keyed = [(table.split(".")[-1], name) for table, name in query_server(
            conn, "SELECT c.conrelid::regclass::text, c.conname::text FROM pg_constraint c "
                  "JOIN pg_namespace n ON n.oid = c.connamespace "
                  f"WHERE n.nspname = '{SCHEMA}' AND c.contype = 'p'")]
        drops = [f'ALTER TABLE {SCHEMA}.{table} DROP CONSTRAINT IF EXISTS "{name}";'
                 for table, name in keyed if table in KEYS]
        if drops:
            run_on_server(conn, " ".join(drops))
        return
    keyed = {table for (table,) in conn.execute(
        "SELECT DISTINCT table_name FROM duckdb_constraints() "
        "WHERE database_name = current_database() AND schema_name = ? "
        "AND constraint_type = 'PRIMARY KEY'", [SCHEMA]).fetchall()}
    tables = [table for table in KEYS if table in keyed]
    for table in tables:
        copy = f"{table}__unkeyed"
        conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{copy}")
        conn.execute(_TABLE_DDL[table].replace(f"{SCHEMA}.{table} (", f"{SCHEMA}.{copy} (", 1))
        conn.execute(f"INSERT INTO {SCHEMA}.{copy} BY NAME SELECT * FROM {SCHEMA}.{table}")
    if tables:
        with transaction(conn):
            for table in tables:
                conn.execute(f"DROP TABLE {SCHEMA}.{table}")
                conn.execute(f"ALTER TABLE {SCHEMA}.{table}__unkeyed RENAME TO {table}")


def duplicate_keys(conn: duckdb.DuckDBPyConnection, first: date, last: date
                   ) -> list[tuple[str, str, int]]:
    """(table, key, number of key values held by more than one row) of every attribution
    table whose rows of the days ``first``..``last`` (cohort_purchases: all of them) are
    not unique on its key (``KEYS``): nothing declares the keys, so this proves them."""
    found = []
    for table, key in KEYS.items():
        column = WINDOW_COLUMNS.get(table)
        where, params = (f"WHERE {column} BETWEEN ? AND ?", [first, last]) if column else ("", [])
        columns = ", ".join(key)
        (duplicated,), = conn.execute(
            f"SELECT count(*) FROM (SELECT {columns} FROM {SCHEMA}.{table} {where} "
            f"GROUP BY {columns} HAVING count(*) > 1)", params).fetchall()
        if duplicated:
            found.append((f"{SCHEMA}.{table}", f"({columns})", int(duplicated)))
    return found


def replace_attribution_window(conn: duckdb.DuckDBPyConnection, first: date, last: date,
                               settings: AttributionSettings | None = None
                               ) -> dict[str, int]:
    """Attribute the conversions of the local days ``first``..``last`` and replace the
    window's rows of every attribution table in one transaction, rebuilding the customer
    cohorts from every stored purchase in it; return rows written (the cohorts' rows in
    all)."""
    settings = settings or AttributionSettings()
    ensure_attribution_tables(conn)
    params = {"first": first, "last": last, "lookback": settings.lookback_days,
              "half_life": float(settings.half_life_days)}
    conn.execute(_JOURNEYS, params)
    counts = {}
    with transaction(conn):
        for table, column in WINDOW_COLUMNS.items():
            conn.execute(f"DELETE FROM {SCHEMA}.{table} WHERE {column} BETWEEN ? AND ?",
                         [first, last])
        # the window emptied first, the rows each INSERT reports are the window's
        counts["conversions"] = _inserted(conn, _CONVERSIONS, {
            "lookback": settings.lookback_days,
            "half_life": float(settings.half_life_days)})
        counts["touch_credits"] = _inserted(conn, _CREDITS)
        counts["daily"] = _inserted(conn, _DAILY, {"lookback": settings.lookback_days})
        counts["cohort_purchases"] = replace_cohort_purchases(conn,
                                                              settings.cohort_window_days)
    return counts


def _inserted(conn: duckdb.DuckDBPyConnection, insert: str,
              params: dict[str, object] | None = None) -> int:
    """Run ``insert`` and return the rows it wrote, as DuckDB reports them (on either
    store) instead of a count read back."""
    return int(conn.execute(insert, params).fetchall()[0][0])


def credit_sum_problems(conn: duckdb.DuckDBPyConnection, first: date, last: date,
                        tolerance: float = 1e-9) -> list[tuple[str, str, float]]:
    """(conversion, model, sum of credits) of every conversion of the window whose credits
    under a model do not sum to 1, or that lacks a model: the models' one invariant."""
    return [tuple(r) for r in conn.execute(f"""
        WITH sums AS (
            SELECT v.conversion_id, m.model, coalesce(sum(c.credit), 0) AS total
            FROM {SCHEMA}.conversions v
            CROSS JOIN (SELECT unnest(?) AS model) m
            LEFT JOIN {SCHEMA}.credits c
              ON c.conversion_id = v.conversion_id AND c.model = m.model
            WHERE v.conversion_date BETWEEN ? AND ?
            GROUP BY ALL
        )
        SELECT conversion_id, model, total FROM sums WHERE abs(total - 1) > ?
        ORDER BY conversion_id, model""", [list(MODELS), first, last, tolerance]).fetchall()]


def unattributed_conversions(conn: duckdb.DuckDBPyConnection, first: date,
                             last: date) -> int:
    """Conversion events of the window without a journey (no session of theirs is
    stored): they are missing from every model's totals."""
    return int(conn.execute(f"""
        SELECT count(*) FROM normalized.web_events e
        WHERE e.conversion_type IS NOT NULL AND e.event_date BETWEEN ? AND ?
          AND e.source_file || ':' || CAST(e.source_record AS VARCHAR) NOT IN
              (SELECT conversion_id FROM {SCHEMA}.conversions
               WHERE conversion_date BETWEEN ? AND ?)
          AND (e.transaction_id IS NULL OR NOT EXISTS (
              SELECT 1 FROM normalized.web_events d
              WHERE d.property_id = e.property_id AND d.transaction_id = e.transaction_id
                AND (d.event_ts, d.source_file, d.source_record)
                    < (e.event_ts, e.source_file, e.source_record)))
        """, [first, last, first, last]).fetchall()[0][0])
