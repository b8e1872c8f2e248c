"""Which GA4 sessions came from social media, and from which platform.

GA4 knows traffic only by ``sessionSource`` / ``sessionMedium`` (UTM tags or the
referrer). The spellings marketers and platforms use (``ig``, ``lnkd.in``,
``l.facebook.com``, ``paid_social``, ``social media``) keep growing, so the mapping is
data (``kpi_pipeline/data/utm_sources.yaml``), validated on load, and this module only
applies it. Adding a spelling is a one-line YAML change with no code review of logic.

Social traffic is recognised the way GA4's default channel grouping does: besides the
tracked platforms' spellings, every source on Google's list of social sources
(``kpi_pipeline/data/ga4_social_sources.csv``, several hundred sites) is social, so a
referral from ``t.co`` or ``pinterest.com`` counts in the all and brand totals (with no
platform) instead of disappearing from social traffic.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from kpi_pipeline.lib.core.accounts import SOCIAL_PLATFORMS
from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.core.yaml_files import load_yaml_file

DEFAULT_MAPPING_PATH = data_file("utm_sources.yaml")


def normalize(value: str) -> str:
    """The form sources and mediums are compared in: trimmed, lower-case."""
    return value.strip().lower()


def _normalized_list(values: list[str]) -> list[str]:
    out = [normalize(v) for v in values]
    if any(not v for v in out):
        raise ValueError("empty spelling")
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate spelling in {values}")
    return out


class PlatformSources(BaseModel):
    """The ``sessionSource`` spellings of one platform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[str]

    @field_validator("sources")
    @classmethod
    def _normalize(cls, values: list[str]) -> list[str]:
        return _normalized_list(values)


class UtmMapping(BaseModel):
    """The whole mapping file. Unknown keys are rejected so a typo cannot be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    platforms: dict[str, PlatformSources]
    other_social_sources: frozenset[str] = frozenset()
    social_mediums: list[str]
    paid_social_mediums: list[str]
    paid_mediums_on_platform_source: list[str]

    @field_validator("social_mediums", "paid_social_mediums", "paid_mediums_on_platform_source")
    @classmethod
    def _mediums(cls, values: list[str]) -> list[str]:
        return _normalized_list(values)

    @field_validator("other_social_sources", mode="before")
    @classmethod
    def _sources(cls, values: object) -> frozenset[str]:
        if isinstance(values, (list, tuple, set, frozenset)):
            out = {normalize(str(v)) for v in values}
            if "" in out:
                raise ValueError("empty spelling in other_social_sources")
            return frozenset(out)
        return values  # pydantic reports the wrong type

    @field_validator("platforms")
    @classmethod
    def _known_platforms(cls, platforms: dict[str, PlatformSources]
                         ) -> dict[str, PlatformSources]:
        unknown = sorted(set(platforms) - set(SOCIAL_PLATFORMS))
        if unknown:
            raise ValueError(f"unknown platform(s) {unknown}; expected {SOCIAL_PLATFORMS}")
        return platforms

    @model_validator(mode="after")
    def _unambiguous(self) -> UtmMapping:
        seen: dict[str, str] = {}
        for platform, spec in self.platforms.items():
            for source in spec.sources:
                if source in seen:
                    raise ValueError(f"source {source!r} listed under both {seen[source]} and "
                                     f"{platform}")
                seen[source] = platform
        lists = {"social_mediums": self.social_mediums,
                 "paid_social_mediums": self.paid_social_mediums,
                 "paid_mediums_on_platform_source": self.paid_mediums_on_platform_source}
        names = list(lists)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                both = sorted(set(lists[a]) & set(lists[b]))
                if both:
                    raise ValueError(f"medium(s) {both} listed in both {a} and {b}")
        return self

    def source_platforms(self) -> dict[str, str]:
        """{normalized source: platform}."""
        return {s: p for p, spec in self.platforms.items() for s in spec.sources}

    def social_sources(self) -> frozenset[str]:
        """Every source that is social traffic: the platforms' spellings and the others."""
        return frozenset(self.source_platforms()) | self.other_social_sources

    def known_mediums(self) -> frozenset[str]:
        """Every medium the mapping names (social, paid social, paid on a social source)."""
        return frozenset([*self.social_mediums, *self.paid_social_mediums,
                          *self.paid_mediums_on_platform_source])


