"""Parsers for the LinkedIn streams in DuckDB SQL (Marketing REST API, ``Linkedin-Version:
YYYYMM``): organization days, post lifetime snapshots and ad campaign days.

LinkedIn answers in ``{"elements": [...], "paging": {...}}`` lists whose days are
``timeRange`` epoch-millisecond instants: a DAY bucket starts at the organization's local
midnight, so the report date is the LOCAL date of ``timeRange.start`` (the UTC date is a
day early for every organization east of Greenwich).

What LinkedIn does not publish stays NULL instead of being guessed: views (LinkedIn counts
impressions), follower losses (only gains), 7/28-day unique reach, saves, post video
metrics, and the ad campaigns' daily unique reach. Daily likes and comments of an
organization can be negative (un-likes) and are kept; a post's lifetime counts cannot.

Each answer body is read once (``json_transform`` to the fields the stream reads) into
``li_items``: one row per element of the list answers the stream reads, and one row
(``elem_no`` NULL) per other request, holding ids, the request's kind, the element's
values already converted, and ``ok``, whether every value of the row is in the common
case. A request path of no known kind is an error: a parser that silently skipped a new
request would silently drop its numbers. Only when a row is not ok is the detailed
problem query bound (``sql_values``); it reads the raw JSON again and names stream,
partition, account, request, element, field and value. When an answer repeats a day,
post or campaign, the last element read wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import duckdb

from kpi_pipeline.lib.core.platforms.objectives import objective_sql
from kpi_pipeline.lib.normalized.parsing.envelopes import typed_rows
from kpi_pipeline.lib.normalized.parsing.sql_values import (
    LATEST_MS,
    count_problem,
    fail_on_suspects,
    iso_date,
    num,
    plain_count,
    shown,
    within_counts,
)

PLATFORM = "linkedin"
CAMPAIGN_URN = "urn:li:sponsoredCampaign:"

# Request path prefix -> kind of answer.
PATH_KINDS: tuple[tuple[str, str], ...] = (
    ("/rest/organizationalEntityShareStatistics", "share_statistics"),
    ("/rest/organizationalEntityFollowerStatistics", "follower_statistics"),
    ("/rest/networkSizes/", "network_size"),
    ("/rest/posts", "posts"),
    ("/rest/adAnalytics", "ad_analytics"),
    ("/rest/adAccounts/", "ad_campaigns"),
    ("/rest/conversions", "conversion_rules"),
)
# The kinds whose ``elements`` each stream reads; other known kinds are only checked to be
# JSON objects.
ELEMENT_KINDS = {"linkedin_organization": ("share_statistics", "follower_statistics"),
                 "linkedin_posts": ("posts", "share_statistics"),
                 "linkedin_ads": ("ad_campaigns", "ad_analytics")}

# totalShareStatistics field -> column, for the organization's day and for a post's lifetime.
ACCOUNT_SHARE_FIELDS = {"impressions": "impressionCount", "reach": "uniqueImpressionsCount",
                        "clicks": "clickCount", "likes": "likeCount",
                        "comments": "commentCount", "shares": "shareCount"}
ACCOUNT_NEGATIVE = ("likes", "comments")  # un-likes make a day's likes and comments negative
POST_SHARE_FIELDS = {"impressions": "impressionCount", "reach": "uniqueImpressionsCount",
                     "link_clicks": "clickCount", "likes": "likeCount",
                     "comments": "commentCount", "shares": "shareCount"}
FOLLOWER_GAIN_FIELDS = ("organicFollowerGain", "paidFollowerGain")
AD_COUNT_FIELDS = {"impressions": "impressions", "clicks": "clicks",
                   "link_clicks": "landingPageClicks", "leads": "oneClickLeads",
                   "purchases": "externalWebsiteConversions", "video_views": "videoViews"}
# The attribution setting of an ad account's campaign days: the windows of its enabled
# conversion rules (``/rest/conversions``), each rule as '30d_click,7d_view'; rules with
# different windows each, joined by ' / ' in text order. NULL (unknown) when the answer lists no
# enabled rule, an enabled rule lacks a window (LinkedIn's defaults are not assumed), or
# the landing file holds no conversion rules (pulled before they were asked).
_RULE_WINDOW = ("CASE WHEN json_type(rule, '$.{field}') IN ('UBIGINT', 'BIGINT') "
                "AND (rule ->> '$.{field}')::BIGINT > 0 THEN (rule ->> '$.{field}') END")
CONVERSION_SETTINGS = f"""
    SELECT file, account_no,
           CASE WHEN bool_and(click IS NOT NULL AND view IS NOT NULL)
                THEN string_agg(DISTINCT click || 'd_click,' || view || 'd_view', ' / '
                                ORDER BY click || 'd_click,' || view || 'd_view')
           END AS attribution_setting
    FROM (SELECT file, account_no,
                 {_RULE_WINDOW.format(field='postClickAttributionWindowSize')} AS click,
                 {_RULE_WINDOW.format(field='viewThroughAttributionWindowSize')} AS view
          FROM (SELECT file, account_no,
                       unnest(CAST(json_extract(body, '$.elements') AS JSON[])) AS rule
                FROM landing_requests
                WHERE starts_with(path, '/rest/conversions')
                  AND json_type(body, '$.elements') = 'ARRAY')
          WHERE coalesce(json_type(rule, '$.enabled') <> 'BOOLEAN'
                         OR (rule ->> '$.enabled')::BOOLEAN, true))
    GROUP BY file, account_no"""

# Posts API ``content`` -> our media type; a post without content is text.
MEDIA_URN_TYPES = {"urn:li:image:": "photo", "urn:li:video:": "video"}


def _fields(names: Iterable[str]) -> dict[str, str]:
    return {name: "JSON" for name in names}


_DATE = _fields(("year", "month", "day"))
ORGANIZATION_BODY = json.dumps({
    "elements": [{"timeRange": {"start": "JSON"},
                  "totalShareStatistics": _fields(ACCOUNT_SHARE_FIELDS.values()),
                  "followerGains": _fields(FOLLOWER_GAIN_FIELDS)}],
    "firstDegreeSize": "JSON"})
POSTS_BODY = json.dumps({
    "elements": [{"id": "JSON", "publishedAt": "JSON", "content": "JSON",
                  "commentary": "VARCHAR", "share": "JSON", "ugcPost": "JSON",
                  "totalShareStatistics": _fields(POST_SHARE_FIELDS.values())}]})
ADS_BODY = json.dumps({
    "elements": [{"id": "VARCHAR", "name": "VARCHAR", "objectiveType": "VARCHAR",
                  "pivotValues": "JSON",
                  "dateRange": {"start": _DATE, "end": _DATE},
                  "costInLocalCurrency": "JSON", **_fields(AD_COUNT_FIELDS.values()),
                  "conversionValueInLocalCurrency": "JSON"}]})

# Rows of one request keep their order in ``seq`` (request, then element).
SEQ = "i.request_no * 4294967296 + coalesce(i.elem_no, 0)"

# In the problem queries (``x``: a suspect row with its request and account): the request
# and the element as messages name them, and the element's raw JSON, which messages read
# their values from (``li_items`` keeps only converted values).
CTX = "x.ctx"
AT = "(x.ctx || ' elements[' || x.elem_no || ']')"
EL = "json_extract(x.body, '$.elements[' || x.elem_no || ']')"


def _raw(path: str) -> str:
    """A field of the element, as raw JSON (NULL when absent)."""
    return f"json_extract({EL}, '$.{path}')"


# ------------------------------------------------------------------ reading
def _items(conn: duckdb.DuckDBPyConnection, stream: str, body: str, *, columns: str,
           ok: str, request_columns: str = "", joins: str = "") -> None:
    """Fill ``li_items`` from ``landing_requests``: ids, ``kind``, ``no_list`` (the body
    holds no ``elements`` list), ``seq``, the ``columns`` computed from each row ``i``
    (its element ``i.e``, NULL for a request without elements, and ``joins``), and
    ``ok``, computed from those columns (``plain``, one of them, is dropped after)."""
    kinds = ", ".join(f"'{k}'" for k in ELEMENT_KINDS[stream])
    listed = f"kind IN ({kinds}) AND len(b.elements) > 0"
    when = " ".join(f"WHEN starts_with(path, '{prefix}') THEN '{kind}'"
                    for prefix, kind in PATH_KINDS)
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE li_items AS
        SELECT * EXCLUDE (plain), coalesce({ok}, false) AS ok
        FROM (SELECT i.file, i.account_no, i.request_no, i.elem_no, i.kind, i.no_list,
                     {SEQ} AS seq, {columns}
              FROM (SELECT file, account_no, request_no, kind, b.elements IS NULL AS no_list
                           {request_columns},
                           unnest(CASE WHEN {listed} THEN b.elements ELSE [NULL] END) AS e,
                           unnest(CASE WHEN {listed} THEN range(len(b.elements))
                                       ELSE [NULL] END) AS elem_no
                    FROM (SELECT file, account_no, request_no, CASE {when} END AS kind,
                                 json_transform(body, '{body}') AS b
                          FROM landing_requests)) i {joins})""")


