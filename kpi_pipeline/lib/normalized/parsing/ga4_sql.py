"""Parser for the GA4 Data API (``ga4_sessions``), in DuckDB SQL.

GA4 answers ``runReport`` with every metric value as a string, typed only by
``metricHeaders[].type``, and allows at most 10 metrics per request. We need 12, so the
client asks twice with the same dimensions and two metric groups (``lib.core.platforms.ga4``
holds that request definition); this parser types every value at the boundary and merges
the groups back on the dimension values, never on row positions.

Pages of one metric group (the same metric names in the same order, as a client asks
them) are folded by ``offset``: every page must report the same ``rowCount``, a dimension
key may appear on only one page, and the group must end up with exactly ``rowCount``
rows, or a page was lost or paged over twice. Both groups carry ``sessions``; differing
values mean the report changed between the two requests. A row missing from one group
keeps that group's metrics NULL, not 0: a gap means the requests disagree, and a NULL
stays visible where a 0 would pass as a measured fact.

How it runs: each body is read once (``json_transform``) into ``ga4_pages``; its rows go
to ``ga4_rows`` with the dimension values in the requested order and the metric values
typed by their header's position, each page and row with an ``ok`` flag from a cheap
test (a whole number in range where a count is expected); ``ga4_merged`` folds the groups
per dimension key. One query asks whether anything failed a test; only then do the
detailed checks run, in the order the boundary rules (``lib.core.values``) apply them, re-reading
the raw JSON to name the page, row, metric and value.
"""

from __future__ import annotations

import duckdb

from kpi_pipeline.lib.core.platforms.ga4 import ANCHOR_METRIC, GA4_DIMENSIONS, GA4_METRIC_COLUMNS
from kpi_pipeline.lib.core.schemas import WEB_DAILY
from kpi_pipeline.lib.normalized.parsing.envelopes import fail_on, typed_rows

# GA4 MetricType values we can type (every value arrives as a string).
METRIC_TYPES = ("TYPE_INTEGER", "TYPE_FLOAT", "TYPE_CURRENCY", "TYPE_SECONDS")

_INT_COLUMNS = frozenset(c.name for c in WEB_DAILY.columns if c.kind == "int")
_METRICS = tuple(GA4_METRIC_COLUMNS)
_DIMENSIONS = tuple(GA4_DIMENSIONS.values())

# Metric values and rowCount are read as text: a JSON number and a numeric string give the
# same text, which TRY_CAST reads as Python's float() does; the detailed checks read the
# raw JSON.
BODY = ('{"dimensionHeaders": [{"name": "VARCHAR"}], '
        '"metricHeaders": [{"name": "VARCHAR", "type": "VARCHAR"}], '
        '"rows": [{"dimensionValues": [{"value": "VARCHAR"}], '
        '"metricValues": [{"value": "VARCHAR"}]}], '
        '"rowCount": "VARCHAR", "metadata": {"currencyCode": "VARCHAR"}}')


def _list(values: tuple[str, ...] | list[str]) -> str:
    """A SQL list literal of code constants (metric and dimension names)."""
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _repr_list(expr: str) -> str:
    """Python's repr of a list of strings (names in messages)."""
    quoted = f"list_transform({expr}, lambda x: '''' || x || '''')"
    return f"'[' || array_to_string({quoted}, ', ') || ']'"


def _py_str(expr: str) -> str:
    """Python's repr of a string: single quotes unless it holds one and no double quote."""
    return (f"CASE WHEN contains({expr}, '''') AND NOT contains({expr}, '\"') "
            f"THEN '\"' || {expr} || '\"' "
            f"ELSE '''' || replace(replace({expr}, '\\', '\\\\'), '''', '\\''') || '''' END")


def _key(alias: str, date_text: str = "report_date") -> str:
    """Python's repr of a row's dimension key tuple (``date_text``: the column holding the
    date as GA4 sent it)."""
    columns = (date_text, *_DIMENSIONS[1:])
    return "'(' || " + " || ', ' || ".join(_py_str(f"{alias}.{c}") for c in columns) + " || ')'"


