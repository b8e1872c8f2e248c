"""``reconciles_with_raw``: each normalized table against the landing files it came from.

The normalized asset adds up a few additive columns (and the record count) of the rows it
parsed from the window's landing files, as it parses them; after the write it compares
them with the table's totals for the window plus the totals of the window's quarantined
records. A difference means rows were lost, duplicated or altered between the landing
files and the table (enrichment, screening, the quarantine split, the write). Nothing is
read twice: the landing side is what the asset itself read. Blocking: reports do not run
on a table that disagrees with its sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import dagster as dg
import duckdb
import pandas as pd

from kpi_pipeline.defs.normalized.checks import RECONCILES_WITH_RAW
from kpi_pipeline.defs.resources import Settings
from kpi_pipeline.lib.core.schemas import Table
from kpi_pipeline.lib.normalized import currency
from kpi_pipeline.lib.normalized.quarantine import quarantined_records
from kpi_pipeline.lib.normalized.store import window_totals

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


@dataclass(frozen=True)
class Totals:
    """Record count (``rows``) and column sums."""

    values: dict[str, float]

    def __add__(self, other: Totals) -> Totals:
        return Totals({k: v + other.values.get(k, 0.0) for k, v in self.values.items()})

    @classmethod
    def zero(cls, columns: tuple[str, ...]) -> Totals:
        return cls(dict.fromkeys(("rows", *columns), 0.0))

    @classmethod
    def of_parsed(cls, table: Table, parsed: pd.DataFrame, settings: Settings,
                  columns: tuple[str, ...]) -> Totals:
        """What the landing files carried (fx reshaped the way the asset reshapes it, to
        rates in the reporting currency)."""
        if parsed.empty:
            return cls.zero(columns)
        frame = (currency.fx_daily_frame(parsed, settings.reporting_currency)
                 if table.name == "fx_daily" else parsed)
        return cls({"rows": float(len(frame)),
                    **{c: float(pd.to_numeric(frame[c], errors="coerce").sum())
                       for c in columns}})

    @classmethod
    def of_records(cls, records: pd.DataFrame, columns: tuple[str, ...]) -> Totals:
        if records.empty:
            return cls.zero(columns)
        return cls({"rows": float(len(records)),
                    **{c: float(pd.to_numeric(records[c], errors="coerce").sum())
                       if c in records.columns else 0.0 for c in columns}})


def reconciliation_result(conn: duckdb.DuckDBPyConnection, table: Table,
                          landing: Totals | None, start: date, end: date, *,
                          sources: tuple[str, ...]) -> dg.AssetCheckResult:
    """The landing totals against the stored window (this table's streams only: rows
    loaded from the export folder have no landing file) plus its quarantine."""
    columns = RECONCILED_COLUMNS[table.name]
    raw = (landing or Totals.zero(columns)).values
    stored = window_totals(conn, table.name, columns, start, end, sources=sources)
    held = Totals.of_records(quarantined_records(conn, table.name, start, end),
                             columns).values
    rows, mismatched = [], []
    for name in ("rows", *columns):
        accounted = stored[name] + held[name]
        if not math.isclose(raw[name], accounted, rel_tol=REL_TOLERANCE, abs_tol=1e-6):
            mismatched.append(name)
        rows.append({"column": name, "landing": raw[name], "table": stored[name],
                     "quarantine": held[name], "difference": raw[name] - accounted})
    return dg.AssetCheckResult(
        check_name=RECONCILES_WITH_RAW,
        passed=not mismatched,
        description=None if not mismatched else (
            f"normalized.{table.name} {start}..{end} disagrees with its landing files on: "
            f"{', '.join(mismatched)}"),
        metadata={
            "partition_window": f"{start}..{end}",
            "mismatched_columns": dg.MetadataValue.json(mismatched),
            "totals": dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False)),
            **{f"landing_{r['column']}": r["landing"] for r in rows},
            **{f"table_{r['column']}": r["table"] for r in rows},
            **{f"quarantine_{r['column']}": r["quarantine"] for r in rows},
        })