def read_source_list(path: Path | str) -> frozenset[str]:
    """The ``source`` column of a one-column CSV whose ``#`` lines are comments (the
    provenance header of Google's list), normalized."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if not line.lstrip().startswith("#")]
    rows = list(csv.DictReader(lines))
    if not rows or "source" not in rows[0]:
        raise ValueError(f"{path}: expected a CSV with a 'source' column")
    return frozenset(normalize(row["source"]) for row in rows if (row["source"] or "").strip())


def load_mapping(path: Path | str) -> UtmMapping:
    """Read and validate a mapping file; errors name the file and the offending key."""
    raw = load_yaml_file(path)
    if isinstance(raw, dict) and isinstance(raw.get("other_social_sources"), str):
        # a file name beside the mapping: Google's list is kept as a CSV, not in the YAML
        raw = {**raw, "other_social_sources":
               read_source_list(Path(path).parent / raw["other_social_sources"])}
    try:
        return UtmMapping.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: invalid UTM mapping: {exc}") from exc


@lru_cache(maxsize=1)
def default_mapping() -> UtmMapping:
    """The packaged mapping, read on first use (never at import time)."""
    return load_mapping(DEFAULT_MAPPING_PATH)


# Medium kinds as small integers, so the row-level logic is plain numpy comparisons.
_OTHER, _SOCIAL, _PAID_SOCIAL, _PAID_ON_PLATFORM = 0, 1, 2, 3


def _per_unique(values: pd.Series, lookup: dict[str, object], default: object,
                dtype: str | type) -> np.ndarray:
    """Map a column through ``lookup`` by its unique values only, then spread back.

    Normalizing and looking up a few dozen distinct spellings instead of every row keeps
    this a numpy take however large the frame.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = [lookup.get(normalize(str(u)), default) for u in uniques]
    return np.array([*mapped, default], dtype=dtype)[codes]  # code -1 (NULL) -> default


def _medium_kinds(mapping: UtmMapping) -> dict[str, object]:
    kinds: dict[str, object] = {m: _SOCIAL for m in mapping.social_mediums}
    kinds.update({m: _PAID_SOCIAL for m in mapping.paid_social_mediums})
    kinds.update({m: _PAID_ON_PLATFORM for m in mapping.paid_mediums_on_platform_source})
    return kinds


def resolve_platforms(df: pd.DataFrame, mapping: UtmMapping | None = None) -> pd.DataFrame:
    """Add ``platform`` (or NULL), ``is_social`` and ``is_paid`` from ``source``/``medium``.

    - platform: the platform the source names, whatever the medium (l.facebook.com /
      referral is Facebook traffic).
    - is_social: the source names a platform or is on Google's list of social sources, or
      the medium is a social or paid-social one (social traffic from a platform we do not
      track keeps platform NULL), as GA4's Organic and Paid Social channels.
    - is_paid: paid social only: a paid-social medium, or cpc/ppc-like on a social source.
    """
    mapping = mapping or default_mapping()
    # one lookup per source: its platform, "" for a social source of no tracked platform
    sources = {**dict.fromkeys(mapping.other_social_sources, ""), **mapping.source_platforms()}
    found = _per_unique(df["source"], sources, None, object)
    social_source = ~pd.isna(found)
    platform = np.where(found == "", None, found)
    kind = _per_unique(df["medium"], _medium_kinds(mapping), _OTHER, np.int8)
    paid_social = kind == _PAID_SOCIAL

    out = df.copy()
    out["platform"] = pd.array(platform, dtype="string")
    out["is_social"] = pd.array(social_source | (kind == _SOCIAL) | paid_social,
                                dtype="boolean")
    out["is_paid"] = pd.array(paid_social | (social_source & (kind == _PAID_ON_PLATFORM)),
                              dtype="boolean")
    return out
