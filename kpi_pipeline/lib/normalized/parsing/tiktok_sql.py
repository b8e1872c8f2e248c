"""Parsers for the TikTok streams (Business API v1.3: Accounts API and Reporting API), in
DuckDB SQL.

TikTok answers errors with HTTP 200 and ``code != 0`` (40100 rate limit, 40105 invalid
token, 50000 system error, ...): every body's ``code`` is checked before its ``data`` is
trusted, or a failed pull would land as an empty, "successful" day.

Units are normalized here: report numbers arrive as strings, ``stat_time_day`` is
"YYYY-MM-DD 00:00:00" in the advertiser's time zone (already the local report date),
``create_time`` is epoch seconds, watch times are seconds. Completions are derived as
round(video_views * full_video_watched_rate), half to even as Python's ``round``: TikTok
sends the rate, not the count, so the count is exact only up to the rate's rounding.

TikTok reports no impressions for organic videos (``video_views`` are plays, stored as
both views and video_views), no account reach and no follower gains or losses (the KPI
layer uses the day-to-day difference of ``followers_count``).

How it runs: each body is read once (``json_transform``) into ``tiktok_requests`` and its
list items into ``tiktok_items``, each value converted once, each item with an ``ok`` flag
from a cheap test (a whole number in range where a count is expected, a date where a date
is). One query asks whether any request, item, account or paging fails its test; only
then does the detailed scan run, re-reading the raw JSON of what failed to name the field
and the value as the boundary rules (``lib.core.values``) do (a test may flag what is fine, such
as an empty string; the detailed scan then finds nothing). A valid window never pays for
the detailed checks, whose SQL alone costs more to plan than a window's rows to read.
"""

from __future__ import annotations

import duckdb

from kpi_pipeline.lib.core.platforms.objectives import objective_sql
from kpi_pipeline.lib.core.platforms.tiktok import ADGROUP_PATH, ATTRIBUTION_DAYS
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline.lib.normalized.parsing.envelopes import fail_on, typed_rows
from kpi_pipeline.lib.normalized.parsing.sql_values import shown

PLATFORM = "tiktok"

# column -> TikTok field (all counts).
ACCOUNT_FIELDS = {"followers": "followers_count", "views": "video_views",
                  "profile_views": "profile_views", "likes": "likes", "comments": "comments",
                  "shares": "shares"}
VIDEO_FIELDS = {"video_views": "video_views", "reach": "reach", "likes": "likes",
                "comments": "comments", "shares": "shares"}
# clicks are TikTok's destination clicks, so they are the link clicks too.
AD_FIELDS = {"impressions": "impressions", "reach": "reach", "clicks": "clicks",
             "link_clicks": "clicks", "leads": "onsite_form",
             "purchases": "complete_payment", "video_views": "video_play_actions"}

def _struct(fields: dict[str, str]) -> str:
    """A json_transform structure; leaves that may be numbers or strings stay JSON."""
    return "{" + ", ".join(f'"{name}": {kind}' for name, kind in fields.items()) + "}"


# Values are read as text: a JSON number and a numeric string give the same text, which
# TRY_CAST reads as Python's float() does. What the text hides (a string date sent as a
# number, true for a count) fails the cheap tests, and the detailed checks read the raw
# JSON. ``code`` and ``has_more`` stay JSON: their type matters.
_JSON, _TEXT = '"JSON"', '"VARCHAR"'
_ACCOUNT_ITEM = _struct({"date": _TEXT, **{f: _TEXT for f in ACCOUNT_FIELDS.values()}})
_VIDEO_ITEM = _struct({"item_id": _TEXT, "create_time": _TEXT, "caption": _TEXT,
                       **{f: _TEXT for f in VIDEO_FIELDS.values()},
                       "full_video_watched_rate": _TEXT, "total_time_watched": _TEXT})
_AD_ITEM = _struct({
    "dimensions": _struct({"stat_time_day": _TEXT, "campaign_id": _TEXT}),
    "metrics": _struct({"campaign_name": _TEXT, "objective_type": _TEXT, "spend": _TEXT,
                        **{f: _TEXT for f in AD_FIELDS.values()},
                        "total_complete_payment_rate": _TEXT})})


