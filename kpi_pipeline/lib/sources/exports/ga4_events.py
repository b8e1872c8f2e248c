"""GA4 BigQuery export files: find them, read them with DuckDB, and validate every record.

A property's export lands as ``analytics_<property_id>/events_YYYYMMDD.<ext>`` files
(newline-delimited JSON, optionally gzipped, or Parquet: what a BigQuery extract of the
daily ``events_YYYYMMDD`` table writes; the contract is ``lib/core/platforms/ga4_export``).
They are read by DuckDB (``read_json_objects`` / ``read_parquet``), never line by line in
Python: a property's year is millions of events.

The export folder is a local path or an ``fsspec`` URL (``file://``, ``s3://``,
``gs://``, ``memory://``...): a BigQuery extract usually lands in a bucket. Other
filesystems than the local one are listed through fsspec and registered with the DuckDB
connection (``register_filesystem``), so DuckDB reads them through fsspec; a local folder
is listed with ``pathlib`` and read by DuckDB directly, as before.

Every record is first turned into one typed row (``ga4_event_rows``, a temporary table),
keeping its file and record number, and checked against the export's rules. A file that
does not parse, or any record that breaks a rule, raises ``Ga4ExportError`` naming the
file, the record (its line: one record per line), the field and the rule, before any
table is written, so a bad file changes nothing stored.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import fsspec
from fsspec.implementations.local import LocalFileSystem

from kpi_pipeline.lib.core.platforms.ga4_export import (
    DATASET_PATTERN,
    FILE_PATTERN,
    SESSION_ID_PARAM,
    SESSION_NUMBER_PARAM,
)

MAX_ERRORS_LISTED = 20


@dataclass(frozen=True)
class ExportFile:
    """One export file: where it is, which property and day it holds, its format."""

    path: str  # a local path, or the file's URL on another fsspec filesystem
    property_id: str
    day: date
    file_format: str  # "json" or "parquet"

    @property
    def name(self) -> str:
        """The file's own name (``events_YYYYMMDD.json.gz``)."""
        return posixpath.basename(self.path)


