"""The platform client interface that the demo simulator and the real API clients share.

A client answers one question: for this stream, account and local day, which requests
were made and what came back. The pull (``pull_envelope``) wraps those answers with who
was asked and when, which is what lands on disk. Everything after the landing file is
the same code whatever the client, so the demo exercises the real normalization path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, date, datetime

from kpi_pipeline.lib.accounts import AccountRef
from kpi_pipeline.lib.landing import Envelope, RequestRecord, account_entry
from kpi_pipeline.lib.streams import Stream


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

    def pull_envelope(self, stream: Stream, day: date) -> Envelope:
        """Pull one stream for one day across all its accounts, as one landing envelope."""
        pulled_at = self.now()
        return {
            "stream": stream.name,
            "platform": stream.platform,
            "source": self.source,
            "api_version": stream.api_version,
            "partition": day.isoformat(),
            "pulled_at": pulled_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "accounts": [
                account_entry(account, day, day, self.fetch(stream, account, day))
                for account in self.accounts(stream)
            ],
        }