def _count_ok(value: str) -> str:
    """Cheap test that a number is an acceptable count: whole, in 0..1e15 (``TRY_CAST``
    reads a string as ``float()`` does; what it cannot read goes to the detailed checks)."""
    return f"{value} BETWEEN 0 AND 1e15 AND {value} = trunc({value})"


def _column(metric: str) -> str:
    return GA4_METRIC_COLUMNS[metric]


def _bit(metric: str) -> int:
    return 1 << _METRICS.index(metric)


def _load(conn: duckdb.DuckDBPyConnection) -> None:
    """``ga4_pages`` (one row per request: its header set ``hid``, rows, rowCount, currency,
    ``ok`` for what the page itself holds), ``ga4_headers`` (one row per distinct header
    set: names, types, metric and dimension positions, metric group ``gid`` and its bit
    ``gbit``, ``ok``),
    ``ga4_rows`` (one row per report row: dimension key, typed metric values, ``ok``) and
    ``ga4_merged`` (one row per property and dimension key, the groups folded, ``ok`` when
    they agree). Headers repeat on every page, so their list work is done once per set.

    A metric a group holds but GA4 sent empty is -1 in ``ga4_rows`` (values are checked
    non-negative), so that the merge tells it from a metric the group lacks (NULL) with a
    plain min/max per column; it is NULL again in ``ga4_merged``. A key held twice by one
    group shows as more rows than group bits (two groups sharing a bit, past 64 of them,
    only send the key to the detailed check, which finds no duplicate)."""
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ga4_pages AS
        SELECT * EXCLUDE (rc_value), coalesce((rc_raw IS NULL OR {_count_ok('rc_value')})
                                              AND coalesce(currency, '') <> '', false) AS ok
        FROM (SELECT file, account_no, request_no,
                     hash(b.dimensionHeaders, b.metricHeaders) AS hid,
                     b.dimensionHeaders AS dh, b.metricHeaders AS mh, b.rows AS rows,
                     coalesce(len(b.rows), 0) AS n_rows, b.rowCount AS rc_raw,
                     TRY_CAST(trim(b.rowCount) AS DOUBLE) AS rc_value,
                     coalesce(TRY_CAST(rc_value AS BIGINT), 0) AS rc,
                     b.metadata.currencyCode AS currency
              FROM (SELECT file, account_no, request_no,
                           json_transform(body, '{BODY}') AS b FROM landing_requests))""")
    # Every name known and no name twice (positions found = names), every type known.
    positions = ", ".join(f"list_position(names, '{m}') AS p{i}" for i, m in enumerate(_METRICS))
    found = " + ".join(f"(p{i} IS NOT NULL)::INTEGER" for i in range(len(_METRICS)))
    has = " + ".join(f"(p{i} IS NOT NULL)::INTEGER * {_bit(m)}" for i, m in enumerate(_METRICS))
    dims = ", ".join(f"list_position(dims, '{d}') AS d{i}" for i, d in enumerate(GA4_DIMENSIONS))
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ga4_headers AS
        SELECT *, hash(names) AS gid, {has} AS has,
               1::UBIGINT << ((dense_rank() OVER (ORDER BY hash(names)) - 1) % 64) AS gbit,
               coalesce(
            list_sort(dims) = {_list(sorted(GA4_DIMENSIONS))} AND {found} = len(names)
            AND list_count(types) = len(types) AND list_has_all({_list(METRIC_TYPES)}, types)
            AND p{_METRICS.index(ANCHOR_METRIC)} IS NOT NULL, false) AS ok
        FROM (SELECT *, {positions}, {dims}
              FROM (SELECT hid, list_transform(any_value(dh), lambda h: h.name) AS dims,
                           list_transform(any_value(mh), lambda h: h.name) AS names,
                           list_transform(any_value(mh), lambda h: h.type) AS types
                    FROM ga4_pages GROUP BY hid))""")
    values, checks = [], []
    for i, metric in enumerate(_METRICS):
        column = _column(metric)
        raw = f"r.metricValues[p{i}].value"
        values.append(f"CASE WHEN p{i} IS NOT NULL THEN "
                      f"coalesce(TRY_CAST(trim({raw}) AS DOUBLE), -1) END AS {column}")
        if column in _INT_COLUMNS:
            fine = _count_ok(column)
        else:  # a float column: any finite non-negative number, unless typed TYPE_INTEGER
            fine = (f"CASE WHEN types[p{i}] = 'TYPE_INTEGER' THEN {_count_ok(column)} "
                    f"ELSE {column} >= 0 AND {column} < 'inf'::DOUBLE END")
        checks.append(f"(p{i} IS NULL OR {fine})")
    keys = ", ".join(f"coalesce(r.dimensionValues[d{i}].value, 'None') AS {column}"
                     for i, column in enumerate(_DIMENSIONS))
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ga4_rows AS
        SELECT file, account_no, request_no, row_no, gid, gbit, has, currency,
               {", ".join(_DIMENSIONS)}, {", ".join(_column(m) for m in _METRICS)},
               coalesce(len(r.dimensionValues) = len(dims) AND len(r.metricValues) = len(names)
                        AND list_count(list_transform(r.dimensionValues, lambda v: v.value))
                            = len(dims)
                        AND {" AND ".join(checks)}, false) AS ok
        FROM (SELECT *, {keys}, {", ".join(values)}
              FROM (SELECT p.file, p.account_no, p.request_no, p.currency, h.*,
                           unnest(p.rows) AS r, unnest(range(len(p.rows))) AS row_no
                    FROM ga4_pages p JOIN ga4_headers h USING (hid)))""")
    merged = ", ".join(f"nullif(max({_column(m)}), -1) AS {_column(m)}" for m in _METRICS)
    conflicts = " OR ".join(f"min({_column(m)}) <> max({_column(m)})" for m in _METRICS)
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE ga4_merged AS
        SELECT *, coalesce(NOT conflict AND NOT duplicate AND report_date IS NOT NULL
                           AND NOT coalesce(engaged_sessions > sessions, false), false) AS ok
        FROM (SELECT file, account_no, {", ".join(_DIMENSIONS[1:])},
                     report_date AS date_text, max(currency) AS currency,
                     try_strptime(report_date, '%Y%m%d')::DATE AS report_date, {merged},
                     coalesce({conflicts}, false) AS conflict,
                     count(*) <> bit_count(bit_or(gbit)) AS duplicate,
                     min((request_no::BIGINT << 20) + row_no) AS ord
              FROM ga4_rows GROUP BY file, account_no, {", ".join(_DIMENSIONS)})""")


