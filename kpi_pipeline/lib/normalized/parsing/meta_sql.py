"""Parsers for the Meta streams, in DuckDB SQL: Facebook Page, Facebook posts, Instagram
user and media insights, and Meta Marketing API campaign insights.

Every Graph insights body, whatever its style (``values[]`` with end_time, lifetime values,
object values by type, ``total_value`` with breakdowns), goes through one walker
(``_graph_cells``), which asks the metric catalogue (``data/meta_metrics.yaml``, loaded
into temporary tables) which column a metric fills and in which unit. Retired metric names
therefore still land in the right column, and a metric the catalogue does not know is an
error rather than a silent drop. When two metrics fill one column, the one listed first in
the catalogue wins.

Dates: day metrics take the account-local date before ``end_time`` (Graph marks the END of
the day); ``total_value`` metrics carry no end_time and take the local day of the request's
since/until; lifetime post snapshots and node fields take the last day of the pull window;
ads take ``date_start``.

Each body is read once into a struct (``json_transform``) and the intermediate tables stay
narrow (ids and values); the context a message names is joined back only for problems.
"""

from __future__ import annotations

from functools import cache

import duckdb

from kpi_pipeline.lib.core.platforms.meta import meta_catalog
from kpi_pipeline.lib.core.platforms.objectives import objective_sql
from kpi_pipeline.lib.normalized.parsing.envelopes import fail_on, typed_rows
from kpi_pipeline.lib.normalized.parsing.sql_values import fail_on_suspects, num

# Graph object and platform of each insights stream.
GRAPH_STREAMS = {"facebook_page": ("page", "facebook"),
                 "instagram_account": ("ig_user", "instagram"),
                 "facebook_posts": ("post", "facebook"),
                 "instagram_media": ("ig_media", "instagram")}

# The fields read from a Graph body: insights entries and list-page items share ``data``.
GRAPH_BODY = ('{"data": [{"name": "VARCHAR", "period": "VARCHAR", '
              '"values": [{"value": "JSON", "end_time": "VARCHAR"}], "total_value": "JSON", '
              '"id": "VARCHAR", "created_time": "VARCHAR", "status_type": "VARCHAR", '
              '"message": "VARCHAR", "permalink_url": "VARCHAR", "comments": "JSON", '
              '"shares": "JSON", "media_type": "VARCHAR", "media_product_type": "VARCHAR", '
              '"timestamp": "VARCHAR", "caption": "VARCHAR"}], "paging": "JSON"}')
AD_BODY = ('{"data": [{"campaign_id": "VARCHAR", "campaign_name": "VARCHAR", '
           '"objective": "VARCHAR", '
           '"date_start": "VARCHAR", "date_stop": "VARCHAR", "account_currency": "VARCHAR", '
           '"spend": "JSON", "impressions": "JSON", "reach": "JSON", "clicks": "JSON", '
           '"inline_link_clicks": "JSON", "actions": "JSON", "action_values": "JSON"}], '
           '"paging": "JSON"}')
AD_COUNTS = (("impressions", "impressions"), ("reach", "reach"), ("clicks", "clicks"),
             ("link_clicks", "inline_link_clicks"))
AD_FIELDS = tuple(field for _, field in AD_COUNTS)
# The attribution windows each request asked (``action_attribution_windows``, a JSON list
# in the query, as Graph takes it; a paging link repeats it), comma-joined in the order
# asked: the setting the answer's conversions are counted in. A request that named none,
# or named them in another shape, leaves it NULL (unknown), never a guessed default.
_WINDOWS = "params ->> '$.action_attribution_windows'"
ATTRIBUTION_SETTING = f"""
    SELECT file, account_no, request_no,
           CASE WHEN json_valid({_WINDOWS}) AND json_type(({_WINDOWS})::JSON) = 'ARRAY'
                THEN nullif(array_to_string(list_filter(
                    from_json({_WINDOWS}, '["VARCHAR"]'), lambda w: w <> ''), ','), '')
           END AS attribution_setting
    FROM landing_requests"""




def _plain(v: str) -> str:
    """TRUE when a JSON value is a number, or a string without a thousands separator."""
    return (f"(json_type({v}) IN ('UBIGINT', 'BIGINT', 'DOUBLE') OR "
            f"json_type({v}) = 'VARCHAR' AND NOT contains({v} ->> '$', ','))")


def _count_ok(field: str, num: str = "") -> str:
    """The common case of a count (absent, null, "", or a whole non-negative number a
    platform can report), decided without binding the detailed check."""
    num = num or f"{field}_num"
    return (f"({field} IS NULL OR json_type({field}) = 'NULL' OR ({field} ->> '$') = '' OR "
            f"{_plain(field)} AND {num} >= 0 AND {num} = trunc({num}) AND {num} <= 1e15)")


def _money_ok(field: str, num: str = "") -> str:
    """The common case of an amount: absent, null, "" or a finite non-negative number."""
    num = num or f"{field}_num"
    return (f"({field} IS NULL OR json_type({field}) = 'NULL' OR ({field} ->> '$') = '' OR "
            f"{_plain(field)} AND isfinite({num}) AND {num} >= 0)")


