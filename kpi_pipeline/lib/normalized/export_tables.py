"""Export rows made into complete normalized tables.

The drop folder (``lib.sources.exports.folder``) reads, types and validates each file's
rows. What the rows still lack is normalization: web_daily money in the reporting
currency (the asset passes the exchange rates it read from the store) and each session
source's platform from the UTM mapping. ``finish`` adds them and validates the complete
rows, naming the file and line of any that fail.
"""

from __future__ import annotations

import pandas as pd

from kpi_pipeline.lib.core.schemas import TABLES, coerce_frame
from kpi_pipeline.lib.normalized import currency, utm
from kpi_pipeline.lib.sources.exports.folder import (
    EXPORT_TABLES,
    ExportsFailed,
    FolderRead,
    describe_stacked,
    schema_failures,
)
from kpi_pipeline.lib.sources.exports.reading import ExportError


def finish(read: FolderRead, fx_rates: pd.DataFrame, reporting_currency: str
           ) -> dict[str, pd.DataFrame]:
    """Complete, validated frames of every export table (web_daily with its UTM platform
    and reporting-currency money), in the tables' column order."""
    out: dict[str, pd.DataFrame] = {}
    errors: list[ExportError] = []
    for name in EXPORT_TABLES:
        table = TABLES[name]
        frame = read.frames.get(name)
        if frame is None:
            frame = coerce_frame(table, pd.DataFrame(columns=table.column_names))
        if name == "web_daily":
            frame = coerce_frame(table, _web_complete(read, frame, fx_rates,
                                                      reporting_currency))
            # The other tables were validated whole, file by file, in read_folder; web
            # rows only now have their UTM platform and reporting-currency money.
            failures = schema_failures(table, frame, None) if len(frame) else None
            if failures is not None:
                errors += describe_stacked(table, frame, failures, read.origins[name], {})
        else:
            frame = coerce_frame(table, frame)
        out[name] = frame
    if errors:
        raise ExportsFailed(read.folder, errors)
    return out


def _web_complete(read: FolderRead, frame: pd.DataFrame, fx_rates: pd.DataFrame,
                  reporting_currency: str) -> pd.DataFrame:
    if frame.empty:
        return frame
    files = ", ".join(sorted(set(read.origins["web_daily"]["file"])))
    try:
        money = currency.convert(frame, fx_rates, amount_cols={"revenue": "revenue_reporting"},
                                 currency_col="currency", reporting_currency=reporting_currency,
                                 source=f"export files {files}")
    except currency.MissingRateError as exc:
        raise ExportsFailed(read.folder, [ExportError(files, str(exc))]) from None
    return utm.resolve_platforms(money)
