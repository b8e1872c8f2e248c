"""Resources: the DuckDB store, the landing area and the platform clients.

Paths default to folders under ``./data`` and can be moved with environment variables
(read when a run opens them, never at import time):

- ``KPI_PIPELINE_DUCKDB``: the DuckDB file (default ``data/kpi_pipeline.duckdb``)
- ``KPI_PIPELINE_LANDING``: the landing folder (default ``data/landing``)
- ``KPI_PIPELINE_EXPORTS``: the drop folder of platform export files (default
  ``data/exports``)

The platform source is chosen by one switch, the ``platforms`` resource: the demo
simulator is the embedded default; real API clients implement the same
``PlatformClient`` interface and plug in there.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster._utils.backoff import backoff
from dagster_duckdb import DuckDBResource
from pydantic import Field

from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.core.platform_client import PlatformClient
from kpi_pipeline.lib.sources.demo.client import DemoClient

DEFAULT_DUCKDB = "data/kpi_pipeline.duckdb"
DEFAULT_LANDING = "data/landing"
DEFAULT_REPORTS = "data/reports"
DEFAULT_EXPORTS = "data/exports"
EXAMPLE_GOALS = data_file("goals.example.yaml")
RESERVED_NAMES = frozenset({"normalized", "kpi", "baseline", "goal", "report"})


class Warehouse(DuckDBResource):
    """The DuckDB file every table lives in. Writers hold it briefly; readers open read-only.

    DuckDB lets one process at a time hold a file for writing, and refuses even a read-only
    open while another process writes ("Could not set lock on file ... Conflicting lock is
    held"). Dagster's "duckdb" pool only serialises runs when a daemon or run coordinator
    enforces it; runs started from several processes (CLI, tests, a multiprocess backfill)
    would still collide. So every connection, reader or writer, holds an exclusive advisory
    lock (``fcntl.flock``) on the sibling file ``<database>.lock`` for its lifetime: other
    processes wait for it (polling, up to ``lock_timeout_seconds``) instead of failing. The
    kernel releases the lock when its process dies, so a killed run never blocks the next.
    Within one process the lock is re-entrant (a counter): DuckDB itself shares one
    database between a process's connections, and a nested open must not wait for itself.
    """

    database: str = Field(
        default="",
        description=f"Path to the DuckDB file. Empty: $KPI_PIPELINE_DUCKDB, else {DEFAULT_DUCKDB}.",
    )

    connection_config: dict[str, Any] = Field(
        default={"memory_limit": "200MB"},
        description="DuckDB settings. The memory limit makes DuckDB spill to disk instead of "
                    "growing, so a run's memory does not grow with the history it reads "
                    "(see benchmarks/RESULTS.md); raise it on a large machine for speed.",
    )

    lock_timeout_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How long a connection waits for another process to release the "
                    "file's lock (<database>.lock) before failing.",
    )

    def path(self) -> Path:
        path = Path(self.database or os.environ.get("KPI_PIPELINE_DUCKDB") or DEFAULT_DUCKDB)
        if path.stem in RESERVED_NAMES:
            # DuckDB names the database after the file; a database called "kpi" makes
            # every "kpi.weekly" ambiguous between the database and the schema.
            raise ValueError(f"DuckDB file {path}: its name {path.stem!r} clashes with the "
                             f"pipeline's schemas {sorted(RESERVED_NAMES)}; choose another")
        return path

    def lock_path(self) -> Path:
        """The advisory lock file beside the database: ``<database>.lock``."""
        path = self.path()
        return path.with_name(path.name + ".lock")

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file while holding its inter-process lock (see the class docstring).

        Waits up to ``lock_timeout_seconds`` for another process to close its connection,
        then raises ``TimeoutError`` naming the lock file.
        """
        path = self.path()
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        # A read-only open of a missing folder takes no lock: DuckDB reports the missing file.
        lock = (_file_lock(self.lock_path(), self.lock_timeout_seconds)
                if not read_only or path.parent.exists() else nullcontext())
        with lock:
            conn = backoff(
                fn=duckdb.connect,
                retry_on=(RuntimeError, duckdb.IOException),
                kwargs={"database": str(path), "read_only": read_only,
                        "config": {"custom_user_agent": "kpi_pipeline",
                                   **self.connection_config}},
                max_retries=10,
            )
            try:
                yield conn
            finally:
                conn.close()


LOCK_POLL_SECONDS = 0.05


class _HeldLock:
    """One lock file this process holds: its descriptor and how many connections use it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.depth = 0


# Lock files this process holds, by resolved path; the mutex guards the table itself.
_held_locks: dict[str, _HeldLock] = {}
_held_locks_mutex = threading.Lock()


def _forget_inherited_locks() -> None:
    """In a forked child: close the parent's lock descriptors (the child holds no lock, and
    keeping them open would keep the parent's lock alive after the parent releases it)."""
    global _held_locks_mutex
    for held in _held_locks.values():
        with suppress(OSError):
            os.close(held.fd)
    _held_locks.clear()
    _held_locks_mutex = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_locks)


