"""The real-API ``PlatformClient``: routes each stream to its platform's fetcher.

A *connector* is one API with one credential (Graph for Pages and Instagram, the
Marketing API, LinkedIn, TikTok's organic and ads APIs, GA4, the FX reference API). Each
platform module exposes ``FETCHERS`` (stream name -> fetcher) and ``session(...)``
building its ``ApiSession``. A stream whose connector has no credential configured, or
whose kind has no account in the accounts file, pulls no account: its landing file says
so (an empty ``accounts`` list) instead of inventing data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platform_client import PlatformClient
from kpi_pipeline.lib.core.platforms.meta import DEFAULT_ATTRIBUTION_WINDOWS
from kpi_pipeline.lib.core.streams import Stream
from kpi_pipeline.lib.sources.api.session import ApiSession

log = logging.getLogger("kpi_pipeline.api")

#: Currencies always converted, whatever the accounts use (reporting-currency choices).
REPORTING_CANDIDATES = ("EUR", "USD")

#: Which connector (API + credential) serves each stream.
STREAM_CONNECTORS: dict[str, str] = {
    "facebook_page": "meta",
    "facebook_posts": "meta",
    "instagram_account": "meta",
    "instagram_media": "meta",
    "meta_ads": "meta_ads",
    "linkedin_organization": "linkedin",
    "linkedin_posts": "linkedin",
    "linkedin_ads": "linkedin",
    "tiktok_account": "tiktok",
    "tiktok_videos": "tiktok",
    "tiktok_ads": "tiktok_ads",
    "ga4_sessions": "ga4",
    "fx_rates": "fx",
    "mailchimp_list": "mailchimp",
}


@dataclass(frozen=True)
class FetchContext:
    """What a fetcher may need beyond the session: the pull's date (UTC), every currency
    the configured accounts use, a logger, and the attribution windows Meta's ad
    conversions are asked in."""

    today: date
    currencies: tuple[str, ...] = ()
    log: logging.Logger = field(default=log)
    meta_attribution_windows: tuple[str, ...] = DEFAULT_ATTRIBUTION_WINDOWS


Fetcher = Callable[[ApiSession, AccountRef, date, FetchContext], list[RequestRecord]]


class ApiClient(PlatformClient):
    """Pulls from the platforms' real APIs through one session per connector."""

    source = "api"

    def __init__(self, accounts: Mapping[str, list[AccountRef]],
                 sessions: Mapping[str, ApiSession],
                 fetchers: Mapping[str, Fetcher],
                 today: date | None = None,
                 meta_attribution_windows: tuple[str, ...] = DEFAULT_ATTRIBUTION_WINDOWS
                 ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._fetchers = fetchers
        self._today = today
        self._meta_attribution_windows = meta_attribution_windows

    def today(self) -> date:
        return self._today or datetime.now(UTC).date()

    def serves(self, stream: Stream) -> bool:
        """True when this stream's connector has a session and a fetcher."""
        return (STREAM_CONNECTORS.get(stream.name) in self._sessions
                and stream.name in self._fetchers)

    def unserved_reason(self, stream: Stream) -> str | None:
        if self.serves(stream):
            return None
        connector = STREAM_CONNECTORS.get(stream.name)
        return (f"no credential is configured for the {connector!r} connector, so "
                f"{stream.name} is not pulled")

    def pending_reason(self, stream: Stream, day: date) -> str | None:
        lag = stream.publish_lag_days
        if lag and day > self.today() - timedelta(days=lag):
            return (f"{stream.platform} publishes {stream.name} {lag} days late: {day} is "
                    f"pulled by the re-read window once it is out")
        return None

    def accounts(self, stream: Stream) -> list[AccountRef]:
        if not self.serves(stream):
            return []
        if stream.account_kind == "fx_reference":
            return [AccountRef("fx", "ecb", "all", "Europe/Berlin", "EUR", "ECB reference rates")]
        return list(self._accounts.get(stream.account_kind, []))

    def fetch(self, stream: Stream, account: AccountRef, day: date) -> list[RequestRecord]:
        if not self.serves(stream):
            raise ValueError(f"no API connector is configured for stream {stream.name!r} "
                             f"(connector {STREAM_CONNECTORS.get(stream.name)!r})")
        session = self._sessions[STREAM_CONNECTORS[stream.name]]
        context = FetchContext(today=self.today(), currencies=self.currencies(),
                               meta_attribution_windows=self._meta_attribution_windows)
        return self._fetchers[stream.name](session, account, day, context)

    def currencies(self) -> tuple[str, ...]:
        """Every account currency plus the usual reporting currencies, sorted."""
        used = {a.currency for refs in self._accounts.values() for a in refs}
        return tuple(sorted(used | set(REPORTING_CANDIDATES)))
