"""Fixtures for the API clients: a loopback platform server answering from the demo world,
and clients pointed at it with recorded (not slept) back-off waits."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from kpi_pipeline.lib.sources.api.client import ApiClient
from kpi_pipeline.lib.sources.api.connectors import CONNECTORS, fetchers, make_session
from kpi_pipeline.lib.sources.api.session import RetryPolicy
from kpi_pipeline.lib.sources.demo.payloads_meta import DEMO_ATTRIBUTION_WINDOWS
from kpi_pipeline.lib.sources.demo.world import World
from kpi_pipeline_tests.sources.api.replay import PlatformReplay

REPLAY_TODAY = date(2025, 3, 20)
KINDS = ("facebook_page", "instagram_account", "linkedin_organization", "linkedin_ad_account",
         "tiktok_account", "tiktok_advertiser", "meta_ad_account", "ga4_property")


@pytest.fixture
def replay_world() -> World:
    return World(seed=7, n_brands=2, today=REPLAY_TODAY)


#: (client module, its page-size constant, the demo module, the demo's constant).
PAGE_SIZES = (
    ("kpi_pipeline.lib.sources.api.tiktok", "REPORT_PAGE_SIZE",
     "kpi_pipeline.lib.sources.demo.payloads_tiktok", "REPORT_PAGE_SIZE"),
    ("kpi_pipeline.lib.sources.api.tiktok", "VIDEO_PAGE_SIZE",
     "kpi_pipeline.lib.sources.demo.payloads_tiktok", "VIDEO_PAGE_SIZE"),
    ("kpi_pipeline.lib.sources.api.tiktok", "ADGROUP_PAGE_SIZE",
     "kpi_pipeline.lib.sources.demo.payloads_tiktok", "ADGROUP_PAGE_SIZE"),
    ("kpi_pipeline.lib.sources.api.ga4", "PAGE_SIZE", "kpi_pipeline.lib.sources.demo.payloads_ga4",
     "GA4_PAGE_SIZE"),
)


@pytest.fixture(autouse=True)
def demo_page_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clients ask the APIs' page sizes; the demo pages by fewer rows so its paging
    is exercised. In tests the clients ask the demo's (a test shrinking a demo page size
    further sets both)."""
    for client_mod, client_name, demo_mod, demo_name in PAGE_SIZES:
        demo = importlib.import_module(demo_mod)
        monkeypatch.setattr(importlib.import_module(client_mod), client_name,
                            getattr(demo, demo_name))


@pytest.fixture(scope="module")
def replay_server() -> Iterator[HTTPServer]:
    """One loopback server per test module (stopping one takes half a second)."""
    # Threaded: a slow answer must not hold up the next request.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture
def replay(replay_server: HTTPServer, replay_world: World) -> PlatformReplay:
    """The loopback server serving the demo world's answers (see replay.py), with no
    handler, fault or request left over from the previous test."""
    replay_server.clear()
    return PlatformReplay(replay_server, replay_world)


def accounts_yaml(world: World) -> str:
    """The accounts file listing the demo world's accounts, as a deployment would."""
    entries = []
    for kind in KINDS:
        for ref in world.accounts(kind):
            entries.append({"kind": kind, "id": ref.account_id, "brand": ref.brand,
                            "name": ref.name, "timezone": ref.timezone,
                            "currency": ref.currency})
    return yaml.safe_dump({"accounts": entries}, sort_keys=False)


@pytest.fixture
def accounts_file(tmp_path: Path, replay_world: World) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(accounts_yaml(replay_world), encoding="utf-8")
    return path


@pytest.fixture
def waits() -> list[float]:
    """The back-off and throttle waits the sessions asked for (recorded, not slept)."""
    return []


@pytest.fixture
def api_client(replay: PlatformReplay, accounts_file: Path,
               waits: list[float]) -> Callable[..., ApiClient]:
    """``api_client("meta", ...)``: a client with those connectors on the loopback server
    (pulling as of ``today``, the replay world's date unless given), asking Meta's ad
    conversions in the demo advertisers' attribution windows unless told others."""
    from kpi_pipeline.lib.sources.api.accounts_file import load_accounts

    def build(*connectors: str, policy: RetryPolicy | None = None,
              today: date = REPLAY_TODAY,
              meta_attribution_windows: tuple[str, ...] = DEMO_ATTRIBUTION_WINDOWS
              ) -> ApiClient:
        policy = policy or RetryPolicy(timeout_seconds=2.0, max_attempts=5,
                                       max_total_wait_seconds=120.0)
        sessions, stream_fetchers = {}, {}
        for name in connectors:
            connector = CONNECTORS[name]
            session = make_session(connector, replay.token, replay.url, policy)
            session.sleep = waits.append
            sessions[name] = session
            stream_fetchers.update(fetchers(connector))
        return ApiClient(load_accounts(accounts_file), sessions, stream_fetchers, today=today,
                         meta_attribution_windows=meta_attribution_windows)

    return build
