"""Shared boundary rules for the payload parsers: numbers, dates and clear errors.

Platforms send numbers as JSON numbers, as strings ("4696"), as percent strings, and
durations in milliseconds. Everything is converted once, here, and anything that cannot
be converted raises a ``ParseError`` naming the stream, partition, account, field and
value, instead of becoming a silent NaN or zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi_pipeline.lib.landing import Envelope

# No platform reports a count near this (a quadrillion views); past it a value is garbage
# and would also overflow the store's 64-bit integers.
MAX_COUNT = 10**15


class ParseError(ValueError):
    """A payload does not have the shape or values the platform documents."""


def where(envelope: Envelope, account: dict[str, Any] | None = None) -> str:
    """Human-readable location of a payload: stream, partition and account."""
    text = f"{envelope.get('stream')} partition {envelope.get('partition')}"
    if account is not None:
        text += f" account {account.get('account_id')}"
    return text


def iter_bodies(envelope: Envelope) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (account entry, request record) for every successful request in an envelope."""
    for account in envelope.get("accounts", []):
        for request in account.get("requests", []):
            if request.get("status", 200) != 200:
                raise ParseError(f"{where(envelope, account)}: request {request.get('path')} "
                                 f"answered HTTP {request.get('status')}")
            yield account, request


def number(value: Any, *, field: str, context: str, allow_negative: bool = False) -> float | None:
    """A platform number (JSON number or numeric string) as float; None stays None.

    Rejects thousands separators, NaN, infinity, booleans and negatives (unless the
    platform can legitimately report them), naming the field and the value.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ParseError(f"{context}: field {field!r} is a boolean ({value!r}), expected a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if "," in text:
            raise ParseError(f"{context}: field {field!r} value {value!r} has a thousands "
                             "separator or decimal comma; the API sends plain numbers")
        try:
            result = float(text)
        except ValueError:
            raise ParseError(
                f"{context}: field {field!r} value {value!r} is not a number") from None
    else:
        raise ParseError(f"{context}: field {field!r} is a {type(value).__name__} ({value!r}), "
                         "expected a number")
    if math.isnan(result) or math.isinf(result):
        raise ParseError(f"{context}: field {field!r} value {value!r} is not a finite number")
    if result < 0 and not allow_negative:
        raise ParseError(f"{context}: field {field!r} value {value!r} is negative, which this "
                         "platform cannot report")
    return result


def integer(value: Any, *, field: str, context: str, allow_negative: bool = False) -> int | None:
    """A platform count as int (rejects fractions like 12.5)."""
    result = number(value, field=field, context=context, allow_negative=allow_negative)
    if result is None:
        return None
    if not result.is_integer():
        raise ParseError(f"{context}: field {field!r} value {value!r} is not a whole count")
    if abs(result) > MAX_COUNT:
        raise ParseError(f"{context}: field {field!r} value {value!r} is beyond any count a "
                         f"platform reports (more than {MAX_COUNT:.0e})")
    return int(result)


def millis_to_seconds(value: Any, *, field: str, context: str) -> float | None:
    """Durations the API sends in milliseconds, as seconds."""
    result = number(value, field=field, context=context)
    return None if result is None else result / 1000.0


def percent_to_ratio(value: Any, *, field: str, context: str) -> float | None:
    """Percent values ("1.09" meaning 1.09 %) as a ratio (0.0109)."""
    result = number(value, field=field, context=context)
    return None if result is None else result / 100.0


def graph_end_time_to_report_date(end_time: str, tz: str, *, context: str) -> date:
    """Graph API ``end_time`` marks the END of the reported day in the page's time zone.

    "2024-06-28T07:00:00+0000" for a US-Pacific page is local midnight starting 28 June,
    so the value belongs to 27 June: the local date of (end_time - 1 second).
    """
    try:
        instant = datetime.strptime(end_time, "%Y-%m-%dT%H:%M:%S%z")
    except (TypeError, ValueError):
        raise ParseError(f"{context}: end_time {end_time!r} is not a Graph timestamp") from None
    return (instant - timedelta(seconds=1)).astimezone(ZoneInfo(tz)).date()


def utc_timestamp(text: Any, *, field: str, context: str) -> datetime:
    """An ISO-8601 or Graph-style timestamp as a naive UTC datetime."""
    if not isinstance(text, str):
        raise ParseError(f"{context}: field {field!r} value {text!r} is not a timestamp")
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text.replace("Z", "+0000"), fmt).astimezone(
                UTC).replace(tzinfo=None)
        except ValueError:
            continue
    raise ParseError(f"{context}: field {field!r} value {text!r} is not an ISO-8601 timestamp")


def envelope_meta(envelope: Envelope) -> dict[str, Any]:
    """The columns every normalized row carries from its envelope."""
    pulled = utc_timestamp(envelope["pulled_at"], field="pulled_at", context=where(envelope))
    return {"source_stream": envelope["stream"], "api_version": envelope["api_version"],
            "pulled_at": pulled}


def require(mapping: Any, key: str, *, context: str) -> Any:
    """A required field of a payload object, or a ParseError naming it."""
    if not isinstance(mapping, dict) or key not in mapping:
        raise ParseError(f"{context}: required field {key!r} is missing")
    return mapping[key]
