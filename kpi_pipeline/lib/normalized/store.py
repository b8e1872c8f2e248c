"""Writing normalized tables into DuckDB: whole partition windows, in one transaction.

Replacing a window means DELETE the window's rows then INSERT the new ones inside one
transaction, so re-running any partition any number of times leaves identical tables,
and a failure (or a killed process) leaves the previous content: DuckDB rolls back an
uncommitted transaction when the file is next opened.

``post_daily`` also keeps each snapshot's daily increments (``<metric>_delta``, see
``schemas.INCREMENT_METRICS``). Every write of post snapshots here (a window, the export
rows) derives them in the same transaction, and recomputes the increments the write may
have moved: the rows of the window left in place (another stream's) and each post's first
snapshot after it, whose previous snapshot may just have changed. So the stored
increments always match the stored snapshots, whatever order windows are written in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import duckdb
import pandas as pd
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from kpi_pipeline.lib.core.postgres_store import serialization_failure
from kpi_pipeline.lib.core.schemas import (
    DUCKDB_TYPES,
    INCREMENT_COLUMNS,
    INCREMENT_METRICS,
    INCREMENT_SUFFIX,
    POST_DAILY,
    TABLES,
    Table,
    ddl,
)
from kpi_pipeline.lib.normalized.quarantine import replace_quarantine

SCHEMA = "normalized"


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Everything inside commits together or not at all: any error (KeyboardInterrupt
    included) rolls back, so a window is never left half-replaced."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def ensure_tables(conn: duckdb.DuckDBPyConnection, schema: str = SCHEMA) -> None:
    """Create the schema and every normalized table if they do not exist yet, and bring a
    post_daily written before the increment columns existed up to the current shape."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table in TABLES.values():
        conn.execute(ddl(table, schema))
    _add_appended_columns(conn, schema)
    _add_post_increments(conn, schema)
    _apply_first_seen_rule(conn, schema)


# Nullable columns added to a table after stores existed, each the table's last column: a
# store made before them gains them by ALTER TABLE ... ADD COLUMN (which appends, so old
# and new stores keep one column order), NULL on the rows already there (for ad_daily's
# objective: not reported, which the conversion KPIs leave out). The next pull of a window
# fills them.
APPENDED = {"ad_daily": ("objective", "attribution_setting")}


