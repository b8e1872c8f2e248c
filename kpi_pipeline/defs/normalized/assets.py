"""Normalized layer: validated, daily-partitioned DuckDB tables built from landing files.

Each asset reads the landing envelopes of its streams for the partition window, parses
them, adds what the table derives (reporting-currency money, UTM platforms), validates
every row with pandera BEFORE anything is written, then replaces the window in one
transaction.

Rows breaking a row-level rule (negative count, non-finite number, unknown code, NULL
key, date outside the window) are quarantined in ``quality.quarantine`` in that same
transaction while the valid rows are written, as long as they are at most the
quarantine threshold's share of the window (``lib/quality/quarantine.py``). Above it, or
on a table-level failure (missing column, wrong type, duplicate key, unreadable payload),
the asset fails with a message naming the source, partition, column, rule and example
rows, and every table keeps what it had. The checks returned with each materialization
are described in ``checks.py``.
"""


from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg
import duckdb
import pandas as pd

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.normalized.checks import (
    check_specs,
    dates_in_partition_result,
    schema_valid_result,
    unique_key_result,
    volume_in_band_result,
)
from kpi_pipeline.defs.partitions import daily_partitions, window_bounds, window_days
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib import fx, utm
from kpi_pipeline.lib.landing import read_envelope
from kpi_pipeline.lib.parsers import parse_window
from kpi_pipeline.lib.quality.quarantine import (
    THRESHOLD_ENV,
    empty_rows,
    quarantine_rows,
    quarantine_threshold,
)
from kpi_pipeline.lib.schemas import (
    TABLES,
    Table,
    coerce_frame,
    describe_failures,
    screen,
    validate,
)
from kpi_pipeline.lib.store import ensure_tables, read_window, replace_window
from kpi_pipeline.lib.streams import Stream, streams_for_table

PREVIEW_ROWS = 10

# What a table adds after parsing: (conn, parsed frame, settings, window) -> full frame.
Enricher = Callable[[duckdb.DuckDBPyConnection, pd.DataFrame, Settings, date, date], pd.DataFrame]


def parsed_window(streams: tuple[Stream, ...], settings: Settings,
                  days: list[date]) -> tuple[pd.DataFrame, pd.Series]:
    """Every landing file of ``streams`` for ``days``, parsed and stacked, with the day of
    the landing file each row came from (on the same index)."""
    root = settings.landing_root()
    frames, landing_days = [], []
    for stream in streams:
        for day in days:
            frame = parse_window(stream.name, [read_envelope(root, stream.name, day)])
            if not frame.empty:
                frames.append(frame)
                landing_days.append(pd.Series(pd.Timestamp(day), index=frame.index))
    if not frames:
        return pd.DataFrame(), pd.Series(dtype="datetime64[ns]")
    return (pd.concat(frames, ignore_index=True),
            pd.concat(landing_days, ignore_index=True).astype("datetime64[ns]"))


def parsed_streams(streams: tuple[Stream, ...], settings: Settings,
                   days: list[date]) -> pd.DataFrame:
    """Every landing file of ``streams`` for ``days``, parsed and stacked."""
    return parsed_window(streams, settings, days)[0]


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


@dataclass(frozen=True)
class Built:
    """One window of a table, ready to write: the valid rows, the quarantine rows of the
    rejected ones, how many records were considered and rejected, and the rejected
    rows described (source, partition, column, rule, example rows)."""

    frame: pd.DataFrame
    quarantine: pd.DataFrame
    considered: int
    rejected: int
    rejections: str = ""

    @property
    def share(self) -> float:
        return self.rejected / self.considered if self.considered else 0.0

    def rules(self) -> dict[str, int]:
        """Quarantined records per "column: rule"."""
        counts = (self.quarantine.groupby(["column_name", "rule"]).size()
                  if len(self.quarantine) else pd.Series(dtype=int))
        return {f"{c}: {r}": int(n) for (c, r), n in counts.items()}


def build_table(table: Table, parsed: pd.DataFrame, conn: duckdb.DuckDBPyConnection,
                settings: Settings, start: date, end: date, *,
                landing_days: pd.Series | None = None, run_id: str | None = None,
                now: datetime | None = None) -> Built:
    """Enrich, type and screen one window of ``table``; raises before any write on a
    table-level failure. Rows breaking a row-level rule come back as quarantine rows."""
    streams = streams_for_table(table.name)
    if parsed.empty:
        return Built(coerce_frame(table, pd.DataFrame(columns=table.column_names)),
                     empty_rows(), 0, 0)
    source = ", ".join(s.name for s in streams)
    now = now or datetime.now(UTC)
    # Dates first: an out-of-window row would otherwise surface as a confusing
    # missing-rate error while deriving.
    dated = screen(table, parsed, source=source, start=start, end=end, only=("report_date",))
    enrich = ENRICHERS.get(table.name)
    frame = enrich(conn, dated.valid, settings, start, end) if enrich else dated.valid
    frame = coerce_frame(table, frame)
    checked = screen(table, frame, source=source, start=start, end=end)
    valid = validate(table, checked.valid, source=source, start=start, end=end)
    # The quarantine keeps each record as parsed (fx rows are reshaped: keep the table row).
    records = frame if table.name == "fx_daily" else parsed
    common = {"start": start, "end": end, "run_id": run_id, "quarantined_at": now}
    quarantine = pd.concat([
        quarantine_rows(table.name, table.key, parsed, dated.failures, records=parsed,
                        partition_dates=landing_days, **common),
        quarantine_rows(table.name, table.key, frame, checked.failures, records=records,
                        **common),
    ], ignore_index=True)
    rejected = len(dated.rejected_index) + len(checked.rejected_index)
    rejections = "\n".join(
        describe_failures(table, df, screened.failures, source=source, start=start, end=end,
                          outcome="")
        for df, screened in ((parsed, dated), (frame, checked)) if len(screened.failures))
    return Built(valid, quarantine, len(dated.rejected_index) + len(frame), rejected,
                 rejections)


