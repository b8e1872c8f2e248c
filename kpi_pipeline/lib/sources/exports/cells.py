"""Cell values of export files: counts, decimals, durations, percents, dates.

The rules, the same for every format (and the same spirit as ``lib/core/values.py``):

- An **empty cell is missing** (NULL), never zero.
- A **count** is a whole number: ``1234``, or ``1,234`` with *strict* thousands groups
  (1-3 digits, then groups of exactly three). The analytics screens write such groups in
  exports opened and saved in a spreadsheet, and for a count they are unambiguous: a
  decimal comma cannot occur in a whole number, so ``1,234`` is one thousand two hundred
  and thirty-four whatever the locale, while ``1,5``, ``1.234``, ``12.5``, ``1.2K``, a
  negative value or text fails naming the file, line and column. (The API parsers refuse
  every separator: the APIs never send one.) Counts above ``MAX_COUNT`` fail as garbage.
- A **decimal** (money, seconds) is plain ``123.45``: a comma in one is ambiguous
  (thousands or decimal separator) and fails.
- Nothing is rounded, clipped or replaced by a default.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from kpi_pipeline.lib.core.values import MAX_COUNT
from kpi_pipeline.lib.sources.exports.reading import ExportError

_PLAIN = re.compile(r"^\d+$")
_WHOLE_FLOAT = re.compile(r"^\d+\.0+$")
_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_ABBREVIATED = re.compile(r"^-?\d+(\.\d+)?\s*[kKmMbB]$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)$")


class Where:
    """The place of one cell, for error messages: file, line and the file's column name."""

    __slots__ = ("column", "file", "line")

    def __init__(self, file: str, line: int, column: str) -> None:
        self.file, self.line, self.column = file, line, column

    def error(self, message: str) -> ExportError:
        return ExportError(self.file, message, line=self.line, column=self.column)


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def count(text: str | None, where: Where) -> int | None:
    """A whole, non-negative count (see the module docstring); empty -> None."""
    if _blank(text):
        return None
    value = text.strip()
    if _PLAIN.match(value) or _WHOLE_FLOAT.match(value):
        result = int(value.split(".")[0])
    elif _GROUPED.match(value):
        result = int(value.replace(",", ""))
    elif value.startswith("-") and _DECIMAL.match(value):
        raise where.error(f"value {text!r} is negative; a count cannot be")
    elif _ABBREVIATED.match(value):
        raise where.error(f"value {text!r} is abbreviated; export the exact numbers (the "
                          "rounded 1.2K form cannot be read back)")
    elif _DECIMAL.match(value):
        raise where.error(f"value {text!r} is not a whole count")
    elif "," in value or "." in value:
        raise where.error(f"value {text!r} is not a count: thousands must be grouped by "
                          "commas in threes (1,234), and a count has no decimals")
    else:
        raise where.error(f"value {text!r} is not a number")
    if result > MAX_COUNT:
        raise where.error(f"value {text!r} is beyond any count a platform reports "
                          f"(more than {MAX_COUNT:.0e})")
    return result


def decimal(text: str | None, where: Where) -> float | None:
    """A non-negative plain decimal (money, seconds); empty -> None."""
    if _blank(text):
        return None
    value = text.strip()
    if not _DECIMAL.match(value):
        if "," in value:
            raise where.error(f"value {text!r} has a comma: thousands or decimal separator "
                              "cannot be told apart in a decimal; export plain numbers "
                              "(1234.5)")
        raise where.error(f"value {text!r} is not a number")
    result = float(value)
    if result < 0:
        raise where.error(f"value {text!r} is negative; this metric cannot be")
    if math.isinf(result) or math.isnan(result):  # pragma: no cover - the pattern refuses
        raise where.error(f"value {text!r} is not a finite number")
    return result


def seconds(text: str | None, where: Where) -> float | None:
    """A duration in seconds: ``83.5``, ``1:23`` or ``0:01:23``; empty -> None."""
    if _blank(text):
        return None
    clock = _CLOCK.match(text.strip())
    if clock:
        hours, minutes, secs = clock.groups()
        if int(minutes) >= 60 and hours is not None:
            raise where.error(f"value {text!r} is not a duration (minutes above 59)")
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    return decimal(text, where)


def ratio(text: str | None, where: Where) -> float | None:
    """A percent (``38%`` or ``38.5``, meaning 38.5 %) as a ratio 0..1; empty -> None."""
    if _blank(text):
        return None
    value = text.strip().removesuffix("%").strip()
    result = decimal(value, where)
    if result is not None and result > 100:
        raise where.error(f"value {text!r} is above 100 %")
    return None if result is None else result / 100.0


def integer_in(text: str | None, where: Where, low: int, high: int) -> int:
    """A required small integer code in [low, high] (a month, weekday, hour)."""
    if _blank(text):
        raise where.error(f"is empty; a number from {low} to {high} is required")
    value = text.strip()
    if not _PLAIN.match(value) or not low <= int(value) <= high:
        raise where.error(f"value {text!r} is not a number from {low} to {high}")
    return int(value)


def required_text(text: str | None, where: Where) -> str:
    """A required identifier or code, surrounding spaces removed."""
    if _blank(text):
        raise where.error("is empty; a value is required")
    return text.strip()


def local_datetime(text: str | None, where: Where, formats: tuple[str, ...]) -> datetime:
    """A required local date-time in one of ``formats`` (strptime patterns, tried in order)."""
    if _blank(text):
        raise where.error("is empty; a date is required")
    value = " ".join(text.split())
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    shown = ", ".join(_human(f) for f in formats)
    raise where.error(f"value {text!r} is not a date in the expected form ({shown})")


def _human(fmt: str) -> str:
    return (fmt.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD")
            .replace("%H", "HH").replace("%M", "MM").replace("%S", "SS")
            .replace("%B", "Month").replace("%b", "Mon"))


def to_utc(local: datetime, timezone: str) -> datetime:
    """A local wall-clock time in ``timezone`` as a naive UTC datetime. An ambiguous time
    (the repeated hour in autumn) is read as the first of the two; a time that does not
    exist (the skipped hour in spring) with the offset before the change (PEP 495)."""
    aware = local.replace(tzinfo=_zone(timezone), fold=0)
    return aware.astimezone(UTC).replace(tzinfo=None)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
