"""Shared fixtures: a temporary DuckDB file and landing folder, and demo resources with a
fixed clock so every run of the suite sees the same data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.sources.demo.world import World

DEMO_TODAY = date(2025, 3, 20)
DEMO_SEED = 7
DEMO_BRANDS = 2
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def world() -> World:
    """The same demo world the resources below simulate (for hand-computed expectations)."""
    return World(seed=DEMO_SEED, n_brands=DEMO_BRANDS, today=DEMO_TODAY)


@pytest.fixture(scope="module")
def demo_world() -> World:
    """The demo world the parser tests build payloads from (a settled, recent clock)."""
    return World(seed=DEMO_SEED, n_brands=DEMO_BRANDS, today=date(2026, 11, 23))


@pytest.fixture
def resources(tmp_path: Path) -> dict[str, object]:
    """Demo platforms on a temporary DuckDB file and landing folder."""
    return {
        "warehouse": Warehouse(database=str(tmp_path / "warehouse.duckdb")),
        "settings": Settings(landing_dir=str(tmp_path / "landing"), reporting_currency="USD"),
        "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                   today=DEMO_TODAY.isoformat()),
    }


@pytest.fixture
def shared_data() -> Path:
    """The real public data sets beside the clone; skipped with a reason when absent."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (present in CI beside the clone)")
    return SHARED_DATA
