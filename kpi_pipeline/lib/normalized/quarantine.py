"""The quarantine: rows a normalized table rejected by a row-level rule, kept for review.

A normalized asset splits each partition window into valid rows, written to the table,
and rows breaking a row-level rule (negative count, non-finite number, unknown code, NULL
key, date outside the window), written to ``quality.quarantine`` in the SAME transaction,
so a window is never half-replaced and re-running it replaces its quarantine rows too.

Decision (per table and partition window):

- no rejected row: nothing quarantined, the table's ``schema_valid`` check passes;
- rejected share <= threshold (default 1 %, ``KPI_PIPELINE_QUARANTINE_THRESHOLD``):
  the valid rows are written, the rejected ones quarantined, the asset succeeds and
  ``schema_valid`` fails with severity WARN (reports still run on the good rows);
- rejected share > threshold: the asset fails, nothing is written anywhere, and the
  message names source, partition, column, rule and example rows.

The share is rejected records / records considered in the window. Table-level failures
(missing or extra columns, a column of the wrong type, a primary key delivered twice)
fail at once whatever the share.

One quarantine row per broken (record, rule, column): a record breaking two rules has
two rows with the same ``record``. ``record`` is the row as parsed from the landing file
(JSON, dates ISO, NULL as null); the payload itself stays in the landing file of
``source_stream`` for ``partition_date``.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from functools import cache

import duckdb
import pandas as pd

SCHEMA = "quality"
TABLE = f"{SCHEMA}.quarantine"
THRESHOLD_ENV = "KPI_PIPELINE_QUARANTINE_THRESHOLD"
DEFAULT_THRESHOLD = 0.01  # a share of the window's records, 0..1

COLUMNS = ("source_table", "source_stream", "partition_date", "window_start", "window_end",
           "rule", "column_name", "value", "record_key", "record", "run_id", "quarantined_at")
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
  source_table VARCHAR NOT NULL,
  source_stream VARCHAR,
  partition_date DATE NOT NULL,
  window_start DATE NOT NULL,
  window_end DATE NOT NULL,
  rule VARCHAR NOT NULL,
  column_name VARCHAR NOT NULL,
  value VARCHAR,
  record_key VARCHAR,
  record JSON NOT NULL,
  run_id VARCHAR,
  quarantined_at TIMESTAMP NOT NULL
)"""


class ThresholdError(ValueError):
    """The quarantine threshold setting is not a share between 0 and 1."""


def quarantine_threshold(setting: str = "") -> float:
    """The largest share of a window's records that may be quarantined, from the setting
    ``KPI_PIPELINE_QUARANTINE_THRESHOLD`` (e.g. ``0.01`` for 1 %; empty: 1 %). The caller
    passes the value in: this module never reads the environment."""
    raw = setting.strip()
    if not raw:
        return DEFAULT_THRESHOLD
    try:
        value = float(raw)
    except ValueError:
        raise ThresholdError(f"{THRESHOLD_ENV}={raw!r} is not a number (a share such as "
                             "0.01 for 1 %)") from None
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ThresholdError(f"{THRESHOLD_ENV}={raw!r} must be a share between 0 and 1")
    return value


def empty_rows() -> pd.DataFrame:
    """A typed, empty frame of quarantine rows (a copy: callers may fill it)."""
    return _empty_rows().copy()


@cache
def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "source_table": pd.Series(dtype="string"), "source_stream": pd.Series(dtype="string"),
        "partition_date": pd.Series(dtype="datetime64[ns]"),
        "window_start": pd.Series(dtype="datetime64[ns]"),
        "window_end": pd.Series(dtype="datetime64[ns]"),
        "rule": pd.Series(dtype="string"), "column_name": pd.Series(dtype="string"),
        "value": pd.Series(dtype="string"), "record_key": pd.Series(dtype="string"),
        "record": pd.Series(dtype="string"), "run_id": pd.Series(dtype="string"),
        "quarantined_at": pd.Series(dtype="datetime64[ns]"),
    })


