"""The platform client interface that the demo simulator and the real API clients share.

A client answers one question: for this stream, account and local day, which requests
were made and what came back. The pull (``pull_envelope``) wraps those answers with who
was asked and when, which is what lands on disk. Everything after the landing file is
the same code whatever the client, so the demo exercises the real normalization path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, date, datetime

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import Envelope, RequestRecord, account_entry
from kpi_pipeline.lib.core.streams import Stream


class PlatformClient(ABC):
    """What a source must implement to feed the pipeline."""

    #: Where the data came from, stored in every envelope ("demo" or the API host).
    source: str = "unknown"

    @abstractmethod
    def accounts(self, stream: Stream) -> list[AccountRef]:
        """The accounts this client pulls for ``stream``."""

    @abstractmethod
    def fetch(self, stream: Stream, account: AccountRef, day: date) -> list[RequestRecord]:
        """Every request made for ``account`` and local ``day``, with the raw bodies."""

    def now(self) -> datetime:
        """The pull time written into envelopes (UTC)."""
        return datetime.now(UTC)

    def unserved_reason(self, stream: Stream) -> str | None:
        """Why this client pulls nothing for ``stream`` (no credential configured), if so."""
        return None

    def pending_reason(self, stream: Stream, day: date) -> str | None:
        """Why ``day`` cannot be pulled yet (the platform publishes it later), if so."""
        return None

    def pull_envelope(self, stream: Stream, day: date) -> Envelope:
        """Pull one stream for one day across all its accounts, as one landing envelope.

        A stream the client does not serve lands as an envelope without accounts that
        says why (``unserved``); a day the platform has not published yet lands with each
        account's window, no request and the reason (``pending``): the re-read window
        pulls it again once it is out. Neither is an error, and neither invents rows.
        """
        envelope: Envelope = {
            "stream": stream.name,
            "platform": stream.platform,
            "source": self.source,
            "api_version": stream.api_version,
            "partition": day.isoformat(),
            "pulled_at": self.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "accounts": [],
        }
        unserved = self.unserved_reason(stream)
        if unserved:
            envelope["unserved"] = unserved
            return envelope
        pending = self.pending_reason(stream, day)
        for account in self.accounts(stream):
            if pending:
                entry = account_entry(account, day, day, [])
                entry["pending"] = pending
            else:
                entry = account_entry(account, day, day, self.fetch(stream, account, day))
            envelope["accounts"].append(entry)
        return envelope
