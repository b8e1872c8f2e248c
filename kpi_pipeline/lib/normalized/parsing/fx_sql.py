"""Parser for the ECB reference rates (``fx_rates``, Frankfurter's ``GET /v1/{day}``), in
DuckDB SQL.

The rows are rates per EUR by asked day and currency, as fixed: an intermediate shape
(``FX_COLUMNS``), not the fx_daily table. The cross rate to the reporting currency (and
the EUR = 1.0 row that Frankfurter leaves out of ``rates``) is the job of
``lib.normalized.currency``. A weekend or holiday answers with the last fixing before
it, so ``fixing_date`` may precede the asked day but never follow it.

Each body is read once (``json_transform``, ``rates`` as a map); a cheap test flags a body
that is not a plain EUR answer with positive rates, and only then do the detailed checks
run, naming the field and value as the boundary rules of ``sql_values`` do.
"""

from __future__ import annotations

import duckdb

from kpi_pipeline.lib.normalized.parsing.envelopes import fail_on, typed_rows
from kpi_pipeline.lib.normalized.parsing.sql_values import iso_date, shown

FX_BASE = "EUR"
FX_COLUMNS: dict[str, str] = {  # column -> kind (lib.core.schemas) of the parsed fx rows
    "report_date": "date",
    "currency": "str",
    "rate_per_eur": "float",
    "fixing_date": "date",
    "source_stream": "str",
    "api_version": "str",
    "pulled_at": "timestamp",
}

# Values are read as text (a JSON number and a numeric string give the same text); the
# detailed checks read the raw JSON, where the type shows.
BODY = ('{"base": "VARCHAR", "amount": "VARCHAR", "date": "VARCHAR", '
        '"rates": "MAP(VARCHAR, VARCHAR)"}')






def _date_value(v: str) -> str:
    """A JSON string holding an ISO date, as a DATE."""
    text = f"({v} ->> '$')"
    return f"CASE WHEN json_type({v}) = 'VARCHAR' THEN {iso_date(text)} END"


def _problems() -> str:
    """Why a request failed the cheap test, in the order the Python parser read it."""
    body = "l.body"
    raw = {k: f"({body} -> '$.{k}')" for k in ("base", "amount", "date", "rates")}
    rates = f"map_entries(json_transform({raw['rates']}, '\"MAP(VARCHAR, JSON)\"'))"
    rate_problem = f"""list_filter(list_transform({rates}, lambda e: coalesce(
            kp_field(w, 'rates.' || e.key, kp_num_problem(e.value, false)),
            CASE WHEN coalesce(kp_num(e.value), 0) = 0
                 THEN w || ': field ''rates.' || e.key || ''' value ' || {shown('e.value')}
                      || ' is not a positive rate' END)), lambda x: x IS NOT NULL)[1]"""
    required = {k: f"WHEN NOT json_exists({body}, '$.{k}') "
                   f"THEN w || ': required field ''{k}'' is missing'" for k in raw}
    return f"""
        SELECT CASE
            WHEN {body} IS NULL THEN w || ': required field ''body'' is missing'
            WHEN r.asked IS NULL THEN w || ': request path ' || kp_quote(l.path)
                 || ' does not end in the asked date'
            {required['base']}
            WHEN json_type({raw['base']}) <> 'VARCHAR' OR ({raw['base']} ->> '$') <> '{FX_BASE}'
                THEN w || ': base is ' || {shown(raw['base'])}
                     || '; the cross rates assume {FX_BASE}'
            {required['amount']}
            WHEN kp_num_problem({raw['amount']}, false) IS NOT NULL
                THEN kp_field(w, 'amount', kp_num_problem({raw['amount']}, false))
            WHEN coalesce(kp_num({raw['amount']}), 0) = 0
                THEN w || ': amount ' || {shown(raw['amount'])} || ' must be positive'
            {required['date']}
            WHEN sent_fixing IS NULL
                THEN w || ': date ' || {shown(raw['date'])} || ' is not YYYY-MM-DD'
            WHEN sent_fixing > r.asked
                THEN w || ': fixing date ' || sent_fixing || ' is after the asked day '
                     || r.asked
            {required['rates']}
            WHEN json_type({raw['rates']}) <> 'OBJECT'
                THEN w || ': rates is a ' || kp_pytype({raw['rates']}) || ', expected an object'
            ELSE {rate_problem} END AS message
        FROM (SELECT * FROM fx_requests WHERE NOT ok) r
        JOIN landing_requests l USING (file, account_no, request_no)
        JOIN landing_accounts a USING (file, account_no),
        LATERAL (SELECT a.context || ' request ' || coalesce(l.path, 'None') AS w,
                        {_date_value(raw['date'])} AS sent_fixing)"""