def quarantine_rows(table: str, key: tuple[str, ...], frame: pd.DataFrame,
                    failures: pd.DataFrame, *, start: date, end: date, run_id: str | None,
                    quarantined_at: datetime, records: pd.DataFrame | None = None,
                    partition_dates: pd.Series | None = None) -> pd.DataFrame:
    """Quarantine rows for the row-level ``failures`` (pandera's failure cases: column,
    check, failure_case, index) of ``frame``.

    ``records`` holds the rows as parsed, on the same index as ``frame`` (default:
    ``frame`` itself); it is what ``record`` keeps. ``partition_dates`` maps a row to the
    day of the landing file it came from; without it the row's own report_date is used
    (it is inside the window once the date rule has run).
    """
    if failures.empty:
        return empty_rows()
    records = frame if records is None else records
    out = []
    for case in failures.itertuples(index=False):
        row = frame.loc[case.index]
        record = records.loc[case.index] if case.index in records.index else row
        column = case.column if isinstance(case.column, str) else "(row)"
        value = _text(row[column]) if column in frame.columns else None
        if partition_dates is not None and case.index in partition_dates.index:
            day = partition_dates.loc[case.index]
        else:
            day = row.get("report_date")
        if day is None or pd.isna(day):
            day = start
        stream = row.get("source_stream")
        out.append({
            "source_table": table,
            "source_stream": None if stream is None or pd.isna(stream) else str(stream),
            "partition_date": pd.Timestamp(day).normalize(),
            "window_start": pd.Timestamp(start), "window_end": pd.Timestamp(end),
            "rule": str(case.check), "column_name": column, "value": value,
            "record_key": ", ".join(f"{k}={_text(row[k])}" for k in key if k in frame.columns),
            "record": record_json(record), "run_id": run_id,
            "quarantined_at": pd.Timestamp(quarantined_at).tz_localize(None)
            if pd.Timestamp(quarantined_at).tzinfo else pd.Timestamp(quarantined_at),
        })
    return pd.concat([empty_rows(), pd.DataFrame(out)], ignore_index=True).astype(
        empty_rows().dtypes.to_dict())


def record_json(row: pd.Series) -> str:
    """A row as JSON: dates as ISO text, NULL/NaN as null, other values as themselves."""
    return json.dumps({str(k): _json_value(v) for k, v in row.items()}, ensure_ascii=False,
                      allow_nan=False)


def _json_value(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None if math.isnan(value) else str(value)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, date | datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item())
    return value


def _text(value: object) -> str | None:
    """A cell as text for the ``value`` column (NULL stays NULL)."""
    plain = _json_value(value)
    return None if plain is None else str(plain)


def exists(conn: duckdb.DuckDBPyConnection) -> bool:
    return bool(conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
        [SCHEMA, "quarantine"]).fetchone()[0])


def replace_quarantine(conn: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame,
                       start: date, end: date) -> int:
    """Replace the quarantine rows of ``table`` for partitions [start, end] with ``rows``.

    Runs inside the caller's transaction (the one replacing the table's window). The
    schema and table are created on the first row to quarantine, so a store that never
    rejected anything holds only its normalized tables.
    """
    if rows.empty and not exists(conn):
        return 0
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(DDL)
    conn.execute(f"DELETE FROM {TABLE} WHERE source_table = ? AND partition_date BETWEEN ? "
                 "AND ?", [table, start, end])
    if not rows.empty:
        conn.register("quarantine_rows", rows.loc[:, list(COLUMNS)])
        conn.execute(f"INSERT INTO {TABLE} SELECT * FROM quarantine_rows")
        conn.unregister("quarantine_rows")
    return len(rows)


def quarantined_records(conn: duckdb.DuckDBPyConnection, table: str, start: date,
                        end: date) -> pd.DataFrame:
    """The distinct quarantined records of ``table`` for partitions [start, end], one row
    per record (a record breaking two rules counts once), parsed from their JSON."""
    if not exists(conn):
        return pd.DataFrame()
    texts = conn.execute(
        f"SELECT DISTINCT partition_date, record FROM {TABLE} WHERE source_table = ? "
        "AND partition_date BETWEEN ? AND ? ORDER BY ALL", [table, start, end]).fetchall()
    return pd.DataFrame([json.loads(text) for _, text in texts])