CATALOGUE = "kpi_pipeline/data/meta_metrics.yaml"
# The catalogue's temporary tables: built once per connection, kept across chunks.
KEPT_TABLES = ("meta_metric", "meta_metric_period", "meta_metric_bucket", "meta_media_kind",
               "meta_ad_action")


@cache
def _catalog_rows() -> dict[str, tuple[str, list[tuple]]]:
    """The metric catalogue as rows of temporary tables: metrics, their period and
    breakdown targets, the media kinds and the ad action priorities."""
    catalog = meta_catalog()
    metrics, periods, buckets = [], [], []
    for rank, spec in enumerate(catalog.metrics):
        metrics.append((spec.object, spec.name, rank, spec.unit, spec.column,
                        bool(spec.breakdown)))
        periods.extend((spec.object, spec.name, p, c) for p, c in spec.by_period.items())
        buckets.extend((spec.object, spec.name, k, c) for k, c in spec.breakdown.items())
    media = [(platform, key, kind) for platform, kinds in catalog.media_types.items()
             for key, kind in kinds.items()]
    actions = [(column, rank, action, money)
               for money, table in ((False, catalog.ad_actions),
                                    (True, catalog.ad_action_values))
               for column, priority in table.items()
               for rank, action in enumerate(priority)]
    return {
        "meta_metric": ("object VARCHAR, name VARCHAR, rank INTEGER, unit VARCHAR, "
                        "column_name VARCHAR, has_breakdown BOOLEAN", metrics),
        "meta_metric_period": ("object VARCHAR, name VARCHAR, period VARCHAR, "
                               "column_name VARCHAR", periods),
        "meta_metric_bucket": ("object VARCHAR, name VARCHAR, bucket VARCHAR, "
                               "column_name VARCHAR", buckets),
        "meta_media_kind": ("platform VARCHAR, kind VARCHAR, media_type VARCHAR", media),
        "meta_ad_action": ("column_name VARCHAR, priority INTEGER, action_type VARCHAR, "
                           "money BOOLEAN", actions),
    }


def _load_catalog(conn: duckdb.DuckDBPyConnection) -> None:
    """The catalogue's temporary tables, created once per connection (a long window is
    parsed chunk by chunk on one)."""
    try:
        conn.execute("SELECT 1 FROM meta_ad_action LIMIT 0")
        return
    except duckdb.CatalogException:
        pass
    for name, (ddl, rows) in _catalog_rows().items():
        conn.execute(f"CREATE TEMP TABLE {name} ({ddl})")
        if rows:
            values = ", ".join("(" + ", ".join("?" * len(rows[0])) + ")" for _ in rows)
            conn.execute(f"INSERT INTO {name} VALUES {values}",
                         [v for row in rows for v in row])


@cache
def cell_columns() -> tuple[str, ...]:
    """Every column a Graph metric of the catalogue can fill."""
    found = set()
    for spec in meta_catalog().metrics:
        found.update(c for c in (spec.column, *spec.by_period.values(),
                                 *spec.breakdown.values()) if c)
    return tuple(sorted(found))


def _data_problems(relation: str) -> str:
    """Bodies whose ``data`` is missing or not a list (checked before anything is read)."""
    return f"""
        SELECT CASE
            WHEN json_type(l.body) IS DISTINCT FROM 'OBJECT'
                 OR NOT json_exists(l.body, '$.data')
                THEN c.rctx || ': required field ''data'' is missing'
            WHEN json_type(l.body, '$.data') <> 'ARRAY'
                THEN c.rctx || ': field ''data'' is a ' || lower(json_type(l.body, '$.data'))
                     || ', expected a list' END AS message
        FROM {relation} r JOIN landing_requests l USING (file, account_no, request_no)
        JOIN request_context c USING (file, account_no, request_no)
        WHERE r.b.data IS NULL"""


