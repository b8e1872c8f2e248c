"""Landing envelopes read by DuckDB: every file of a window read once, in one statement.

The landing files of a stream are read with ``read_json`` into two temporary tables that
every stream's SQL parser starts from:

- ``landing_accounts``: one row per (file, account entry), with the envelope's metadata
  (stream, partition, api_version, pull time) and the account's id, brand, time zone,
  currency and requested window;
- ``landing_requests``: one row per request an account entry records, with its path,
  parameters, HTTP status and untouched ``body`` (JSON, unparsed until a parser asks for
  the fields it reads).

What ``read_envelope`` checks in Python for one file is checked here for all of them in
SQL: the file holds the stream and day its name says, every account is of the stream's
platform, every request answered HTTP 200. A file DuckDB cannot read (not gzip,
truncated, not UTF-8) is named by reading the files one by one with ``read_envelope``,
which says why; that second read only happens when something is already wrong.

Values are converted by SQL macros (``kp_*``) that follow the boundary rules of
``common``: a value that cannot be converted makes a problem text naming the field and
the value, and ``fail_on`` raises them as one ``ParseError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

import duckdb

from kpi_pipeline.lib.core.landing import LandingError, LandingFile, LandingStore, read_envelope
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.core.values import MAX_COUNT, ParseError

# How a landing envelope is read. ``body`` and request parameters stay JSON: their shape
# differs by request, and each parser transforms only what it reads.
_REQUEST = ("STRUCT(method VARCHAR, path VARCHAR, params JSON, status JSON, body JSON, "
            "body_sent JSON, stopped_at_lookback JSON)")
_ACCOUNT = ('STRUCT(platform VARCHAR, account_id VARCHAR, brand VARCHAR, timezone VARCHAR, '
            'currency VARCHAR, "window" STRUCT("start" VARCHAR, "end" VARCHAR), '
            f'pending VARCHAR, requests {_REQUEST}[])')
ENVELOPE_COLUMNS = {"stream": "VARCHAR", "platform": "VARCHAR", "api_version": "VARCHAR",
                    "partition": "VARCHAR", "pulled_at": "VARCHAR", "unserved": "VARCHAR",
                    "accounts": f"{_ACCOUNT}[]"}
# The largest landing file (one JSON object) DuckDB reads: its default; it buffers twice this
# per thread, inside the warehouse's memory limit.
MAX_OBJECT_BYTES = 16 << 20
PROBLEMS_SHOWN = 5

# SQL macros for values at the boundary. ``v`` is a JSON value (or NULL when absent).
# kp_num: the number a JSON number or numeric string holds (NULL for null or ""). Its casts
#   are TRY_CASTs: DuckDB can evaluate a CASE branch for rows its condition excludes (seen
#   over unnested structs), and a value must then not raise instead of being reported.
# kp_num_problem: why v is not an acceptable number, or NULL (see common.number).
# kp_int_problem: the same for a count (see common.integer).
# kp_truthy: whether Python would take the JSON value as true (a note, a flag, a count).
# kp_pytype: the Python type name of a JSON value, for messages that name what was sent.
MACROS = f"""
CREATE OR REPLACE TEMP MACRO kp_shown(v) AS
    CASE WHEN json_type(v) = 'VARCHAR' THEN '''' || (v ->> '$') || '''' ELSE v::VARCHAR END;
CREATE OR REPLACE TEMP MACRO kp_num(v) AS
    CASE json_type(v)
        WHEN 'VARCHAR' THEN TRY_CAST(trim(v ->> '$') AS DOUBLE)
        WHEN 'BIGINT' THEN TRY_CAST(v AS DOUBLE) WHEN 'UBIGINT' THEN TRY_CAST(v AS DOUBLE)
        WHEN 'DOUBLE' THEN TRY_CAST(v AS DOUBLE) ELSE NULL END;