def normalized_asset(table: Table) -> dg.AssetsDefinition:
    """The validated DuckDB table ``normalized.<table>`` fed by its streams."""
    streams = streams_for_table(table.name)
    stream_names = tuple(s.name for s in streams)
    deps = [dg.AssetKey(["raw", s.name]) for s in streams]
    deps += [dg.AssetKey(["normalized", name]) for name in TABLE_DEPS.get(table.name, [])]

    @dg.asset(
        **DUCKDB_WRITER,
        key=["normalized", table.name],
        check_specs=check_specs(dg.AssetKey(["normalized", table.name])),
        description=(f"{table.description}\n\nGrain and primary key: "
                     f"({', '.join(table.key)}). Built from: "
                     f"{', '.join(s.name for s in streams)}."),
        deps=deps,
        partitions_def=daily_partitions,
        group_name="normalized",
        kinds={"duckdb", "pandas"},
        code_version="4",  # 4: post_daily stores daily increments
        metadata={"dagster/table_name": f"normalized.{table.name}",
                  "dagster/column_schema": dg.TableSchema(columns=[
                      dg.TableColumn(c.name, c.kind, description=c.description or None)
                      for c in table.columns])},
    )
    def _normalized(context: dg.AssetExecutionContext, warehouse: Warehouse,
                    settings: Settings) -> dg.MaterializeResult:
        days = window_days(context.partition_time_window)
        start, end = window_bounds(context.partition_time_window)
        failure_meta: dict[str, object] = {"partition_window": f"{start}..{end}"}
        try:
            threshold = quarantine_threshold()
            # Parsing needs no database: do it before taking the single writer's lock.
            parsed, landing_days = parsed_window(streams, settings, days)
        except ValueError as exc:
            raise dg.Failure(description=str(exc), metadata=failure_meta) from exc
        with warehouse.get_connection() as conn:
            ensure_tables(conn)
            try:
                built = build_table(table, parsed, conn, settings, start, end,
                                    landing_days=landing_days, run_id=context.run_id)
            except ValueError as exc:
                raise dg.Failure(description=str(exc), metadata=failure_meta) from exc
            quality = {"rows_considered": built.considered, "rows_quarantined": built.rejected,
                       "rejected_share": built.share, "quarantine_threshold": threshold}
            if built.share > threshold:
                raise dg.Failure(
                    description=(f"{built.rejected} of {built.considered} row(s) "
                                 f"({built.share:.2%}) broke a row rule: more than the "
                                 f"quarantine threshold {threshold:.2%} ({THRESHOLD_ENV}); "
                                 f"nothing was written.\n{built.rejections}"),
                    metadata={**failure_meta, **quality,
                              "decision": "failed: rejected share above the threshold",
                              "quarantined_by_rule": dg.MetadataValue.json(built.rules())})
            # Only this table's streams: the export folder's rows stay (defs/exports.py).
            written = replace_window(conn, table, built.frame, start, end,
                                     quarantine=built.quarantine, sources=stream_names)
            checks = [
                schema_valid_result(considered=built.considered, quarantined=built.rejected,
                                    threshold=threshold, rules=built.rules()),
                unique_key_result(conn, table, start, end),
                dates_in_partition_result(built.frame, start, end),
                volume_in_band_result(conn, table, start, end, sources=stream_names),
            ]
        if built.rejected:
            context.log.warning(f"normalized.{table.name} {start}..{end}: quarantined "
                                f"{built.rejected} row(s)\n{built.rejections}")
        context.log.info(f"normalized.{table.name}: wrote {written} row(s) for {start}..{end}")
        decision = "quarantined" if built.rejected else "all rows valid"
        return dg.MaterializeResult(
            metadata={**materialization_metadata(table, built.frame, start, end), **quality,
                      "decision": decision,
                      "quarantined_by_rule": dg.MetadataValue.json(built.rules())},
            check_results=checks)

    return _normalized


normalized_assets = [normalized_asset(table) for table in TABLES.values()]