def _graph_requests(conn: duckdb.DuckDBPyConnection, obj: str) -> None:
    """The stream's requests: ids, the insights owner ('' for list pages and node fields)
    and the body read once into ``b``."""
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE graph_requests AS
        SELECT file, account_no, request_no,
               regexp_extract(rtrim(coalesce(path, ''), '/'), '([^/]+)/insights$', 1) AS owner,
               json_transform(body, '{GRAPH_BODY}') AS b
        FROM landing_requests""")


def _graph_cells(conn: duckdb.DuckDBPyConnection, obj: str) -> None:
    """Every column value of every insights answer in ``graph_requests``: one row of
    ``graph_cells`` per (request, metric point, column) with its catalogue rank, unit,
    field name and raw JSON value. Unknown metrics and values of the wrong style raise."""
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE graph_entries AS
        SELECT file, account_no, request_no, owner, entry_no, entry.name AS name,
               entry.period AS period, entry.total_value AS total_value,
               entry."values" AS points
        FROM (SELECT *, unnest(b.data) AS entry, unnest(range(len(b.data))) AS entry_no
              FROM graph_requests WHERE owner <> '')""")
    fail_on_suspects(conn, """
        SELECT 1 FROM graph_entries e ANTI JOIN meta_metric m
             ON m.object = $obj AND m.name = e.name
        UNION ALL
        SELECT 1 FROM graph_entries WHERE total_value IS NULL AND points IS NULL""", """
        SELECT CASE WHEN e.name IS NULL THEN c.rctx || ': required field ''name'' is missing'
                    WHEN m.name IS NULL
                    THEN c.rctx || ': metric ' || kp_quote(e.name) || ' (' || $obj
                         || ') is not in the Meta metric catalogue (' || $catalogue
                         || '); add it with the column it fills'
                    WHEN e.total_value IS NULL AND e.points IS NULL
                    THEN c.rctx || ' metric ' || kp_quote(e.name)
                         || ': required field ''values'' is missing' END AS message
        FROM graph_entries e LEFT JOIN meta_metric m ON m.object = $obj AND m.name = e.name
        JOIN request_context c USING (file, account_no, request_no)
        WHERE e.name IS NULL OR m.name IS NULL OR (e.total_value IS NULL AND e.points IS NULL)
        """.replace("$catalogue", f"'{CATALOGUE}'"), params={"obj": obj})
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE graph_points AS
        SELECT p.*, json_type(p.v) AS v_type, m.rank, m.unit, m.has_breakdown,
               coalesce(pp.column_name, CASE WHEN pp.period IS NULL THEN m.column_name END)
                   AS scalar_column,
               CASE WHEN coalesce(p.period, '') IN ('', 'day', 'lifetime') THEN p.name
                    ELSE p.name || '/' || p.period END AS field
        FROM (
            SELECT file, account_no, request_no, owner, entry_no, 0 AS point_no, name, period,
                   true AS is_total, NULL::VARCHAR AS end_time, total_value AS v
            FROM graph_entries WHERE total_value IS NOT NULL
            UNION ALL
            SELECT file, account_no, request_no, owner, entry_no, point_no, name, period,
                   false, point.end_time, point.value
            FROM (SELECT *, unnest(points) AS point, unnest(range(len(points))) AS point_no
                  FROM graph_entries WHERE total_value IS NULL)) p
        JOIN meta_metric m ON m.object = $obj AND m.name = p.name
        LEFT JOIN meta_metric_period pp ON pp.object = m.object AND pp.name = m.name
             AND pp.period = coalesce(p.period, '')""", {"obj": obj})
    odd = """(p.is_total AND p.v_type IS DISTINCT FROM 'OBJECT')
             OR (NOT p.has_breakdown AND p.scalar_column IS NOT NULL
                 AND (NOT p.is_total AND p.v_type = 'OBJECT'
                      OR p.is_total AND json_exists(p.v, '$.breakdowns')
                         AND coalesce(json_type(p.v, '$.value'), 'NULL') = 'NULL'))"""
    fail_on_suspects(conn, f"SELECT 1 FROM graph_points p WHERE {odd}", """
        SELECT CASE
            WHEN p.is_total AND p.v_type IS DISTINCT FROM 'OBJECT'
                THEN c.rctx || ': metric ' || kp_quote(p.name) || ' total_value is not an object'
            WHEN NOT p.has_breakdown AND p.scalar_column IS NOT NULL
                 AND (NOT p.is_total AND p.v_type = 'OBJECT'
                      OR p.is_total AND json_exists(p.v, '$.breakdowns')
                         AND coalesce(json_type(p.v, '$.value'), 'NULL') = 'NULL')
                THEN c.rctx || ': metric ' || kp_quote(p.name) || ' sent an object value but '
                     || 'the catalogue has no breakdown for it' END AS message
        FROM graph_points p JOIN request_context c USING (file, account_no, request_no)
        WHERE p.v_type = 'OBJECT' OR p.is_total""")
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE graph_cells AS
        WITH total_buckets AS (
            SELECT file, account_no, request_no, entry_no,
                   array_to_string(CAST(result -> '$.dimension_values' AS VARCHAR[]), '|')
                       AS bucket,
                   result -> '$.value' AS raw
            FROM (SELECT *, unnest(CAST(breakdown -> '$.results' AS JSON[])) AS result
                  FROM (SELECT *, unnest(CAST(v -> '$.breakdowns' AS JSON[])) AS breakdown
                        FROM graph_points
                        WHERE is_total AND json_type(v, '$.breakdowns') = 'ARRAY'))),
        bucketed AS (
            SELECT p.*, k.bucket, k.column_name AS bucket_column
            FROM graph_points p JOIN meta_metric_bucket k ON k.object = $obj AND k.name = p.name
            WHERE (NOT p.is_total AND p.v_type = 'OBJECT')
               OR (p.is_total AND json_type(p.v, '$.breakdowns') = 'ARRAY'))
        SELECT file, account_no, request_no, owner, end_time, rank, unit, field,
               scalar_column AS column_name,
               CASE WHEN is_total THEN v -> '$.value' ELSE v END AS raw
        FROM graph_points
        WHERE scalar_column IS NOT NULL AND v_type IS DISTINCT FROM 'NULL'
          AND (v_type <> 'OBJECT' OR is_total AND json_type(v, '$.value') <> 'NULL')
        UNION ALL
        SELECT k.file, k.account_no, k.request_no, k.owner, k.end_time, k.rank, k.unit,
               k.field, k.bucket_column,
               coalesce(CASE WHEN k.is_total THEN t.raw ELSE k.v -> k.bucket END, '0'::JSON)
        FROM bucketed k LEFT JOIN total_buckets t
             -- only a total's cells have buckets: a NULL key (not a total) matches
             -- nothing. Tested inside the key, not as a condition of its own: a LEFT
             -- JOIN condition on the left side alone makes DuckDB 1.4 join every row
             -- with every row (a blockwise nested-loop join) instead of hashing.
             ON t.file = CASE WHEN k.is_total THEN k.file END
            AND t.account_no = k.account_no AND t.request_no = k.request_no
            AND t.entry_no = k.entry_no AND t.bucket = k.bucket""", {"obj": obj})