def _check(conn: duckdb.DuckDBPyConnection, stream: str, *, element_problem: str,
           account_suspect: str, account_problem: str, request_problem: str = "",
           late_suspects: str = "", late_problems: str = "",
           account_joins: str = "") -> None:
    """Raise what is wrong with ``li_items`` and the accounts that sent them.

    A row that is not ``ok`` gets its message from the request checks every LinkedIn
    stream shares (then ``request_problem``) or from ``element_problem``;
    ``account_suspect`` and ``account_problem`` do the same for each account ``a`` that
    sent a request (``r``: which kinds it sent). ``late_suspects`` and ``late_problems``
    find what depends on other answers, looked for only when nothing else is wrong."""
    kinds = ", ".join(f"'{k}'" for k in ELEMENT_KINDS[stream])
    accounts = "landing_accounts a SEMI JOIN li_items USING (file, account_no)"
    late = f"UNION ALL {late_suspects}" if late_suspects else ""
    fail_on_suspects(conn, f"""
        SELECT 1 FROM li_items WHERE NOT ok
        UNION ALL SELECT 1 FROM {accounts} WHERE {account_suspect} {late}""", f"""
        SELECT CASE
            WHEN x.elem_no IS NULL THEN CASE
                WHEN json_type(x.body) IS DISTINCT FROM 'OBJECT'
                    THEN {CTX} || ': body is not a JSON object'
                WHEN x.kind IS NULL
                    THEN {CTX} || ': unexpected LinkedIn request path ' || kp_quote(x.path)
                WHEN x.kind IN ({kinds}) AND NOT json_exists(x.body, '$.elements')
                    THEN {CTX} || ': required field ''elements'' is missing'
                WHEN x.kind IN ({kinds}) AND x.no_list
                    THEN {CTX} || ': ''elements'' is a '
                         || kp_pytype(json_extract(x.body, '$.elements'))
                         || ', expected a list'
                {request_problem} END
            WHEN json_type({EL}) IS DISTINCT FROM 'OBJECT'
                THEN {AT} || ': element is not a JSON object'
            ELSE {element_problem} END AS message
        {_suspect_rows("SELECT * FROM li_items WHERE NOT ok")}
        UNION ALL
        SELECT {account_problem} FROM {accounts}
        JOIN (SELECT file, account_no,
                     bool_or(elem_no IS NOT NULL AND kind IN ('share_statistics',
                                                              'follower_statistics')) AS dated,
                     bool_or(kind = 'network_size') AS sized
              FROM li_items GROUP BY file, account_no) r USING (file, account_no)
        {account_joins}""", *([late_problems] if late_problems else []))