CREATE OR REPLACE TEMP MACRO kp_num_problem(v, allow_negative) AS
    CASE
        WHEN v IS NULL OR json_type(v) = 'NULL' THEN NULL
        WHEN json_type(v) = 'VARCHAR' AND trim(v ->> '$') = '' THEN NULL
        WHEN json_type(v) = 'BOOLEAN' THEN 'is a boolean (' || v::VARCHAR || '), expected a number'
        WHEN json_type(v) IN ('OBJECT', 'ARRAY') THEN 'is a '
            || CASE json_type(v) WHEN 'OBJECT' THEN 'dict' ELSE 'list' END
            || ' (' || v::VARCHAR || '), expected a number'
        WHEN json_type(v) = 'VARCHAR' AND contains(v ->> '$', ',') THEN 'value ' || kp_shown(v)
            || ' has a thousands separator or decimal comma; the API sends plain numbers'
        WHEN kp_num(v) IS NULL THEN 'value ' || kp_shown(v) || ' is not a number'
        WHEN isnan(kp_num(v)) OR isinf(kp_num(v))
            THEN 'value ' || kp_shown(v) || ' is not a finite number'
        WHEN kp_num(v) < 0 AND NOT allow_negative THEN 'value ' || kp_shown(v)
            || ' is negative, which this platform cannot report'
        ELSE NULL END;
CREATE OR REPLACE TEMP MACRO kp_int_problem(v, allow_negative) AS
    coalesce(kp_num_problem(v, allow_negative),
        CASE
            WHEN kp_num(v) IS NULL THEN NULL
            WHEN kp_num(v) <> trunc(kp_num(v))
                THEN 'value ' || kp_shown(v) || ' is not a whole count'
            WHEN abs(kp_num(v)) > {MAX_COUNT} THEN 'value ' || kp_shown(v)
                || ' is beyond any count a platform reports (more than 1e+15)'
            ELSE NULL END);
CREATE OR REPLACE TEMP MACRO kp_int(v) AS
    CASE WHEN kp_int_problem(v, true) IS NULL THEN kp_num(v)::BIGINT ELSE NULL END;