def _convert_cells(conn: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Convert every cell's raw value by its unit into ``value`` (DOUBLE; milliseconds to
    seconds), in one pass. The common case, a JSON integer within the counts a platform
    reports (or a finite non-negative number of milliseconds), needs no check; any other
    value binds the detailed check, which names the field and says why."""
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE {relation} AS
        SELECT * EXCLUDE (num, raw_type),
               CASE WHEN unit = 'milliseconds' THEN num / 1000.0 ELSE num END AS value,
               CASE WHEN unit = 'milliseconds'
                    THEN raw_type IN ('UBIGINT', 'DOUBLE') AND isfinite(num) AND num >= 0
                    ELSE raw_type = 'UBIGINT' AND num <= 1e15 END AS ok
        FROM (SELECT *, json_type(raw) AS raw_type,
                     TRY_CAST(trim(raw ->> '$') AS DOUBLE) AS num FROM {relation})""")
    fail_on_suspects(conn, f"SELECT 1 FROM {relation} WHERE NOT ok", f"""
        SELECT kp_field(c.rctx, x.field,
                        CASE WHEN x.unit = 'milliseconds' THEN kp_num_problem(x.raw, false)
                             ELSE kp_int_problem(x.raw, false) END) AS message
        FROM {relation} x JOIN request_context c USING (file, account_no, request_no)
        WHERE NOT x.ok""")


def _pivot(cells: str, keys: tuple[str, ...]) -> str:
    """One row per ``keys`` with a column per catalogue target: the value of the metric
    ranked first among those that filled it."""
    picks = ", ".join(f"arg_min_null(value, rank) FILTER (WHERE column_name = '{c}') AS {c}"
                      for c in cell_columns())
    return f"SELECT {', '.join(keys)}, {picks} FROM {cells} GROUP BY {', '.join(keys)}"


def _check_windows(conn: duckdb.DuckDBPyConnection) -> None:
    """Lifetime and node values belong to the pull window's last day: it must be a date."""
    fail_on(conn, """
        SELECT CASE WHEN window_end IS NULL THEN context || ': required field ''end'' is missing'
                    WHEN TRY_CAST(window_end AS DATE) IS NULL
                    THEN context || ': field ''window.end'' value ' || kp_quote(window_end)
                         || ' is not a date' END AS message
        FROM landing_accounts""")


def parse_account_stream(conn: duckdb.DuckDBPyConnection, stream: str) -> str:
    """account_daily rows from Page or IG-user insights and node fields, one per account
    and local day."""
    obj, platform = GRAPH_STREAMS[stream]
    _load_catalog(conn)
    _graph_requests(conn, obj)
    fail_on_suspects(conn, "SELECT 1 FROM graph_requests WHERE b.data IS NULL AND owner <> ''",
                     _data_problems("graph_requests") + " AND r.owner <> ''")
    _graph_cells(conn, obj)
    # Node fields (GET /{id}?fields=...): every key but id is a catalogue metric.
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE node_fields AS
        SELECT file, account_no, request_no, key, body -> key AS raw
        FROM (SELECT *, unnest(json_keys(body)) AS key FROM landing_requests
              WHERE json_type(body) = 'OBJECT') r
        JOIN graph_requests g USING (file, account_no, request_no)
        WHERE g.owner = '' AND key <> 'id'""")
    fail_on(conn, """
        SELECT CASE WHEN json_type(l.body) IS DISTINCT FROM 'OBJECT'
                    THEN c.rctx || ': body is not an object' END AS message
        FROM graph_requests g JOIN landing_requests l USING (file, account_no, request_no)
        JOIN request_context c USING (file, account_no, request_no) WHERE g.owner = ''""")
    fail_on(conn, """
        SELECT c.rctx || ': metric ' || kp_quote(f.key) || ' (' || $obj || ') is not in the Meta '
               || 'metric catalogue (' || $catalogue || '); add it with the column it fills'
               AS message
        FROM node_fields f ANTI JOIN meta_metric m ON m.object = $obj AND m.name = f.key
        JOIN request_context c USING (file, account_no, request_no)""",
            {"obj": obj, "catalogue": CATALOGUE})
    _check_windows(conn)
    _request_days(conn)
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE account_cells AS
        SELECT c.file, c.account_no, c.request_no, c.field, c.rank, c.unit, c.column_name,
               c.raw, d.day
        FROM graph_cells c JOIN request_days d
             ON d.file = c.file AND d.account_no = c.account_no
            AND d.request_no = c.request_no AND d.end_time IS NOT DISTINCT FROM c.end_time
        UNION ALL
        SELECT f.file, f.account_no, f.request_no, f.key, m.rank, m.unit, m.column_name, f.raw,
               a.window_end::DATE
        FROM node_fields f JOIN meta_metric m ON m.object = $obj AND m.name = f.key
        JOIN landing_accounts a USING (file, account_no)
        WHERE m.column_name IS NOT NULL""", {"obj": obj})
    _convert_cells(conn, "account_cells")
    pivot = _pivot("account_cells", ("file", "account_no", "day"))
    return typed_rows(conn, stream, f"""
        SELECT p.*, p.day AS report_date, '{platform}' AS platform, a.account_id, a.brand,
               a.timezone, a.stream AS source_stream, a.api_version, a.pulled_at
        FROM ({pivot}) p JOIN landing_accounts a USING (file, account_no)
        ORDER BY a.file, a.account_no, p.day""")


