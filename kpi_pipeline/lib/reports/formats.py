"""The one set of number formats every report page uses.

Each format takes a number (or None, shown as an en dash: no data is not zero) and
returns display text. A KPI's value is formatted by what it is, read from the catalogue
(``display_unit``): a bounded ratio is a share and reads as a percent (3.7 %); an
unbounded ratio is a percent when it is a growth rate and a plain number when it is an
average per something (2.56 pages per session); a multiple reads "3.10x". So a number
is shown the same way wherever it appears, and pages never pick a format by hand.

Changes follow the same split (``kpi_change``): a change of a share is a difference in
percentage points (3.7 % to 3.3 % is "-0.4 pp", not "-9.0 %"), anything else a relative
change in percent; a change that rounds to zero reads "0.0 %" or "±0 pp", never with a
minus; and a change whose reference rests on a handful of events (1 purchase to 0 is
"-100 %") reads "n/a (small base)", with the figure and the reason in its title.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from kpi_pipeline.lib.kpis.catalog import Kpi, formula_terms

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


def num2(value: float | None) -> str:
    """An average per something, such as pages per session (2.5612 -> 2.56)."""
    return MISSING if _missing(value) else f"{value:,.2f}"


def pct1(value: float | None) -> str:
    """A ratio stored as a fraction, shown as a percentage with one decimal (0.0342 ->
    3.4 %); below 1 % with two (0.00249 -> 0.25 %), so a click rate is not "0.2 %". A
    negative value (a shrinking list) carries a real minus sign."""
    if _missing(value):
        return MISSING
    digits = 2 if 0 < abs(value) < 0.01 else 1
    text = f"{abs(value) * 100:,.{digits}f}"
    sign = MINUS if value < 0 and float(text.replace(",", "")) != 0 else ""
    return f"{sign}{text} %"


def pct0(value: float | None) -> str:
    """A fraction as a whole percentage (0.87 -> 87 %)."""
    return MISSING if _missing(value) else f"{value * 100:,.0f} %"


def delta_pct(value: float | None) -> str:
    """A relative change with its sign (0.052 -> +5.2 %, -0.1 -> minus 10.0 %). A change
    that rounds to zero is "0.0 %": a sign on nothing suggests a move that is not there."""
    if _missing(value):
        return MISSING
    text = f"{abs(value) * 100:,.1f}"
    if float(text.replace(",", "")) == 0:
        return "0.0 %"
    return f"{'+' if value > 0 else MINUS}{text} %"


def delta_pp(value: float | None) -> str:
    """A difference of two shares in percentage points, given as a fraction (-0.004 ->
    minus 0.4 pp); below 0.1 pp with two decimals, so a click rate moving from 0.25 %
    to 0.22 % is "-0.03 pp"; one that rounds to zero is "±0 pp"."""
    if _missing(value):
        return MISSING
    points = abs(value) * 100
    text = f"{points:,.2f}" if round(points, 1) < 0.1 else f"{points:,.1f}"
    if float(text.replace(",", "")) == 0:
        return "\u00b10 pp"
    return f"{'+' if value > 0 else MINUS}{text} pp"


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


def display_unit(kpi: Kpi) -> str:
    """How a KPI's values read: "percent" for a share (a bounded ratio) or a growth rate
    (an unbounded ratio the catalogue says ``reads_as: percent``), "number" for an
    average per something (pages per session), else the catalogue unit (count,
    multiple, currency, seconds). The catalogue's "ratio" alone does not say it: pages
    per session is a ratio and 2.56 of them is not "256.0 %"."""
    if kpi.unit == "ratio":
        return "percent" if kpi.bounded or kpi.reads_as == "percent" else "number"
    return kpi.unit


def for_unit(value: float | None, unit: str, currency: str = "USD") -> str:
    """Format a value by a display unit: count, percent (also "ratio": a share given by
    hand, such as percent of target), number, multiple, currency or seconds. Money below
    100 keeps its cents (a $3.27 cost per lead is not "$3"). A KPI's value goes through
    ``kpi_value``, which picks the unit from the catalogue."""
    if unit in ("ratio", "percent"):
        return pct1(value)
    if unit == "number":
        return num2(value)
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


def kpi_value(value: float | None, kpi: Kpi, currency: str = "USD") -> str:
    """A KPI's value as every page shows it, by ``display_unit``."""
    return for_unit(value, display_unit(kpi), currency)


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


# A change is read against a reference that rests on enough events: below these, one
# order more or less swings it by tens of percent, and "-100 %" says nothing.
SMALL_BASE_EVENTS = 10  # sessions, clicks, purchases, followers ... in the reference period
SMALL_BASE_MONEY = 100.0  # spend or revenue in the reporting currency (about one order)
MONEY_MEASURES = frozenset({"spend", "revenue"})


