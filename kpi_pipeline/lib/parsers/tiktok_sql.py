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
list items into ``tiktok_items``, already typed, each with an ``ok`` flag from a cheap
test (digits where a count is expected, a date where a date is). One query asks whether
any request, item, account or paging fails its test; only then does the detailed scan
run, re-reading the raw JSON of what failed to name the field and the value exactly as
the boundary rules of ``common`` do. A valid window never pays for the detailed checks.
"""

from __future__ import annotations

import duckdb

from kpi_pipeline.lib.parsers.envelopes import fail_on, typed_rows
from kpi_pipeline.lib.streams import POST_LOOKBACK_DAYS

#: The key a client adds to the last page it asked when it stopped at the look-back.
LOOKBACK_NOTE = "stopped_at_lookback"

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

_COUNT = r"\d{1,15}"  # digits only: a count that needs no further check
_DECIMAL = r"\d{1,300}(\.\d{1,300})?"  # a plain non-negative number


def _struct(fields: dict[str, str]) -> str:
    """A json_transform structure; leaves that may be numbers or strings stay JSON."""
    return "{" + ", ".join(f'"{name}": {kind}' for name, kind in fields.items()) + "}"


_JSON = '"JSON"'
_ACCOUNT_ITEM = _struct({"date": _JSON, **{f: _JSON for f in ACCOUNT_FIELDS.values()}})
_VIDEO_ITEM = _struct({"item_id": _JSON, "create_time": _JSON, "caption": '"VARCHAR"',
                       **{f: _JSON for f in VIDEO_FIELDS.values()},
                       "full_video_watched_rate": _JSON, "total_time_watched": _JSON})
_AD_ITEM = _struct({
    "dimensions": _struct({"stat_time_day": _JSON, "campaign_id": _JSON}),
    "metrics": _struct({"campaign_name": '"VARCHAR"', "spend": _JSON,
                        **{f: _JSON for f in AD_FIELDS.values()},
                        "total_complete_payment_rate": _JSON})})


# ------------------------------------------------------------------ values
def _num(v: str) -> str:
    """The number a JSON number or numeric string holds, NULL for anything else. Never
    raises, unlike a cast the optimizer may hoist out of ``kp_num``'s CASE: values are
    converted before they are checked."""
    return f"TRY_CAST(trim({v} ->> '$') AS DOUBLE)"


def _count_ok(v: str) -> str:
    """Cheap test: ``v`` is absent, null or plain digits (a count that needs no check)."""
    return f"({v} IS NULL OR regexp_full_match({v} ->> '$', '{_COUNT}'))"


def _number_ok(v: str) -> str:
    """Cheap test: ``v`` is absent, null or a plain non-negative decimal."""
    return f"({v} IS NULL OR regexp_full_match({v} ->> '$', '{_DECIMAL}'))"


def _tiktok_date(v: str) -> str:
    """"YYYY-MM-DD" or "YYYY-MM-DD 00:00:00" (TikTok's advertiser-local day) as a DATE."""
    return (f"CASE WHEN json_type({v}) = 'VARCHAR' AND length({v} ->> '$') IN (10, 19) "
            f"AND regexp_full_match(left({v} ->> '$', 10), '\\d{{4}}-\\d{{2}}-\\d{{2}}') "
            f"THEN TRY_CAST(left({v} ->> '$', 10) AS DATE) END")


def _shown(v: str) -> str:
    """Python's ``repr()`` of a JSON value read from a raw body (absent or null: None)."""
    return (f"CASE WHEN ({v}) IS NULL OR json_type({v}) = 'NULL' THEN 'None' "
            f"ELSE kp_shown({v}) END")


def _text(v: str) -> str:
    """Python's ``str()`` of a JSON scalar (an id): a JSON null is 'None'."""
    return f"coalesce({v} ->> '$', 'None')"


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
def _load(conn: duckdb.DuckDBPyConnection, key: str, item: str, columns: str, ok: str,
          extra: dict[str, str] | None = None, extra_columns: str = "",
          extra_ok: str = "true") -> None:
    """``tiktok_requests``: per request its ``ok`` flag (code 0, ``data.<key>`` a list,
    ``extra_ok``) and ``extra_columns``; ``tiktok_items``: per item of ``data.<key>`` the
    typed ``columns`` (SQL over the struct ``item``) and its ``ok`` flag. Each body is
    transformed once."""
    fields = {key: f"[{item}]", **(extra or {})}
    body = _struct({"code": _JSON, "data": _struct(fields)})
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE tiktok_requests AS
        SELECT file, account_no, request_no, b.data.{key} AS items, {extra_columns}
               coalesce(b.code::VARCHAR = '0' AND b.data.{key} IS NOT NULL AND {extra_ok},
                        false) AS ok
        FROM (SELECT file, account_no, request_no, stopped_at_lookback,
                     json_transform(body, '{body}') AS b
              FROM landing_requests)""")
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE tiktok_items AS
        SELECT file, account_no, request_no, item_no, {columns}, coalesce({ok}, false) AS ok
        FROM (SELECT file, account_no, request_no, unnest(items) AS item,
                     unnest(range(len(items))) AS item_no
              FROM tiktok_requests)""")


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
                 OR (l.body ->> '$.code')::DOUBLE <> 0
                THEN w || ': TikTok answered code '
                     || coalesce(l.body ->> '$.code', 'None')
                     || ' (' || {_shown("l.body -> '$.message'")}
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
    counts = ", ".join(f"{_num(f'item.{f}')} AS {c}" for c, f in ACCOUNT_FIELDS.items())
    ok = " AND ".join([f"{_tiktok_date('item.date')} IS NOT NULL",
                       *(_count_ok(f"item.{f}") for f in ACCOUNT_FIELDS.values())])
    _load(conn, "metrics", _ACCOUNT_ITEM,
          f"{_tiktok_date('item.date')} AS report_date, {counts}", ok)
    _check(conn, "metrics", f"""CASE {_required('date')}
        WHEN {_tiktok_date(_raw('date'))} IS NULL
            THEN w || ': field ''date'' value ' || {_shown(_raw('date'))}
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
    counts = ", ".join(f"{_num(f'item.{f}')} AS {c}" for c, f in VIDEO_FIELDS.items())
    ok = " AND ".join([
        "item.item_id IS NOT NULL", "item.create_time IS NOT NULL",
        _count_ok("item.create_time"), *(_count_ok(f"item.{f}") for f in VIDEO_FIELDS.values()),
        _number_ok(rate), f"coalesce({_num(rate)} <= 1, true)", _number_ok(watched)])
    _load(conn, "videos", _VIDEO_ITEM,
          f"""{_text('item.item_id')} AS post_id, {_num('item.create_time')} AS created,
              item.caption AS caption, {counts}, {_num(rate)} AS rate,
              {_num(watched)} AS watch_time_seconds""", ok,
          extra={"has_more": _JSON},
          extra_columns="kp_truthy(b.data.has_more) AND NOT stopped_at_lookback AS more,")
    raw_rate = _raw("full_video_watched_rate")
    detail = f"""CASE {_required('item_id')} {_required('create_time')}
        WHEN kp_int_problem({_raw('create_time')}, false) IS NOT NULL
            THEN kp_field(w, 'create_time', kp_int_problem({_raw('create_time')}, false))
        WHEN {_num(_raw('create_time'))} IS NULL THEN w || ': field ''create_time'' is empty'
        ELSE coalesce({_count_problems(VIDEO_FIELDS)},
            kp_field(w, 'full_video_watched_rate', kp_num_problem({raw_rate}, false)),
            CASE WHEN {_num(raw_rate)} > 1 THEN w || ': field ''full_video_watched_rate'' value '
                 || {_num(raw_rate)}::VARCHAR || ' is above 1; TikTok sends a ratio' END,
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
    counts = ", ".join(f"{_num(f'item.metrics.{f}')} AS {c}" for c, f in AD_FIELDS.items())
    ok = " AND ".join([
        f"regexp_full_match({spend} ->> '$', '{_DECIMAL}')", f"{_tiktok_date(day)} IS NOT NULL",
        "item.dimensions.campaign_id IS NOT NULL",
        *(_count_ok(f"item.metrics.{f}") for f in AD_FIELDS.values()), _number_ok(revenue)])
    page, total = "b.data.page_info.page", "b.data.page_info.total_page"
    _load(conn, "list", _AD_ITEM,
          f"""{_tiktok_date(day)} AS report_date,
              {_text('item.dimensions.campaign_id')} AS campaign_id,
              item.metrics.campaign_name AS campaign_name, {_num(spend)} AS spend, {counts},
              {_num(revenue)} AS revenue""", ok,
          extra={"page_info": _struct({"page": _JSON, "total_page": _JSON})},
          extra_columns=f"{_num(page)}::BIGINT AS page, {_num(total)}::BIGINT AS total,",
          extra_ok=f"{page} IS NOT NULL AND {total} IS NOT NULL AND {_count_ok(page)} "
                   f"AND {_count_ok(total)}")
    detail = f"""CASE {_required('dimensions')} {_required('metrics')}
        WHEN json_type(ri, '$.metrics') <> 'OBJECT' THEN w || ': ''metrics'' is not a JSON object'
        {_required('metrics.spend')}
        WHEN kp_num_problem({_raw('metrics.spend')}, false) IS NOT NULL
            THEN kp_field(w, 'metrics.spend', kp_num_problem({_raw('metrics.spend')}, false))
        WHEN {_num(_raw('metrics.spend'))} IS NULL THEN w || ': field ''metrics.spend'' is empty'
        {_required('dimensions.stat_time_day')}
        WHEN {_tiktok_date(_raw('dimensions.stat_time_day'))} IS NULL
            THEN w || ': field ''dimensions.stat_time_day'' value '
                 || {_shown(_raw('dimensions.stat_time_day'))} || ' is not a TikTok date'
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
               a.currency, {_meta()}
        FROM tiktok_items i JOIN landing_accounts a USING (file, account_no)
        ORDER BY i.file, i.account_no, i.request_no, i.item_no""")


PARSERS = {
    "tiktok_account": parse_account,
    "tiktok_videos": parse_videos,
    "tiktok_ads": parse_ads,
}