# Pages with what their headers say (the detailed checks and the account-level tests).
_PAGES = """(SELECT p.* EXCLUDE (dh, mh, rows), h.dims, h.names, h.types, h.gid, h.has,
                  h.ok AS header_ok
           FROM ga4_pages p JOIN ga4_headers h USING (hid))"""


def _page_context(alias: str = "l") -> str:
    """The Python parser's page context: account, request path and offset."""
    return (f"a.context || ' request ' || coalesce({alias}.path, 'None') || ' offset ' || "
            f"CASE WHEN json_exists({alias}.body_sent, '$.offset') "
            f"THEN coalesce({alias}.body_sent ->> '$.offset', 'None') ELSE '0' END")


def _page_problems() -> str:
    """Why a page failed its test, in the order the headers, rowCount and currency are
    read (the first problem of each page)."""
    header_problem = f"""list_filter(list_transform(range(len(mh)), lambda k: CASE
            WHEN NOT json_exists(mh[k + 1], '$.name') THEN 'required field ''name'' is missing'
            WHEN NOT json_exists(mh[k + 1], '$.type') THEN 'required field ''type'' is missing'
            WHEN NOT list_contains({_list(_METRICS)}, mh[k + 1] ->> '$.name')
                THEN 'metric ' || kp_quote(mh[k + 1] ->> '$.name') || ' was not requested'
            WHEN NOT list_contains({_list(METRIC_TYPES)}, mh[k + 1] ->> '$.type')
                THEN 'metric ' || kp_quote(mh[k + 1] ->> '$.name') || ' has unsupported type '
                     || kp_quote(mh[k + 1] ->> '$.type') END),
        lambda x: x IS NOT NULL)[1]"""
    return f"""
        SELECT CASE
            WHEN l.body IS NULL OR NOT json_exists(l.body, '$.dimensionHeaders')
                THEN w || ': required field ''dimensionHeaders'' is missing'
            WHEN p.dims IS NULL OR list_count(p.dims) <> len(p.dims)
                THEN w || ': required field ''name'' is missing'
            WHEN list_sort(p.dims) <> {_list(sorted(GA4_DIMENSIONS))}
                THEN w || ': dimensionHeaders ' || {_repr_list('p.dims')}
                     || ' differ from the requested dimensions '
                     || {_repr_list(_list(list(GA4_DIMENSIONS)))}
            WHEN NOT json_exists(l.body, '$.metricHeaders')
                THEN w || ': required field ''metricHeaders'' is missing'
            WHEN json_type(l.body, '$.metricHeaders') <> 'ARRAY'
                THEN w || ': required field ''name'' is missing'
            WHEN {header_problem} IS NOT NULL THEN w || ': ' || {header_problem}
            WHEN NOT list_contains(p.names, '{ANCHOR_METRIC}')
                THEN w || ': metric group ' || {_repr_list('p.names')} || ' lacks the anchor '
                     || 'metric ''{ANCHOR_METRIC}'' that both requests must carry'
            WHEN kp_int_problem(l.body -> '$.rowCount', false) IS NOT NULL
                THEN kp_field(w, 'rowCount', kp_int_problem(l.body -> '$.rowCount', false))
            WHEN p.rc <> p.previous_rc
                THEN w || ': rowCount changed between pages (' || p.previous_rc || ' then '
                     || p.rc || '); the report moved while it was paged, pull again'
            WHEN coalesce(p.currency, '') = ''
                THEN w || ': metadata.currencyCode is missing; revenue has no currency'
            END AS message
        FROM (SELECT *, lag(rc) OVER (PARTITION BY file, account_no, gid
                                      ORDER BY request_no) AS previous_rc
              FROM {_PAGES}) p
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no),
        LATERAL (SELECT {_page_context()} AS w,
                        CAST(l.body -> '$.metricHeaders' AS JSON[]) AS mh)
        WHERE NOT (p.ok AND p.header_ok) OR p.rc <> p.previous_rc"""


