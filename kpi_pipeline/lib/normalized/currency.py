"""Dated exchange rates to one reporting currency, and the money conversion that uses them.

The ECB publishes rates per 1 EUR on business days; a weekend or holiday uses the last
fixing before it. Any pair is a cross rate through EUR:
``rate(currency -> reporting) = per_eur[reporting] / per_eur[currency]``.

Money is never converted with a guessed rate. A row whose currency IS the reporting
currency uses 1.0 because that is exact; any other row without a rate for its day raises
``MissingRateError`` naming the source, currency, days and rows, so the gap is fixed by
loading the rates, not hidden in a total.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.schemas import FX_DAILY

BASE_CURRENCY = "EUR"  # the ECB's base: every published rate is per 1 EUR
_MAX_LISTED_DATES = 10


class MissingRateError(ValueError):
    """Money could not be converted: no rate for some (day, currency)."""

    def __init__(self, source: str, reporting_currency: str,
                 missing: dict[str, list[date]], rows: int):
        self.source = source
        self.reporting_currency = reporting_currency
        self.missing = missing
        self.rows = rows
        parts = [f"{currency} on {_date_list(days)}" for currency, days in missing.items()]
        super().__init__(
            f"{source}: no exchange rate to {reporting_currency} for {'; '.join(parts)} "
            f"({rows} row(s) affected). Load the fx_rates partitions for these days and "
            "re-run; a missing rate is an error, never a silent 1.0."
        )


def _date_list(days: list[date]) -> str:
    shown = ", ".join(d.isoformat() for d in days[:_MAX_LISTED_DATES])
    more = len(days) - _MAX_LISTED_DATES
    return shown + (f" and {more} more day(s)" if more > 0 else "")


def _day_key(values: pd.Series) -> pd.Series:
    """Dates as midnight timestamps, so date objects and datetime64 columns join alike."""
    return pd.to_datetime(values).dt.normalize().astype("datetime64[ns]")


def _missing_by_currency(dates: pd.Series, currencies: pd.Series) -> dict[str, list[date]]:
    """{currency: sorted unique days} for the rows that lack a rate."""
    frame = pd.DataFrame({"day": dates.dt.date, "currency": currencies.fillna("<NULL>")})
    return {str(cur): sorted(days.unique()) for cur, days in frame.groupby("currency")["day"]}


# ------------------------------------------------------------------------ fx_daily
def _with_base(parsed: pd.DataFrame) -> pd.DataFrame:
    """Add EUR = 1.0 per day: Frankfurter leaves its base out of ``rates``."""
    is_base = parsed["currency"] == BASE_CURRENCY
    if (parsed.loc[is_base, "rate_per_eur"] != 1.0).any():
        raise ValueError(f"fx_rates: {BASE_CURRENCY} per {BASE_CURRENCY} must be 1.0")
    days_with_base = set(parsed.loc[is_base, "report_date"])
    base = parsed.drop_duplicates("report_date")
    base = base[~base["report_date"].isin(days_with_base)].assign(
        currency=BASE_CURRENCY, rate_per_eur=1.0)
    return pd.concat([parsed, base], ignore_index=True)


def fx_daily_frame(parsed: pd.DataFrame, reporting_currency: str) -> pd.DataFrame:
    """fx_daily rows: units of ``reporting_currency`` per 1 unit of each currency, per day.

    ``parsed`` is the fx_rates parser's frame (``parsers.fx_sql.FX_COLUMNS``: report_date,
    currency, rate_per_eur, fixing_date and the metadata columns). A day without a rate for
    the reporting currency itself cannot produce any cross rate and raises
    ``MissingRateError``.
    """
    rates = _with_base(parsed)
    rates = rates.assign(report_date=_day_key(rates["report_date"]))
    if rates.duplicated(["report_date", "currency"]).any():
        raise ValueError("fx_rates: more than one rate for the same day and currency")
    reporting = rates.loc[rates["currency"] == reporting_currency,
                          ["report_date", "rate_per_eur"]]
    out = rates.merge(reporting.rename(columns={"rate_per_eur": "reporting_per_eur"}),
                      on="report_date", how="left", validate="many_to_one")
    lacking = out["reporting_per_eur"].isna()
    if lacking.any():
        days = sorted(out.loc[lacking, "report_date"].dt.date.unique())
        source = str(parsed["source_stream"].iloc[0]) if "source_stream" in parsed else "fx_rates"
        raise MissingRateError(source, reporting_currency, {reporting_currency: days},
                               int(lacking.sum()))
    out["rate"] = out["reporting_per_eur"].astype("Float64") / out["rate_per_eur"].astype("Float64")
    out["reporting_currency"] = reporting_currency
    out = out.sort_values(["report_date", "currency"], ignore_index=True)
    return schemas.coerce_frame(FX_DAILY, out)


# ------------------------------------------------------------------------- convert
def _rate_lookup(fx: pd.DataFrame, reporting_currency: str) -> pd.Series:
    """fx_daily's rates to one reporting currency, indexed by (report_date, currency)."""
    sel = fx.loc[fx["reporting_currency"] == reporting_currency, ["report_date", "currency",
                                                                   "rate"]]
    index = pd.MultiIndex.from_arrays([_day_key(sel["report_date"]),
                                       sel["currency"].astype("string")])
    lookup = pd.Series(sel["rate"].astype("Float64").to_numpy(), index=index)
    if lookup.index.has_duplicates:
        raise ValueError(f"fx_daily holds more than one rate to {reporting_currency} for the "
                         "same day and currency")
    return lookup


def convert(df: pd.DataFrame, fx: pd.DataFrame, *, amount_cols: dict[str, str],
            currency_col: str, reporting_currency: str, source: str) -> pd.DataFrame:
    """Add ``reporting_currency``, ``fx_rate`` and the converted money columns.

    ``amount_cols`` maps an amount column to its converted name, e.g.
    ``{"spend": "spend_reporting"}``. Rates join on (report_date, row currency); a NULL
    amount stays NULL. Raises ``MissingRateError`` if any row lacks a rate.
    """
    dates = _day_key(df["report_date"])
    currencies = df[currency_col].astype("string")
    keys = pd.MultiIndex.from_arrays([dates, currencies])
    rates = _rate_lookup(fx, reporting_currency).reindex(keys).to_numpy(
        dtype="float64", na_value=np.nan)
    same = (currencies == reporting_currency).fillna(False).to_numpy(dtype=bool)
    rates[same] = 1.0  # exact: nothing to convert
    missing = np.isnan(rates)
    if missing.any():
        raise MissingRateError(source, reporting_currency,
                               _missing_by_currency(dates[missing], currencies[missing]),
                               int(missing.sum()))
    out = df.copy()
    out["reporting_currency"] = pd.Series(reporting_currency, index=df.index, dtype="string")
    out["fx_rate"] = pd.Series(rates, index=df.index, dtype="Float64")
    for amount, converted in amount_cols.items():
        out[converted] = df[amount].astype("Float64") * out["fx_rate"]
    return out
