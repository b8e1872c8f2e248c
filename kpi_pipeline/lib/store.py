"""Writing normalized tables into DuckDB: whole partition windows, in one transaction.

Replacing a window means DELETE the window's rows then INSERT the new ones inside one
transaction, so re-running any partition any number of times leaves identical tables,
and a failure (or a killed process) leaves the previous content: DuckDB rolls back an
uncommitted transaction when the file is next opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import duckdb
import pandas as pd

from kpi_pipeline.lib.quality.quarantine import replace_quarantine
from kpi_pipeline.lib.schemas import TABLES, Table, ddl

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
    """Create the schema and every normalized table if they do not exist yet."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table in TABLES.values():
        conn.execute(ddl(table, schema))


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
    Returns the number of rows inserted.
    """
    if list(frame.columns) != table.column_names:
        raise ValueError(f"{table.name}: frame columns {list(frame.columns)} do not match the "
                         f"table's {table.column_names}")
    target = f"{schema}.{table.name}"
    only, params = _sources_filter(sources)
    with transaction(conn):
        conn.execute(f"DELETE FROM {target} WHERE report_date BETWEEN ? AND ?{only}",
                     [start, end, *params])
        conn.register("incoming_rows", frame)
        conn.execute(f"INSERT INTO {target} SELECT * FROM incoming_rows")
        conn.unregister("incoming_rows")
        if quarantine is not None:
            replace_quarantine(conn, table.name, quarantine, start, end)
    return len(frame)


def replace_window_from(conn: duckdb.DuckDBPyConnection, table: Table, rows: str,
                        start: date, end: date, schema: str = SCHEMA, *,
                        quarantine: pd.DataFrame | None = None,
                        sources: tuple[str, ...] | None = None) -> int:
    """``replace_window`` with the new rows in the relation ``rows`` (a staging table of
    the table's columns, in order) instead of a pandas frame: a window of any length is
    replaced without holding its rows in Python."""
    target = f"{schema}.{table.name}"
    only, params = _sources_filter(sources)
    with transaction(conn):
        conn.execute(f"DELETE FROM {target} WHERE report_date BETWEEN ? AND ?{only}",
                     [start, end, *params])
        inserted = conn.execute(f"INSERT INTO {target} SELECT * FROM {rows}").fetchone()[0]
        if quarantine is not None:
            replace_quarantine(conn, table.name, quarantine, start, end)
    return int(inserted)


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
            deleted = conn.execute(f"DELETE FROM {target} WHERE source_stream LIKE ?",
                                   [EXPORT_STREAMS]).fetchone()[0]
            conn.register("incoming_rows", frame)
            conn.execute(f"INSERT INTO {target} SELECT * FROM incoming_rows")
            conn.unregister("incoming_rows")
            counts[name] = (int(deleted), len(frame))
    return counts


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