_ROWS = """
    SELECT r.file, r.account_no, r.request_no, rate_no, r.asked AS report_date,
           e.key AS currency,
           TRY_CAST(trim(e.value) AS DOUBLE) / r.amount AS rate_per_eur,
           r.fixing AS fixing_date
    FROM fx_requests r,
         LATERAL (SELECT unnest(map_entries(r.rates)) AS e,
                         unnest(range(cardinality(r.rates)::BIGINT)) AS rate_no)"""


def parse_fx_rates(conn: duckdb.DuckDBPyConnection, stream: str = "fx_rates") -> str:
    """Rates per EUR by asked day and currency (``FX_COLUMNS``): one row per currency of
    each answer, ``amount`` units of the base divided out. One landing file holding two
    rates for a day and currency is an error."""
    segment = "regexp_extract(rtrim(coalesce(path, ''), '/'), '[^/]*$')"
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE fx_requests AS
        SELECT file, account_no, request_no, asked, fixing, amount, b.rates AS rates,
               coalesce(asked IS NOT NULL AND b.base = '{FX_BASE}'
                        AND amount > 0 AND amount < 'inf'::DOUBLE
                        AND regexp_full_match(b.date, '\\d{{4}}-\\d{{2}}-\\d{{2}}')
                        AND fixing <= asked AND b.rates IS NOT NULL
                        AND list_bool_and(list_transform(map_values(b.rates), lambda v:
                                coalesce(TRY_CAST(trim(v) AS DOUBLE) > 0
                                         AND TRY_CAST(trim(v) AS DOUBLE) < 'inf'::DOUBLE,
                                         false)))
                            IS NOT false, false) AS ok
        FROM (SELECT *, {iso_date(segment)} AS asked,
                     TRY_CAST(trim(b.amount) AS DOUBLE) AS amount,
                     {iso_date('b.date')} AS fixing
              FROM (SELECT file, account_no, request_no, path,
                           json_transform(body, '{BODY}') AS b FROM landing_requests))""")
    duplicates = f"""
        SELECT file, report_date, currency FROM ({_ROWS}) GROUP BY ALL HAVING count(*) > 1"""
    if conn.execute(f"SELECT EXISTS (SELECT 1 FROM fx_requests WHERE NOT ok) "
                    f"OR EXISTS ({duplicates})").fetchone()[0]:
        fail_on(conn, _problems())
        fail_on(conn, f"""
            SELECT any_value(f.stream || ' partition ' || f.partition)
                   || ': more than one rate for [' || string_agg(
                       '(datetime.date(' || year(d.report_date) || ', ' || month(d.report_date)
                       || ', ' || day(d.report_date) || '), ''' || d.currency || ''')', ', '
                       ORDER BY d.report_date, d.currency) || ']' AS message
            FROM ({duplicates}) d
            JOIN (SELECT DISTINCT file, stream, partition FROM landing_accounts) f USING (file)
            GROUP BY d.file""")
    return typed_rows(conn, stream, f"""
        SELECT x.*, a.stream AS source_stream, a.api_version, a.pulled_at
        FROM ({_ROWS}) x JOIN landing_accounts a USING (file, account_no)
        ORDER BY x.file, x.account_no, x.request_no, x.rate_no""", kinds=FX_COLUMNS)


PARSERS = {"fx_rates": parse_fx_rates}
