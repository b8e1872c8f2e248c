"""Payload parsers: one per stream, turning landing envelopes into normalized rows.

Every stream is parsed inside DuckDB: every landing file of a window is read once by
``read_json`` (``envelopes.load_landing``) and turned into the table's parser columns by
the stream's SQL (``meta_sql``, ``linkedin_sql``, ``tiktok_sql``, ``ga4_sql``, ``fx_sql``,
``email_sql``). ``parse_files`` is that path and leaves the rows in a temporary table, so
the normalized asset checks and types them without reading a file twice.

``parse`` and ``parse_window`` take envelopes already in memory (tests, the API clients'
tests) and return a typed pandas frame; for SQL streams they write the envelopes as
landing files in a temporary folder and take the same path.

The registry is assembled on first use, so importing one parser module does not import
the others. A module's ``KEPT_TABLES`` are temporary tables it builds once per connection
(the Meta metric catalogue) and that stay across the chunks of a window.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import cache

import duckdb
import pandas as pd

from kpi_pipeline.lib.core.landing import Envelope, LandingFile, landing_path, write_envelope
from kpi_pipeline.lib.core.schemas import PANDAS_DTYPES, TABLES, coerce_frame
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME

SqlParser = Callable[[duckdb.DuckDBPyConnection, str], str]

# DuckDB threads while landing files are read and parsed. A landing file is a few KB and a
# chunk's statements are short, so a second thread adds coordination and buffers, not speed:
# one thread parsed a year of landing files with about two thirds of the CPU and no more
# wall time than two (benchmarks/RESULTS.md).
PARSE_THREADS = 1


@cache
def _modules() -> tuple:
    """The parser modules (imported on first use)."""
    from kpi_pipeline.lib.normalized.parsing import (
        email_sql,
        fx_sql,
        ga4_sql,
        linkedin_sql,
        meta_sql,
        tiktok_sql,
    )

    return meta_sql, linkedin_sql, tiktok_sql, ga4_sql, fx_sql, email_sql


@cache
def sql_parsers() -> dict[str, SqlParser]:
    """Every stream's SQL parser, keyed by stream name."""
    return {stream: parser for module in _modules() for stream, parser in module.PARSERS.items()}


@cache
def _kept_tables() -> frozenset[str]:
    return frozenset(t for module in _modules() for t in getattr(module, "KEPT_TABLES", ()))


def parse_files(conn: duckdb.DuckDBPyConnection, stream: str,
                files: Sequence[tuple[LandingFile, date]], *, check_files: bool = True) -> str:
    """Parse the landing ``files`` ((path or URL, day) pairs) of a SQL stream into a temporary
    table of its table's parser columns; returns the table's name. Raises ``ParseError``
    (or ``LandingError``) naming the stream, partition, account, field and value."""
    from kpi_pipeline.lib.normalized.parsing.envelopes import load_landing

    before = _temporary_tables(conn)
    load_landing(conn, stream, files, check_files=check_files)
    name = sql_parsers()[stream](conn, stream)
    # What the parse made on the way (the bodies as read, their unnested values...) goes,
    # so a window read chunk by chunk holds one chunk's parse at a time; the rows, the
    # accounts and files the row checks read, and the catalogues stay.
    conn.execute("DROP VIEW IF EXISTS request_context")
    keep = before | {name, "landing_accounts", "landing_files"} | _kept_tables()
    for table in _temporary_tables(conn) - keep:
        conn.execute(f"DROP TABLE {table}")
    return name


@contextmanager
def parse_threads(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block with ``PARSE_THREADS`` DuckDB threads, then restore the setting
    (``threads`` is the database's, shared by its connections in this process)."""
    (before,) = conn.execute("SELECT current_setting('threads')").fetchone()
    conn.execute(f"SET threads = {PARSE_THREADS}")
    try:
        yield
    finally:
        conn.execute(f"SET threads = {int(before)}")


def _temporary_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {t for (t,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}


def parse_untyped(envelope: Envelope) -> pd.DataFrame:
    """One envelope through its stream's parser, values not necessarily typed."""
    stream = envelope.get("stream")
    if stream not in sql_parsers():
        raise ValueError(f"no parser for stream {stream!r}")
    return _parse_sql(stream, [envelope])


def typed_parse(stream: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A stream's parsed rows typed to its table's parser columns (pandas dtypes); fx_rates
    rows, an intermediate shape, to ``fx_sql.FX_COLUMNS``."""
    if stream == "fx_rates":
        from kpi_pipeline.lib.normalized.parsing.fx_sql import FX_COLUMNS

        return frame.astype({c: PANDAS_DTYPES[k] for c, k in FX_COLUMNS.items()})
    table = TABLES.get(STREAMS_BY_NAME[stream].table)
    if table is None:
        return frame
    return coerce_frame(table, frame, table.parsed_columns)


def _parse_sql(stream: str, envelopes: Sequence[Envelope]) -> pd.DataFrame:
    """Envelopes in memory through the SQL path: written as landing files, then parsed."""
    with tempfile.TemporaryDirectory(prefix="kpi-parse-") as root:
        files = []
        for envelope in envelopes:
            day = date.fromisoformat(envelope["partition"])
            path = landing_path(root, stream, day)
            if path.exists():  # two envelopes of one day: parse them one file at a time
                return pd.concat([_parse_sql(stream, [e]) for e in envelopes],
                                 ignore_index=True)
            write_envelope(root, envelope)
            files.append((path, day))
        with duckdb.connect() as conn:
            name = parse_files(conn, stream, files, check_files=False)
            return conn.execute(f"SELECT * EXCLUDE (landing_day) FROM {name}").df()


def parse(envelope: Envelope) -> pd.DataFrame:
    """One envelope parsed and typed to its table's parser columns."""
    return typed_parse(envelope["stream"], parse_untyped(envelope))


def parse_window(stream: str, envelopes: Iterable[Envelope]) -> pd.DataFrame:
    """Every envelope of one stream for a window, stacked and typed once."""
    envelopes = list(envelopes)
    frame = _parse_sql(stream, envelopes) if envelopes else pd.DataFrame()
    return typed_parse(stream, frame) if not frame.empty else pd.DataFrame()