def _suspect_rows(rows: str) -> str:
    """FROM clause of a problem query: the ``rows`` of ``li_items`` as ``x``, with their
    raw body and path and the request as messages name it (``ctx``)."""
    return f"""FROM (SELECT s.*, l.body, l.path,
                     a.context || ' request ' || coalesce(l.path, 'None') AS ctx
              FROM ({rows}) s JOIN landing_requests l USING (file, account_no, request_no)
              JOIN landing_accounts a USING (file, account_no)) x"""


def _required(a: str, fields: Iterable[str]) -> str:
    """CASE branches: the first of the account fields ``fields`` that is missing."""
    return " ".join(f"WHEN {a}.{f} IS NULL THEN {a}.context || ': required field ''{f}'' "
                    "is missing'" for f in fields)


def _counts(prefix: str, fields: dict[str, str]) -> str:
    """Columns: each count of a statistics object, as a number (checked later)."""
    return ", ".join(f"{num(f'{prefix}.{field}')} AS {column}"
                     for column, field in fields.items())


def _plain_counts(prefix: str, fields: dict[str, str], negative: Iterable[str] = ()) -> str:
    """TRUE when every count of a statistics object is absent or a JSON integer (the
    ``negative`` columns may be negative); their range is checked on the numbers."""
    return " AND ".join(plain_count(f"{prefix}.{field}", allow_negative=column in negative)
                        for column, field in fields.items())