def _row_problems() -> str:
    """Why a row failed its test: its lists, their lengths, then its metric values in the
    order of the page's headers (typed by the header, counts whole)."""
    ints = _list([m for m in _METRICS if _column(m) in _INT_COLUMNS])
    value_problem = f"""list_filter(list_transform(range(len(p.names)), lambda k: coalesce(
            kp_field(w || ' row ' || i.row_no, p.names[k + 1],
                     CASE WHEN p.types[k + 1] = 'TYPE_INTEGER'
                          THEN kp_int_problem(mv[k + 1] -> '$.value', false)
                          ELSE kp_num_problem(mv[k + 1] -> '$.value', false) END),
            CASE WHEN list_contains({ints}, p.names[k + 1])
                      AND kp_num(mv[k + 1] -> '$.value') <> trunc(kp_num(mv[k + 1] -> '$.value'))
                 THEN w || ' row ' || i.row_no || ': metric ''' || p.names[k + 1] || ''' value '
                      || kp_shown(mv[k + 1] -> '$.value') || ' is not a whole count' END)),
        lambda x: x IS NOT NULL)[1]"""
    lacks_value = "len(list_filter({0}, lambda v: NOT json_exists(v, '$.value'))) > 0"
    return f"""
        SELECT CASE
            WHEN NOT json_exists(rr, '$.dimensionValues')
                THEN w || ': required field ''dimensionValues'' is missing'
            WHEN json_type(rr, '$.dimensionValues') <> 'ARRAY' OR {lacks_value.format('dv')}
                THEN w || ': required field ''value'' is missing'
            WHEN NOT json_exists(rr, '$.metricValues')
                THEN w || ': required field ''metricValues'' is missing'
            WHEN json_type(rr, '$.metricValues') <> 'ARRAY' OR {lacks_value.format('mv')}
                THEN w || ': required field ''value'' is missing'
            WHEN len(dv) <> len(p.dims)
                THEN w || ': row ' || i.row_no || ' has ' || len(dv) || ' dimension values but '
                     || 'dimensionHeaders name ' || len(p.dims) || ' ('
                     || array_to_string(p.dims, ', ') || ')'
            WHEN len(mv) <> len(p.names)
                THEN w || ': row ' || i.row_no || ' has ' || len(mv) || ' metric values but '
                     || 'metricHeaders name ' || len(p.names) || ' metrics ('
                     || array_to_string(p.names, ', ') || ')'
            ELSE {value_problem} END AS message
        FROM (SELECT * FROM ga4_rows WHERE NOT ok) i
        JOIN {_PAGES} p USING (file, account_no, request_no)
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no),
        LATERAL (SELECT {_page_context()} AS w,
                        l.body -> ('$.rows[' || i.row_no || ']') AS rr),
        LATERAL (SELECT CAST(rr -> '$.dimensionValues' AS JSON[]) AS dv,
                        CAST(rr -> '$.metricValues' AS JSON[]) AS mv)"""