# ------------------------------------------------------------------ values
def _window(field: str, kind: str) -> str:
    """An ad group's window as '<days>d_<kind>' ('' when OFF or absent for engaged view,
    NULL when TikTok's value is not one we know, so the setting reads unknown)."""
    days = " ".join(f"WHEN '{name}' THEN '{n}d_{kind}'"
                    for name, n in ATTRIBUTION_DAYS.items())
    absent = "''" if kind == "ev" else "NULL"
    return (f"CASE WHEN json_type(g, '$.{field}') IS NULL OR json_type(g, '$.{field}') = 'NULL' "
            f"THEN {absent} WHEN g ->> '$.{field}' = 'OFF' THEN '' "
            f"ELSE CASE g ->> '$.{field}' {days} END END")


# The attribution setting of a campaign's days: the windows of its ad groups
# (``adgroup/get``), each as '7d_click,1d_view' (',Nd_ev' with an engaged-view window);
# ad groups with different windows each, joined by ' / ' in text order. NULL (unknown)
# when the campaign has no listed ad group, an ad group's click or view window is missing
# or not a value TikTok documents, or the landing file holds no ad groups (pulled before
# they were asked). An answer with a code other than 0 never reaches a landing file.
_GROUP_SETTING = (f"concat_ws(',', nullif({_window('click_attribution_window', 'click')}, ''), "
                  f"nullif({_window('view_attribution_window', 'view')}, ''), "
                  f"nullif({_window('engaged_view_attribution_window', 'ev')}, ''))")
ADGROUP_SETTINGS = f"""
    SELECT file, account_no, campaign_id,
           CASE WHEN bool_and(complete) THEN nullif(string_agg(DISTINCT setting, ' / '
                                                               ORDER BY setting), '') END
               AS attribution_setting
    FROM (SELECT file, account_no, g ->> '$.campaign_id' AS campaign_id,
                 {_GROUP_SETTING} AS setting,
                 {_window('click_attribution_window', 'click')} IS NOT NULL
                 AND {_window('view_attribution_window', 'view')} IS NOT NULL
                 AND {_window('engaged_view_attribution_window', 'ev')} IS NOT NULL AS complete
          FROM (SELECT file, account_no,
                       unnest(CAST(json_extract(body, '$.data.list') AS JSON[])) AS g
                FROM landing_requests
                WHERE path = '{ADGROUP_PATH}' AND json_type(body, '$.data.list') = 'ARRAY'))
    GROUP BY ALL"""


def _num(text: str) -> str:
    """The number a value's text holds, NULL for anything else. Never raises: values are
    converted before they are checked."""
    return f"TRY_CAST(trim({text}) AS DOUBLE)"


def _count_ok(raw: str, value: str) -> str:
    """Cheap test that ``raw`` (a value's text) is an acceptable count, ``value`` its
    number: absent or null, or a whole number in 0..1e15 (``TRY_CAST`` reads numbers as
    ``float()`` does; anything else, "" included, goes to the detailed checks)."""
    return f"({raw} IS NULL OR {value} BETWEEN 0 AND 1e15 AND {value} = trunc({value}))"


def _number_ok(raw: str, value: str) -> str:
    """Cheap test that ``raw`` is absent, null or a finite non-negative number."""
    return f"({raw} IS NULL OR {value} >= 0 AND {value} < 'inf'::DOUBLE)"


def _tiktok_date(text: str) -> str:
    """"YYYY-MM-DD" or "YYYY-MM-DD 00:00:00" (TikTok's advertiser-local day) as a DATE."""
    return (f"CASE WHEN length({text}) IN (10, 19) "
            f"AND regexp_full_match(left({text}, 10), '\\d{{4}}-\\d{{2}}-\\d{{2}}') "
            f"THEN TRY_CAST(left({text}, 10) AS DATE) END")


def _raw_date(v: str) -> str:
    """The TikTok date a raw JSON value holds (a string, as Python requires)."""
    return _tiktok_date(f"CASE WHEN json_type({v}) = 'VARCHAR' THEN {v} ->> '$' END")




def _text(text: str) -> str:
    """Python's ``str()`` of an id: a JSON null is 'None'."""
    return f"coalesce({text}, 'None')"


def _raw(path: str) -> str:
    """A field of the raw item ``ri`` (the detailed checks read what was sent)."""
    return f"(ri -> '$.{path}')"


def _required(path: str) -> str:
    """The Python parser's message for a field the item lacks."""
    name = path.rsplit(".", 1)[-1]
    return (f"WHEN NOT json_exists(ri, '$.{path}') "
            f"THEN w || ': required field ''{name}'' is missing'")