def _statistics_problem(name: str, fields: Iterable[str], negative: Iterable[str] = ()) -> str:
    """Why the element's statistics object ``name`` is not acceptable, or NULL."""
    counts = ", ".join(count_problem(AT, f"{name}.{f}", _raw(f"{name}.{f}"),
                                     allow_negative=f in negative) for f in fields)
    return f"""CASE
        WHEN NOT json_exists({EL}, '$.{name}') THEN {AT} || ': required field ''{name}'' is missing'
        WHEN json_type({EL}, '$.{name}') <> 'OBJECT' THEN {AT} || ': {name}. is not a JSON object'
        ELSE coalesce({counts}) END"""


def _epoch_ms(v: str) -> str:
    """Epoch milliseconds as a UTC TIMESTAMP (NULL outside what a date can hold)."""
    return (f"epoch_ms(CASE WHEN {num(v)} BETWEEN 0 AND {LATEST_MS} "
            f"THEN TRY_CAST({num(v)} AS BIGINT) END)")


def _epoch_ms_problem(field: str, v: str, *, missing: str) -> str:
    """Why ``v`` is not epoch milliseconds (``missing``: the message for null or "")."""
    return f"""coalesce({count_problem(AT, field, v)}, CASE
        WHEN {num(v)} IS NULL THEN {AT} || ': {missing}'
        WHEN {num(v)} > {LATEST_MS}
            THEN {AT} || ': field ''{field}'' value ' || kp_shown({v}) || ' is after the year 9999'
        END)"""


# ------------------------------------------------------------- organization
def _window_end(a: str) -> str:
    """The last local day the pull asked for (the partition when no window is recorded),
    as an ISO date (``YYYY-MM-DD`` or ``YYYYMMDD``), or NULL."""
    return iso_date(f"coalesce(nullif({a}.window_end, ''), {a}.partition::VARCHAR)")


