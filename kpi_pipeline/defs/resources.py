"""Resources: the DuckDB store, the landing area and the platform clients.

They only wire configuration: every setting is a field, shown in the launchpad, and the
environment variables (named, with their defaults, in ``defs/settings.py``) reach the
fields through ``dg.EnvVar`` in ``default_resources``, so Dagster reads them when a run
starts, never at import time. A resource built by hand (tests, scripts) uses its fields'
defaults unless given values.

The platform source is chosen by one switch, the ``platforms`` resource: the demo
simulator is the embedded default; real API clients implement the same
``PlatformClient`` interface and plug in there.
"""

from __future__ import annotations

import atexit
import os
import random
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from kpi_pipeline.defs import settings
from kpi_pipeline.lib.core.landing import LandingStore
from kpi_pipeline.lib.core.platform_client import PlatformClient
from kpi_pipeline.lib.core.postgres_store import PostgresTarget, attach, serialization_failure
from kpi_pipeline.lib.kpis.attribution import AttributionSettings
from kpi_pipeline.lib.normalized.store_lock import lock_path, store_lock
from kpi_pipeline.lib.sources.demo.client import DemoClient

RESERVED_NAMES = frozenset({"normalized", "kpi", "baseline", "goal", "report"})
# DuckDB's own file lock can still be held briefly by a process outside the store lock
# (a DuckDB shell, a process closing): 11 tries, 0.1 s doubling between them (~100 s).
CONNECT_ATTEMPTS = 11
CONNECT_FIRST_WAIT_SECONDS = 0.1
# A step the PostgreSQL server aborted (a serialization failure) runs again up to 5 times,
# after a random wait that keeps two aborted runs from meeting again at once.
STEP_RETRIES = 5
STEP_RETRY_WAIT_SECONDS = (0.5, 3.0)