def _count_problems(fields: dict[str, str], prefix: str = "") -> str:
    """The first problem among count fields, in the order they are listed."""
    return ", ".join(f"kp_field(w, '{prefix}{f}', kp_int_problem({_raw(prefix + f)}, false))"
                     for f in fields.values())


# ------------------------------------------------------------------ walkers
def _load(conn: duckdb.DuckDBPyConnection, key: str, item: str, columns: dict[str, str],
          ok: list[str], extra: dict[str, str] | None = None, extra_columns: str = "",
          extra_ok: str = "true", skip_path: str | None = None) -> None:
    """``tiktok_requests``: per request its ``ok`` flag (code 0, ``data.<key>`` a list,
    ``extra_ok``) and ``extra_columns``; ``tiktok_items``: per item of ``data.<key>`` the
    typed ``columns`` (name -> SQL over the struct ``item``) and its ``ok`` flag, all of
    the tests ``ok`` (over ``item`` and the typed columns). Each body is transformed
    once, each value converted once. Requests to ``skip_path`` are read elsewhere."""
    skipped = f"WHERE path IS DISTINCT FROM '{skip_path}'" if skip_path else ""
    fields = {key: f"[{item}]", **(extra or {})}
    body = _struct({"code": _JSON, "data": _struct(fields)})
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE tiktok_requests AS
        SELECT file, account_no, request_no, b.data.{key} AS items, {extra_columns}
               coalesce(b.code::VARCHAR = '0' AND b.data.{key} IS NOT NULL AND {extra_ok},
                        false) AS ok
        FROM (SELECT file, account_no, request_no, stopped_at_lookback,
                     json_transform(body, '{body}') AS b
              FROM landing_requests {skipped})""")
    typed = ", ".join(f"{sql} AS {name}" for name, sql in columns.items())
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE tiktok_items AS
        SELECT * EXCLUDE (item), coalesce({" AND ".join(ok)}, false) AS ok
        FROM (SELECT file, account_no, request_no, item_no, item, {typed}
              FROM (SELECT file, account_no, request_no, unnest(items) AS item,
                           unnest(range(len(items))) AS item_no
                    FROM tiktok_requests))""")


def _check(conn: duckdb.DuckDBPyConnection, key: str, item_detail: str,
           pages: tuple[str, str] | None = None, request_detail: str = "NULL",
           zone: bool = False) -> None:
    """Raise on what the cheap tests flagged, naming stream, partition, account, field and
    value; nothing runs beyond the one EXISTS query when every test passed.

    ``item_detail``: a CASE (over the raw item ``ri`` and its context ``w``) saying why an
    item is wrong, or NULL; ``pages``: (a cheap query of the accounts whose paging is
    wrong, the query naming them); ``request_detail``: why a request with a good body
    failed its test; ``zone``: the rows need the account's time zone (a video's local
    publish day), so an account that sent anything without one is an error."""
    zoneless = """
        SELECT file, account_no FROM landing_accounts a
        WHERE a.timezone IS NULL
          AND EXISTS (SELECT 1 FROM tiktok_requests r
                      WHERE r.file = a.file AND r.account_no = a.account_no)"""
    flagged = ["SELECT 1 FROM tiktok_requests WHERE NOT ok",
               "SELECT 1 FROM tiktok_items WHERE NOT ok"]
    if zone:
        flagged.append(zoneless)
    if pages:
        flagged.append(pages[0])
    if not conn.execute("SELECT " + " OR ".join(f"EXISTS ({q})" for q in flagged)
                        ).fetchone()[0]:
        return
    problems = [f"""
        SELECT CASE
            WHEN json_type(l.body) IS DISTINCT FROM 'OBJECT'
                THEN w || ': body is not a JSON object'
            WHEN NOT json_exists(l.body, '$.code') THEN w || ': required field ''code'' is missing'
            WHEN json_type(l.body, '$.code') NOT IN ('UBIGINT', 'BIGINT', 'DOUBLE')
                 OR TRY_CAST(l.body ->> '$.code' AS DOUBLE) <> 0
                THEN w || ': TikTok answered code '
                     || coalesce(l.body ->> '$.code', 'None')
                     || ' (' || {shown("l.body -> '$.message'")}
                     || ', request_id ' || coalesce(l.body ->> '$.request_id', 'None')
                     || ') with HTTP 200; nothing from this pull can be trusted'
            WHEN NOT json_exists(l.body, '$.data') THEN w || ': required field ''data'' is missing'
            WHEN json_type(l.body, '$.data') <> 'OBJECT'
                THEN w || ': ''data'' is not a JSON object'
            WHEN NOT json_exists(l.body, '$.data.{key}')
                THEN w || ': required field ''{key}'' is missing'
            WHEN json_type(l.body, '$.data.{key}') <> 'ARRAY'
                THEN w || ': ''data.{key}'' is a ' || kp_pytype(l.body -> '$.data.{key}')
                     || ', expected a list'
            ELSE {request_detail} END AS message
        FROM (SELECT * FROM tiktok_requests WHERE NOT ok) r
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no),
        LATERAL (SELECT a.context || ' request ' || coalesce(l.path, 'None') AS w)""", f"""
        SELECT CASE WHEN json_type(ri) IS DISTINCT FROM 'OBJECT'
                    THEN w || ': item is not a JSON object' ELSE {item_detail} END AS message
        FROM (SELECT * FROM tiktok_items WHERE NOT ok) i
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no),
        LATERAL (SELECT a.context || ' request ' || coalesce(l.path, 'None') || ' data.{key}['
                        || i.item_no || ']' AS w,
                        l.body -> ('$.data.{key}[' || i.item_no || ']') AS ri)"""]
    if zone:
        problems.append(f"""
            SELECT a.context || ' request ' || coalesce(l.path, 'None')
                   || ': required field ''timezone'' is missing' AS message
            FROM ({zoneless}) x JOIN landing_accounts a USING (file, account_no)
            JOIN landing_requests l ON l.file = x.file AND l.account_no = x.account_no
                 AND l.request_no = 0""")
    if pages:
        problems.append(pages[1])
    fail_on(conn, " UNION ALL ".join(problems))


