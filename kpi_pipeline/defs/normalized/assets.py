"""Normalized layer: validated, daily-partitioned DuckDB tables built from landing files.

Each asset reads the landing envelopes of its streams for the partition window, parses
them, adds what the table derives (reporting-currency money, UTM platforms), validates
every row with pandera BEFORE anything is written, then replaces the window in one
transaction. A row that fails validation fails the asset with a message naming the
source, partition, column, rule and example rows, and the table keeps what it had.
"""


from collections.abc import Callable
from datetime import date

import dagster as dg
import duckdb
import pandas as pd

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.partitions import daily_partitions, window_bounds, window_days
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib import fx, utm
from kpi_pipeline.lib.landing import read_envelope
from kpi_pipeline.lib.parsers import parse_window
from kpi_pipeline.lib.schemas import TABLES, Table, coerce_frame, validate, validate_dates
from kpi_pipeline.lib.store import ensure_tables, read_window, replace_window
from kpi_pipeline.lib.streams import Stream, streams_for_table

PREVIEW_ROWS = 10

# What a table adds after parsing: (conn, parsed frame, settings, window) -> full frame.
Enricher = Callable[[duckdb.DuckDBPyConnection, pd.DataFrame, Settings, date, date], pd.DataFrame]


def parsed_streams(streams: tuple[Stream, ...], settings: Settings,
                   days: list[date]) -> pd.DataFrame:
    """Every landing file of ``streams`` for ``days``, parsed and stacked."""
    root = settings.landing_root()
    frames = [parse_window(s.name, (read_envelope(root, s.name, day) for day in days))
              for s in streams]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _fx_daily(conn, parsed, settings, start, end) -> pd.DataFrame:
    return fx.fx_daily_frame(parsed, settings.reporting_currency)


def _with_reporting_money(amounts: dict[str, str], source: str) -> Enricher:
    """Convert money columns to the reporting currency with the stored dated rates."""

    def enrich(conn, parsed, settings, start, end) -> pd.DataFrame:
        rates = read_window(conn, "fx_daily", start, end)
        return fx.convert(parsed, rates, amount_cols=amounts, currency_col="currency",
                          reporting_currency=settings.reporting_currency, source=source)

    return enrich


def _web_daily(conn, parsed, settings, start, end) -> pd.DataFrame:
    money = _with_reporting_money({"revenue": "revenue_reporting"}, "ga4_sessions")
    return utm.resolve_platforms(money(conn, parsed, settings, start, end))


ENRICHERS: dict[str, Enricher] = {
    "fx_daily": _fx_daily,
    "ad_daily": _with_reporting_money({"spend": "spend_reporting",
                                       "revenue": "revenue_reporting"}, "ad platforms"),
    "web_daily": _web_daily,
}
TABLE_DEPS = {"ad_daily": ["fx_daily"], "web_daily": ["fx_daily"]}


def materialization_metadata(table: Table, frame: pd.DataFrame, start: date,
                             end: date) -> dict[str, object]:
    """Row count, window, per-platform counts and a preview for the Dagster UI."""
    meta: dict[str, object] = {
        "dagster/row_count": len(frame),
        "partition_window": f"{start}..{end}",
        "table": f"normalized.{table.name}",
        "primary_key": ", ".join(table.key),
        "preview": dg.MetadataValue.md(
            frame.head(PREVIEW_ROWS).astype("string").to_markdown(index=False)
            if len(frame) else "(no rows)"),
    }
    if "platform" in frame.columns and len(frame):
        counts = frame["platform"].fillna("(none)").value_counts().sort_index()
        meta["rows_by_platform"] = dg.MetadataValue.json(
            {str(k): int(v) for k, v in counts.items()})
    return meta


def build_table(table: Table, parsed: pd.DataFrame, conn: duckdb.DuckDBPyConnection,
                settings: Settings, start: date, end: date) -> pd.DataFrame:
    """Enrich, type and validate one window of ``table``; raises before any write."""
    streams = streams_for_table(table.name)
    if parsed.empty:
        return coerce_frame(table, pd.DataFrame(columns=table.column_names))
    source = ", ".join(s.name for s in streams)
    validate_dates(table, parsed, source=source, start=start, end=end)
    enrich = ENRICHERS.get(table.name)
    frame = enrich(conn, parsed, settings, start, end) if enrich else parsed
    frame = coerce_frame(table, frame)
    return validate(table, frame, source=source, start=start, end=end)


def normalized_asset(table: Table) -> dg.AssetsDefinition:
    """The validated DuckDB table ``normalized.<table>`` fed by its streams."""
    streams = streams_for_table(table.name)
    deps = [dg.AssetKey(["raw", s.name]) for s in streams]
    deps += [dg.AssetKey(["normalized", name]) for name in TABLE_DEPS.get(table.name, [])]

    @dg.asset(
        **DUCKDB_WRITER,
        key=["normalized", table.name],
        description=(f"{table.description}\n\nGrain and primary key: "
                     f"({', '.join(table.key)}). Built from: "
                     f"{', '.join(s.name for s in streams)}."),
        deps=deps,
        partitions_def=daily_partitions,
        group_name="normalized",
        kinds={"duckdb", "pandas"},
        code_version="1",
        metadata={"dagster/table_name": f"normalized.{table.name}",
                  "dagster/column_schema": dg.TableSchema(columns=[
                      dg.TableColumn(c.name, c.kind, description=c.description or None)
                      for c in table.columns])},
    )
    def _normalized(context: dg.AssetExecutionContext, warehouse: Warehouse,
                    settings: Settings) -> dg.MaterializeResult:
        days = window_days(context.partition_time_window)
        start, end = window_bounds(context.partition_time_window)
        failure_meta = {"partition_window": f"{start}..{end}"}
        try:
            # Parsing needs no database: do it before taking the single writer's lock.
            parsed = parsed_streams(streams, settings, days)
        except ValueError as exc:
            raise dg.Failure(description=str(exc), metadata=failure_meta) from exc
        with warehouse.get_connection() as conn:
            ensure_tables(conn)
            try:
                frame = build_table(table, parsed, conn, settings, start, end)
            except ValueError as exc:
                raise dg.Failure(description=str(exc), metadata=failure_meta) from exc
            written = replace_window(conn, table, frame, start, end)
        context.log.info(f"normalized.{table.name}: wrote {written} row(s) for {start}..{end}")
        return dg.MaterializeResult(metadata=materialization_metadata(table, frame, start, end))

    return _normalized


normalized_assets = [normalized_asset(table) for table in TABLES.values()]
