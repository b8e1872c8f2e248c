"""Shared fixtures: a temporary DuckDB file and landing folder, and demo resources with a
fixed clock so every run of the suite sees the same data."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from kpi_pipeline.defs.attribution.assets import attribution_daily, ga4_events, web_events
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.sources.demo.world import World

DEMO_TODAY = date(2025, 3, 20)
# What the daily ingest job materializes: every raw and normalized asset, GA4's event
# export and its attribution (the attributed revenue KPIs read them).
INGEST_ASSETS = [*raw_assets, *normalized_assets, ga4_events, web_events, attribution_daily]
DEMO_SEED = 7
DEMO_BRANDS = 2
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.hookimpl(trylast=True)  # after the folders' hooks have marked their slow tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a slow test run first. ``make test`` spreads whole files over the
    cores, two files ahead per core; a long file handed out last keeps one core busy while
    the other has nothing left (the order is stable: files stay whole)."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture
def world() -> World:
    """The same demo world the resources below simulate (for hand-computed expectations)."""
    return World(seed=DEMO_SEED, n_brands=DEMO_BRANDS, today=DEMO_TODAY)


@pytest.fixture(scope="module")
def demo_world() -> World:
    """The demo world the parser tests build payloads from (a settled, recent clock)."""
    return World(seed=DEMO_SEED, n_brands=DEMO_BRANDS, today=date(2026, 11, 23))


def demo_resources(root: Path, **settings: str) -> dict[str, object]:
    """Demo platforms on the DuckDB file and landing folder under ``root``."""
    return {
        "warehouse": Warehouse(database=str(root / "warehouse.duckdb")),
        "settings": Settings(landing_dir=str(root / "landing"), reporting_currency="USD",
                             **settings),
        "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                   today=DEMO_TODAY.isoformat()),
    }


def copy_of(template: Path, root: Path) -> Path:
    """``template`` (a store, its landing folder and files beside them, built once per
    module) copied to ``root`` for one test that may change it."""
    shutil.copytree(template, root, dirs_exist_ok=True)
    return root


@pytest.fixture
def resources(tmp_path: Path) -> dict[str, object]:
    """Demo platforms on a temporary DuckDB file and landing folder."""
    return demo_resources(tmp_path)


@pytest.fixture
def shared_data() -> Path:
    """The real public data sets beside the clone; skipped with a reason when absent."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (present in CI beside the clone)")
    return SHARED_DATA