def _duplicate_problems() -> str:
    """A dimension key a second time within one metric group, named on the page that
    repeated it."""
    return f"""
        SELECT {_page_context()} || ': row ' || {_key('i')}
               || ' appears on two pages (offset paging overlapped)' AS message
        FROM (SELECT *, row_number() OVER (PARTITION BY file, account_no, gid,
                                                        {", ".join(_DIMENSIONS)}
                                           ORDER BY request_no, row_no) AS seen
              FROM ga4_rows) i
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no)
        WHERE i.seen = 2"""


def _account_problems() -> str:
    """Per property, once its pages are sound: one currency, every group complete, every
    metric asked, the groups agreeing, and each merged row's date and engagement."""
    missing = " , ".join(f"CASE WHEN bit_or(has) & {_bit(m)} = 0 THEN '''{m}''' END"
                         for m in _METRICS)
    shown = []
    for metric in _METRICS:
        column, bit = _column(metric), _bit(metric)
        text = (f"{column}::BIGINT::VARCHAR" if column in _INT_COLUMNS
                else f"{column}::VARCHAR")
        shown.append(f"list(CASE WHEN {column} = -1 THEN 'None' ELSE {text} END "
                     f"ORDER BY request_no) FILTER (WHERE has & {bit} <> 0) AS {column}")
    first_conflict = "coalesce(" + ", ".join(
        f"CASE WHEN len(list_distinct(v.{_column(m)})) > 1 THEN '{_column(m)} is ' "
        f"|| v.{_column(m)}[1] || ' in one metric group and ' "
        f"|| list_filter(v.{_column(m)}, lambda x: x <> v.{_column(m)}[1])[1] "
        "|| ' in the other' END"
        for m in _METRICS) + ")"
    return f"""
        SELECT a.context || ': pages report different currencies '
               || {_repr_list('list_sort(list(DISTINCT p.currency))')} AS message
        FROM {_PAGES} p JOIN landing_accounts a USING (file, account_no)
        GROUP BY file, account_no, a.context HAVING count(DISTINCT p.currency) > 1
        UNION ALL
        SELECT a.context || ': metric group ' || {_repr_list('any_value(names)')} || ' holds '
               || sum(n_rows) || ' rows but GA4 reported rowCount '
               || arg_max(rc, request_no) || '; pages are missing'
        FROM {_PAGES} JOIN landing_accounts a USING (file, account_no)
        GROUP BY file, account_no, gid, a.context
        HAVING sum(n_rows) <> arg_max(rc, request_no)
        UNION ALL
        SELECT a.context || ': no request returned the metrics ['
               || concat_ws(', ', {missing}) || ']'
        FROM {_PAGES} JOIN landing_accounts a USING (file, account_no)
        GROUP BY file, account_no, a.context HAVING bit_or(has) <> {(1 << len(_METRICS)) - 1}
        UNION ALL
        SELECT a.context || ': ' || CASE
            WHEN m.conflict THEN 'row ' || {_key('m', 'date_text')} || ': ' || {first_conflict}
                 || '; the report changed between the two requests, pull again'
            WHEN m.report_date IS NULL
                THEN 'dimension ''date'' value ' || {_py_str('m.date_text')} || ' is not YYYYMMDD'
            WHEN m.engaged_sessions > m.sessions
                THEN 'row ' || {_key('m', 'date_text')} || ': engagedSessions '
                     || m.engaged_sessions::BIGINT || ' exceeds sessions ' || m.sessions::BIGINT
            END
        FROM (SELECT * FROM ga4_merged WHERE NOT ok) m
        JOIN landing_accounts a USING (file, account_no)
        LEFT JOIN (SELECT file, account_no, {", ".join(_DIMENSIONS)}, {", ".join(shown)}
                   FROM ga4_rows GROUP BY ALL) v
             ON v.file = m.file AND v.account_no = m.account_no
            AND v.report_date = m.date_text AND v.source = m.source AND v.medium = m.medium
            AND v.campaign = m.campaign"""