class _Kept:
    """A DuckDB file this process keeps open between the connections of a run's steps,
    with the store lock held: one database (one ``duckdb.connect`` of the file) whose
    connections are cursors of ``conn``, each with its own session state."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, lock: Any, read_only: bool,
                 config: dict[str, Any]) -> None:
        self.conn, self.lock, self.read_only, self.config = conn, lock, read_only, config
        self.opened = time.monotonic()
        self.users = 0
        self.timer: threading.Timer | None = None

    def close(self) -> None:
        """Close the database (its checkpoint included), then release the lock."""
        if self.timer is not None:
            self.timer.cancel()
        try:
            self.conn.close()
        finally:
            self.lock.__exit__(None, None, None)


# The files kept open, by resolved path; guarded by _KEEP_GUARD (the in-process executor
# runs one step at a time, but a timer closes an idle file from its own thread).
_KEPT: dict[str, _Kept] = {}
_KEEP_GUARD = threading.RLock()
# A forked child keeps its parent's objects referenced and never uses them: closing an
# inherited database would checkpoint the parent's file from the child (the store lock
# itself is never inherited: store_lock).
_INHERITED: list[_Kept] = []


def _forget_in_child() -> None:
    _INHERITED.extend(_KEPT.values())
    _KEPT.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def _close_kept(key: str, kept: _Kept) -> None:
    """Close ``kept`` if it is still the file kept under ``key`` and no step uses it."""
    with _KEEP_GUARD:
        if _KEPT.get(key) is kept and kept.users == 0:
            del _KEPT[key]
            kept.close()


@atexit.register
def _close_all_kept() -> None:
    with _KEEP_GUARD:
        for key, kept in list(_KEPT.items()):
            _close_kept(key, kept)


class Warehouse(DuckDBResource):
    """The store every table lives in: the DuckDB file (the default) or a PostgreSQL
    database (``store``). Either way a connection is a DuckDB session running the
    pipeline's one DuckDB-dialect SQL.

    DuckDB lets one process at a time hold the file, so every connection to it, reader or
    writer, holds the store lock (``lib/normalized/store_lock.py``: an exclusive ``flock``
    on ``<database>.lock``) for its lifetime: other processes wait for it, up to
    ``lock_timeout_seconds``, instead of failing; a dead process's lock is released by
    the kernel; nested opens in one process do not wait for themselves. On PostgreSQL
    there is no such lock: the server's transactions keep concurrent writers apart
    (``lib/core/postgres_store.py``).
    """

    store: str = Field(
        default=settings.STORE.default,
        description=f"Empty: the DuckDB file (database). Or a PostgreSQL URL "
                    f"postgresql://user@host:port/database, without the password "
                    f"(${settings.STORE.name}).",
    )

    store_password: str = Field(
        default=settings.STORE_PASSWORD.default,
        repr=False,  # a secret: never in a log line that prints the resource
        description=f"The PostgreSQL store's password (${settings.STORE_PASSWORD.name}).",
    )

    database: str = Field(
        default=settings.DUCKDB.default,
        description=f"Path to the DuckDB file (${settings.DUCKDB.name}).",
    )

    connection_config: dict[str, Any] = Field(
        default={"memory_limit": "200MB", "allocator_background_threads": True,
                 "allocator_flush_threshold": "8MB",
                 "allocator_bulk_deallocation_flush_threshold": "8MB"},
        description="DuckDB settings. The memory limit makes DuckDB spill to disk instead of "
                    "growing, so a run's memory does not grow with the history it reads; "
                    "the allocator settings hand freed memory back to the system soon "
                    "(see benchmarks/RESULTS.md). Raise the limit on a large machine for "
                    "speed.",
    )

    lock_timeout_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How long a connection waits for another process to release the "
                    "file's lock (<database>.lock) before failing.",
    )

    keep_open_seconds: float = Field(
        default=0.5,
        ge=0,
        description="Inside a run, how long the DuckDB file stays open (its lock held) "
                    "after a step's connection closes, so the run's next step that uses "
                    "the store reuses it instead of opening the file again; 0: every "
                    "connection opens and closes the file.")

    keep_open_most_seconds: float = Field(
        default=2.0,
        ge=0,
        description="The longest a run keeps the DuckDB file open from one step to the "
                    "next, counted from its opening: past it, the file closes at the end "
                    "of the step's connection and the lock goes to a waiting process.")

    # Set while the resource serves a run (setup_for_execution): only then is the file
    # kept open between connections; scripts, tests and sensors open and close it each time.
    _in_run: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._in_run = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._in_run = False
        if self.postgres() is None and not self.motherduck():
            key = str(self.path().resolve())
            with _KEEP_GUARD:
                kept = _KEPT.get(key)
                if kept is not None:
                    _close_kept(key, kept)

    def postgres(self) -> PostgresTarget | None:
        """The PostgreSQL store, or None for the DuckDB file."""
        if not self.store:
            return None
        return PostgresTarget.parse(self.store, settings.STORE.name)

    def motherduck(self) -> bool:
        """Whether ``database`` names a MotherDuck database (``md:<name>``, its token in
        the ``motherduck_token`` variable, which DuckDB's motherduck extension reads): the
        same DuckDB SQL in MotherDuck's cloud, which keeps its own concurrency, so no
        local lock file is taken. Documented as a configuration; not reachable from the
        tests."""
        return self.database.startswith("md:")

    def describe(self) -> str:
        """Where the tables are, without secrets: for summaries and messages."""
        target = self.postgres()
        if target:
            return target.describe()
        if self.motherduck():
            return self.database.split("?", 1)[0]  # a token in the query stays out
        return str(self.path().resolve())

    def path(self) -> Path:
        path = Path(self.database)
        if path.stem in RESERVED_NAMES:
            # DuckDB names the database after the file; a database called "kpi" makes
            # every "kpi.weekly" ambiguous between the database and the schema.
            raise ValueError(f"DuckDB file {path}: its name {path.stem!r} clashes with the "
                             f"pipeline's schemas {sorted(RESERVED_NAMES)}; choose another")
        return path

    def lock_path(self) -> Path:
        """The lock file beside the database: ``<database>.lock``."""
        return lock_path(self.path())

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file while holding its inter-process lock (see the class docstring).

        Waits up to ``lock_timeout_seconds`` for another process to close its connection,
        then raises ``TimeoutError`` naming the lock file. On the PostgreSQL store, a
        write the server aborts to keep two runs' transactions serializable fails the
        step with a request to run it again (``dg.RetryRequested``): the step's writes
        replace whole partitions, so running it again is safe.
        """
        target = self.postgres()
        if target is not None:
            with self._postgres_connection(target, read_only) as conn:
                try:
                    yield conn
                except duckdb.Error as error:
                    if serialization_failure(error):
                        raise dg.RetryRequested(
                            max_retries=STEP_RETRIES,
                            seconds_to_wait=random.uniform(*STEP_RETRY_WAIT_SECONDS),
                        ) from error
                    raise
            return
        path, remote = self.path(), self.motherduck()
        if not read_only and not remote:
            path.parent.mkdir(parents=True, exist_ok=True)
        config = self._duckdb_config()
        if self._in_run and self.keep_open_seconds > 0 and not remote:
            with self._kept_connection(path, read_only, config) as conn:
                yield conn
            return
        with self._opened(path, read_only, config, remote) as conn:
            yield conn

    @contextmanager
    def _opened(self, path: Path, read_only: bool, config: dict[str, Any],
                remote: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file opened for this connection alone, under the store lock, and closed."""
        # A read-only open of a missing folder takes no lock: DuckDB reports the missing file.
        lock = (store_lock(self.lock_path(), self.lock_timeout_seconds)
                if not remote and (not read_only or path.parent.exists()) else nullcontext())
        with lock:
            conn = self._connect(self.database if remote else str(path), read_only, config)
            try:
                yield conn
            finally:
                conn.close()

    def _connect(self, database: str, read_only: bool,
                 config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
        return Retrying(
            retry=retry_if_exception_type((RuntimeError, duckdb.IOException)),
            stop=stop_after_attempt(CONNECT_ATTEMPTS),
            wait=wait_exponential(multiplier=CONNECT_FIRST_WAIT_SECONDS, exp_base=2),
            reraise=True,
        )(duckdb.connect, database=database, read_only=read_only, config=config)

    @contextmanager
    def _kept_connection(self, path: Path, read_only: bool,
                         config: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection on the file this process keeps open during a run.

        The file, opened read-write (or read-only when the first step asking for it only
        reads), stays open with its lock for ``keep_open_seconds`` after the last
        connection on it closes, and the next connection is a cursor of it: a fresh
        session (settings, temporary tables, registered frames) on the same database,
        without opening the file, reading its catalogue and checkpointing again. A
        read-only connection on a file kept read-write runs in a READ ONLY transaction
        (a write fails naming the database) that is rolled back at its end. The file
        closes (checkpoint, then the lock released) when the idle time passes, at the end
        of a connection once ``keep_open_most_seconds`` have passed since it opened, when
        a step fails, when a read-write connection follows a read-only opening, and when
        the run ends."""
        key = str(path.resolve())
        with _KEEP_GUARD:
            kept = _KEPT.get(key)
            if kept is not None and kept.users == 0 and (
                    kept.config != config or (kept.read_only and not read_only)):
                _close_kept(key, kept)
                kept = None
            if kept is not None and kept.read_only and not read_only:
                kept = None  # in use read-only by an outer connection: as without keeping
            if kept is None and key not in _KEPT:
                if read_only and not path.parent.exists():
                    kept = None  # DuckDB reports the missing file, as without keeping
                else:
                    lock = store_lock(self.lock_path(), self.lock_timeout_seconds)
                    lock.__enter__()
                    try:
                        conn = self._connect(str(path), read_only, config)
                    except BaseException:
                        lock.__exit__(None, None, None)
                        raise
                    kept = _KEPT[key] = _Kept(conn, lock, read_only, config)
            if kept is not None:
                kept.users += 1
                if kept.timer is not None:
                    kept.timer.cancel()
                    kept.timer = None
        if kept is None:  # nested in another mode, or a missing folder: as without keeping
            with self._opened(path, read_only, config, remote=False) as conn:
                yield conn
            return
        failed = False
        try:
            cursor = kept.conn.cursor()
            try:
                if read_only and not kept.read_only:
                    cursor.execute("BEGIN TRANSACTION READ ONLY")
                yield cursor
            finally:
                try:
                    if read_only and not kept.read_only:
                        cursor.execute("ROLLBACK")
                except duckdb.TransactionException:
                    pass  # the reader ended the transaction itself: nothing to undo
                finally:
                    cursor.close()
        except BaseException:
            failed = True
            raise
        finally:
            with _KEEP_GUARD:
                kept.users -= 1
                if kept.users == 0:
                    if failed or time.monotonic() - kept.opened >= self.keep_open_most_seconds:
                        _close_kept(key, kept)
                    else:
                        kept.timer = threading.Timer(self.keep_open_seconds, _close_kept,
                                                     (key, kept))
                        kept.timer.daemon = True
                        kept.timer.start()

    def _duckdb_config(self) -> dict[str, Any]:
        """The session's settings on either store: the user agent and ``connection_config``."""
        return {"custom_user_agent": "kpi_pipeline", **self.connection_config}

    @contextmanager
    def _postgres_connection(self, target: PostgresTarget,
                             read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        config = {**self._duckdb_config(), "autoinstall_known_extensions": False,
                  "autoload_known_extensions": False}
        conn = duckdb.connect(":memory:", config=config)
        try:
            # No retries: a refused login or a missing database is not transient, and
            # the error says which (never with the password).
            attach(conn, target, self.store_password, read_only)
            yield conn
        finally:
            conn.close()


class Settings(dg.ConfigurableResource):
    """Where landing files and rendered reports go, where export files are dropped, which
    goals file is read, and which currency money is reported in."""

    landing_dir: str = Field(default=settings.LANDING.default,
                             description=f"Landing folder, or an fsspec URL (s3://, gs://, "
                                         f"file://) of one (${settings.LANDING.name}).")
    reporting_currency: str = Field(default="USD", description="ISO 4217 reporting currency")
    goals_file: str = Field(default=settings.GOALS.default,
                            description=f"Goals YAML (${settings.GOALS.name}); default: "
                                        "the shipped example.")
    reports_dir: str = Field(default=settings.REPORTS.default,
                             description=f"Folder of the rendered HTML reports "
                                         f"(${settings.REPORTS.name}).")
    exports_dir: str = Field(default=settings.EXPORTS.default,
                             description=f"Drop folder of the platforms' analytics export "
                                         f"files (CSV) and their exports.yaml "
                                         f"(${settings.EXPORTS.name}).")

    ga4_export_dir: str = Field(default=settings.GA4_EXPORT.default,
                                description=f"Folder (or fsspec URL: s3://, gs://, "
                                            f"file://) of GA4's BigQuery event export files, "
                                            f"one analytics_<property> folder each "
                                            f"(${settings.GA4_EXPORT.name}; empty: "
                                            f"ga4_export in the landing folder).")
    # The number settings have no bounds on the field: a field wired to its variable holds
    # a placeholder (0) until a run starts, which a bound would refuse when the code
    # location loads; ``attribution_settings`` checks them when the run uses them.
    attribution_lookback_days: int = Field(
        default=int(settings.ATTRIBUTION_LOOKBACK_DAYS.default),
        description="Days before a conversion whose sessions are its touches "
                    f"(${settings.ATTRIBUTION_LOOKBACK_DAYS.name}; 1 to 35: the "
                    "attribution asset reads the 5 ingest weeks before its own).")
    attribution_half_life_days: int = Field(
        default=int(settings.ATTRIBUTION_HALF_LIFE_DAYS.default),
        description="Half-life of the time-decay attribution model, in whole days, 1 to "
                    f"365 (${settings.ATTRIBUTION_HALF_LIFE_DAYS.name}).")
    ltv_window_days: int = Field(
        default=int(settings.LTV_WINDOW_DAYS.default),
        description="Days from a customer's first purchase (that day included) whose "
                    "purchases count in the cohort lifetime value, 1 to 3660 "
                    f"(${settings.LTV_WINDOW_DAYS.name}).")

    def attribution_settings(self) -> AttributionSettings:
        """The attribution and lifetime-value settings of the run, each checked against its
        range; one out of range fails the run with the field and its variable named."""
        bounds = (("attribution_lookback_days", settings.ATTRIBUTION_LOOKBACK_DAYS, 35),
                  ("attribution_half_life_days", settings.ATTRIBUTION_HALF_LIFE_DAYS, 365),
                  ("ltv_window_days", settings.LTV_WINDOW_DAYS, 3660))
        for field, variable, most in bounds:
            value = getattr(self, field)
            if not 1 <= value <= most:
                raise ValueError(f"settings.{field} = {value} (${variable.name}): expected "
                                 f"a whole number of days from 1 to {most}")
        return AttributionSettings(self.attribution_lookback_days,
                                   float(self.attribution_half_life_days),
                                   self.ltv_window_days)

    def ga4_export_root(self) -> str | Path:
        """The export folder; by default beside the raw pulls, in the landing folder, so
        a run on a temporary landing folder never writes the demo's export elsewhere. An
        fsspec URL (``s3://bucket/ga4``, ``gs://...``) stays a string: a ``Path`` would
        fold its ``//``."""
        if not self.ga4_export_dir:
            return self.landing().child("ga4_export")
        return self.ga4_export_dir if "://" in self.ga4_export_dir else Path(
            self.ga4_export_dir)

    def exports_root(self) -> Path:
        return Path(self.exports_dir)

    def reports_root(self) -> Path:
        return Path(self.reports_dir)

    def goals_path(self) -> Path:
        return Path(self.goals_file)

    def landing(self) -> LandingStore:
        """The landing area: a local folder, or a folder on an fsspec filesystem."""
        return LandingStore(self.landing_dir)

    def landing_root(self) -> Path | str:
        """The landing folder: a local path, or the URL of a folder elsewhere (a ``Path``
        would fold its ``//``)."""
        store = self.landing()
        return store.local if store.local is not None else str(store)


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
        default=settings.ACCOUNTS.default,
        description=f"Accounts YAML (${settings.ACCOUNTS.name}); required.")
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
    meta_attribution_windows: str = Field(
        default=settings.META_ATTRIBUTION_WINDOWS.default,
        description="The attribution windows Meta's ad conversions are counted in, asked "
                    "explicitly (action_attribution_windows), comma-separated: 1d_click, "
                    "7d_click, 28d_click, 1d_view, 1d_ev (7d_view and 28d_view retired on "
                    f"2026-01-12) (${settings.META_ATTRIBUTION_WINDOWS.name}).")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per request")
    max_attempts: int = Field(default=8, ge=1, description="Tries per request")
    max_total_wait_seconds: float = Field(
        default=300.0, ge=0, description="Longest a request keeps retrying, waits included")
    today: str | None = Field(default=None, description="Fix the pull date (tests)")

    def accounts_path(self) -> Path:
        if not self.accounts_file:
            raise ValueError(f"the API platforms need an accounts file: set "
                             f"${settings.ACCOUNTS.name} or accounts_file (see "
                             "kpi_pipeline/data/accounts.example.yaml)")
        return Path(self.accounts_file)

    def client(self) -> PlatformClient:
        from kpi_pipeline.lib.core.platforms.meta import parse_attribution_windows
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
                         today=today, meta_attribution_windows=parse_attribution_windows(
                             self.meta_attribution_windows))


def api_platforms_from_env() -> ApiPlatforms:
    """ApiPlatforms wired to the accounts file and the token (and key file) variables that
    are set (``dg.EnvVar``: the values are read when a run starts and never enter the
    definitions or the UI)."""
    credentials = {field: variable.wired()
                   for field, variable in settings.credential_variables().items()
                   if variable.is_set()}
    if settings.META_ATTRIBUTION_WINDOWS.is_set():
        credentials["meta_attribution_windows"] = settings.META_ATTRIBUTION_WINDOWS.wired()
    return ApiPlatforms(accounts_file=settings.ACCOUNTS.wired(), **credentials)


def _numbers_wired() -> dict[str, Any]:
    """The attribution and lifetime-value settings that are set, as typed ``dg.EnvVar``
    references (read when a run starts); unset ones keep the fields' defaults."""
    wired: dict[str, Any] = {}
    if settings.ATTRIBUTION_LOOKBACK_DAYS.is_set():
        wired["attribution_lookback_days"] = dg.EnvVar.int(
            settings.ATTRIBUTION_LOOKBACK_DAYS.name)
    if settings.ATTRIBUTION_HALF_LIFE_DAYS.is_set():
        wired["attribution_half_life_days"] = dg.EnvVar.int(
            settings.ATTRIBUTION_HALF_LIFE_DAYS.name)
    if settings.LTV_WINDOW_DAYS.is_set():
        wired["ltv_window_days"] = dg.EnvVar.int(settings.LTV_WINDOW_DAYS.name)
    return wired


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """The embedded default: DuckDB file, local landing folder, demo platforms, each field
    wired to its environment variable when that is set.

    ``KPI_PIPELINE_PLATFORMS=api`` swaps the demo for the real APIs (``ApiPlatforms``).
    """
    choice = settings.PLATFORMS.value()
    if choice not in ("demo", "api"):
        raise ValueError(f"{settings.PLATFORMS.name}={choice!r}: expected 'demo' or 'api'")
    platforms = DemoPlatforms() if choice == "demo" else api_platforms_from_env()
    warehouse = Warehouse(database=settings.DUCKDB.wired(), store=settings.STORE.wired(),
                          store_password=settings.STORE_PASSWORD.wired())
    paths = Settings(landing_dir=settings.LANDING.wired(), goals_file=settings.GOALS.wired(),
                     reports_dir=settings.REPORTS.wired(), exports_dir=settings.EXPORTS.wired(),
                     ga4_export_dir=settings.GA4_EXPORT.wired(),
                     **_numbers_wired())
    return {"warehouse": warehouse, "settings": paths, "platforms": platforms}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
