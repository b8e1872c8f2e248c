"""The one set of number formats every report page uses.

Each format takes a number (or None, shown as an en dash: no data is not zero) and
returns display text. Units of the KPI catalogue map to formats in ``for_unit`` so a
number is always shown the same way wherever it appears.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

EN_DASH = "\u2013"  # no data; also joins the days of a week
MINUS = "\u2212"  # a real minus sign, as wide as the plus
MISSING = EN_DASH
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def num0(value: float | None) -> str:
    """A count: thousands separators, no decimals (12,345)."""
    return MISSING if _missing(value) else f"{value:,.0f}"


def num1(value: float | None) -> str:
    """A small quantity with one decimal (2.4)."""
    return MISSING if _missing(value) else f"{value:,.1f}"


def pct1(value: float | None) -> str:
    """A ratio stored as a fraction, shown as a percentage with one decimal (0.0342 ->
    3.4 %); below 1 % with two (0.00249 -> 0.25 %), so a click rate is not "0.2 %"."""
    if _missing(value):
        return MISSING
    return f"{value * 100:,.2f} %" if 0 < abs(value) < 0.01 else f"{value * 100:,.1f} %"


def pct0(value: float | None) -> str:
    """A fraction as a whole percentage (0.87 -> 87 %)."""
    return MISSING if _missing(value) else f"{value * 100:,.0f} %"


def delta_pct(value: float | None) -> str:
    """A relative change with its sign (0.052 -> +5.2 %, -0.1 -> minus 10.0 %)."""
    if _missing(value):
        return MISSING
    sign = "+" if value > 0 else MINUS if value < 0 else "\u00b1"
    return f"{sign}{abs(value) * 100:,.1f} %"


def money(value: float | None, currency: str = "USD", decimals: int = 0) -> str:
    """Money in the reporting currency: a symbol where one is common, else the code."""
    if _missing(value):
        return MISSING
    symbol = CURRENCY_SYMBOLS.get(currency)
    sign = MINUS if value < 0 else ""
    amount = f"{abs(value):,.{decimals}f}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def usd0(value: float | None, currency: str = "USD") -> str:
    """Money without cents ($12,345), in the reporting currency."""
    return money(value, currency, 0)


def usd2(value: float | None, currency: str = "USD") -> str:
    """Money with cents ($3.27): unit costs such as cost per lead."""
    return money(value, currency, 2)


def times(value: float | None) -> str:
    """A multiple such as return on ad spend (1.6532 -> 1.65x)."""
    return MISSING if _missing(value) else f"{value:,.2f}\u00d7"


def seconds(value: float | None) -> str:
    """A duration in seconds (42.3 s), minutes past 90 s (2 min 5 s)."""
    if _missing(value):
        return MISSING
    if value < 90:
        return f"{value:,.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes:,} min {rest} s"


def for_unit(value: float | None, unit: str, currency: str = "USD") -> str:
    """Format a KPI value by its catalogue unit: count, ratio, multiple, currency or seconds.
    Money below 100 keeps its cents (a $3.27 cost per lead is not "$3")."""
    if unit == "ratio":
        return pct1(value)
    if unit == "multiple":
        return times(value)
    if unit == "currency":
        small = not _missing(value) and abs(value) < 100
        return usd2(value, currency) if small else usd0(value, currency)
    if unit == "seconds":
        return seconds(value)
    if unit == "count" and not _missing(value) and abs(value) < 10 and value != int(value):
        return num1(value)
    return num0(value)


def relative_change(value: float | None, reference: float | None) -> float | None:
    """(value - reference) / |reference|, None when either is missing or reference is 0."""
    if _missing(value) or _missing(reference) or reference == 0:
        return None
    return (value - reference) / abs(reference)


def tone(change: float | None, direction: str) -> str:
    """"good", "bad" or "flat" for a change, given which way the KPI is better.
    Changes within ±0.5 % are flat: noise, not news."""
    if _missing(change) or abs(change) < 0.005:
        return "flat"
    better = change > 0 if direction == "higher" else change < 0
    return "good" if better else "bad"


def period_label(start: date, grain: str) -> str:
    """"Week 47 2026 (16-22 Nov)" or "November 2026": the period a number belongs to."""
    if grain == "week":
        end = start + timedelta(days=6)
        year, week, _ = start.isocalendar()
        first = f"{start.day} {start:%b}" if start.month != end.month else f"{start.day}"
        return f"Week {week} {year} ({first}{EN_DASH}{end.day} {end:%b})"
    return f"{start:%B %Y}"


FILTERS = {
    "num0": num0, "num1": num1, "pct0": pct0, "pct1": pct1, "delta_pct": delta_pct,
    "usd0": usd0, "usd2": usd2, "times": times, "seconds": seconds, "for_unit": for_unit,
}