GRAPH_TIME = "%Y-%m-%dT%H:%M:%S%z"


def _request_days(conn: duckdb.DuckDBPyConnection) -> None:
    """``request_days``: the local day of each (request, end_time) of ``graph_cells``,
    computed once for all the values that share them. Graph's end_time marks the END of
    the day; a total_value answer (no end_time) covers its request's since..until, which
    must be one local day. Anything else binds the detailed check, which says why."""
    since, until = "l.params -> '$.since'", "l.params -> '$.until'"
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE request_days AS
        SELECT g.file, g.account_no, g.request_no, g.end_time,
               CASE WHEN g.end_time IS NOT NULL
                    THEN timezone(a.timezone, try_strptime(g.end_time, '{GRAPH_TIME}')
                                  - INTERVAL 1 SECOND)::DATE
                    ELSE timezone(a.timezone, to_timestamp(
                        TRY_CAST({since} ->> '$' AS BIGINT)))::DATE END AS day,
               CASE WHEN g.end_time IS NOT NULL
                    THEN try_strptime(g.end_time, '{GRAPH_TIME}') IS NOT NULL
                    ELSE coalesce(json_type({since}) = 'UBIGINT'
                                  AND json_type({until}) = 'UBIGINT'
                                  AND timezone(a.timezone, to_timestamp(
                                          TRY_CAST({since} ->> '$' AS BIGINT)))::DATE
                                      = timezone(a.timezone, to_timestamp(
                                          TRY_CAST({until} ->> '$' AS BIGINT) - 1))::DATE,
                                  false) END AS ok
        FROM (SELECT DISTINCT file, account_no, request_no, end_time FROM graph_cells) g
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no)""")
    fail_on_suspects(conn, "SELECT 1 FROM request_days WHERE NOT ok", f"""
        SELECT CASE
            WHEN g.end_time IS NOT NULL
                 AND try_strptime(g.end_time, '{GRAPH_TIME}') IS NULL
                THEN c.rctx || ': end_time ' || kp_quote(g.end_time)
                     || ' is not a Graph timestamp'
            WHEN g.end_time IS NULL AND NOT json_exists(l.params, '$.since')
                THEN c.rctx || ': required field ''since'' is missing'
            WHEN g.end_time IS NULL AND NOT json_exists(l.params, '$.until')
                THEN c.rctx || ': required field ''until'' is missing'
            WHEN g.end_time IS NULL
                THEN coalesce(
                    kp_field(c.rctx, 'since', kp_int_problem({since}, false)),
                    kp_field(c.rctx, 'until', kp_int_problem({until}, false)),
                    CASE WHEN timezone(a.timezone, to_timestamp(kp_num({since})))::DATE
                              <> timezone(a.timezone, to_timestamp(kp_num({until}) - 1))::DATE
                         THEN c.rctx || ': a total_value answer over since=' || kp_int({since})
                              || ' until=' || kp_int({until}) || ' spans more than one local '
                              || 'day and cannot be stored per day' END)
            END AS message
        FROM (SELECT * FROM request_days WHERE NOT ok) g
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no)
        JOIN request_context c USING (file, account_no, request_no)""")


def _check_pages(conn: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Every list page that announced a ``next`` page was followed, per account."""
    fail_on(conn, f"""
        SELECT CASE WHEN count(*) FILTER (WHERE json_exists(r.b.paging, '$.next'))
                         <> count(*) - 1
                    THEN any_value(a.context) || ': pagination is incomplete (' || count(*)
                         || ' page(s) fetched, '
                         || count(*) FILTER (WHERE json_exists(r.b.paging, '$.next'))
                         || ' announced a next page)' END AS message
        FROM {relation} JOIN landing_accounts a USING (file, account_no)
        GROUP BY file, account_no""")


