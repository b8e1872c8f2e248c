"""Parser for Mailchimp list payloads (``mailchimp_list``) into ``email_daily`` rows, in
DuckDB SQL.

The activity list covers several days; only the partition's day is kept, so re-pulling
any day of the window gives the same row. Subscribes are Mailchimp's ``subs`` (double
opt-in sign-ups) and ``other_adds`` (imports, API adds) kept apart, and likewise for
removals, because only opt-ins are earned by marketing.

Each body is read once (``json_transform``) into ``mc_items``: one row per activity entry
and one row (``elem_no`` NULL) per other request, with the counts converted and ``ok``,
whether the row is in the common case (``sql_values``: the detailed problem query is bound
only when one is not). The activity list is read entry by entry up to the partition's
day: the entries before it must carry a ``day``, the ones after it are not looked at.
"""

from __future__ import annotations

import json

import duckdb

from kpi_pipeline.lib.normalized.parsing.envelopes import typed_rows
from kpi_pipeline.lib.normalized.parsing.sql_values import (
    count_problem,
    fail_on_suspects,
    num,
    plain_count,
    within_counts,
)

# Mailchimp activity field -> column.
COUNTS = {"subs": "subscribes", "unsubs": "unsubscribes", "other_adds": "imports",
          "other_removes": "removals", "emails_sent": "emails_sent",
          "unique_opens": "unique_opens", "recipient_clicks": "clicks"}
LIST_BODY = json.dumps({"activity": [{"day": "VARCHAR", **{f: "JSON" for f in COUNTS}}],
                        "stats": {"member_count": "JSON"}})


def parse_mailchimp_list(conn: duckdb.DuckDBPyConnection,
                         stream: str = "mailchimp_list") -> str:
    """One email_daily row per list: the partition day's activity and member count.

    ``GET .../activity`` answers give the day's counts, any other request (``GET
    /lists/{id}``) the member count; when a pull holds several of either, the last one
    wins. Every list of the file has a row, with NULL counts if it made no request."""
    listed = "kind = 'activity' AND len(b.activity) > 0"
    columns = list(COUNTS.values())
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE mc_items AS
        SELECT * EXCLUDE (plain), coalesce(CASE
                   WHEN elem_no IS NULL
                       THEN kind = 'stats' AND plain AND {within_counts(['members'])}
                   WHEN day_no IS NULL THEN false
                   WHEN elem_no < day_no THEN has_day
                   WHEN elem_no = day_no THEN plain AND coalesce({within_counts(columns)}, true)
                   ELSE true END, false) AS ok
        FROM (SELECT *, min(elem_no) FILTER (WHERE day_found)
                            OVER (PARTITION BY file, account_no, request_no) AS day_no
              FROM (SELECT i.file, i.account_no, i.request_no, i.elem_no, i.kind, i.no_body,
                           i.no_list, i.e.day IS NOT NULL AS has_day,
                           i.e.day = strftime(a.partition, '%Y-%m-%d') AS day_found,
                           {', '.join(f'{num(f"i.e.{f}")} AS {c}' for f, c in COUNTS.items())},
                           {num('i.members')} AS members,
                           CASE WHEN i.kind = 'stats' THEN json_type(i.members) = 'UBIGINT'
                                ELSE {' AND '.join(plain_count(f'i.e.{f}') for f in COUNTS)}
                                END AS plain
                    FROM (SELECT file, account_no, request_no, kind, no_body,
                                 b.activity IS NULL AS no_list,
                                 b.stats.member_count AS members,
                                 unnest(CASE WHEN {listed} THEN b.activity ELSE [NULL] END) AS e,
                                 unnest(CASE WHEN {listed} THEN range(len(b.activity))
                                             ELSE [NULL] END) AS elem_no
                          FROM (SELECT file, account_no, request_no, body IS NULL AS no_body,
                                       CASE WHEN ends_with(path, '/activity') THEN 'activity'
                                            ELSE 'stats' END AS kind,
                                       json_transform(body, '{LIST_BODY}') AS b
                                FROM landing_requests)) i
                    JOIN landing_accounts a USING (file, account_no)))""")
    context = "a.context"
    item = "json_extract(l.body, '$.activity[' || i.elem_no || ']')"
    counts = ", ".join(count_problem(context, f, f"json_extract({item}, '$.{f}')")
                       for f in COUNTS)
    fail_on_suspects(conn, """
        SELECT 1 FROM mc_items WHERE NOT ok
        UNION ALL
        SELECT 1 FROM landing_accounts WHERE account_id IS NULL OR brand IS NULL""", f"""
        SELECT CASE
            WHEN i.elem_no IS NULL THEN CASE
                WHEN i.no_body THEN {context} || ': required field ''body'' is missing'
                WHEN i.kind = 'activity' AND NOT json_exists(l.body, '$.activity')
                    THEN {context} || ': required field ''activity'' is missing'
                WHEN i.kind = 'activity' AND i.no_list
                    THEN {context} || ': ''activity'' is not a list'
                WHEN i.kind = 'activity'
                    THEN {context} || ': the activity list has no entry for ' || a.partition
                WHEN NOT json_exists(l.body, '$.stats')
                    THEN {context} || ': required field ''stats'' is missing'
                WHEN NOT json_exists(l.body, '$.stats.member_count')
                    THEN {context} || ': required field ''member_count'' is missing'
                ELSE {count_problem(context, 'stats.member_count',
                                    "json_extract(l.body, '$.stats.member_count')")} END
            WHEN i.elem_no < coalesce(i.day_no, i.elem_no + 1)
                 AND NOT coalesce(json_exists({item}, '$.day'), false)
                THEN {context} || ': required field ''day'' is missing'
            WHEN i.day_no IS NULL AND i.elem_no = 0
                THEN {context} || ': the activity list has no entry for ' || a.partition
            WHEN i.elem_no = i.day_no THEN coalesce({counts})
            END AS message
        FROM (SELECT * FROM mc_items WHERE NOT ok) i
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no)
        UNION ALL
        SELECT CASE WHEN account_id IS NULL
                    THEN context || ': required field ''account_id'' is missing'
                    WHEN brand IS NULL THEN context || ': required field ''brand'' is missing'
                    END
        FROM landing_accounts""")
    last = ", ".join(f"arg_max_null({c}, request_no) AS {c}" for c in columns)
    return typed_rows(conn, stream, f"""
        SELECT a.file, a.partition AS report_date, a.account_id AS list_id, a.brand,
               m.subscribers, {', '.join(f'd.{c}' for c in columns)},
               a.stream AS source_stream, a.api_version, a.pulled_at
        FROM landing_accounts a
        LEFT JOIN (SELECT file, account_no, {last} FROM mc_items
                   WHERE elem_no = day_no GROUP BY file, account_no) d
             USING (file, account_no)
        LEFT JOIN (SELECT file, account_no, arg_max_null(members, request_no) AS subscribers
                   FROM mc_items WHERE kind = 'stats' GROUP BY file, account_no) m
             USING (file, account_no)
        ORDER BY a.file, a.account_no""")


PARSERS = {"mailchimp_list": parse_mailchimp_list}
