"""The Meta metric catalogue: which Graph metric fills which column, and which names retired.

Meta renames insights metrics often (impressions -> views, page_fans -> page_follows) and one
retired name fails a whole insights request. The mapping lives in ``data/meta_metrics.yaml``
so that an old landing file still speaking a retired name lands in the right column, and a
new metric is one line of data. This module only loads and validates that file.
"""

from __future__ import annotations

from datetime import date
from functools import cache, cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.core.schemas import ACCOUNT_DAILY, AD_DAILY, MEDIA_TYPES, POST_DAILY
from kpi_pipeline.lib.core.yaml_files import load_yaml_file

#: Marketing API campaign insights fields (level=campaign, time_increment=1), asked by the
#: real client and the demo alike. ``objective`` is the campaign's objective, which decides
#: whether its spend counts as the cost of acquiring customers (``objectives.py``).
AD_FIELDS = ("campaign_id,campaign_name,objective,account_currency,date_start,date_stop,spend,"
             "impressions,reach,clicks,inline_link_clicks,actions,action_values")

#: The attribution windows the Marketing API counts conversions in (``action_attribution_windows``
#: of the insights edge; each ``actions[]`` entry then carries a count per window beside
#: ``value``, their sum). Asked explicitly on every request so that Meta's own default, or
#: an ad set's setting, never decides silently what a conversion is. The default is Meta's
#: standard setting: 7 days after a click or 1 day after a view.
ATTRIBUTION_WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view", "7d_view", "28d_view",
                       "1d_ev")
DEFAULT_ATTRIBUTION_WINDOWS = ("7d_click", "1d_view")
#: Windows Meta stopped serving, and from which day: on 2026-01-12 the Ads Insights API
#: stopped returning 7-day and 28-day view (developers.facebook.com, "Ads Insights API
#: Metric Availability Updates", 2025-10-16). A pull on or after that day drops them
#: before asking, so the rows say which windows their conversions were really counted in.
RETIRED_ATTRIBUTION_WINDOWS = {"7d_view": date(2026, 1, 12), "28d_view": date(2026, 1, 12)}


def parse_attribution_windows(text: str) -> tuple[str, ...]:
    """``"7d_click,1d_view"`` -> ``("7d_click", "1d_view")``: known windows, each once, in
    the order given; anything else is an error naming the accepted windows."""
    windows = tuple(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))
    unknown = [w for w in windows if w not in ATTRIBUTION_WINDOWS]
    if unknown or not windows:
        raise ValueError(f"Meta attribution windows {text!r}: expected a comma-separated list "
                         f"of {', '.join(ATTRIBUTION_WINDOWS)}")
    return windows


def served_attribution_windows(windows: tuple[str, ...], day: date) -> tuple[str, ...]:
    """The windows of ``windows`` Meta still serves on ``day`` (retired ones dropped)."""
    return tuple(w for w in windows
                 if not (w in RETIRED_ATTRIBUTION_WINDOWS
                         and day >= RETIRED_ATTRIBUTION_WINDOWS[w]))


GraphObject = Literal["page", "post", "ig_user", "ig_media"]
Unit = Literal["count", "milliseconds"]

# Which normalized table a metric of each Graph object fills.
OBJECT_COLUMNS = {
    "page": frozenset(ACCOUNT_DAILY.column_names),
    "ig_user": frozenset(ACCOUNT_DAILY.column_names),
    "post": frozenset(POST_DAILY.column_names),
    "ig_media": frozenset(POST_DAILY.column_names),
}


class MetricSpec(BaseModel):
    """One Graph metric: where its value goes and whether Meta still serves it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    object: GraphObject
    unit: Unit
    column: str | None = None
    by_period: dict[str, str] = Field(default_factory=dict)
    breakdown: dict[str, str] = Field(default_factory=dict)
    deprecated_after: date | None = None
    replacement: str | None = None
    note: str = ""

    @model_validator(mode="after")
    def _targets_are_columns(self) -> MetricSpec:
        targets = {self.column, *self.by_period.values(), *self.breakdown.values()} - {None}
        unknown = targets - OBJECT_COLUMNS[self.object]
        if unknown:
            raise ValueError(f"metric {self.name!r} ({self.object}) targets unknown column(s) "
                             f"{sorted(unknown)}")
        if not targets and not self.note:
            raise ValueError(f"metric {self.name!r} fills no column: say why in 'note'")
        return self

    def column_for(self, period: str | None) -> str | None:
        """The column a plain (non-object) value of this metric and period fills."""
        return self.by_period.get(period or "", self.column)

    def retired_on(self, day: date) -> bool:
        """True when Meta no longer serves this metric on ``day``."""
        return self.deprecated_after is not None and day >= self.deprecated_after


class MetricCatalog(BaseModel):
    """The whole catalogue, indexed by (object, metric name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: list[MetricSpec]
    ad_actions: dict[str, list[str]]
    ad_action_values: dict[str, list[str]]
    media_types: dict[str, dict[str, str]]

    @model_validator(mode="after")
    def _consistent(self) -> MetricCatalog:
        if len(self.index) != len(self.metrics):
            seen = [(m.object, m.name) for m in self.metrics]
            twice = sorted({key for key in seen if seen.count(key) > 1})
            raise ValueError(f"metrics listed twice: {twice}")
        for spec in self.metrics:
            if spec.replacement and (spec.object, spec.replacement) not in self.index:
                raise ValueError(f"metric {spec.name!r}: replacement {spec.replacement!r} is not "
                                 f"in the catalogue for {spec.object}")
        ad_columns = {*self.ad_actions, *self.ad_action_values} - set(AD_DAILY.column_names)
        if ad_columns:
            raise ValueError(f"ad action columns {sorted(ad_columns)} are not in ad_daily")
        kinds = {k for mapping in self.media_types.values() for k in mapping.values()}
        if kinds - set(MEDIA_TYPES):
            raise ValueError(f"media types {sorted(kinds - set(MEDIA_TYPES))} are not known")
        return self

    @cached_property
    def index(self) -> dict[tuple[str, str], tuple[int, MetricSpec]]:
        """(object, name) -> (rank, spec); the rank is the position in the file."""
        return {(m.object, m.name): (rank, m) for rank, m in enumerate(self.metrics)}

    def lookup(self, obj: str, name: str) -> tuple[int, MetricSpec] | None:
        """(rank, spec) of a metric; a lower rank wins when two metrics fill one column."""
        return self.index.get((obj, name))


@cache
def meta_catalog() -> MetricCatalog:
    """The validated catalogue, read once per process (lazily: no file reads at import)."""
    return MetricCatalog.model_validate(load_yaml_file(data_file("meta_metrics.yaml")))
