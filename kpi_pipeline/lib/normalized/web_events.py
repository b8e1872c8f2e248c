"""``normalized.web_events`` and ``normalized.web_sessions``: GA4's event export as tables.

The aggregate ``web_daily`` knows sessions by their own source only (the last click).
Attribution needs the user behind each session, so these two tables keep the export's
event grain and the sessions built from it:

- ``web_events``: one row per event (property, file, record); its local date, UTC time,
  name, user (``user_pseudo_id``, ``user_id`` when the site sets one), session
  (``ga_session_id``), the UTM values collected with it, the conversion type it counts as
  (``purchase``, ``sign_up``, ``lead``; NULL for other events) and purchase revenue.
- ``web_sessions``: one row per session (property, ``user_pseudo_id``, ``ga_session_id``):
  its local date and start, the session's source, medium and campaign (GA4's
  ``session_traffic_source_last_click.manual_campaign``, else the UTMs collected with its
  first event, else ``(direct) / (none)``), the channel and social platform they mean
  (the UTM mapping of ``data/utm_sources.yaml``, the same as ``web_daily``'s), and its
  conversions and revenue.

Both are rebuilt per window of local days in one transaction (delete the window, insert
what the files hold) after every record was validated, so re-running a window gives the
same tables and a bad file changes nothing. Everything runs in DuckDB SQL.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from kpi_pipeline.lib.core.platforms.ga4_export import (
    CONVERSION_EVENTS,
    DIRECT_SOURCE,
    NONE_MEDIUM,
)
from kpi_pipeline.lib.normalized.store import transaction
from kpi_pipeline.lib.normalized.utm import UtmMapping, default_mapping
from kpi_pipeline.lib.sources.exports.ga4_events import ExportFile, read_events

SCHEMA = "normalized"
EVENTS = f"{SCHEMA}.web_events"
SESSIONS = f"{SCHEMA}.web_sessions"

EVENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {EVENTS} (
    property_id VARCHAR NOT NULL,
    event_date DATE NOT NULL,           -- the property's local day (the file's day)
    event_ts TIMESTAMP NOT NULL,        -- UTC, from event_timestamp (microseconds)
    event_name VARCHAR NOT NULL,
    user_pseudo_id VARCHAR NOT NULL,
    user_id VARCHAR,
    ga_session_id BIGINT NOT NULL,
    ga_session_number BIGINT,
    session_source VARCHAR,             -- session_traffic_source_last_click.manual_campaign
    session_medium VARCHAR,
    session_campaign VARCHAR,
    collected_source VARCHAR,
    collected_medium VARCHAR,
    collected_campaign VARCHAR,
    first_source VARCHAR,               -- traffic_source: the user's first touch
    first_medium VARCHAR,
    first_campaign VARCHAR,
    conversion_type VARCHAR,            -- purchase, sign_up, lead; NULL otherwise
    revenue DOUBLE,                     -- ecommerce.purchase_revenue (property currency)
    transaction_id VARCHAR,
    source_file VARCHAR NOT NULL,
    source_record BIGINT NOT NULL,
    PRIMARY KEY (source_file, source_record)
)"""

SESSIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {SESSIONS} (
    property_id VARCHAR NOT NULL,
    user_pseudo_id VARCHAR NOT NULL,
    ga_session_id BIGINT NOT NULL,
    user_id VARCHAR,
    session_date DATE NOT NULL,         -- local day of the session's first event
    session_start TIMESTAMP NOT NULL,   -- UTC
    source VARCHAR NOT NULL,
    medium VARCHAR NOT NULL,
    campaign VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,           -- organic_social, paid_social, organic_search, ...
    platform VARCHAR,                   -- facebook, instagram, linkedin, tiktok or NULL
    is_social BOOLEAN NOT NULL,
    is_paid BOOLEAN NOT NULL,
    events BIGINT NOT NULL,
    conversions BIGINT NOT NULL,
    revenue DOUBLE NOT NULL,
    PRIMARY KEY (property_id, user_pseudo_id, ga_session_id)
)"""

# The channel of a session's source / medium: GA4's default channel groups, coarsened.
# Social comes first: l.facebook.com / referral is Facebook traffic (as in web_daily).
CHANNEL_SQL = f"""CASE
    WHEN m.kind = 'paid_social' OR (p.platform IS NOT NULL AND m.kind = 'paid_on_platform')
        THEN 'paid_social'
    WHEN p.platform IS NOT NULL OR m.kind = 'social' THEN 'organic_social'
    WHEN s.source = '{DIRECT_SOURCE}' AND s.medium IN ('{NONE_MEDIUM}', '(not set)')
        THEN 'direct'
    WHEN s.medium = 'organic' THEN 'organic_search'
    WHEN m.kind = 'paid_on_platform' OR s.medium IN ('paid_search') THEN 'paid_search'
    WHEN s.medium IN ('email', 'e-mail', 'newsletter') THEN 'email'
    WHEN s.medium = 'referral' THEN 'referral'
    ELSE 'other'
