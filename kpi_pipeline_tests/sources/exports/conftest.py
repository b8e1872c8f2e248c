"""Fixtures of the export-folder tests: a drop folder, a warehouse, and a way to run the
asset directly (no run storage: fast)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from kpi_pipeline.defs.exports import exports
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.normalized.store import ensure_tables

BASE = {"brand": "acme", "account_id": "acct-1", "timezone": "Europe/Berlin"}


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


@pytest.fixture
def write(drop: Path) -> Callable[..., Path]:
    """write(name, text, encoding="utf-8", newline="\\n") -> the file in the drop folder."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8",
               newline: str = "\n") -> Path:
        path = drop / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.replace("\n", newline).encode(encoding))
        return path

    return _write


@pytest.fixture
def manifest(drop: Path) -> Callable[..., Path]:
    """manifest(defaults=..., files=[...], ignore=[...]) writes exports.yaml."""

    def _manifest(**content: object) -> Path:
        path = drop / "exports.yaml"
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        return path

    return _manifest


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    resource = Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    with resource.get_connection() as conn:
        ensure_tables(conn)
    return resource


@pytest.fixture(scope="session")
def instance() -> dg.DagsterInstance:
    """One ephemeral instance for every direct invocation (building one costs 0.15 s)."""
    return dg.DagsterInstance.ephemeral()


@pytest.fixture
def run(drop: Path, warehouse: Warehouse,
        instance: dg.DagsterInstance) -> Callable[..., dg.MaterializeResult]:
    """Run normalized/exports on the drop folder (direct invocation)."""

    def _run(folder: Path | None = None, reporting_currency: str = "USD"
             ) -> dg.MaterializeResult:
        settings = Settings(exports_dir=str(folder or drop),
                            reporting_currency=reporting_currency)
        with dg.build_asset_context(instance=instance) as context:
            return exports(context=context, warehouse=warehouse, settings=settings)

    return _run


def store_hashes(warehouse: Warehouse) -> dict[str, str]:
    """sha256 of every table's rows in a stable order, by table name."""
    with warehouse.get_connection(read_only=True) as conn:
        tables = conn.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                              "ORDER BY 1").fetchall()
        return {table: hashlib.sha256(repr(conn.execute(
            f"SELECT * FROM {table} ORDER BY ALL").fetchall()).encode()).hexdigest()
            for (table,) in tables}


def query(warehouse: Warehouse, sql: str, params: list | None = None) -> list[tuple]:
    with warehouse.get_connection(read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def stock_template(root: Path,
                   before: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> Path:
    """A store and a drop folder stocked with two good export files (the Facebook posts
    and LinkedIn followers samples, with the samples' manifest), loaded by the asset;
    ``before`` runs on the store's connection first (rows the test wants there too)."""
    from kpi_pipeline_tests.sources.exports import samples

    drop = root / "exports"
    drop.mkdir(parents=True)
    (drop / "exports.yaml").write_text(yaml.safe_dump(samples.MANIFEST, sort_keys=False))
    (drop / "fb_posts.csv").write_text(samples.META_FACEBOOK)
    (drop / "linkedin_followers.csv").write_text(samples.LINKEDIN_FOLLOWERS)
    warehouse = Warehouse(database=str(root / "warehouse.duckdb"))
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        if before is not None:
            before(conn)
    with dg.build_asset_context() as context:
        exports(context=context, warehouse=warehouse, settings=Settings(exports_dir=str(drop)))
    return root