def _add_appended_columns(conn: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Give a store made before the ``APPENDED`` columns existed those columns (NULL)."""
    for name, columns in APPENDED.items():
        kinds = {c.name: c.kind for c in TABLES[name].columns}
        for column in columns:
            conn.execute(f"ALTER TABLE {schema}.{name} ADD COLUMN IF NOT EXISTS {column} "
                         f"{DUCKDB_TYPES[kinds[column]]}")


# --------------------------------------------------------------------------- increments
POST_KEY = ("platform", "account_id", "post_id")


# A post's first stored snapshot is activity of its first-seen day only when the post is
# new that day: published on or after that local day. post_daily keeps the publish time in
# UTC without the account's zone, so "on or after the local day D" is read as "at or after
# the first moment of D in any zone", D 00:00 at UTC+14 (D - 1 at 10:00 UTC): a post
# published later than that counts whole, an older one counts 0 on its first-seen day and
# its growth from the next day. Mid-history every post is first seen on the day it is
# published and counts whole, as before; the rule matters where a history begins (the
# first pull meets every older post's whole lifetime), for an account added later, and
# for a post first pulled after a gap.
EARLIEST_UTC_OFFSET_HOURS = 14
_FIRST_SEEN_LATE = (
    "(lag(report_date) OVER snapshots IS NULL AND published_at < "
    f"CAST(report_date AS TIMESTAMP) - INTERVAL {EARLIEST_UTC_OFFSET_HOURS} HOUR)")


def _increments(source: str, carry: str | None = None, keep: str | None = None) -> str:
    """SELECT of every increment of the snapshots in ``source`` (a relation holding whole
    series of posts, with ``published_at``) beside ``carry`` (columns of ``source``;
    default the post key and report_date), keeping only the rows where ``keep`` holds, if
    given: each lifetime count minus the same post's previous snapshot in ``source``, a
    missing previous value counting as 0 and a NULL count staying NULL. A post's first
    snapshot counts whole when the post was published that day, and 0 when it was
    published before (``_FIRST_SEEN_LATE``): its lifetime so far happened on earlier days
    the store never saw, and must not land on the first-seen day.

    One window over ``source``, no join back to it: a join of two 10M-row relations does
    not fit the warehouse's memory_limit (200MB by default); the window alone spills and does."""
    key = ", ".join(POST_KEY)
    deltas = ",\n           ".join(
        f"CASE WHEN {m} IS NOT NULL AND {_FIRST_SEEN_LATE} THEN 0 "
        f"ELSE {m} - coalesce(lag({m}) OVER snapshots, 0) END AS {m}{INCREMENT_SUFFIX}"
        for m in INCREMENT_METRICS)
    return f"""
    SELECT {carry or f'{key}, report_date'}, {deltas}
    FROM {source}
    WINDOW snapshots AS (PARTITION BY {key} ORDER BY report_date){
        f' QUALIFY {keep}' if keep else ''}"""


def _on_key(left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in (*POST_KEY, "report_date"))


def _insert_post_snapshots(conn: duckdb.DuckDBPyConnection, target: str,
                           rows: str = "incoming_rows") -> None:
    """INSERT the snapshots of the relation ``rows`` into post_daily with their increments
    computed against the stored snapshots of the same posts (and each other).

    Computed on the way in rather than updated afterwards: DuckDB keeps every updated
    value of a transaction in memory, so updating a long backfill's increments would not
    fit the warehouse's memory_limit, while an INSERT streams.
    """
    key = ", ".join(POST_KEY)
    metrics = ", ".join(INCREMENT_METRICS)
    series = f"""(
          SELECT * EXCLUDE ({', '.join(INCREMENT_COLUMNS)}), FALSE AS stored
          FROM {rows}
          UNION ALL BY NAME
          SELECT {key}, report_date, published_at, {metrics}, TRUE AS stored FROM {target}
          SEMI JOIN (SELECT DISTINCT {key} FROM {rows}) USING ({key}))"""
    conn.execute(f"INSERT INTO {target} BY NAME "
                 f"{_increments(series, carry='* EXCLUDE (stored)', keep='NOT stored')}")


def _refresh(conn: duckdb.DuckDBPyConnection, target: str, start: date, end: date, *,
             window: bool = True, fresh_sources: list[str] | None = None,
             fresh_like: str | None = None, posts: str | None = None) -> int:
    """Recompute the increments of the rows of [start, end] (unless ``window`` is False)
    and of each post's first row after ``end``; write the ones that changed; return how
    many. Window rows whose increments the caller has just computed (``fresh_sources``,
    or a source_stream LIKE ``fresh_like``) are left out. ``posts`` (a relation of post
    keys) restricts both to the posts a write touched: only a post that lost or gained a
    snapshot can see an increment change."""
    key = ", ".join(POST_KEY)
    params: dict[str, object] = {"start": start, "end": end}
    skip = "" if window else " AND FALSE"
    if fresh_sources is not None:
        skip, params["fresh"] = " AND NOT list_contains($fresh, source_stream)", fresh_sources
    elif fresh_like is not None:
        skip, params["fresh"] = " AND source_stream NOT LIKE $fresh", fresh_like
    among = f" SEMI JOIN {posts} USING ({key})" if posts else ""
    sets = ", ".join(f"{c} = f.{c}" for c in INCREMENT_COLUMNS)
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM f.{c}" for c in INCREMENT_COLUMNS)
    # Only the targets' posts are read (a semi-join, no lag over the whole table), and
    # only rows whose stored increments differ are updated.
    return int(conn.execute(f"""
        UPDATE {target} AS t SET {sets}
        FROM (
          WITH targets AS (
            SELECT {key}, report_date FROM {target}{among}
            WHERE report_date BETWEEN $start AND $end{skip}
            UNION ALL
            SELECT {key}, min(report_date) FROM {target}{among}
            WHERE report_date > $end GROUP BY {key}
          ),
          series AS (
            SELECT * FROM {target} SEMI JOIN (SELECT DISTINCT {key} FROM targets) USING ({key})
          )
          SELECT * FROM ({_increments('series')})
          SEMI JOIN targets USING ({key}, report_date)
        ) AS f
        WHERE {_on_key('t', 'f')} AND ({changed})""", params).fetchone()[0])


TOUCHED = "temp.touched_posts"  # the posts a write removes or adds snapshots of


def _touched_posts(conn: duckdb.DuckDBPyConnection, rows: str, params: list,
                   create: bool = False) -> None:
    """Collect the post keys of ``rows`` (``FROM ... WHERE ...``) into ``TOUCHED``."""
    key = ", ".join(POST_KEY)
    verb = (f"CREATE OR REPLACE TEMP TABLE {TOUCHED.split('.')[1]} AS" if create
            else f"INSERT INTO {TOUCHED}")
    conn.execute(f"{verb} SELECT DISTINCT {key} {rows}", params)


def refresh_post_increments(conn: duckdb.DuckDBPyConnection, start: date, end: date,
                            schema: str = SCHEMA) -> int:
    """Recompute the stored increments of every post_daily row in [start, end] and of each
    post's first row after ``end`` (its previous snapshot may be one that just changed);
    returns the number of rows whose increments changed.

    Set-based and idempotent: running it again changes nothing. Runs in the caller's
    transaction; the store's own writers call it, so callers only need it after
    changing post snapshots with their own SQL.
    """
    return _refresh(conn, f"{schema}.{POST_DAILY.name}", start, end)


def _add_post_increments(conn: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Give a post_daily made before the increments existed its increment columns, filled.

    The table is rebuilt rather than altered and updated: an UPDATE of every row must hold
    all the new values in memory at once. The copy (with the increments) is written and
    committed first, beside the old table, which stays the one read until a short final
    transaction drops it and renames the copy; a crash before that leaves the old table
    as it was, and the next attempt starts the copy again. (One transaction for all of
    it could not commit 10M rows within a 600MB memory_limit.)
    """
    present = {name for (name,) in conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
        [schema, POST_DAILY.name]).fetchall()}
    if set(INCREMENT_COLUMNS) <= present:
        return
    target, rebuilt = f"{schema}.{POST_DAILY.name}", f"{POST_DAILY.name}__increments"
    conn.execute(f"DROP TABLE IF EXISTS {schema}.{rebuilt}")
    conn.execute(ddl(POST_DAILY, schema).replace(target, f"{schema}.{rebuilt}", 1))
    old = ", ".join(c for c in POST_DAILY.column_names if c not in INCREMENT_COLUMNS)
    conn.execute(f"INSERT INTO {schema}.{rebuilt} BY NAME "
                 f"{_increments(target, carry=old)}")
    with transaction(conn):
        conn.execute(f"DROP TABLE {target}")
        conn.execute(f"ALTER TABLE {schema}.{rebuilt} RENAME TO {POST_DAILY.name}")


# The rule a post_daily's increments follow (``_FIRST_SEEN_LATE``), recorded as a row of
# ``normalized.migrations`` once the table follows it; a table without that row was
# written when every first snapshot counted whole. (DuckDB stores marked before the
# table existed carry the same text as the comment of the first increment column; a
# PostgreSQL store has no column comments through DuckDB, hence the table.)
FIRST_SEEN_RULE = "increments: first-seen rule v1"
MIGRATIONS = "migrations"


def _apply_first_seen_rule(conn: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Bring the increments of a post_daily written before the first-seen rule in line
    with it, once: only first snapshots can differ, so only the first snapshot of each post
    published before its first-seen day is updated (one row per post at most, small enough
    for one transaction), then the migration is recorded. Idempotent; a store already
    migrated costs one lookup."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{MIGRATIONS} "
                 "(name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
    # fetchall: a result left unfinished would block the caller's next statement
    if conn.execute(f"SELECT count(*) FROM {schema}.{MIGRATIONS} WHERE name = ?",
                    [FIRST_SEEN_RULE]).fetchall()[0][0]:
        return
    found = conn.execute(
        "SELECT comment FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "AND column_name = ?", [schema, POST_DAILY.name, INCREMENT_COLUMNS[0]]).fetchall()
    target, key = f"{schema}.{POST_DAILY.name}", ", ".join(POST_KEY)
    sets = ", ".join(f"{c} = CASE WHEN t.{m} IS NULL THEN NULL ELSE 0 END"
                     for m, c in zip(INCREMENT_METRICS, INCREMENT_COLUMNS, strict=True))
    with transaction(conn):
        if not found or found[0][0] != FIRST_SEEN_RULE:
            conn.execute(f"""
                UPDATE {target} AS t SET {sets}
                FROM (SELECT {key}, min(report_date) AS report_date FROM {target}
                      GROUP BY {key}) AS f
                WHERE {_on_key('t', 'f')} AND t.published_at < CAST(t.report_date AS
                      TIMESTAMP) - INTERVAL {EARLIEST_UTC_OFFSET_HOURS} HOUR""")
        conn.execute(f"INSERT INTO {schema}.{MIGRATIONS} VALUES (?, now()::TIMESTAMP)",
                     [FIRST_SEEN_RULE])


def _insert(conn: duckdb.DuckDBPyConnection, table: Table, target: str,
            frame: pd.DataFrame) -> None:
    """INSERT ``frame`` into ``target`` by column name (post snapshots with increments)."""
    conn.register("incoming_rows", frame)
    # no try/finally: after a failed INSERT the transaction is aborted and unregistering
    # would raise over the real error; the next register replaces the view anyway
    _insert_rows(conn, table, target, "incoming_rows")
    conn.unregister("incoming_rows")


def _insert_rows(conn: duckdb.DuckDBPyConnection, table: Table, target: str,
                 rows: str) -> None:
    """INSERT the relation ``rows`` into ``target`` by column name (post snapshots with
    their increments derived)."""
    if table.name == POST_DAILY.name:
        _insert_post_snapshots(conn, target, rows)
    else:
        conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {rows}")


def _sources_filter(sources: tuple[str, ...] | list[str] | None) -> tuple[str, list]:
    """SQL and parameters restricting rows to some ``source_stream`` values (all: none)."""
    if sources is None:
        return "", []
    return " AND list_contains(?, source_stream)", [list(sources)]


def replace_window(conn: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame,
                   start: date, end: date, schema: str = SCHEMA, *,
                   quarantine: pd.DataFrame | None = None,
                   sources: tuple[str, ...] | None = None) -> int:
    """Replace the rows of ``table`` whose report_date is in [start, end] with ``frame``.

    ``frame`` must already be validated and carry exactly the table's columns in order.
    With ``sources`` only the window's rows of those ``source_stream`` values are
    replaced: the normalized assets pass their streams, so rebuilding a day never deletes
    the rows the export folder loaded (``source_stream`` ``export:...``).
    With ``quarantine`` (rows of ``quality.quarantine``, possibly none) the window's
    quarantine rows of this table are replaced in the same transaction.
    For post_daily the increments are derived in the same transaction (the frame's own
    ``*_delta`` values are ignored), and the increments the window may have moved (other
    streams' rows in it, each post's first snapshot after it) are recomputed.
    Returns the number of rows inserted.
    """
    if list(frame.columns) != table.column_names:
        raise ValueError(f"{table.name}: frame columns {list(frame.columns)} do not match the "
                         f"table's {table.column_names}")
    _replace(conn, table, start, end, schema, sources, quarantine,
             lambda target: _insert(conn, table, target, frame))
    return len(frame)


# On the PostgreSQL store (SERIALIZABLE transactions), of two runs that depend on each
# other's rows at once (one refreshing the first increments after its window while another
# writes the next window, each reading what the other changes), the server aborts one with
# a serialization failure; the window's write is run again here, without rerunning the
# step's parsing.
WRITE_ATTEMPTS = 6


def _replace(conn: duckdb.DuckDBPyConnection, table: Table, start: date, end: date,
             schema: str, sources: tuple[str, ...] | None, quarantine: pd.DataFrame | None,
             insert: Callable[[str], None]) -> None:
    """``_replace_once``, again after a serialization failure (rolled back whole)."""
    Retrying(retry=retry_if_exception(serialization_failure),
             stop=stop_after_attempt(WRITE_ATTEMPTS),
             wait=wait_random_exponential(multiplier=0.2, max=5), reraise=True)(
        _replace_once, conn, table, start, end, schema, sources, quarantine, insert)


def _replace_once(conn: duckdb.DuckDBPyConnection, table: Table, start: date, end: date,
                  schema: str, sources: tuple[str, ...] | None,
                  quarantine: pd.DataFrame | None, insert: Callable[[str], None]) -> None:
    """DELETE the window (of ``sources``), ``insert`` the new rows, and for post_daily
    refresh the increments the window moved, all in one transaction."""
    target = f"{schema}.{table.name}"
    only, params = _sources_filter(sources)
    posts = table.name == POST_DAILY.name
    with transaction(conn):
        if posts:  # the posts that lose a snapshot here: their increments may move
            _touched_posts(conn, f"FROM {target} WHERE report_date BETWEEN ? AND ?{only}",
                           [start, end, *params], create=True)
        conn.execute(f"DELETE FROM {target} WHERE report_date BETWEEN ? AND ?{only}",
                     [start, end, *params])
        insert(target)
        if posts:
            # The rows just inserted have their increments; the other streams' rows of the
            # window and the first rows after it may have lost or gained their base.
            _touched_posts(conn, f"FROM {target} WHERE report_date BETWEEN ? AND ?{only}",
                           [start, end, *params])
            if sources is None:
                _refresh(conn, target, start, end, window=False, posts=TOUCHED)
            else:
                _refresh(conn, target, start, end, fresh_sources=list(sources),
                         posts=TOUCHED)
            conn.execute(f"DROP TABLE {TOUCHED}")
        if quarantine is not None:
            replace_quarantine(conn, table.name, quarantine, start, end)


def replace_window_from(conn: duckdb.DuckDBPyConnection, table: Table, rows: str,
                        start: date, end: date, schema: str = SCHEMA, *,
                        quarantine: pd.DataFrame | None = None,
                        sources: tuple[str, ...] | None = None) -> int:
    """``replace_window`` with the new rows in the relation ``rows`` (a staging table of
    the table's columns, in order) instead of a pandas frame: a window of any length is
    replaced without holding its rows in Python. post_daily's increments are derived as
    in ``replace_window``."""
    _replace(conn, table, start, end, schema, sources, quarantine,
             lambda target: _insert_rows(conn, table, target, rows))
    return int(conn.execute(f"SELECT count(*) FROM {rows}").fetchone()[0])


def duplicate_keys(conn: duckdb.DuckDBPyConnection, table: Table, start: date, end: date,
                   schema: str = SCHEMA, limit: int = 5) -> tuple[int, list[dict]]:
    """How many primary keys occur more than once in the window, and a few of them."""
    keys = ", ".join(table.key)
    sql = (f"SELECT {keys}, count(*) AS copies FROM {schema}.{table.name} "
           f"WHERE report_date BETWEEN ? AND ? GROUP BY ALL HAVING count(*) > 1")
    total = conn.execute(f"SELECT count(*) FROM ({sql})", [start, end]).fetchone()[0]
    examples = conn.execute(f"{sql} ORDER BY ALL LIMIT {int(limit)}", [start, end]).df()
    return int(total), examples.astype(str).to_dict("records")


def daily_counts(conn: duckdb.DuckDBPyConnection, table: str, start: date, end: date,
                 schema: str = SCHEMA, *,
                 sources: tuple[str, ...] | None = None) -> dict[date, int]:
    """Rows per report_date in [start, end] (days without rows are absent), of the given
    ``source_stream`` values only when ``sources`` is given."""
    only, params = _sources_filter(sources)
    rows = conn.execute(f"SELECT report_date, count(*) FROM {schema}.{table} "
                        f"WHERE report_date BETWEEN ? AND ?{only} GROUP BY 1 ORDER BY 1",
                        [start, end, *params]).fetchall()
    return {day: int(n) for day, n in rows}


def window_totals(conn: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...],
                  start: date, end: date, schema: str = SCHEMA, *,
                  sources: tuple[str, ...] | None = None) -> dict[str, float]:
    """Row count (``rows``) and the sums of ``columns`` over the window (of the given
    ``source_stream`` values only when ``sources`` is given)."""
    sums = "".join(f", coalesce(sum({c}), 0)" for c in columns)
    only, params = _sources_filter(sources)
    values = conn.execute(f"SELECT count(*){sums} FROM {schema}.{table} "
                          f"WHERE report_date BETWEEN ? AND ?{only}",
                          [start, end, *params]).fetchone()
    return dict(zip(("rows", *columns), (float(v) for v in values), strict=True))


EXPORT_STREAMS = "export:%"  # source_stream of the rows the export drop folder loaded


def replace_exports(conn: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame],
                    schema: str = SCHEMA) -> dict[str, tuple[int, int]]:
    """In ONE transaction, replace every export row (``source_stream LIKE 'export:%'``) of
    each table in ``frames`` with that frame: the drop folder is the source of truth for
    them, and the API streams' rows are never touched. Each frame must be validated and
    carry the table's columns in order. Returns {table: (rows deleted, rows inserted)};
    any error rolls everything back."""
    for name, frame in frames.items():
        if list(frame.columns) != TABLES[name].column_names:
            raise ValueError(f"{name}: frame columns {list(frame.columns)} do not match the "
                             f"table's {TABLES[name].column_names}")
    counts = {}
    with transaction(conn):
        for name, frame in frames.items():
            target = f"{schema}.{name}"
            exported = f"FROM {target} WHERE source_stream LIKE ?"
            if name == POST_DAILY.name:  # the days and posts whose increments may move
                days = _export_days(conn, target, frame)
                _touched_posts(conn, exported, [EXPORT_STREAMS], create=True)
            deleted = conn.execute(f"DELETE {exported}", [EXPORT_STREAMS]).fetchone()[0]
            _insert(conn, TABLES[name], target, frame)
            if name == POST_DAILY.name:
                # API snapshots next to a removed or added export snapshot get a new base
                _touched_posts(conn, exported, [EXPORT_STREAMS])
                if days is not None:
                    _refresh(conn, target, *days, fresh_like=EXPORT_STREAMS, posts=TOUCHED)
                conn.execute(f"DROP TABLE {TOUCHED}")
            counts[name] = (int(deleted), len(frame))
    return counts


def _export_days(conn: duckdb.DuckDBPyConnection, target: str,
                 frame: pd.DataFrame) -> tuple[date, date] | None:
    """First and last day of the export post snapshots stored now or about to be."""
    stored = conn.execute(f"SELECT min(report_date), max(report_date) FROM {target} "
                          "WHERE source_stream LIKE ?", [EXPORT_STREAMS]).fetchone()
    days = [d for d in stored if d is not None]
    if len(frame):
        days += [pd.Timestamp(frame["report_date"].min()).date(),
                 pd.Timestamp(frame["report_date"].max()).date()]
    return (min(days), max(days)) if days else None


def export_rows(conn: duckdb.DuckDBPyConnection, schema: str = SCHEMA) -> dict[str, int]:
    """How many export rows each table holds now."""
    return {name: int(conn.execute(f"SELECT count(*) FROM {schema}.{name} WHERE source_stream "
                                   "LIKE ?", [EXPORT_STREAMS]).fetchone()[0])
            for name in TABLES}


def key_conflicts(conn: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame,
                  schema: str = SCHEMA) -> pd.DataFrame:
    """Rows of ``frame`` whose primary key the table already holds from a non-export
    stream (the API): (position in ``frame``, that row's source_stream)."""
    if frame.empty:
        return pd.DataFrame({"position": pd.Series(dtype="int64"),
                             "source_stream": pd.Series(dtype="string")})
    keys = frame[list(table.key)].assign(position=range(len(frame)))
    conn.register("incoming_keys", keys)
    try:
        on = " AND ".join(f"t.{k} = i.{k}" for k in table.key)
        return conn.execute(
            f"SELECT i.position, t.source_stream FROM incoming_keys i JOIN {schema}.{table.name} "
            f"t ON {on} WHERE t.source_stream NOT LIKE ? ORDER BY i.position",
            [EXPORT_STREAMS]).df()
    finally:
        conn.unregister("incoming_keys")


def read_window(conn: duckdb.DuckDBPyConnection, table: str, start: date, end: date,
                schema: str = SCHEMA) -> pd.DataFrame:
    """Rows of one normalized table inside a window (small tables: fx, lookups)."""
    return conn.execute(
        f"SELECT * FROM {schema}.{table} WHERE report_date BETWEEN ? AND ? ORDER BY ALL",
        [start, end],
    ).df()


def table_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every table in the database, keyed schema.table."""
    rows = conn.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2").fetchall()
    counts = {}
    for schema, name in rows:
        counts[f"{schema}.{name}"] = conn.execute(
            f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]
    return counts