def parse_organization(conn: duckdb.DuckDBPyConnection,
                       stream: str = "linkedin_organization") -> str:
    """account_daily rows: share statistics and follower gains by local day, and the
    follower total.

    The follower total (``networkSizes``) is a single number for the pull, dated to the
    window's last day; gains are organic + paid; losses stay NULL (LinkedIn has none).
    """
    shares = "i.e.totalShareStatistics"
    negative = [ACCOUNT_SHARE_FIELDS[c] for c in ACCOUNT_NEGATIVE]
    gains = dict(zip(("organic", "paid"), FOLLOWER_GAIN_FIELDS, strict=True))
    start = "i.e.timeRange.start"
    _items(conn, stream, ORGANIZATION_BODY,
           request_columns=", b.firstDegreeSize AS size_raw",
           columns=f"""
               CASE WHEN i.kind = 'network_size' THEN {_window_end('a')}
                    ELSE timezone(z.name, timezone('UTC', {_epoch_ms(start)}))::DATE
                    END AS day,
               {_counts(shares, ACCOUNT_SHARE_FIELDS)},
               {_counts('i.e.followerGains', gains)}, {num('i.size_raw')} AS followers,
               CASE i.kind
                   WHEN 'share_statistics' THEN json_type({start}) = 'UBIGINT'
                       AND {_plain_counts(shares, ACCOUNT_SHARE_FIELDS, ACCOUNT_NEGATIVE)}
                   WHEN 'follower_statistics' THEN json_type({start}) = 'UBIGINT'
                       AND {_plain_counts('i.e.followerGains', gains)}
                   WHEN 'network_size' THEN json_type(i.size_raw) = 'UBIGINT' END AS plain""",
           joins="JOIN landing_accounts a USING (file, account_no) "
                 "LEFT JOIN pg_timezone_names() z ON z.name = a.timezone",
           ok=f"""CASE
               WHEN kind = 'network_size'
                   THEN plain AND day IS NOT NULL AND {within_counts(['followers'])}
               WHEN elem_no IS NULL
                   THEN kind IN ('share_statistics', 'follower_statistics') AND NOT no_list
               WHEN kind = 'share_statistics'
                   THEN plain AND day IS NOT NULL
                        AND {within_counts(list(ACCOUNT_SHARE_FIELDS))}
               ELSE plain AND day IS NOT NULL AND {within_counts(list(gains))} END""")
    time_range = f"""CASE
        WHEN NOT json_exists({EL}, '$.timeRange')
            THEN {AT} || ': required field ''timeRange'' is missing'
        WHEN NOT json_exists({EL}, '$.timeRange.start')
            THEN {AT} || ' timeRange: required field ''start'' is missing'
        ELSE {_epoch_ms_problem('timeRange.start', _raw('timeRange.start'),
                                missing='timeRange.start is missing')} END"""
    statistics = _statistics_problem("totalShareStatistics", ACCOUNT_SHARE_FIELDS.values(),
                                     negative)
    size = "json_extract(x.body, '$.firstDegreeSize')"
    _check(conn, stream,
           request_problem=f"""
               WHEN x.kind = 'network_size' AND NOT json_exists(x.body, '$.firstDegreeSize')
                   THEN {CTX} || ': required field ''firstDegreeSize'' is missing'
               WHEN x.kind = 'network_size'
                   THEN {count_problem(CTX, 'firstDegreeSize', size)}""",
           element_problem=f"""CASE WHEN x.kind = 'share_statistics'
               THEN coalesce({time_range}, {statistics})
               ELSE coalesce({_statistics_problem('followerGains', FOLLOWER_GAIN_FIELDS)},
                             {time_range}) END""",
           account_suspect="a.timezone IS NULL OR a.account_id IS NULL OR a.brand IS NULL",
           account_problem=f"""CASE {_required('a', ('timezone', 'account_id', 'brand'))}
               WHEN r.dated AND z.name IS NULL THEN a.context || ': time zone '
                    || kp_quote(a.timezone) || ' is not a known time zone'
               WHEN r.sized AND ({_window_end('a')}) IS NULL
                   THEN a.context || ': window end '
                        || kp_quote(coalesce(nullif(a.window_end, ''), a.partition::VARCHAR))
                        || ' is not a date' END""",
           account_joins="LEFT JOIN pg_timezone_names() z ON z.name = a.timezone")
    last = {column: f"arg_max_null({column}, seq) FILTER (WHERE kind = '{kind}') AS {column}"
            for kind, columns in (("share_statistics", ACCOUNT_SHARE_FIELDS),
                                  ("network_size", ("followers",)))
            for column in columns}
    return typed_rows(conn, stream, f"""
        SELECT d.*, '{PLATFORM}' AS platform, a.account_id, a.brand, a.timezone,
               a.stream AS source_stream, a.api_version, a.pulled_at
        FROM (SELECT file, account_no, day AS report_date, {', '.join(last.values())},
                     arg_max_null(CASE WHEN organic IS NOT NULL OR paid IS NOT NULL
                                       THEN coalesce(organic, 0) + coalesce(paid, 0) END, seq)
                         FILTER (WHERE kind = 'follower_statistics') AS follower_gains
              FROM li_items WHERE elem_no IS NOT NULL OR kind = 'network_size'
              GROUP BY file, account_no, day) d
        JOIN landing_accounts a USING (file, account_no)
        ORDER BY d.file, d.account_no, d.report_date""")


# -------------------------------------------------------------------- posts
def _media_type(content: str) -> str:
    """The media type of a Posts API ``content`` (NULL: of no known type)."""
    # Only a JSON string's text starts with a URN, and only an object has keys.
    urns = " ".join(f"WHEN starts_with({content} ->> '$.media.id', '{prefix}') THEN '{media}'"
                    for prefix, media in MEDIA_URN_TYPES.items())
    return (f"CASE WHEN {content} IS NULL THEN 'text' "
            f"WHEN json_exists({content}, '$.article') THEN 'link' "
            f"WHEN json_exists({content}, '$.multiImage') THEN 'carousel' {urns} END")


def _falsy(v: str) -> str:
    """Python's falsehood of a JSON value: absent, null, "", 0, false, [] or {}."""
    return (f"({v} IS NULL OR {v} IN ('\"\"', 'false', '[]', '{{}}') "
            f"OR json_type({v}) IN ('UBIGINT', 'BIGINT', 'DOUBLE') "
            f"AND TRY_CAST({v} AS DOUBLE) = 0)")


def _share_key(share: str, ugc_post: str) -> str:
    """The post a statistics element is about: ``share``, else ``ugcPost`` (JSON)."""
    return f"CASE WHEN {_falsy(share)} THEN {ugc_post} ELSE {share} END"


