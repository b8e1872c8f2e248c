"""Resources: the DuckDB store, the landing area and the platform clients.

Paths default to folders under ``./data`` and can be moved with environment variables
(read when a run opens them, never at import time):

- ``KPI_PIPELINE_DUCKDB``: the DuckDB file (default ``data/kpi_pipeline.duckdb``)
- ``KPI_PIPELINE_LANDING``: the landing folder (default ``data/landing``)

The platform source is chosen by one switch, the ``platforms`` resource: the demo
simulator is the embedded default; real API clients implement the same
``PlatformClient`` interface and plug in there.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster._utils.backoff import backoff
from dagster_duckdb import DuckDBResource
from pydantic import Field

from kpi_pipeline.lib.clients import PlatformClient
from kpi_pipeline.lib.demo.client import DemoClient

DEFAULT_DUCKDB = "data/kpi_pipeline.duckdb"
DEFAULT_LANDING = "data/landing"
DEFAULT_REPORTS = "data/reports"
EXAMPLE_GOALS = Path(__file__).resolve().parents[1] / "data" / "goals.example.yaml"
RESERVED_NAMES = frozenset({"normalized", "kpi", "baseline", "goal", "report"})


class Warehouse(DuckDBResource):
    """The DuckDB file every table lives in. Writers hold it briefly; readers open read-only."""

    database: str = Field(
        default="",
        description=f"Path to the DuckDB file. Empty: $KPI_PIPELINE_DUCKDB, else {DEFAULT_DUCKDB}.",
    )

    connection_config: dict[str, Any] = Field(
        default={"memory_limit": "600MB"},
        description="DuckDB settings. The memory limit makes DuckDB spill to disk instead of "
                    "growing: two years of 10M post-day rows stay under 1 GB of RSS (see "
                    "benchmarks/RESULTS.md); raise it on a large machine for speed.",
    )

    def path(self) -> Path:
        path = Path(self.database or os.environ.get("KPI_PIPELINE_DUCKDB") or DEFAULT_DUCKDB)
        if path.stem in RESERVED_NAMES:
            # DuckDB names the database after the file; a database called "kpi" makes
            # every "kpi.weekly" ambiguous between the database and the schema.
            raise ValueError(f"DuckDB file {path}: its name {path.stem!r} clashes with the "
                             f"pipeline's schemas {sorted(RESERVED_NAMES)}; choose another")
        return path

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file, retrying while another process holds the write lock."""
        path = self.path()
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = backoff(
            fn=duckdb.connect,
            retry_on=(RuntimeError, duckdb.IOException),
            kwargs={"database": str(path), "read_only": read_only,
                    "config": {"custom_user_agent": "kpi_pipeline", **self.connection_config}},
            max_retries=10,
        )
        try:
            yield conn
        finally:
            conn.close()


class Settings(dg.ConfigurableResource):
    """Where landing files and rendered reports go, which goals file is read, and which
    currency money is reported in."""

    landing_dir: str = Field(
        default="",
        description=f"Landing folder. Empty: $KPI_PIPELINE_LANDING, else {DEFAULT_LANDING}.",
    )
    reporting_currency: str = Field(default="USD", description="ISO 4217 reporting currency")
    goals_file: str = Field(
        default="",
        description="Goals YAML. Empty: $KPI_PIPELINE_GOALS, else the shipped example.",
    )

    reports_dir: str = Field(
        default="",
        description=f"Folder of the rendered HTML reports. Empty: $KPI_PIPELINE_REPORTS, "
                    f"else {DEFAULT_REPORTS}.",
    )

    def reports_root(self) -> Path:
        return Path(self.reports_dir or os.environ.get("KPI_PIPELINE_REPORTS") or DEFAULT_REPORTS)

    def goals_path(self) -> Path:
        return Path(self.goals_file or os.environ.get("KPI_PIPELINE_GOALS") or EXAMPLE_GOALS)

    def landing_root(self) -> Path:
        return Path(self.landing_dir or os.environ.get("KPI_PIPELINE_LANDING") or DEFAULT_LANDING)


class PlatformsResource(dg.ConfigurableResource):
    """The switch between sources: every implementation hands out a ``PlatformClient``."""

    @abstractmethod
    def client(self) -> PlatformClient:
        """A client for this run (built per run: clients hold no state between runs)."""


class DemoPlatforms(PlatformsResource):
    """The seeded demo simulator: no credentials, no network, same payloads as the APIs."""

    seed: int = Field(default=7, description="Same seed, same data")
    brands: int = Field(default=4, ge=1, le=6, description="How many brands (accounts) to simulate")
    today: str | None = Field(
        default=None,
        description="Fix the demo clock (YYYY-MM-DD); empty uses the real date. Recent days "
                    "restate relative to this date.",
    )

    def client(self) -> PlatformClient:
        today = date.fromisoformat(self.today) if self.today else None
        return DemoClient(seed=self.seed, n_brands=self.brands, today=today)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """The embedded default: DuckDB file, local landing folder, demo platforms."""
    return {"warehouse": Warehouse(), "settings": Settings(), "platforms": DemoPlatforms()}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
