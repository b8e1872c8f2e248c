"""When a goal runs: a window the marketer writes, resolved to concrete dates.

Its own module because dates are the part of a goal that changes meaning with the day it
is read: ``relative`` windows (``this_quarter``, ``next_60_days``) follow the calendar
around a reference date, and a goal resolves its window once, at validation, so every
later reader sees the same dates.

Windows are inclusive date ranges, and lie between ``FIRST_DAY`` (2000-01-01) and
``LAST_DAY`` (2099-12-31): a window outside could never get a row, and a start, end,
``as_of`` or a number of days past them is a problem naming the goal and the field.
``next_N_days`` counts the reference day as day one (from 2025-05-14, ``next_60_days``
ends on 2025-07-12), as ``start`` + ``days`` does.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from typing import NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

NEXT_DAYS = re.compile(r"next_(\d+)_days")
# Every window lies within these days: the years the pipeline can hold data for (the
# platforms' exports and APIs start long after 2000). A window outside would never get a
# row, and a date past 9999 cannot even be computed.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
MAX_DAYS = (LAST_DAY - FIRST_DAY).days + 1
RELATIVE_WINDOWS = ("this_quarter", "next_quarter", "this_month", "next_month", "next_N_days")


class Period(NamedTuple):
    """A concrete window: first and last day, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _month(day: date) -> Period:
    last = calendar.monthrange(day.year, day.month)[1]
    return Period(day.replace(day=1), day.replace(day=last))


def _quarter(day: date) -> Period:
    first_month = 3 * ((day.month - 1) // 3) + 1
    return Period(date(day.year, first_month, 1), _month(date(day.year, first_month + 2, 1)).end)


def resolve_relative(name: str, reference: date) -> Period:
    """A relative window on the calendar around ``reference``.

    Calendar months and quarters, because marketers review by month and quarter;
    ``next_N_days`` starts on the reference day itself (day one of N)."""
    if name == "this_month":
        return _month(reference)
    if name == "next_month":
        return _month(_month(reference).end + timedelta(days=1))
    if name == "this_quarter":
        return _quarter(reference)
    if name == "next_quarter":
        return _quarter(_quarter(reference).end + timedelta(days=1))
    match = NEXT_DAYS.fullmatch(name)
    if match and 1 <= int(match.group(1)) <= MAX_DAYS:
        return Period(reference, reference + timedelta(days=int(match.group(1)) - 1))
    raise ValueError(f"unknown relative window {name!r}: use one of "
                     f"{', '.join(RELATIVE_WINDOWS)} (1 <= N <= {MAX_DAYS})")


class Window(BaseModel):
    """When a goal runs: ``start`` + ``end``, ``start`` + ``days``, or ``relative``
    (+ ``as_of``). Resolved once, at validation, against ``as_of`` or the ``today`` of
    the validation context, so every later reader sees the same dates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date | None = None
    end: date | None = None
    days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    relative: str | None = None
    as_of: date | None = None
    _period: Period | None = PrivateAttr(default=None)

    @field_validator("start", "end", "as_of")
    @classmethod
    def _within_bounds(cls, value: date | None) -> date | None:
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise PydanticCustomError(
                "window_bounds", f"{value} is outside the days a goal may cover "
                f"({FIRST_DAY} to {LAST_DAY}): no data can fall in it")
        return value

    @field_validator("relative")
    @classmethod
    def _known_relative(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                resolve_relative(value, date(2000, 1, 1))
            except ValueError as exc:
                raise PydanticCustomError("relative_window", str(exc)) from None
        return value

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Window:
        given = tuple(name for name in ("start", "end", "days", "relative", "as_of")
                      if getattr(self, name) is not None)
        if given not in (("start", "end"), ("start", "days"), ("relative",),
                         ("relative", "as_of")):
            raise PydanticCustomError(
                "window_form", "a window is start and end, start and days, or relative "
                f"(with an optional as_of); got {', '.join(given) or 'nothing'}")
        if self.start and self.end and self.end < self.start:
            raise PydanticCustomError("end_before_start",
                                      f"end {self.end} is before start {self.start}")
        today = (info.context or {}).get("today")
        if self.relative and self.as_of is None and today is None:
            raise PydanticCustomError("no_reference_date", "a relative window without as_of "
                                      "needs the reference date (load_goals' today)")
        period = self.resolve(today)
        if not FIRST_DAY <= period.start <= period.end <= LAST_DAY:
            how = "start + days" if self.days else f"relative {self.relative}"
            raise PydanticCustomError(
                "window_bounds", f"the window {how} runs from {period.start} to {period.end},"
                f" outside the days a goal may cover ({FIRST_DAY} to {LAST_DAY})")
        self._period = period
        return self

    def resolve(self, today: date | None) -> Period:
        """The concrete, inclusive dates; ``today`` matters only to a relative window
        without ``as_of``."""
        if self.start and self.end:
            return Period(self.start, self.end)
        if self.start and self.days:
            if self.days > (date.max - self.start).days:  # only unvalidated windows get here
                raise ValueError(f"{self.days} days from {self.start} end after {date.max}")
            return Period(self.start, self.start + timedelta(days=self.days - 1))
        reference = self.as_of or today
        if self.relative is None or reference is None:
            raise ValueError("the window has no dates and no reference date to resolve")
        return resolve_relative(self.relative, reference)

    @property
    def period(self) -> Period:
        if self._period is None:
            raise ValueError("window not validated: use Window.model_validate or load_goals")
        return self._period

