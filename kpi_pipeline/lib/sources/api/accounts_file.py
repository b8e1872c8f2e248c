"""The accounts file: which platform accounts the API clients pull, for which brand.

The demo invents its accounts; a real deployment lists them, because an account's time
zone and currency decide how its days and money are read, and the APIs do not say so on
every answer. YAML, validated with pydantic, e.g. ``kpi_pipeline/data/accounts.example.yaml``::

    accounts:
      - kind: facebook_page          # one of the streams' account kinds
        id: "104920372957382"
        brand: acme
        name: Acme Coffee
        timezone: America/Los_Angeles
        currency: USD
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.streams import STREAMS
from kpi_pipeline.lib.core.yaml_files import load_yaml_file

#: Account kind -> the platform its streams are filed under.
KIND_PLATFORMS: dict[str, str] = {s.account_kind: s.platform for s in STREAMS}


class AccountsFileError(ValueError):
    """The accounts file is missing, unreadable or lists an account the pipeline can't use."""


class AccountEntry(BaseModel):
    """One account as the file lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    id: str = Field(min_length=1)
    brand: str = Field(min_length=1)
    name: str = ""
    timezone: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KIND_PLATFORMS:
            raise ValueError(f"unknown kind {kind!r} (known: {', '.join(sorted(KIND_PLATFORMS))})")
        return kind

    @field_validator("timezone")
    @classmethod
    def _iana(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone") from None
        return name

    def ref(self) -> AccountRef:
        return AccountRef(KIND_PLATFORMS[self.kind], self.id, self.brand, self.timezone,
                          self.currency, self.name or self.id)


class AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountEntry]


def load_accounts(path: Path) -> dict[str, list[AccountRef]]:
    """Accounts by kind; every problem names the file and the entry."""
    try:
        raw = load_yaml_file(path)
    except FileNotFoundError:
        raise AccountsFileError(f"accounts file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise AccountsFileError(f"accounts file {path} is unreadable: {exc}") from None
    try:
        parsed = AccountsFile.model_validate(raw)
    except ValidationError as exc:
        raise AccountsFileError(f"accounts file {path}: {exc}") from None
    by_kind: dict[str, list[AccountRef]] = {}
    seen: set[tuple[str, str]] = set()
    for n, entry in enumerate(parsed.accounts):
        if (entry.kind, entry.id) in seen:
            raise AccountsFileError(f"accounts file {path}: accounts[{n}] lists {entry.kind} "
                                    f"{entry.id} a second time")
        seen.add((entry.kind, entry.id))
        by_kind.setdefault(entry.kind, []).append(entry.ref())
    return by_kind
