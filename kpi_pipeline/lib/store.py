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


def replace_window(conn: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame,
                   start: date, end: date, schema: str = SCHEMA, *,
                   quarantine: pd.DataFrame | None = None) -> int:
    """Replace the rows of ``table`` whose report_date is in [start, end] with ``frame``.

    ``frame`` must already be validated and carry exactly the table's columns in order.
    With ``quarantine`` (rows of ``quality.quarantine``, possibly none) the window's
    quarantine rows of this table are replaced in the same transaction.
    Returns the number of rows inserted.
    """
    if list(frame.columns) != table.column_names:
        raise ValueError(f"{table.name}: frame columns {list(frame.columns)} do not match the "
                         f"table's {table.column_names}")
    target = f"{schema}.{table.name}"
    with transaction(conn):
        conn.execute(f"DELETE FROM {target} WHERE report_date BETWEEN ? AND ?", [start, end])
        conn.register("incoming_rows", frame)
        conn.execute(f"INSERT INTO {target} SELECT * FROM incoming_rows")
        conn.unregister("incoming_rows")
        if quarantine is not None:
            replace_quarantine(conn, table.name, quarantine, start, end)
    return len(frame)


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
                 schema: str = SCHEMA) -> dict[date, int]:
    """Rows per report_date in [start, end] (days without rows are absent)."""
    rows = conn.execute(f"SELECT report_date, count(*) FROM {schema}.{table} "
                        "WHERE report_date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1",
                        [start, end]).fetchall()
    return {day: int(n) for day, n in rows}


def window_totals(conn: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...],
                  start: date, end: date, schema: str = SCHEMA) -> dict[str, float]:
    """Row count (``rows``) and the sums of ``columns`` over the window."""
    sums = "".join(f", coalesce(sum({c}), 0)" for c in columns)
    values = conn.execute(f"SELECT count(*){sums} FROM {schema}.{table} "
                          "WHERE report_date BETWEEN ? AND ?", [start, end]).fetchone()
    return dict(zip(("rows", *columns), (float(v) for v in values), strict=True))


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