CREATE OR REPLACE TEMP MACRO kp_field(context, field, problem) AS
    context || ': field ''' || field || ''' ' || problem;
CREATE OR REPLACE TEMP MACRO kp_utc(text) AS
    coalesce(TRY_CAST(timezone('UTC', try_strptime(replace(text, 'Z', '+0000'),
                                                    '%Y-%m-%dT%H:%M:%S%z')) AS TIMESTAMP),
             TRY_CAST(timezone('UTC', try_strptime(replace(text, 'Z', '+0000'),
                                                   '%Y-%m-%dT%H:%M:%S.%f%z')) AS TIMESTAMP));
CREATE OR REPLACE TEMP MACRO kp_truthy(v) AS
    coalesce(CASE json_type(v)
        WHEN 'NULL' THEN false WHEN 'BOOLEAN' THEN v::VARCHAR = 'true'
        WHEN 'VARCHAR' THEN (v ->> '$') <> '' WHEN 'ARRAY' THEN json_array_length(v) > 0
        WHEN 'OBJECT' THEN len(json_keys(v)) > 0 ELSE TRY_CAST(v AS DOUBLE) <> 0 END, false);
CREATE OR REPLACE TEMP MACRO kp_pytype(v) AS
    CASE json_type(v) WHEN 'OBJECT' THEN 'dict' WHEN 'ARRAY' THEN 'list' WHEN 'VARCHAR' THEN 'str'
        WHEN 'DOUBLE' THEN 'float' WHEN 'BOOLEAN' THEN 'bool' WHEN 'NULL' THEN 'NoneType'
        WHEN 'BIGINT' THEN 'int' WHEN 'UBIGINT' THEN 'int' ELSE 'NoneType' END;
CREATE OR REPLACE TEMP MACRO kp_quote(text) AS
    CASE WHEN text IS NULL THEN 'None' ELSE '''' || text || '''' END;
"""


def install_macros(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the value macros on ``conn`` once (temporary: they vanish with the
    connection; a long window is parsed chunk by chunk on one connection)."""
    try:
        conn.execute("SELECT kp_truthy(NULL)")
    except duckdb.CatalogException:
        conn.execute(MACROS)


def fail_on(conn: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> None:
    """Raise one ``ParseError`` listing the first problems ``sql`` finds.

    ``sql`` selects a ``message`` column: one row per problem, NULL where there is none.
    """
    rows = conn.execute(f"SELECT message FROM ({sql}) WHERE message IS NOT NULL "
                        f"ORDER BY message LIMIT {PROBLEMS_SHOWN + 1}", params).fetchall()
    if rows:
        shown = [message for (message,) in rows[:PROBLEMS_SHOWN]]
        more = "\n(and more)" if len(rows) > PROBLEMS_SHOWN else ""
        raise ParseError("\n".join(shown) + more)


def _any(conn: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> bool:
    """Whether ``sql`` returns a row."""
    return bool(conn.execute(f"SELECT EXISTS ({sql})", params).fetchone()[0])


def load_landing(conn: duckdb.DuckDBPyConnection, stream: str,
                 files: Sequence[tuple[LandingFile, date]], *, check_files: bool = True) -> None:
    """Read the landing ``files`` of ``stream`` ((path, day) pairs: local paths, or URLs of
    a landing area on another filesystem, which DuckDB then reads through fsspec) into the
    temporary tables ``landing_accounts`` and ``landing_requests``; raise on a file that
    is not what its name says or cannot be read. ``check_files=False`` skips what only a
    landing file can get wrong (its stream, day and accounts' platform): for envelopes
    that never were one (``parse`` of an envelope in memory)."""
    install_macros(conn)
    if files:
        LandingStore.of_file(files[0][0]).expose_to(conn)
    paths = [str(path) for path, _ in files]
    conn.execute("CREATE OR REPLACE TEMP TABLE landing_files AS SELECT unnest($files) AS file, "
                 "unnest($days) AS day",
                 {"files": paths, "days": [day for _, day in files]})
    try:
        conn.execute(
            """CREATE OR REPLACE TEMP TABLE landing_envelopes AS
               SELECT filename AS file, * EXCLUDE (filename)
               FROM read_json($paths, columns = $columns, filename = true, format = 'auto',
                              maximum_object_size = $max_bytes)""",
            {"paths": paths, "columns": ENVELOPE_COLUMNS, "max_bytes": MAX_OBJECT_BYTES})
    except duckdb.Error as exc:
        _explain_unreadable(stream, files, exc)
    # DuckDB 1.4 reads a truncated gzip stream as no rows instead of failing: a file
    # without its one envelope is unreadable all the same.
    if _any(conn, "SELECT 1 FROM landing_files f ANTI JOIN landing_envelopes e USING (file)"):
        _explain_unreadable(stream, files, duckdb.InvalidInputException(
            "a landing file gave no envelope"))
    expected = STREAMS_BY_NAME[stream].platform
    # Each check below binds its message query only when a cheap query finds a suspect row:
    # binding the messages costs more than reading a chunk's files answers the question.
    if check_files and _any(conn, """
            SELECT 1 FROM landing_files f JOIN landing_envelopes e USING (file)
            WHERE e.stream IS DISTINCT FROM $stream
               OR e.partition IS DISTINCT FROM f.day::VARCHAR OR kp_utc(e.pulled_at) IS NULL""",
                            {"stream": stream}):
        fail_on(conn, """
        SELECT CASE
            WHEN e.stream IS DISTINCT FROM $stream OR e.partition IS DISTINCT FROM f.day::VARCHAR
                THEN $stream || ' ' || f.day || ': landing file ' || f.file || ' holds stream='
                     || kp_quote(e.stream) || ' partition=' || kp_quote(e.partition)
            WHEN kp_utc(e.pulled_at) IS NULL
                THEN $stream || ' partition ' || f.day || ': field ''pulled_at'' value '
                     || kp_quote(e.pulled_at) || ' is not an ISO-8601 timestamp'
            END AS message
        FROM landing_files f JOIN landing_envelopes e USING (file)""", {"stream": stream})
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE landing_accounts AS
        SELECT file, partition::DATE AS partition, stream, api_version,
               kp_utc(pulled_at) AS pulled_at, account_no, a.platform, a.account_id, a.brand,
               a.timezone, a.currency, a."window"."start" AS window_start,
               a."window"."end" AS window_end, a.pending, len(a.requests) AS requests,
               stream || ' partition ' || partition || ' account ' || coalesce(a.account_id,
                   'None') AS context
        FROM (SELECT *, unnest(accounts) AS a, unnest(range(len(accounts))) AS account_no
              FROM landing_envelopes WHERE unserved IS NULL)""")
    if check_files and _any(conn, "SELECT 1 FROM landing_accounts "
                                  "WHERE platform IS DISTINCT FROM $expected",
                            {"expected": expected}):
        fail_on(conn, """
        SELECT CASE WHEN platform IS DISTINCT FROM $expected THEN
            stream || ' ' || partition || ': landing file ' || file || ', account '
            || kp_quote(account_id) || ': unknown platform ' || kp_quote(platform)
            || ' for this stream (expected ''' || $expected || ''')' END AS message
        FROM landing_accounts""", {"expected": expected})
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE landing_requests AS
        SELECT file, account_no, request_no, r.method, r.path, r.params,
               coalesce(kp_num(r.status), 200)::INTEGER AS status, r.body, r.body_sent,
               kp_truthy(r.stopped_at_lookback) AS stopped_at_lookback
        FROM (SELECT file, account_no, unnest(a.requests) AS r,
                     unnest(range(len(a.requests))) AS request_no
              FROM (SELECT file, unnest(accounts) AS a, unnest(range(len(accounts))) AS account_no
                    FROM landing_envelopes WHERE unserved IS NULL))""")
    conn.execute("""
        CREATE OR REPLACE TEMP VIEW request_context AS
        SELECT file, account_no, request_no, a.context,
               a.context || ' ' || coalesce(r.path, 'None') AS rctx
        FROM landing_requests r JOIN landing_accounts a USING (file, account_no)""")
    if _any(conn, "SELECT 1 FROM landing_requests WHERE status <> 200"):
        fail_on(conn, """
        SELECT c.context || ': request ' || coalesce(r.path, 'None') || ' answered HTTP '
               || r.status AS message
        FROM landing_requests r JOIN request_context c USING (file, account_no, request_no)
        WHERE r.status <> 200""")


_SHAPE_ERROR = re.compile(r'in file "(?P<file>[^"]+)".*?Expected (?P<expected>[A-Z]+), '
                          r"but got (?P<got>[A-Z]+)", re.DOTALL)


def _explain_unreadable(stream: str, files: Sequence[tuple[LandingFile, date]],
                        error: duckdb.Error) -> None:
    """Name the file DuckDB could not read, with why, by reading each one in Python."""
    if isinstance(error, duckdb.OutOfMemoryException):
        raise ParseError(f"{stream}: reading {len(files)} landing file(s) ran out of memory: "
                         f"{error}. Raise the warehouse's memory_limit "
                         "(warehouse.connection_config).") from None
    store = LandingStore.of_file(files[0][0])
    for _, day in files:
        try:
            read_envelope(store, stream, day)
        except LandingError as exc:
            raise LandingError(str(exc)) from None
    # Every file is JSON, so a value has another JSON type than an envelope's field. Only
    # the file and the two types are named: DuckDB's message goes on to quote the value.
    found = _SHAPE_ERROR.search(str(error))
    days = {str(path): day for path, day in files}
    if found and found["file"] in days:
        raise ParseError(f"{stream} {days[found['file']]}: landing file {found['file']} "
                         "does not have the envelope shape: expected "
                         f"{found['expected']}, got {found['got']}") from None
    first, last = min(days.values()), max(days.values())
    raise ParseError(f"{stream} {first}..{last}: the landing files do not have the envelope "
                     f"shape ({type(error).__name__})") from None


def typed_rows(conn: duckdb.DuckDBPyConnection, stream: str, select_sql: str,
               params: object = None, *, kinds: dict[str, str] | None = None) -> str:
    """Store ``select_sql``'s rows as ``parsed_<stream>``: the stream's table's parser
    columns in order, each cast to its store type (a column the SELECT lacks is NULL), and
    ``landing_day``, the day of the landing file each row came from (the SELECT carries
    the row's ``file``). The rows keep the SELECT's order (a join alone may shuffle them,
    and callers read rows in the order the envelope listed its accounts). Returns the
    temporary table's name.

    ``kinds`` (column -> kind of ``schemas``) replaces the table's parser columns for a
    stream whose rows are an intermediate shape (fx_rates: rates per EUR, not fx_daily)."""
    from kpi_pipeline.lib.core.schemas import DUCKDB_TYPES, TABLES

    if kinds is None:
        table = TABLES[STREAMS_BY_NAME[stream].table]
        kinds = {c.name: c.kind for c in table.columns if c.name in table.parsed_columns}
    available = {d[0] for d in conn.execute(f"SELECT * FROM ({select_sql}) LIMIT 0",
                                            params).description}
    columns = ", ".join(
        f"CAST({name if name in available else 'NULL'} AS {DUCKDB_TYPES[kind]}) "
        f"AS {name}" for name, kind in kinds.items())
    name = f"parsed_{stream}"
    # The landing day from the file's name (``<stream>_<day>.json.gz``), not a join: a
    # join may shuffle the rows, and callers read them in the envelope's account order.
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {columns}, "
                 r"regexp_extract(file, '_(\d{4}-\d{2}-\d{2})\.json\.gz$', 1)::DATE "
                 f"AS landing_day FROM ({select_sql}) parsed", params)
    return name