END"""
CHANNELS = ("organic_social", "paid_social", "organic_search", "paid_search", "email",
            "referral", "direct", "other")


def ensure_web_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the schema and both tables if they do not exist yet."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(EVENTS_DDL)
    conn.execute(SESSIONS_DDL)


def _register_mapping(conn: duckdb.DuckDBPyConnection, mapping: UtmMapping) -> None:
    """The UTM mapping as two small relations the SQL joins on (normalized spellings)."""
    platforms = pd.DataFrame(sorted(mapping.source_platforms().items()),
                             columns=["source_key", "platform"])
    kinds = ([(m, "social") for m in mapping.social_mediums]
             + [(m, "paid_social") for m in mapping.paid_social_mediums]
             + [(m, "paid_on_platform") for m in mapping.paid_mediums_on_platform_source])
    conn.register("utm_platforms", platforms)
    conn.register("utm_mediums", pd.DataFrame(kinds, columns=["medium_key", "kind"]))


_CONVERSIONS_SQL = " ".join(f"WHEN '{event}' THEN '{kind}'"
                            for event, kind in CONVERSION_EVENTS.items())

_INSERT_EVENTS = f"""
INSERT INTO {EVENTS}
SELECT property_id, event_date, make_timestamp(event_timestamp), event_name,
       user_pseudo_id, user_id, ga_session_id, ga_session_number,
       session_source, session_medium, session_campaign,
       collected_source, collected_medium, collected_campaign,
       first_source, first_medium, first_campaign,
       CASE event_name {_CONVERSIONS_SQL} END,
       CASE WHEN event_name = 'purchase' THEN coalesce(purchase_revenue, 0) END,
       transaction_id, file, record
FROM ga4_event_rows
"""

# Sessions of the days first..last, from the stored events of the days around them (a
# session that crosses midnight has events in two days' files; it belongs to its first).
_INSERT_SESSIONS = f"""
INSERT INTO {SESSIONS}
WITH ev AS (
    SELECT * FROM {EVENTS} WHERE event_date BETWEEN ? - 1 AND ? + 1
),
firsts AS (
    SELECT property_id, user_pseudo_id, ga_session_id,
           max(user_id) AS user_id,
           arg_min(event_date, event_ts) AS session_date,
           min(event_ts) AS session_start,
           arg_min(collected_source, CASE WHEN collected_source IS NULL THEN NULL
                                          ELSE event_ts END) AS collected_source,
           arg_min(collected_medium, CASE WHEN collected_source IS NULL THEN NULL
                                          ELSE event_ts END) AS collected_medium,
           arg_min(collected_campaign, CASE WHEN collected_source IS NULL THEN NULL
                                            ELSE event_ts END) AS collected_campaign,
           count(*) AS events,
           count(conversion_type) AS conversions,
           coalesce(sum(revenue), 0) AS revenue
    FROM ev GROUP BY ALL
),
last_click AS (
    SELECT property_id, user_pseudo_id, ga_session_id,
           arg_min(session_source, event_ts) AS source,
           arg_min(session_medium, event_ts) AS medium,
           arg_min(session_campaign, event_ts) AS campaign
    FROM ev WHERE session_source IS NOT NULL GROUP BY ALL
),
s AS (
    SELECT f.*,
           coalesce(l.source, f.collected_source, '{DIRECT_SOURCE}') AS source_raw,
           coalesce(l.medium, f.collected_medium,
                    CASE WHEN coalesce(l.source, f.collected_source) IS NULL
                         THEN '{NONE_MEDIUM}' ELSE '(not set)' END) AS medium_raw,
           coalesce(l.campaign, f.collected_campaign,
                    CASE WHEN coalesce(l.source, f.collected_source) IS NULL
                         THEN '{DIRECT_SOURCE}' ELSE '(not set)' END) AS campaign
    FROM firsts f LEFT JOIN last_click l USING (property_id, user_pseudo_id, ga_session_id)
    WHERE f.session_date BETWEEN ? AND ?
),
s2 AS (SELECT *, lower(trim(source_raw)) AS source, lower(trim(medium_raw)) AS medium
       FROM s)
SELECT s.property_id, s.user_pseudo_id, s.ga_session_id, s.user_id, s.session_date,
       s.session_start, s.source_raw, s.medium_raw, s.campaign,
       {CHANNEL_SQL.replace(chr(10), ' ')},
       p.platform,
       coalesce(p.platform IS NOT NULL OR m.kind IN ('social', 'paid_social'), false),
       coalesce(m.kind = 'paid_social'
                OR (p.platform IS NOT NULL AND m.kind = 'paid_on_platform'), false),
       s.events, s.conversions, s.revenue
FROM s2 s
LEFT JOIN utm_platforms p ON p.source_key = s.source
LEFT JOIN utm_mediums m ON m.medium_key = s.medium
"""


def replace_web_window(conn: duckdb.DuckDBPyConnection, files: list[ExportFile],
                       first: date, last: date,
                       mapping: UtmMapping | None = None) -> dict[str, int]:
    """Read and validate ``files`` (the export files of the local days ``first``..``last``),
    then replace both tables' rows of those days in one transaction.

    Raises ``Ga4ExportError`` (nothing written) when a file breaks the export's rules.
    Returns the rows written per table.
    """
    ensure_web_tables(conn)
    outside = [f for f in files if not first <= f.day <= last]
    if outside:
        raise ValueError(f"{outside[0].path}: its day {outside[0].day} is outside the "
                         f"window {first}..{last}")
    events = read_events(conn, files)
    _register_mapping(conn, mapping or default_mapping())
    with transaction(conn):
        conn.execute(f"DELETE FROM {EVENTS} WHERE event_date BETWEEN ? AND ?", [first, last])
        conn.execute(f"DELETE FROM {SESSIONS} WHERE session_date BETWEEN ? AND ?",
                     [first, last])
        if events:
            conn.execute(_INSERT_EVENTS)
        conn.execute(_INSERT_SESSIONS, [first, last, first, last])
    sessions = conn.execute(f"SELECT count(*) FROM {SESSIONS} WHERE session_date "
                            "BETWEEN ? AND ?", [first, last]).fetchall()[0][0]
    return {"web_events": events, "web_sessions": int(sessions)}