class Ga4ExportError(ValueError):
    """Export files that cannot be read or break the export's rules; every problem is one
    line naming the file, the record, the field and the rule."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_ERRORS_LISTED]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + (f"\n... and {more} more" if more else "")
        super().__init__(f"GA4 export: {len(problems)} problem(s):\n{text}")


def local_folder(folder: str | Path) -> Path | None:
    """The folder as a local path (a plain path or a ``file://`` URL); None when it is
    on another filesystem (``s3://``, ``gs://``, ``memory://``...)."""
    text = str(folder)
    if "://" not in text:
        return Path(text)
    fs, root = fsspec.core.url_to_fs(text)
    return Path(root) if isinstance(fs, LocalFileSystem) else None


def export_folder_exists(folder: str | Path) -> bool:
    """Whether the export folder is there (a mistyped or unmounted one must change
    nothing stored)."""
    local = local_folder(folder)
    if local is not None:
        return local.is_dir()
    fs, root = fsspec.core.url_to_fs(str(folder))
    return bool(fs.isdir(root))


def _listing(folder: str | Path) -> Iterator[tuple[str, str]]:
    """(dataset folder name, file path or URL) of every file one level below the
    folder's subfolders, sorted; nothing when the folder is missing."""
    local = local_folder(folder)
    if local is not None:
        if not local.is_dir():
            return
        for dataset in sorted(p for p in local.iterdir() if p.is_dir()):
            for path in sorted(p for p in dataset.iterdir() if p.is_file()):
                yield dataset.name, str(path)
        return
    fs, root = fsspec.core.url_to_fs(str(folder))
    if not fs.isdir(root):
        return
    datasets = sorted(e["name"] for e in fs.ls(root, detail=True)
                      if e["type"] == "directory")
    for dataset in datasets:
        files = sorted(e["name"] for e in fs.ls(dataset, detail=True) if e["type"] == "file")
        for path in files:
            yield posixpath.basename(dataset.rstrip("/")), fs.unstrip_protocol(path)


def export_files(folder: str | Path, first: date | None = None,
                 last: date | None = None) -> list[ExportFile]:
    """The export files under ``folder`` (a local path or an fsspec URL; one
    ``analytics_<property>`` folder per property) whose day lies in ``first``..``last``
    (both inclusive, either open).

    Files whose name is not an export table's (``events_intraday_*``, notes, the
    staging folders of a writer) are not read: the intraday table is replaced by the
    daily one and would count its events twice.
    """
    found: list[ExportFile] = []
    for dataset, path in _listing(folder):
        match = DATASET_PATTERN.match(dataset)
        if not match:
            continue
        name = FILE_PATTERN.match(posixpath.basename(path))
        if name:
            try:
                day = datetime.strptime(name.group(1), "%Y%m%d").date()
            except ValueError:
                raise Ga4ExportError([f"{path}: the file name's day {name.group(1)!r} is not "
                                      "a date (rule: events_YYYYMMDD)"]) from None
            if (first and day < first) or (last and day > last):
                continue
            kind = "parquet" if name.group(2) == "parquet" else "json"
            found.append(ExportFile(path, match.group(1), day, kind))
    return found


def _register_filesystems(conn: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> None:
    """Let DuckDB read the files that are not local through their fsspec filesystem
    (once per protocol and connection)."""
    for path in sorted({f.path for f in files if local_folder(f.path) is None}):
        fs, _ = fsspec.core.url_to_fs(path)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if protocol not in conn.list_filesystems():
            conn.register_filesystem(fs)


# The record as the pipeline reads it: every scalar as text first, so a value of the wrong
# type is reported by the rules below instead of silently becoming NULL.
_RECORD_TYPE = """{
  "event_date": "VARCHAR", "event_timestamp": "VARCHAR", "event_name": "VARCHAR",
  "user_pseudo_id": "VARCHAR", "user_id": "VARCHAR",
  "event_params": [{"key": "VARCHAR", "value": {"string_value": "VARCHAR",
                    "int_value": "VARCHAR", "float_value": "VARCHAR",
                    "double_value": "VARCHAR"}}],
  "traffic_source": {"name": "VARCHAR", "medium": "VARCHAR", "source": "VARCHAR"},
  "session_traffic_source_last_click": {"manual_campaign": {
      "source": "VARCHAR", "medium": "VARCHAR", "campaign_name": "VARCHAR"}},
  "collected_traffic_source": {"manual_source": "VARCHAR", "manual_medium": "VARCHAR",
                               "manual_campaign_name": "VARCHAR"},
  "ecommerce": {"purchase_revenue": "VARCHAR", "transaction_id": "VARCHAR"}
}"""


def _param(name: str) -> str:
    """The SQL of one event parameter's value (as text, whatever its value type)."""
    return (f"(list_filter(r.event_params, lambda p: p.key = '{name}')[1]).value")


def _typed_sql(source_sql: str) -> str:
    """Records (``file``, ``record``, ``doc`` JSON) -> one row per event with text fields
    and their typed values (NULL where the text does not convert)."""
    session_id = _param(SESSION_ID_PARAM)
    session_number = _param(SESSION_NUMBER_PARAM)
    return f"""
    WITH src AS ({source_sql}),
    parsed AS (
        SELECT file, record, json_type(doc) AS doc_type,
               json_transform(doc, '{_RECORD_TYPE}') AS r
        FROM src
    )
    SELECT
        file, record, doc_type,
        r.event_date AS event_date_text,
        TRY_STRPTIME(r.event_date, '%Y%m%d')::DATE AS event_date,
        r.event_timestamp AS event_timestamp_text,
        TRY_CAST(r.event_timestamp AS BIGINT) AS event_timestamp,
        r.event_name, r.user_pseudo_id, NULLIF(r.user_id, '') AS user_id,
        r.event_params IS NOT NULL AS has_params,
        coalesce({session_id}.int_value, {session_id}.string_value) AS session_id_text,
        TRY_CAST(coalesce({session_id}.int_value, {session_id}.string_value) AS BIGINT)
            AS ga_session_id,
        TRY_CAST({session_number}.int_value AS BIGINT) AS ga_session_number,
        r.traffic_source.source AS first_source,
        r.traffic_source.medium AS first_medium,
        r.traffic_source.name AS first_campaign,
        r.session_traffic_source_last_click.manual_campaign.source AS session_source,
        r.session_traffic_source_last_click.manual_campaign.medium AS session_medium,
        r.session_traffic_source_last_click.manual_campaign.campaign_name AS session_campaign,
        r.collected_traffic_source.manual_source AS collected_source,
        r.collected_traffic_source.manual_medium AS collected_medium,
        r.collected_traffic_source.manual_campaign_name AS collected_campaign,
        r.ecommerce.purchase_revenue AS revenue_text,
        TRY_CAST(r.ecommerce.purchase_revenue AS DOUBLE) AS purchase_revenue,
        r.ecommerce.transaction_id AS transaction_id
    FROM parsed
    """


def _json_source(files: list[ExportFile]) -> str:
    paths = ", ".join("'" + f.path.replace("'", "''") + "'" for f in files)
    return f"""
        SELECT filename AS file,
               ordinality - min(ordinality) OVER (PARTITION BY filename) + 1 AS record,
               json AS doc
        FROM read_json_objects([{paths}], format = 'newline_delimited',
                               filename = true) WITH ORDINALITY"""


def _parquet_source(files: list[ExportFile]) -> str:
    paths = ", ".join("'" + f.path.replace("'", "''") + "'" for f in files)
    return f"""
        SELECT filename AS file,
               ordinality - min(ordinality) OVER (PARTITION BY filename) + 1 AS record,
               to_json(t)::JSON AS doc  -- filename and ordinality ride along, unread
        FROM (SELECT * FROM read_parquet([{paths}], filename = true, union_by_name = true)
              WITH ORDINALITY) t"""


# (field as the export spells it, rule, SQL that is TRUE for a record breaking it)
RULES: tuple[tuple[str, str, str], ...] = (
    ("(record)", "each line must be one JSON object", "doc_type <> 'OBJECT'"),
    ("event_date", "required, YYYYMMDD",
     "event_date_text IS NULL OR event_date IS NULL OR length(event_date_text) <> 8"),
    ("event_date", "must be the day of its file (events_YYYYMMDD)",
     "event_date IS NOT NULL AND event_date <> file_day"),
    ("event_timestamp", "required, an integer of microseconds since 1970 (UTC)",
     "event_timestamp IS NULL OR event_timestamp <= 0"),
    ("event_timestamp", "must fall within a day of event_date (the property's local day)",
     "event_timestamp IS NOT NULL AND event_date IS NOT NULL AND abs(datediff('day', "
     "event_date, make_timestamp(event_timestamp)::DATE)) > 1"),
    ("event_name", "required, not empty", "coalesce(event_name, '') = ''"),
    ("user_pseudo_id", "required, not empty", "coalesce(user_pseudo_id, '') = ''"),
    ("event_params", "required: the event's key/value parameters", "NOT has_params"),
    ("event_params.ga_session_id", "required, an integer: the session of the event",
     "has_params AND ga_session_id IS NULL"),
    ("ecommerce.purchase_revenue", "a number, not negative",
     "revenue_text IS NOT NULL AND (purchase_revenue IS NULL OR purchase_revenue < 0 "
     "OR isnan(purchase_revenue) OR isinf(purchase_revenue))"),
)

_DUCKDB_JSON_ERROR = re.compile(r'in file "(?P<file>[^"]+)", at byte \d+ in line (?P<line>\d+)'
                                r": (?P<reason>.*)")


def _value_sql(field: str) -> str:
    column = {"event_date": "event_date_text", "event_timestamp": "event_timestamp_text",
              "event_name": "event_name", "user_pseudo_id": "user_pseudo_id",
              "event_params.ga_session_id": "session_id_text",
              "ecommerce.purchase_revenue": "revenue_text"}.get(field)
    return f"CAST({column} AS VARCHAR)" if column else "NULL"


def read_events(conn: duckdb.DuckDBPyConnection, files: list[ExportFile],
                table: str = "ga4_event_rows") -> int:
    """Read ``files`` into the temporary table ``table`` (one typed row per event, with
    ``file``, ``record``, ``property_id`` and ``file_day``) and validate every record.

    Raises ``Ga4ExportError`` listing every problem (file, record, field, value, rule);
    returns the number of events read. Only a temporary table is written.
    """
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    _register_filesystems(conn, files)
    by_format = {kind: [f for f in files if f.file_format == kind]
                 for kind in ("json", "parquet")}
    parts = []
    for kind, chosen in by_format.items():
        if chosen:
            source = _json_source(chosen) if kind == "json" else _parquet_source(chosen)
            parts.append(_typed_sql(source))
    conn.execute("CREATE OR REPLACE TEMP TABLE ga4_export_files (file VARCHAR, "
                 "property_id VARCHAR, file_day DATE)")
    if files:
        conn.executemany("INSERT INTO ga4_export_files VALUES (?, ?, ?)",
                         [(f.path, f.property_id, f.day) for f in files])
    if not parts:
        conn.execute(f"CREATE TEMP TABLE {table} AS SELECT NULL::VARCHAR AS file, "
                     "NULL::BIGINT AS record WHERE false")
        return 0
    union = " UNION ALL ".join(f"({p})" for p in parts)
    try:
        conn.execute(f"CREATE TEMP TABLE {table} AS SELECT e.*, f.property_id, f.file_day "
                     f"FROM ({union}) e JOIN ga4_export_files f USING (file)")
    except duckdb.Error as exc:
        raise Ga4ExportError([_read_failure(exc)]) from exc
    problems = []
    for field, rule, broken in RULES:
        rows = conn.execute(
            f"SELECT file, record, {_value_sql(field)} FROM {table} WHERE {broken} "
            f"ORDER BY file, record LIMIT {MAX_ERRORS_LISTED}").fetchall()
        for file, record, value in rows:
            shown = "" if value is None else f" (value {value!r})"
            problems.append(f"{file}, line {record}, field {field}{shown}: {rule}")
    if problems:
        raise Ga4ExportError(problems)
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _read_failure(exc: duckdb.Error) -> str:
    """DuckDB's parse error as one problem line naming the file and line.

    DuckDB names the line where its parser gave up, which for a record cut short is the
    next one (JSON may continue over a newline); the failing file is read again, line by
    line, to name the record that does not parse. Only a failure pays for this."""
    text = str(exc)
    match = _DUCKDB_JSON_ERROR.search(text)
    if not match:
        return f"the export files could not be read: {text.strip()}"
    file, line, reason = match["file"], match["line"], match["reason"].strip()
    found = _first_bad_line(file)
    if found:
        line, reason = str(found[0]), found[1]
    return (f"{file}, line {line}, field (record): not valid JSON ({reason}) "
            "(rule: one JSON object per line)")


def _first_bad_line(path: str) -> tuple[int, str] | None:
    """The first line of ``path`` (a local path or URL, gzipped or not) that is not one
    JSON object."""
    try:
        with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except ValueError as exc:
                    return number, str(exc)
    except (OSError, UnicodeDecodeError) as exc:
        return 1, f"the file does not read: {exc}"
    return None
