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
                   start: date, end: date, schema: str = SCHEMA) -> int:
    """Replace the rows of ``table`` whose report_date is in [start, end] with ``frame``.

    ``frame`` must already be validated and carry exactly the table's columns in order.
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
    return len(frame)


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