def parse_ga4_sessions(conn: duckdb.DuckDBPyConnection, stream: str = "ga4_sessions") -> str:
    """web_daily rows (parser columns) from ``ga4_sessions`` landing files: one per
    property, local day and (source, medium, campaign).

    Source, medium and campaign pass through unchanged (campaign names are untrusted text
    and stay exactly as GA4 sent them); the UTM -> platform mapping happens later.
    """
    _load(conn)
    flagged = conn.execute(f"""
        SELECT EXISTS (SELECT 1 FROM ga4_pages WHERE NOT ok)
            OR EXISTS (SELECT 1 FROM ga4_headers WHERE NOT ok)
            OR EXISTS (SELECT 1 FROM ga4_rows WHERE NOT ok)
            OR EXISTS (SELECT 1 FROM ga4_merged WHERE NOT ok)
            OR EXISTS (SELECT 1 FROM {_PAGES} GROUP BY file, account_no
                       HAVING count(DISTINCT currency) > 1 OR bit_or(has) <> $all)
            OR EXISTS (SELECT 1 FROM {_PAGES} GROUP BY file, account_no, gid
                       HAVING sum(n_rows) <> arg_max(rc, request_no)
                           OR min(rc) <> max(rc))""",
                           {"all": (1 << len(_METRICS)) - 1}).fetchone()[0]
    if flagged:
        fail_on(conn, " UNION ALL ".join([_page_problems(), _row_problems(),
                                          _duplicate_problems()]))
        fail_on(conn, _account_problems())
    metrics = ", ".join(f"m.{_column(m)}" for m in _METRICS)
    return typed_rows(conn, stream, f"""
        SELECT m.file, m.report_date, coalesce(a.account_id, 'None') AS property_id, a.brand,
               m.source, m.medium, m.campaign, {metrics},
               m.sessions - m.engaged_sessions AS bounces, m.currency,
               a.stream AS source_stream, a.api_version, a.pulled_at
        FROM ga4_merged m JOIN landing_accounts a USING (file, account_no)
        ORDER BY m.file, m.account_no, m.ord""")


PARSERS = {"ga4_sessions": parse_ga4_sessions}