def _meta(alias: str = "a") -> str:
    return f"{alias}.stream AS source_stream, {alias}.api_version, {alias}.pulled_at"


# ------------------------------------------------------------------ account
def parse_account(conn: duckdb.DuckDBPyConnection, stream: str = "tiktok_account") -> str:
    """account_daily rows from ``/business/get/``: one row per ``data.metrics`` date."""
    columns = {"report_date": _tiktok_date("item.date"),
               **{c: _num(f"item.{f}") for c, f in ACCOUNT_FIELDS.items()}}
    ok = ["report_date IS NOT NULL",
          *(_count_ok(f"item.{f}", c) for c, f in ACCOUNT_FIELDS.items())]
    _load(conn, "metrics", _ACCOUNT_ITEM, columns, ok)
    _check(conn, "metrics", f"""CASE {_required('date')}
        WHEN {_raw_date(_raw('date'))} IS NULL
            THEN w || ': field ''date'' value ' || {shown(_raw('date'))}
                 || ' is not a TikTok date'
        ELSE coalesce({_count_problems(ACCOUNT_FIELDS)}) END""")
    return typed_rows(conn, stream, f"""
        SELECT i.*, '{PLATFORM}' AS platform, a.account_id, a.brand, a.timezone, {_meta()}
        FROM tiktok_items i JOIN landing_accounts a USING (file, account_no)
        ORDER BY i.file, i.account_no, i.request_no, i.item_no""")