def _share_id(share: str, ugc_post: str) -> str:
    """The URN of the post a statistics element is about, when it is a string; the
    common case (a non-empty ``share`` string) is decided first, and cheaply."""
    key = _share_key(share, ugc_post)
    return (f"CASE WHEN json_type({share}) = 'VARCHAR' AND {share} <> '\"\"' "
            f"THEN {share} ->> '$' WHEN json_type({key}) = 'VARCHAR' THEN {key} ->> '$' END")


def parse_posts(conn: duckdb.DuckDBPyConnection, stream: str = "linkedin_posts") -> str:
    """post_daily lifetime snapshots of the organization's posts as of the end of the
    partition day.

    Posts come from the posts finder pages, their numbers from the lifetime share
    statistics; a post LinkedIn returned no statistics for keeps NULL counts, and
    statistics for a post no page listed are an error.
    """
    shares = "i.e.totalShareStatistics"
    _items(conn, stream, POSTS_BODY,
           columns=f"""
               CASE WHEN i.kind = 'posts' AND json_type(i.e.id) = 'VARCHAR' THEN i.e.id ->> '$'
                    WHEN i.kind = 'share_statistics' THEN {_share_id('i.e.share', 'i.e.ugcPost')}
                    END AS post_id,
               {_epoch_ms('i.e.publishedAt')} AS published_at,
               CASE WHEN i.kind = 'posts' AND i.elem_no IS NOT NULL
                    THEN {_media_type('i.e.content')} END AS media_type,
               i.e.commentary AS caption, {_counts(shares, POST_SHARE_FIELDS)},
               CASE i.kind WHEN 'posts' THEN json_type(i.e.publishedAt) = 'UBIGINT'
                           ELSE {_plain_counts(shares, POST_SHARE_FIELDS)} END AS plain""",
           ok=f"""CASE
               WHEN elem_no IS NULL THEN kind IN ('posts', 'share_statistics') AND NOT no_list
               WHEN kind = 'posts' THEN plain AND post_id IS NOT NULL
                    AND published_at IS NOT NULL AND media_type IS NOT NULL
               ELSE plain AND {within_counts(list(POST_SHARE_FIELDS))} END""")
    # Statistics elements about a post no page listed (or about no post at all).
    unlisted = ("SELECT s.* FROM (SELECT * FROM li_items WHERE kind = 'share_statistics' "
                "AND elem_no IS NOT NULL) s ANTI JOIN (SELECT file, account_no, post_id "
                "FROM li_items WHERE kind = 'posts') p USING (file, account_no, post_id)")
    _check(conn, stream,
           element_problem=f"""CASE
               WHEN x.kind = 'posts' THEN CASE
                   WHEN NOT json_exists({EL}, '$.id')
                       THEN {AT} || ': required field ''id'' is missing'
                   WHEN x.post_id IS NULL
                       THEN {AT} || ': field ''id'' value ' || {shown(_raw('id'))}
                            || ' is not a post URN'
                   WHEN NOT json_exists({EL}, '$.publishedAt')
                       THEN {AT} || ': required field ''publishedAt'' is missing'
                   ELSE coalesce(
                       {_epoch_ms_problem('publishedAt', _raw('publishedAt'),
                                          missing="field ''publishedAt'' is missing")},
                       CASE WHEN x.media_type IS NULL
                            THEN {AT} || ': post content ' || {shown(_raw('content'))}
                                 || ' is of no known media type' END) END
               ELSE {_statistics_problem('totalShareStatistics', POST_SHARE_FIELDS.values())}
               END""",
           account_suspect="a.account_id IS NULL OR a.brand IS NULL",
           account_problem=f"CASE {_required('a', ('account_id', 'brand'))} END",
           late_suspects=f"SELECT 1 FROM ({unlisted})",
           late_problems=f"""
               SELECT {AT} || ': statistics for '
                      || {shown(_share_key(_raw('share'), _raw('ugcPost')))}
                      || ', which is not among the organization''s listed posts' AS message
               {_suspect_rows(unlisted)}""")
    last = ", ".join(f"arg_max_null({c}, seq) AS {c}" for c in POST_SHARE_FIELDS)
    return typed_rows(conn, stream, f"""
        WITH listed AS (
            SELECT file, account_no, post_id, min(seq) AS first_listed,
                   arg_max_null(published_at, seq) AS published_at,
                   arg_max_null(media_type, seq) AS media_type,
                   arg_max_null(caption, seq) AS caption
            FROM li_items WHERE kind = 'posts' AND elem_no IS NOT NULL
            GROUP BY file, account_no, post_id),
        statistics AS (
            SELECT file, account_no, post_id, {last}
            FROM li_items WHERE kind = 'share_statistics' AND elem_no IS NOT NULL
            GROUP BY file, account_no, post_id)
        SELECT p.file, a.partition AS report_date, '{PLATFORM}' AS platform, a.account_id,
               a.brand, p.post_id, p.published_at, p.media_type, p.caption,
               {', '.join(f's.{c}' for c in POST_SHARE_FIELDS)},
               a.stream AS source_stream, a.api_version, a.pulled_at
        FROM listed p JOIN landing_accounts a USING (file, account_no)
        LEFT JOIN statistics s USING (file, account_no, post_id)
        ORDER BY p.file, p.account_no, p.first_listed""")


