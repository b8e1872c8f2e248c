"""The demo platforms: a PlatformClient that answers from the seeded demo world.

It produces the same request records a real client would (paths, parameters, paginated
bodies in each API's own shape), so the landing files, parsers and tables downstream are
exactly those a real source goes through.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from functools import cache

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platform_client import PlatformClient
from kpi_pipeline.lib.core.streams import Stream
from kpi_pipeline.lib.sources.demo.world import World


@cache
def builders() -> dict[str, Callable[..., list[RequestRecord]]]:
    """Every stream's payload builder, imported on first use."""
    from kpi_pipeline.lib.sources.demo import (
        payloads_email,
        payloads_ga4,
        payloads_linkedin,
        payloads_meta,
        payloads_tiktok,
    )

    return {**payloads_meta.BUILDERS, **payloads_linkedin.BUILDERS, **payloads_tiktok.BUILDERS,
            **payloads_ga4.BUILDERS, **payloads_email.BUILDERS}


class DemoClient(PlatformClient):
    """Demo answers for every stream. ``today`` fixes the clock (tests, reproducible runs)."""

    source = "demo"

    def __init__(self, seed: int = 7, n_brands: int = 4, today: date | None = None):
        self.world = World(seed=seed, n_brands=n_brands, today=today)
        self._fixed_clock = today is not None

    @classmethod
    def for_world(cls, world: World) -> DemoClient:
        """A client answering from an existing world, its clock fixed to ``world.today``."""
        client = cls.__new__(cls)
        client.world, client._fixed_clock = world, True
        return client

    def accounts(self, stream: Stream) -> list[AccountRef]:
        if stream.account_kind == "fx_reference":
            return [AccountRef("fx", "ecb", "all", "Europe/Berlin", "EUR", "ECB reference rates")]
        return self.world.accounts(stream.account_kind)

    def fetch(self, stream: Stream, account: AccountRef, day: date) -> list[RequestRecord]:
        try:
            build = builders()[stream.name]
        except KeyError:
            raise ValueError(f"the demo platforms do not serve stream {stream.name!r}") from None
        return build(self.world, account, day, self.world.today)

    def now(self) -> datetime:
        if self._fixed_clock:
            return datetime.combine(self.world.today, time(6, 0), tzinfo=UTC)
        return datetime.now(UTC)
