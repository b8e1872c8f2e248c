"""``exports.yaml``: what an export file does not say about itself.

An export holds numbers, not whose they are: the manifest in the drop folder gives each
file its brand, account id, time zone and, where a format needs them, the currency, the
year (files without one, like the UCI Facebook export), the day a lifetime export was
taken (``as_of``) and the platform (Meta's per-metric daily files that do not name it).

```yaml
defaults:             # for every file
  brand: acme
  timezone: Europe/Lisbon
files:                # per file name or glob; every matching entry applies, later ones win
  - match: "dataset_Facebook.csv"
    account_id: "uci-cosmetics"
    year: 2014
    as_of: 2015-01-01
ignore:               # files in the folder that are deliberately not read (listed in the
  - "notes.txt"       # asset's metadata)
```

The file is optional; a file that needs a value nobody gave fails naming the file and the
key to add. Unknown keys, a time zone that does not exist or a currency we cannot convert
fail naming the manifest and the entry.
"""

from __future__ import annotations

import fnmatch
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kpi_pipeline.lib.core.accounts import SOCIAL_PLATFORMS
from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.core.schemas import CURRENCIES
from kpi_pipeline.lib.core.yaml_files import load_yaml_file
from kpi_pipeline.lib.sources.exports.reading import ExportError

MANIFEST_NAME = "exports.yaml"
EXAMPLE_MANIFEST = data_file("exports.example.yaml")

KEY_HELP = {
    "brand": "the business the reports group accounts by",
    "account_id": "the account (Page, Instagram account, LinkedIn organization, TikTok "
                  "account) or, for GA4 files, the property id",
    "timezone": "the account's IANA time zone, e.g. Europe/Berlin",
    "currency": "the ISO 4217 currency of the file's money, e.g. EUR",
    "year": "the year the file's dates belong to (the file does not say)",
    "as_of": "the day the lifetime export was taken (YYYY-MM-DD): its rows become "
             "post_daily snapshots dated that day",
    "platform": f"the platform the file is from ({', '.join(SOCIAL_PLATFORMS)})",
}


class FileSettings(BaseModel):
    """Values for one file (or the defaults); every key is optional here."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, frozen=True)

    brand: str | None = Field(default=None, min_length=1)
    account_id: str | None = Field(default=None, min_length=1)
    timezone: str | None = None
    currency: str | None = None
    year: int | None = Field(default=None, ge=1990, le=2100)
    as_of: date | None = None
    platform: Literal["facebook", "instagram", "linkedin", "tiktok"] | None = None

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        if value is not None and value not in CURRENCIES:
            raise ValueError(f"{value!r} is not a currency we convert ({', '.join(CURRENCIES)})")
        return value


class FileEntry(FileSettings):
    match: str = Field(min_length=1, description="A file name or a glob (fnmatch)")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: FileSettings = FileSettings()
    files: tuple[FileEntry, ...] = ()
    ignore: tuple[str, ...] = ()

    def ignores(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.ignore)

    def settings_for(self, name: str) -> Resolved:
        """The defaults overlaid by every entry matching ``name``, in file order."""
        values = self.defaults.model_dump(exclude_none=True)
        for entry in self.files:
            if fnmatch.fnmatchcase(name, entry.match):
                values.update(entry.model_dump(exclude_none=True, exclude={"match"}))
        return Resolved(name, values)

    def unused_entries(self, names: list[str]) -> list[str]:
        """Entries that match no file in the folder (a typo in a file name?)."""
        return [e.match for e in self.files
                if not any(fnmatch.fnmatchcase(n, e.match) for n in names)]


class Resolved:
    """The values that apply to one file; ``require`` names the key to add when absent."""

    def __init__(self, file: str, values: dict[str, object]) -> None:
        self.file, self.values = file, values

    def get(self, key: str) -> object | None:
        return self.values.get(key)

    def require(self, key: str, why: str = "") -> object:
        value = self.values.get(key)
        if value is None:
            reason = f" ({why})" if why else ""
            raise ExportError(self.file, f"needs {key!r}{reason}: {KEY_HELP[key]}. Add "
                              f"`{key}:` for this file under `files:` (or under `defaults:`) "
                              f"in {MANIFEST_NAME}")
        return value


def load_manifest(folder: Path) -> Manifest:
    """The drop folder's ``exports.yaml``, or an empty manifest when there is none."""
    path = folder / MANIFEST_NAME
    if not path.exists():
        return Manifest()
    try:
        raw = load_yaml_file(path, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExportError(MANIFEST_NAME, f"is not UTF-8 (byte offset {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ExportError(MANIFEST_NAME, f"is not valid YAML: {getattr(exc, 'problem', exc)}",
                          line=mark.line + 1 if mark else None) from None
    if raw is None:
        return Manifest()
    if not isinstance(raw, dict):
        raise ExportError(MANIFEST_NAME, "must be a mapping with `defaults`, `files` and "
                          "`ignore`")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors())
        raise ExportError(MANIFEST_NAME, f"is not a valid manifest: {problems}") from None