@dataclass(frozen=True)
class Change:
    """A change as a page shows it: the text, its tone (good, bad, flat) and a title
    explaining the text when it is not the plain figure (a small base)."""

    text: str
    tone: str
    title: str = ""
    small_base: bool = False

    def __str__(self) -> str:
        return self.text


def _term_kind(expression: str) -> str | None:
    """What a numerator or denominator counts: "money", "events", or None when its size
    says nothing about how solid the value is (a net change of a level, which may be 0 or
    negative; a duration)."""
    terms = formula_terms(expression)
    if "-" in expression and any(t.endswith(("_start", "_end")) for t in terms):
        return None
    if MONEY_MEASURES & set(terms):
        return "money"
    if any("seconds" in t for t in terms):
        return None
    return "events"


def small_base(kpi: Kpi, numerator: float | None, denominator: float | None,
               currency: str = "USD") -> str | None:
    """Why a reference value is too thin to compare against, or None. Judged on the
    reference period's denominator (the base of a share), and for other KPIs on its
    numerator too (ROAS from a single purchase's revenue); counts of events below
    SMALL_BASE_EVENTS and money below SMALL_BASE_MONEY are a small base."""
    parts = [("denominator", kpi.denominator, denominator)] if kpi.denominator else []
    if not (kpi.unit == "ratio" and kpi.bounded):
        parts.insert(0, ("numerator", kpi.numerator, numerator))
    for _, expression, amount in parts:
        if expression is None or _missing(amount):
            continue
        kind = _term_kind(expression)
        limit = SMALL_BASE_EVENTS if kind == "events" else SMALL_BASE_MONEY
        if kind is not None and abs(amount) < limit:
            what = expression.replace("_", " ")
            if kind == "money":
                return f"it rests on only {money(amount, currency)} of {what}"
            return f"it rests on only {num0(amount)} {what}"
    return None


def kpi_change(value: float | None, reference: float | None, kpi: Kpi, label: str = "",
               base_numerator: float | None = None,
               base_denominator: float | None = None, currency: str = "USD") -> Change:
    """The change of a KPI against a reference value (last period, baseline, a year ago):
    percentage points for a share (bounded ratio) or growth rate, a relative change in
    percent otherwise. ``base_numerator`` and ``base_denominator`` are the reference's
    own, when known: a reference resting on a small base (``small_base``) gives
    "n/a (small base)", the figure moved into the title. ``label`` names the reference in
    that title ("last week")."""
    if display_unit(kpi) == "percent":
        diff = None if _missing(value) or _missing(reference) else value - reference
        text = delta_pp(diff)
        rel = relative_change(value, reference)
        flat = diff is None or text.startswith("\u00b1")
        mood = "flat" if flat else tone(rel if rel is not None else diff, kpi.direction)
    else:
        rel = relative_change(value, reference)
        text = delta_pct(rel)
        mood = "flat" if text == "0.0 %" else tone(rel, kpi.direction)
    reason = small_base(kpi, base_numerator, base_denominator, currency)
    if reason is not None and not _missing(reference):
        against = f" {label}" if label else ""
        return Change("n/a (small base)", "flat",
                      f"{text} against{against} ({kpi_value(reference, kpi, currency)}), "
                      f"but {reason}: too few for the change to mean much", small_base=True)
    return Change(text, mood)


def period_label(start: date, grain: str) -> str:
    """"Week 47 2026 (16-22 Nov)", "November 2026" or "Q4 2026 (Oct-Dec)": the period a
    number belongs to."""
    if grain == "week":
        end = start + timedelta(days=6)
        year, week, _ = start.isocalendar()
        first = f"{start.day} {start:%b}" if start.month != end.month else f"{start.day}"
        return f"Week {week} {year} ({first}{EN_DASH}{end.day} {end:%b})"
    if grain == "quarter":
        end = date(start.year, start.month + 2, 1)
        return f"Q{(start.month - 1) // 3 + 1} {start.year} ({start:%b}{EN_DASH}{end:%b})"
    return f"{start:%B %Y}"


FILTERS = {
    "num0": num0, "num1": num1, "num2": num2, "pct0": pct0, "pct1": pct1,
    "delta_pct": delta_pct, "delta_pp": delta_pp, "usd0": usd0, "usd2": usd2,
    "times": times, "seconds": seconds, "for_unit": for_unit, "kpi_value": kpi_value,
    "display_unit": display_unit,
}