# ---------------------------------------------------------------------- ads
def _python_int(v: str) -> str:
    """A JSON integer (or boolean, which Python's ``date`` takes for 0/1) as BIGINT."""
    return (f"CASE json_type({v}) WHEN 'UBIGINT' THEN TRY_CAST({v} AS BIGINT) "
            f"WHEN 'BIGINT' THEN TRY_CAST({v} AS BIGINT) "
            f"WHEN 'BOOLEAN' THEN TRY_CAST({v} AS BOOLEAN)::BIGINT END")


def _date(field: Callable[[str], str]) -> str:
    """A LinkedIn ``{year, month, day}`` date (``field(name)``: each part, as JSON), or
    NULL when it is not one."""
    year, month, day = (_python_int(field(k)) for k in ("year", "month", "day"))
    return (f"CASE WHEN {year} BETWEEN 1 AND 9999 "
            f"THEN try(make_date({year}, {month}, {day})) END")


def _campaign_id(pivots: str) -> str:
    """The campaign of ``pivotValues`` when it is exactly one campaign URN, else NULL."""
    return (f"CASE WHEN json_type({pivots}) = 'ARRAY' AND json_array_length({pivots}) = 1 "
            f"AND json_type({pivots}, '$[0]') = 'VARCHAR' "
            f"AND starts_with({pivots} ->> '$[0]', '{CAMPAIGN_URN}') "
            f"THEN substr({pivots} ->> '$[0]', {len(CAMPAIGN_URN) + 1}) END")