@contextmanager
def _file_lock(lock_file: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file``, re-entrant within this process."""
    key = str(lock_file.resolve())
    held = _acquire(key, lock_file, timeout)
    try:
        yield
    finally:
        with _held_locks_mutex:
            held.depth -= 1
            if held.depth == 0:
                del _held_locks[key]
                os.close(held.fd)  # closing the only descriptor releases the flock


def _acquire(key: str, lock_file: Path, timeout: float) -> _HeldLock:
    """Join this process's hold of ``lock_file``, or wait up to ``timeout`` seconds for
    its exclusive lock. The mutex is only held for quick, non-blocking steps."""
    deadline = time.monotonic() + timeout
    fd = None
    try:
        while True:
            with _held_locks_mutex:
                held = _held_locks.get(key)
                if held is None:
                    if fd is None:
                        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        pass
                    else:
                        held = _held_locks[key] = _HeldLock(fd)
                        fd = None
                if held is not None:
                    held.depth += 1
                    return held
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"DuckDB file lock {lock_file}: still held by another process after "
                    f"waiting {timeout:g} s (a run writing or reading the warehouse). Let "
                    f"that run finish, or raise the warehouse's lock_timeout_seconds.")
            time.sleep(LOCK_POLL_SECONDS)
    finally:
        if fd is not None:
            os.close(fd)


class Settings(dg.ConfigurableResource):
    """Where landing files and rendered reports go, where export files are dropped, which
    goals file is read, and which currency money is reported in."""

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

    exports_dir: str = Field(
        default="",
        description=f"Drop folder of the platforms' analytics export files (CSV) and their "
                    f"exports.yaml. Empty: $KPI_PIPELINE_EXPORTS, else {DEFAULT_EXPORTS}.",
    )

    def exports_root(self) -> Path:
        return Path(self.exports_dir or os.environ.get("KPI_PIPELINE_EXPORTS")
                    or DEFAULT_EXPORTS)

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


DEFAULT_ACCOUNTS_ENV = "KPI_PIPELINE_ACCOUNTS"
PLATFORMS_ENV = "KPI_PIPELINE_PLATFORMS"


def _token(description: str) -> Any:
    return Field(default=None, description=description)


def _url() -> Any:
    return Field(default="", description="Base URL. Empty: the platform's own API host.")


class ApiPlatforms(PlatformsResource):
    """The platforms' real APIs. Tokens come from environment variables (``dg.EnvVar``);
    a connector without a token pulls nothing, and says so in its landing files. GA4 can
    use a service account key file instead (``ga4_credentials``), whose tokens renew
    themselves; when both are set, the key file wins.

    Base URLs are settable so a proxy (or a test's loopback server) can stand in.
    """

    accounts_file: str = Field(
        default="", description=f"Accounts YAML. Empty: ${DEFAULT_ACCOUNTS_ENV}.")
    meta_token: str | None = _token("Graph API token for Pages and Instagram")
    meta_url: str = _url()
    meta_ads_token: str | None = _token("Marketing API token (ads_read)")
    meta_ads_url: str = _url()
    linkedin_token: str | None = _token("LinkedIn OAuth 2.0 access token")
    linkedin_url: str = _url()
    tiktok_token: str | None = _token("TikTok business account access token")
    tiktok_url: str = _url()
    tiktok_ads_token: str | None = _token("TikTok Marketing API access token")
    tiktok_ads_url: str = _url()
    ga4_token: str | None = _token("GA4 Data API OAuth 2.0 access token (expires hourly)")
    ga4_credentials: str | None = Field(
        default=None,
        description="Path of a GA4 service account JSON key (the account a Viewer of each "
                    "property): its tokens renew themselves. Wins over ga4_token.")
    ga4_url: str = _url()
    fx_url: str = _url()
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per request")
    max_attempts: int = Field(default=8, ge=1, description="Tries per request")
    max_total_wait_seconds: float = Field(
        default=300.0, ge=0, description="Longest a request keeps retrying, waits included")
    today: str | None = Field(default=None, description="Fix the pull date (tests)")

    def accounts_path(self) -> Path:
        value = self.accounts_file or os.environ.get(DEFAULT_ACCOUNTS_ENV)
        if not value:
            raise ValueError(f"the API platforms need an accounts file: set "
                             f"${DEFAULT_ACCOUNTS_ENV} or accounts_file (see "
                             "kpi_pipeline/data/accounts.example.yaml)")
        return Path(value)

    def client(self) -> PlatformClient:
        from kpi_pipeline.lib.sources.api.accounts_file import load_accounts
        from kpi_pipeline.lib.sources.api.client import ApiClient
        from kpi_pipeline.lib.sources.api.connectors import CONNECTORS, fetchers, make_session
        from kpi_pipeline.lib.sources.api.session import RetryPolicy

        policy = RetryPolicy(timeout_seconds=self.timeout_seconds,
                             max_attempts=self.max_attempts,
                             max_total_wait_seconds=self.max_total_wait_seconds)
        sessions, stream_fetchers = {}, {}
        for name, connector in CONNECTORS.items():
            token = getattr(self, f"{name}_token", None) if connector.token_env else ""
            key_file = (getattr(self, f"{name}_credentials", None)
                        if connector.credentials_env else None)
            if token is None and key_file is None:
                continue
            url = getattr(self, f"{name}_url") or connector.default_url
            # A key file wins over a token: its tokens renew, a pasted one expires.
            sessions[name] = make_session(connector, "" if key_file else token or "", url,
                                          policy, credentials_file=key_file or None)
            stream_fetchers.update(fetchers(connector))
        today = date.fromisoformat(self.today) if self.today else None
        return ApiClient(load_accounts(self.accounts_path()), sessions, stream_fetchers,
                         today=today)


def api_platforms_from_env() -> ApiPlatforms:
    """ApiPlatforms wired to the token (and key file) variables that are set (``dg.EnvVar``:
    the values are read when a run starts and never enter the definitions or the UI)."""
    from kpi_pipeline.lib.sources.api.connectors import CONNECTORS

    tokens = {f"{name}_token": dg.EnvVar(c.token_env) for name, c in CONNECTORS.items()
              if c.token_env and os.environ.get(c.token_env)}
    key_files = {f"{name}_credentials": dg.EnvVar(c.credentials_env)
                 for name, c in CONNECTORS.items()
                 if c.credentials_env and os.environ.get(c.credentials_env)}
    return ApiPlatforms(**tokens, **key_files)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """The embedded default: DuckDB file, local landing folder, demo platforms.

    ``KPI_PIPELINE_PLATFORMS=api`` swaps the demo for the real APIs (``ApiPlatforms``).
    """
    choice = os.environ.get(PLATFORMS_ENV, "demo")
    if choice not in ("demo", "api"):
        raise ValueError(f"{PLATFORMS_ENV}={choice!r}: expected 'demo' or 'api'")
    platforms = DemoPlatforms() if choice == "demo" else api_platforms_from_env()
    return {"warehouse": Warehouse(), "settings": Settings(), "platforms": platforms}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