# ------------------------------------------------------------------- videos
def parse_videos(conn: duckdb.DuckDBPyConnection, stream: str = "tiktok_videos") -> str:
    """Lifetime snapshots of the account's videos as of the end of the partition day.

    Pages are followed by ``cursor``; an account whose last page still says
    ``has_more`` was pulled incompletely and is an error, not a shorter list, unless the
    client noted that it stopped at the look-back (TikTok lists every video, newest
    first). Videos published before the look-back window are left out, so the stream
    holds the same videos whichever page the list stopped on; they are checked all the
    same.
    """
    rate, watched = "item.full_video_watched_rate", "item.total_time_watched"
    columns = {"post_id": _text("item.item_id"), "created": _num("item.create_time"),
               "caption": "item.caption",
               **{c: _num(f"item.{f}") for c, f in VIDEO_FIELDS.items()},
               "rate": _num(rate), "watch_time_seconds": _num(watched)}
    ok = ["item.item_id IS NOT NULL", "created IS NOT NULL",
          _count_ok("item.create_time", "created"),
          *(_count_ok(f"item.{f}", c) for c, f in VIDEO_FIELDS.items()),
          _number_ok(rate, "rate"), "coalesce(rate <= 1, true)",
          _number_ok(watched, "watch_time_seconds")]
    _load(conn, "videos", _VIDEO_ITEM, columns, ok,
          extra={"has_more": _JSON},
          extra_columns="kp_truthy(b.data.has_more) AND NOT stopped_at_lookback AS more,")
    raw_rate = _raw("full_video_watched_rate")
    detail = f"""CASE {_required('item_id')} {_required('create_time')}
        WHEN kp_int_problem({_raw('create_time')}, false) IS NOT NULL
            THEN kp_field(w, 'create_time', kp_int_problem({_raw('create_time')}, false))
        WHEN kp_num({_raw('create_time')}) IS NULL THEN w || ': field ''create_time'' is empty'
        ELSE coalesce({_count_problems(VIDEO_FIELDS)},
            kp_field(w, 'full_video_watched_rate', kp_num_problem({raw_rate}, false)),
            CASE WHEN kp_num({raw_rate}) > 1 THEN w || ': field ''full_video_watched_rate'' value '
                 || kp_num({raw_rate})::VARCHAR || ' is above 1; TikTok sends a ratio' END,
            kp_field(w, 'total_time_watched',
                     kp_num_problem({_raw('total_time_watched')}, false))) END"""
    # Per account id, the last page answered must not announce more.
    last_pages = """
        SELECT r.file, a.account_id, arg_max(r.more, (r.account_no, r.request_no)) AS more,
               arg_max(a.context || ' request ' || coalesce(l.path, 'None'),
                       (r.account_no, r.request_no)) AS w
        FROM tiktok_requests r JOIN landing_accounts a USING (file, account_no)
        JOIN landing_requests l USING (file, account_no, request_no)
        GROUP BY r.file, a.account_id"""
    pages = ("SELECT 1 FROM tiktok_requests r GROUP BY r.file, r.account_no "
             "HAVING arg_max(r.more, r.request_no)",
             f"""SELECT w || ': the last page says has_more=true; the video list was not pulled '
                        || 'to the end' AS message FROM ({last_pages}) WHERE more""")
    _check(conn, "videos", detail, pages, zone=True)
    counts = ", ".join(f"i.{c}" for c in VIDEO_FIELDS)
    first_day = POST_LOOKBACK_DAYS - 1
    return typed_rows(conn, stream, f"""
        SELECT i.file, a.partition AS report_date, '{PLATFORM}' AS platform, a.account_id,
               a.brand, i.post_id, make_timestamp(i.created::BIGINT * 1000000) AS published_at,
               'video' AS media_type, i.caption, {counts}, i.video_views AS views,
               round_even(i.video_views * i.rate, 0) AS completions, i.watch_time_seconds,
               {_meta()}
        FROM tiktok_items i JOIN landing_accounts a USING (file, account_no)
        WHERE timezone(a.timezone, to_timestamp(i.created))::DATE >= a.partition - {first_day}
        ORDER BY i.file, i.account_no, i.request_no, i.item_no""")


