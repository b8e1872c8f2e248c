"""``reconciles_with_raw``: each normalized table against the landing files it came from.

For a partition window, the landing files of the table's streams are parsed again with
the same parsers, and the totals of a few additive columns (and the record count) are
compared with the table's totals for the window plus the totals of the window's
quarantined records. A difference means rows were lost, duplicated or altered between
the source and the table. Blocking: reports do not run on a table that disagrees with
its sources. Reads DuckDB read-only, in the "duckdb" pool like every DuckDB step.
"""


import math

import dagster as dg
import pandas as pd

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.normalized.assets import parsed_window
from kpi_pipeline.defs.normalized.checks import DESCRIPTIONS, RECONCILES_WITH_RAW
from kpi_pipeline.defs.partitions import daily_partitions, window_bounds, window_days
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib import fx
from kpi_pipeline.lib.quality.quarantine import quarantined_records
from kpi_pipeline.lib.schemas import TABLES, Table
from kpi_pipeline.lib.store import window_totals
from kpi_pipeline.lib.streams import streams_for_table

# Additive columns compared per table (snapshot columns such as followers are summed over
# the window's rows: not a KPI, but any lost or altered row changes the sum).
RECONCILED_COLUMNS: dict[str, tuple[str, ...]] = {
    "post_daily": ("views", "likes", "comments", "shares"),
    "account_daily": ("followers", "follower_gains", "impressions"),
    "ad_daily": ("spend", "impressions", "clicks"),
    "web_daily": ("sessions", "orders", "revenue"),
    "email_daily": ("subscribes", "unsubscribes", "emails_sent"),
    "fx_daily": ("rate",),
}
REL_TOLERANCE = 1e-9  # money and rates are floats: equal up to rounding


def landing_totals(table: Table, parsed: pd.DataFrame, settings: Settings,
                   columns: tuple[str, ...]) -> dict[str, float]:
    """Record count and column sums of what the landing files carried (fx reshaped the
    same way the asset does, to rates in the reporting currency)."""
    if parsed.empty:
        return dict.fromkeys(("rows", *columns), 0.0)
    frame = (fx.fx_daily_frame(parsed, settings.reporting_currency)
             if table.name == "fx_daily" else parsed)
    return {"rows": float(len(frame)),
            **{c: float(pd.to_numeric(frame[c], errors="coerce").sum()) for c in columns}}


def _quarantined_totals(records: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, float]:
    if records.empty:
        return dict.fromkeys(("rows", *columns), 0.0)
    return {"rows": float(len(records)),
            **{c: float(pd.to_numeric(records[c], errors="coerce").sum())
               if c in records.columns else 0.0 for c in columns}}


def run_window(context: dg.AssetCheckExecutionContext) -> dg.TimeWindow:
    """The daily window of the run's partition (range), also when the check runs alone
    (a check-only run has partition tags but no partitions definition)."""
    keys = context.partition_key_range
    return dg.TimeWindow(daily_partitions.time_window_for_partition_key(keys.start).start,
                         daily_partitions.time_window_for_partition_key(keys.end).end)


def reconciliation_check(table: Table) -> dg.AssetChecksDefinition:
    """The landing files' totals of ``table`` equal the table's plus the quarantine's."""
    columns = RECONCILED_COLUMNS[table.name]
    streams = streams_for_table(table.name)

    @dg.asset_check(
        asset=dg.AssetKey(["normalized", table.name]),
        name=RECONCILES_WITH_RAW,
        description=f"{DESCRIPTIONS[RECONCILES_WITH_RAW]} Compared: record count, "
                    f"{', '.join(columns)}.",
        blocking=True,
        pool=DUCKDB_WRITER["pool"],
    )
    def _reconciles(context: dg.AssetCheckExecutionContext, warehouse: Warehouse,
                    settings: Settings) -> dg.AssetCheckResult:
        if not (context.has_partition_key or context.has_partition_key_range):
            raise dg.Failure(f"{RECONCILES_WITH_RAW} on normalized.{table.name} compares one "
                             "partition window: run it with a partition or a range.")
        window = run_window(context)
        days = window_days(window)
        start, end = window_bounds(window)
        parsed, _ = parsed_window(streams, settings, days)
        raw = landing_totals(table, parsed, settings, columns)
        with warehouse.get_connection(read_only=True) as conn:
            # The streams' rows only: rows loaded from the export folder have no landing file.
            stored = window_totals(conn, table.name, columns, start, end,
                                   sources=tuple(s.name for s in streams))
            held = _quarantined_totals(quarantined_records(conn, table.name, start, end),
                                       columns)
        rows, mismatched = [], []
        for name in ("rows", *columns):
            accounted = stored[name] + held[name]
            same = math.isclose(raw[name], accounted, rel_tol=REL_TOLERANCE, abs_tol=1e-6)
            if not same:
                mismatched.append(name)
            rows.append({"column": name, "landing": raw[name], "table": stored[name],
                         "quarantine": held[name], "difference": raw[name] - accounted})
        table_md = pd.DataFrame(rows).to_markdown(index=False)
        return dg.AssetCheckResult(
            passed=not mismatched,
            description=None if not mismatched else (
                f"normalized.{table.name} {start}..{end} disagrees with its landing files "
                f"on: {', '.join(mismatched)}"),
            metadata={
                "partition_window": f"{start}..{end}",
                "mismatched_columns": dg.MetadataValue.json(mismatched),
                "totals": dg.MetadataValue.md(table_md),
                **{f"landing_{r['column']}": r["landing"] for r in rows},
                **{f"table_{r['column']}": r["table"] for r in rows},
                **{f"quarantine_{r['column']}": r["quarantine"] for r in rows},
            })

    return _reconciles


reconciliation_checks = [reconciliation_check(table) for table in TABLES.values()]