def parse_post_stream(conn: duckdb.DuckDBPyConnection, stream: str) -> str:
    """post_daily lifetime snapshots as of the last day of the pull window: list-page
    fields plus the post's lifetime insights. A listed post without an insights answer has
    no row; insights for a post no list page returned are an error. A post listed twice
    (paging moved while a post was published) is kept once."""
    obj, platform = GRAPH_STREAMS[stream]
    facebook = platform == "facebook"
    _load_catalog(conn)
    _graph_requests(conn, obj)
    fail_on_suspects(conn, "SELECT 1 FROM graph_requests WHERE b.data IS NULL",
                     _data_problems("graph_requests"))
    _graph_cells(conn, obj)
    _check_windows(conn)
    _check_pages(conn, "(SELECT * FROM graph_requests WHERE owner = '') r")
    noun = "post" if facebook else "media"
    if facebook:
        item = """item.id AS post_id, item.status_type AS kind,
                  item.created_time AS published_text, item.message AS caption,
                  item.permalink_url AS permalink,
                  item.comments -> '$.summary.total_count' AS comments_raw,
                  CASE WHEN item.shares IS NULL OR json_type(item.shares) = 'NULL' THEN '0'
                       WHEN json_exists(item.shares, '$.count') THEN item.shares -> '$.count'
                       ELSE '0' END::JSON AS shares_raw"""
        required = ("created_time", "status_type")
    else:
        item = """item.id AS post_id, item.media_product_type || ':' || item.media_type AS kind,
                  item.timestamp AS published_text, item.caption AS caption,
                  NULL::VARCHAR AS permalink, NULL::JSON AS comments_raw,
                  NULL::JSON AS shares_raw"""
        required = ("media_product_type", "media_type", "timestamp")
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE listed_items AS
        SELECT *, kp_utc(published_text) AS published_at,
               TRY_CAST(comments_raw ->> '$' AS DOUBLE) AS comments_num,
               TRY_CAST(shares_raw ->> '$' AS DOUBLE) AS shares_num
        FROM (
            SELECT file, account_no, request_no, item_no, {item},
                   {' AND '.join(f'item.{f} IS NOT NULL' for f in required)} AS complete,
                   [{', '.join(f"CASE WHEN item.{f} IS NULL THEN '{f}' END"
                               for f in required)}] AS missing
            FROM (SELECT *, unnest(b.data) AS item, unnest(range(len(b.data))) AS item_no
                  FROM graph_requests WHERE owner = ''))""")
    published = "created_time" if facebook else "timestamp"
    plain = ("(i.{0}_raw IS NULL OR json_type(i.{0}_raw) = 'UBIGINT' "
             "AND i.{0}_num <= 1e15)")
    fail_on_suspects(conn, f"""
        SELECT 1 FROM listed_items i LEFT JOIN meta_media_kind k
             ON k.platform = '{platform}' AND k.kind = i.kind
        WHERE i.post_id IS NULL OR NOT i.complete OR k.media_type IS NULL
           OR i.published_at IS NULL OR NOT {plain.format('comments')}
           OR NOT {plain.format('shares')}""", f"""
        SELECT CASE
            WHEN i.post_id IS NULL THEN c.rctx || ': required field ''id'' is missing'
            WHEN NOT i.complete THEN ictx || ': required field '''
                 || list_filter(i.missing, lambda x: x IS NOT NULL)[1] || ''' is missing'
            WHEN k.media_type IS NULL
                THEN ictx || ': media kind ' || kp_quote(i.kind) || ' is not mapped in '
                     || 'media_types.{platform} of {CATALOGUE}'
            WHEN kp_utc(i.published_text) IS NULL
                THEN ictx || ': field ''{published}'' value ' || kp_quote(i.published_text)
                     || ' is not an ISO-8601 timestamp'
            ELSE coalesce(
                kp_field(ictx, 'comments.summary.total_count',
                         kp_int_problem(i.comments_raw, false)),
                kp_field(ictx, 'shares.count', kp_int_problem(i.shares_raw, false)))
            END AS message
        FROM listed_items i JOIN request_context c USING (file, account_no, request_no)
        LEFT JOIN meta_media_kind k ON k.platform = '{platform}' AND k.kind = i.kind,
        LATERAL (SELECT c.rctx || ' {noun} ' || coalesce(i.post_id, 'None') AS ictx)""")
    media_type = ("CASE WHEN k.media_type = 'video' AND contains(coalesce(i.permalink, ''), "
                  "'/reel/') THEN 'reel' ELSE k.media_type END" if facebook
                  else "k.media_type")
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE listed_posts AS
        SELECT file, account_no, post_id,
               arg_max(i.published_at, (request_no, item_no)) AS published_at,
               arg_max({media_type}, (request_no, item_no)) AS media_type,
               arg_max(i.caption, (request_no, item_no)) AS caption,
               arg_max(i.comments_num, (request_no, item_no)) AS comments,
               arg_max(i.shares_num, (request_no, item_no)) AS shares
        FROM listed_items i JOIN meta_media_kind k ON k.platform = '{platform}' AND k.kind = i.kind
        GROUP BY file, account_no, post_id""")
    fail_on(conn, f"""
        SELECT DISTINCT a.context || ': insights for {noun} ' || kp_quote(r.owner)
               || ', which no list page returned (publish time and media type unknown)'
               AS message
        FROM (SELECT * FROM graph_requests WHERE owner <> '') r
        ANTI JOIN listed_posts p
             ON p.file = r.file AND p.account_no = r.account_no AND p.post_id = r.owner
        JOIN landing_accounts a USING (file, account_no)""")
    _convert_cells(conn, "graph_cells")
    pivot = _pivot("graph_cells", ("file", "account_no", "owner"))
    listed = ("comments", "shares")
    metrics = []
    for column in cell_columns():
        value = f"m.{column}"
        if column in listed:
            value = f"coalesce(m.{column}, p.{column})"
        elif column == "video_views" and not facebook:
            # Instagram has no separate play count: a reel's views are its video views.
            value = "CASE WHEN p.media_type = 'reel' THEN coalesce(m.video_views, m.views) " \
                    "ELSE m.video_views END"
        metrics.append(f"{value} AS {column}")
    metrics += [f"p.{c}" for c in listed if c not in cell_columns()]
    return typed_rows(conn, stream, f"""
        SELECT o.file, a.window_end::DATE AS report_date, '{platform}' AS platform,
               a.account_id,
               a.brand, p.post_id, p.published_at, p.media_type, p.caption,
               {', '.join(metrics)},
               a.stream AS source_stream, a.api_version, a.pulled_at
        FROM (SELECT DISTINCT file, account_no, owner FROM graph_requests WHERE owner <> '') o
        JOIN listed_posts p ON p.file = o.file AND p.account_no = o.account_no
             AND p.post_id = o.owner
        JOIN landing_accounts a ON a.file = o.file AND a.account_no = o.account_no
        LEFT JOIN ({pivot}) m ON m.file = o.file AND m.account_no = o.account_no
             AND m.owner = o.owner
        ORDER BY a.file, a.account_no, p.post_id""")


def parse_meta_ads(conn: duckdb.DuckDBPyConnection, stream: str = "meta_ads") -> str:
    """ad_daily rows from Marketing API campaign insights (one row per campaign and day).

    Conversions live in ``actions`` by action type; the types of one list in the catalogue
    describe the same events, so the first one present is taken (adding them would count
    each event two or three times); none present means 0."""
    _load_catalog(conn)
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ad_requests AS
        SELECT file, account_no, request_no, json_transform(body, '{AD_BODY}') AS b
        FROM landing_requests""")
    fail_on_suspects(conn, "SELECT 1 FROM ad_requests WHERE b.data IS NULL",
                     _data_problems("ad_requests"))
    _check_pages(conn, "ad_requests r")
    nums = ", ".join(f"{num('item.' + f)} AS {f}_num" for f in ("spend", *AD_FIELDS))
    ok = " AND ".join([_money_ok("spend"), *(_count_ok(f) for f in AD_FIELDS)])
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ad_items AS
        SELECT *, {ok} AND spend_num IS NOT NULL AND campaign_id IS NOT NULL
                  AND date_start = date_stop
                  AND TRY_CAST(date_start AS DATE) IS NOT NULL
                  AND regexp_full_match(date_start, '\\d{{4}}-\\d{{2}}-\\d{{2}}')
                  AND coalesce(json_type(actions) IN ('ARRAY', 'NULL'), true)
                  AND coalesce(json_type(action_values) IN ('ARRAY', 'NULL'), true) AS ok
        FROM (SELECT file, account_no, request_no, item_no, item.*, {nums}
              FROM (SELECT *, unnest(b.data) AS item, unnest(range(len(b.data))) AS item_no
                    FROM ad_requests))""")
    count_problems = ", ".join(
        f"kp_field(ictx, '{f}', kp_int_problem(i.{f}, false))" for _, f in AD_COUNTS)
    fail_on_suspects(conn, """
        SELECT 1 FROM ad_items i JOIN landing_accounts a USING (file, account_no)
        WHERE NOT coalesce(i.ok, false)
           OR coalesce(nullif(i.account_currency, ''), a.currency)
              IS DISTINCT FROM a.currency""", f"""
        SELECT CASE
            WHEN i.campaign_id IS NULL THEN c.rctx || ': required field ''campaign_id'' is missing'
            WHEN i.date_start IS NULL THEN ictx || ': required field ''date_start'' is missing'
            WHEN i.date_stop IS NULL THEN ictx || ': required field ''date_stop'' is missing'
            WHEN i.date_start <> i.date_stop
                THEN ictx || ': date_start ' || kp_quote(i.date_start) || ' != date_stop '
                     || kp_quote(i.date_stop) || '; request time_increment=1 so that every '
                     || 'row is one day'
            WHEN coalesce(nullif(i.account_currency, ''), a.currency)
                 IS DISTINCT FROM a.currency
                THEN ictx || ': account_currency ' || kp_quote(i.account_currency)
                     || ' differs from the account''s ' || kp_quote(a.currency)
            WHEN i.spend IS NULL THEN ictx || ': required field ''spend'' is missing'
            WHEN kp_num_problem(i.spend, false) IS NOT NULL
                THEN kp_field(ictx, 'spend', kp_num_problem(i.spend, false))
            WHEN kp_num(i.spend) IS NULL THEN ictx || ': field ''spend'' is empty'
            WHEN NOT regexp_full_match(i.date_start, '\\d{{4}}-\\d{{2}}-\\d{{2}}')
                 OR TRY_CAST(i.date_start AS DATE) IS NULL
                THEN ictx || ': field ''date_start'' value ' || kp_quote(i.date_start)
                     || ' is not a date'
            WHEN json_type(i.actions) NOT IN ('ARRAY', 'NULL')
                THEN ictx || ': field ''actions'' is not a list'
            WHEN json_type(i.action_values) NOT IN ('ARRAY', 'NULL')
                THEN ictx || ': field ''action_values'' is not a list'
            ELSE coalesce({count_problems}) END AS message
        FROM ad_items i JOIN request_context c USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no),
        LATERAL (SELECT c.rctx || ' campaign ' || coalesce(i.campaign_id, 'None') AS ictx)""")
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE ad_actions AS
        SELECT file, account_no, request_no, item_no, field, action ->> 'action_type' AS kind,
               action -> '$.value' AS raw, json_exists(action, '$.action_type') AS typed
        FROM (SELECT file, account_no, request_no, item_no, 'actions' AS field,
                     unnest(CAST(actions AS JSON[])) AS action
              FROM ad_items WHERE json_type(actions) = 'ARRAY'
              UNION ALL
              SELECT file, account_no, request_no, item_no, 'action_values',
                     unnest(CAST(action_values AS JSON[]))
              FROM ad_items WHERE json_type(action_values) = 'ARRAY')""")
    fail_on_suspects(conn, "SELECT 1 FROM ad_actions WHERE NOT typed", """
        SELECT c.rctx || ' campaign ' || coalesce(i.campaign_id, 'None')
               || ': required field ''action_type'' is missing' AS message
        FROM ad_actions x JOIN ad_items i USING (file, account_no, request_no, item_no)
        JOIN request_context c USING (file, account_no, request_no) WHERE NOT x.typed""")
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ad_picked AS
        SELECT *, {num('raw')} AS num FROM (
            SELECT x.file, x.account_no, x.request_no, x.item_no, k.column_name, k.money,
                   arg_min(x.raw, k.priority) AS raw,
                   arg_min(x.field || '[' || k.action_type || ']', k.priority) AS field_name
            FROM ad_actions x JOIN meta_ad_action k
                 ON k.action_type = x.kind AND (x.field = 'action_values') = k.money
            GROUP BY ALL)""")
    picked_ok = (f"CASE WHEN money THEN {_money_ok('raw', 'num')} "
                 f"ELSE {_count_ok('raw', 'num')} END")
    fail_on_suspects(conn, f"SELECT 1 FROM ad_picked WHERE NOT coalesce({picked_ok}, false)",
                     """
        SELECT kp_field(c.rctx || ' campaign ' || coalesce(i.campaign_id, 'None'), x.field_name,
                        CASE WHEN x.money THEN kp_num_problem(x.raw, false)
                             ELSE kp_int_problem(x.raw, false) END) AS message
        FROM ad_picked x JOIN ad_items i USING (file, account_no, request_no, item_no)
        JOIN request_context c USING (file, account_no, request_no)""")
    columns = sorted({column for column, *_ in _catalog_rows()["meta_ad_action"][1]})
    actions = ", ".join(f"max(num) FILTER (WHERE column_name = '{c}') AS {c}"
                        for c in columns)
    picked = ", ".join(f"coalesce(p.{c}, 0) AS {c}" for c in columns)
    counts = ", ".join(f"i.{f}_num AS {c}" for c, f in AD_COUNTS)
    return typed_rows(conn, stream, f"""
        SELECT i.file, i.date_start::DATE AS report_date, 'meta' AS platform,
               a.account_id AS ad_account_id, a.brand, i.campaign_id, i.campaign_name,
               {objective_sql('meta', 'i.objective')} AS objective,
               a.currency, i.spend_num AS spend, {counts}, {picked},
               w.attribution_setting,
               a.stream AS source_stream, a.api_version, a.pulled_at
        FROM ad_items i JOIN landing_accounts a USING (file, account_no)
        JOIN ({ATTRIBUTION_SETTING}) w USING (file, account_no, request_no)
        LEFT JOIN (SELECT file, account_no, request_no, item_no, {actions}
                   FROM ad_picked GROUP BY ALL) p
             USING (file, account_no, request_no, item_no)
        ORDER BY i.file, i.account_no, i.request_no, i.item_no""")


PARSERS = {
    "facebook_page": parse_account_stream,
    "instagram_account": parse_account_stream,
    "facebook_posts": parse_post_stream,
    "instagram_media": parse_post_stream,
    "meta_ads": parse_meta_ads,
}