# ---------------------------------------------------------------------- ads
def parse_ads(conn: duckdb.DuckDBPyConnection, stream: str = "tiktok_ads") -> str:
    """Campaign days from the integrated report, across all its pages.

    Every page 1..total_page of an advertiser's report must have been answered (an empty
    report is one page saying total_page 0). Money is in the advertiser currency (the
    account's currency in the envelope).
    """
    spend, day = "item.metrics.spend", "item.dimensions.stat_time_day"
    revenue = "item.metrics.total_complete_payment_rate"
    columns = {"report_date": _tiktok_date(day),
               "campaign_id": _text("item.dimensions.campaign_id"),
               "campaign_name": "item.metrics.campaign_name",
               "objective": objective_sql(PLATFORM, "item.metrics.objective_type"),
               "spend": _num(spend),
               **{c: _num(f"item.metrics.{f}") for c, f in AD_FIELDS.items()},
               "revenue": _num(revenue)}
    ok = ["spend >= 0", "spend < 'inf'::DOUBLE", "report_date IS NOT NULL",
          "item.dimensions.campaign_id IS NOT NULL",
          *(_count_ok(f"item.metrics.{f}", c) for c, f in AD_FIELDS.items()),
          _number_ok(revenue, "revenue")]
    page, total = "b.data.page_info.page", "b.data.page_info.total_page"
    _load(conn, "list", _AD_ITEM, columns, ok,
          extra={"page_info": _struct({"page": _TEXT, "total_page": _TEXT})},
          extra_columns=f"TRY_CAST({_num(page)} AS BIGINT) AS page, "
                        f"TRY_CAST({_num(total)} AS BIGINT) AS total,",
          extra_ok=f"{_num(page)} IS NOT NULL AND {_num(total)} IS NOT NULL "
                   f"AND {_count_ok(page, _num(page))} AND {_count_ok(total, _num(total))}",
          skip_path=ADGROUP_PATH)
    detail = f"""CASE {_required('dimensions')} {_required('metrics')}
        WHEN json_type(ri, '$.metrics') <> 'OBJECT' THEN w || ': ''metrics'' is not a JSON object'
        {_required('metrics.spend')}
        WHEN kp_num_problem({_raw('metrics.spend')}, false) IS NOT NULL
            THEN kp_field(w, 'metrics.spend', kp_num_problem({_raw('metrics.spend')}, false))
        WHEN kp_num({_raw('metrics.spend')}) IS NULL THEN w || ': field ''metrics.spend'' is empty'
        {_required('dimensions.stat_time_day')}
        WHEN {_raw_date(_raw('dimensions.stat_time_day'))} IS NULL
            THEN w || ': field ''dimensions.stat_time_day'' value '
                 || {shown(_raw('dimensions.stat_time_day'))} || ' is not a TikTok date'
        {_required('dimensions.campaign_id')}
        ELSE coalesce({_count_problems(AD_FIELDS, 'metrics.')},
            kp_field(w, 'metrics.total_complete_payment_rate',
                     kp_num_problem({_raw('metrics.total_complete_payment_rate')}, false))) END"""
    page_detail = "CASE WHEN NOT json_exists(l.body, '$.data.page_info') THEN w || ': required " \
                  "field ''page_info'' is missing' " + " ".join(
        f"""WHEN NOT json_exists(l.body, '$.data.page_info.{k}')
                THEN w || ': required field ''{k}'' is missing'
            WHEN kp_int_problem(l.body -> '$.data.page_info.{k}', false) IS NOT NULL
                THEN kp_field(w, 'page_info.{k}',
                              kp_int_problem(l.body -> '$.data.page_info.{k}', false))
            WHEN kp_num(l.body -> '$.data.page_info.{k}') IS NULL
                THEN w || ': field ''page_info.{k}'' is empty'"""
        for k in ("page", "total_page")) + " END"
    # Pages are counted per advertiser id; a page answered twice counts with the total it
    # said last, and the first request names the report.
    answered = """
        SELECT file, account_id, list_sort(list(page)) AS pages, max(total) AS total
        FROM (SELECT r.file, a.account_id, r.page,
                     arg_max(r.total, (r.account_no, r.request_no)) AS total
              FROM tiktok_requests r JOIN landing_accounts a USING (file, account_no)
              WHERE r.ok GROUP BY ALL)
        GROUP BY ALL"""
    wrong = "pages <> CASE WHEN total > 0 THEN range(1, total + 1) ELSE [1] END"
    pages = (f"SELECT 1 FROM ({answered}) WHERE {wrong}", f"""
        SELECT f.w || ': report pages [' || array_to_string(p.pages, ', ')
               || '] answered, but page_info says total_page=' || p.total
               || '; the report was not pulled completely' AS message
        FROM ({answered}) p
        JOIN (SELECT r.file, a.account_id, arg_min(a.context || ' request '
                     || coalesce(l.path, 'None'), (r.account_no, r.request_no)) AS w
              FROM tiktok_requests r JOIN landing_requests l USING (file, account_no, request_no)
              JOIN landing_accounts a USING (file, account_no) GROUP BY ALL) f
             USING (file, account_id)
        WHERE {wrong} AND NOT EXISTS (SELECT 1 FROM tiktok_requests WHERE NOT ok)""")
    _check(conn, "list", detail, pages, page_detail)
    return typed_rows(conn, stream, f"""
        SELECT i.*, '{PLATFORM}' AS platform, a.account_id AS ad_account_id, a.brand,
               a.currency, w.attribution_setting, {_meta()}
        FROM tiktok_items i JOIN landing_accounts a USING (file, account_no)
        LEFT JOIN ({ADGROUP_SETTINGS}) w USING (file, account_no, campaign_id)
        ORDER BY i.file, i.account_no, i.request_no, i.item_no""")


PARSERS = {
    "tiktok_account": parse_account,
    "tiktok_videos": parse_videos,
    "tiktok_ads": parse_ads,
}