def parse_ads(conn: duckdb.DuckDBPyConnection, stream: str = "linkedin_ads") -> str:
    """ad_daily campaign days from adAnalytics, named from the campaign search answers.

    Leads are one-click (Lead Gen Form) leads, purchases external website conversions,
    revenue their conversion value; all in the ad account currency. The attribution
    setting is that of the account's enabled conversion rules (``CONVERSION_SETTINGS``).
    """
    analytics = "i.kind = 'ad_analytics' AND i.elem_no IS NOT NULL"
    _items(conn, stream, ADS_BODY,
           columns=f"""
               CASE WHEN {analytics} THEN {_campaign_id('i.e.pivotValues')}
                    WHEN i.kind = 'ad_campaigns' THEN i.e.id END AS campaign_id,
               i.e.name AS campaign_name, i.e.objectiveType AS objective_type,
               CASE WHEN {analytics} THEN {_date(lambda k: f'i.e.dateRange.start.{k}')}
                    END AS date_start,
               i.e.dateRange.start = i.e.dateRange.end AS one_day,
               {num('i.e.costInLocalCurrency')} AS spend,
               {num('i.e.conversionValueInLocalCurrency')} AS revenue,
               i.e.conversionValueInLocalCurrency IS NULL AS no_revenue,
               {_counts('i.e', AD_COUNT_FIELDS)},
               {_plain_counts('i.e', AD_COUNT_FIELDS)} AS plain""",
           ok=f"""CASE
               WHEN elem_no IS NULL
                   THEN kind IN ('ad_campaigns', 'ad_analytics', 'conversion_rules')
                        AND NOT no_list
               WHEN kind = 'ad_campaigns' THEN campaign_id IS NOT NULL
               ELSE plain AND campaign_id IS NOT NULL AND date_start IS NOT NULL AND one_day
                    AND spend >= 0 AND isfinite(spend)
                    AND (no_revenue OR revenue >= 0 AND isfinite(revenue))
                    AND coalesce({within_counts(list(AD_COUNT_FIELDS))}, true) END""")
    counts = ", ".join(count_problem(AT, f, _raw(f)) for f in AD_COUNT_FIELDS.values())
    # Only a suspect row's end date is looked at: a one-day range ends as it starts.
    date_end = _date(lambda k: _raw(f"dateRange.end.{k}"))
    edges = " ".join(f"""
        WHEN NOT json_exists({EL}, '$.dateRange.{edge}')
            THEN {AT} || ' dateRange: required field ''{edge}'' is missing'
        WHEN {'x.date_start' if edge == 'start' else date_end} IS NULL
            THEN {AT} || ': dateRange.{edge} '
                 || {shown(_raw(f'dateRange.{edge}'))} || ' is not a date'"""
                     for edge in ("start", "end"))
    _check(conn, stream,
           element_problem=f"""CASE
               WHEN x.kind = 'ad_campaigns' THEN CASE WHEN NOT json_exists({EL}, '$.id')
                   THEN {AT} || ': required field ''id'' is missing' END
               WHEN NOT json_exists({EL}, '$.pivotValues')
                   THEN {AT} || ': required field ''pivotValues'' is missing'
               WHEN x.campaign_id IS NULL
                   THEN {AT} || ': pivotValues ' || {shown(_raw('pivotValues'))}
                        || ' is not one campaign URN'
               WHEN NOT json_exists({EL}, '$.costInLocalCurrency')
                   THEN {AT} || ': required field ''costInLocalCurrency'' is missing'
               ELSE coalesce(
                   kp_field({AT}, 'costInLocalCurrency',
                            kp_num_problem({_raw('costInLocalCurrency')}, false)),
                   CASE WHEN {num(_raw('costInLocalCurrency'))} IS NULL
                        THEN {AT} || ': field ''costInLocalCurrency'' is empty' END,
                   CASE WHEN NOT json_exists({EL}, '$.dateRange')
                            THEN {AT} || ': required field ''dateRange'' is missing'
                        {edges}
                        WHEN x.date_start <> {date_end}
                            THEN {AT} || ': dateRange ' || x.date_start || '..' || {date_end}
                                 || ' is not one day; the stream asks for '
                                 || 'timeGranularity=DAILY' END,
                   {counts},
                   kp_field({AT}, 'conversionValueInLocalCurrency',
                            kp_num_problem({_raw('conversionValueInLocalCurrency')}, false)))
               END""",
           request_problem=f"""
               WHEN x.kind = 'conversion_rules' AND x.no_list
                   THEN {CTX} || ': required field ''elements'' is missing'""",
           account_suspect="a.account_id IS NULL OR a.brand IS NULL OR a.currency IS NULL",
           account_problem=f"CASE {_required('a', ('account_id', 'brand', 'currency'))} END")
    return typed_rows(conn, stream, f"""
        SELECT i.file, i.date_start AS report_date, '{PLATFORM}' AS platform,
               a.account_id AS ad_account_id, a.brand, i.campaign_id, n.campaign_name,
               {objective_sql(PLATFORM, 'n.objective_type')} AS objective,
               a.currency, i.spend, {', '.join(f'i.{c}' for c in AD_COUNT_FIELDS)}, i.revenue,
               w.attribution_setting,
               a.stream AS source_stream, a.api_version, a.pulled_at
        FROM li_items i JOIN landing_accounts a USING (file, account_no)
        LEFT JOIN ({CONVERSION_SETTINGS}) w USING (file, account_no)
        LEFT JOIN (SELECT file, account_no, campaign_id,
                          arg_max_null(campaign_name, seq) AS campaign_name,
                          arg_max_null(objective_type, seq) AS objective_type
                   FROM li_items WHERE kind = 'ad_campaigns' AND elem_no IS NOT NULL
                   GROUP BY file, account_no, campaign_id) n USING (file, account_no, campaign_id)
        WHERE i.kind = 'ad_analytics' AND i.elem_no IS NOT NULL
        ORDER BY i.seq, i.file, i.account_no""")


PARSERS = {
    "linkedin_organization": parse_organization,
    "linkedin_posts": parse_posts,
    "linkedin_ads": parse_ads,
}
