"""What a normalized table derives after parsing, before it is validated.

Money in the reporting currency (ad spend and revenue, web revenue) through the stored
dated exchange rates, the exchange rates themselves reshaped into ``fx_daily``, and each
web session source's platform from the UTM mapping. Tables that convert money read
``fx_daily`` of the same window, so they depend on it (``RATE_TABLES``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import duckdb
import pandas as pd

from kpi_pipeline.lib.normalized import currency, utm
from kpi_pipeline.lib.normalized.store import read_window

# (conn, parsed frame, reporting currency, window start, window end) -> complete frame
Deriver = Callable[[duckdb.DuckDBPyConnection, pd.DataFrame, str, date, date], pd.DataFrame]


def _fx_daily(conn: duckdb.DuckDBPyConnection, parsed: pd.DataFrame, reporting: str,
              start: date, end: date) -> pd.DataFrame:
    return currency.fx_daily_frame(parsed, reporting)


def _with_reporting_money(amounts: dict[str, str], source: str) -> Deriver:
    """Convert money columns to the reporting currency with the stored dated rates."""

    def derive(conn: duckdb.DuckDBPyConnection, parsed: pd.DataFrame, reporting: str,
               start: date, end: date) -> pd.DataFrame:
        rates = read_window(conn, "fx_daily", start, end)
        return currency.convert(parsed, rates, amount_cols=amounts, currency_col="currency",
                                reporting_currency=reporting, source=source)

    return derive


def _web_daily(conn: duckdb.DuckDBPyConnection, parsed: pd.DataFrame, reporting: str,
               start: date, end: date) -> pd.DataFrame:
    money = _with_reporting_money({"revenue": "revenue_reporting"}, "ga4_sessions")
    return utm.resolve_platforms(money(conn, parsed, reporting, start, end))


DERIVERS: dict[str, Deriver] = {
    "fx_daily": _fx_daily,
    "ad_daily": _with_reporting_money({"spend": "spend_reporting",
                                       "revenue": "revenue_reporting"}, "ad platforms"),
    "web_daily": _web_daily,
}
#: The tables whose money is converted with the window's stored rates.
RATE_TABLES = {"ad_daily": ["fx_daily"], "web_daily": ["fx_daily"]}


def derived(table: str, conn: duckdb.DuckDBPyConnection, parsed: pd.DataFrame,
            reporting_currency: str, start: date, end: date) -> pd.DataFrame:
    """``parsed`` with what ``table`` derives (itself when it derives nothing)."""
    derive = DERIVERS.get(table)
    return derive(conn, parsed, reporting_currency, start, end) if derive else parsed
