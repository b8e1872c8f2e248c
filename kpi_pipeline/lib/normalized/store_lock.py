"""The store's inter-process lock: one process at a time opens the DuckDB file.

DuckDB lets one process at a time hold a file for writing, and refuses even a read-only
open while another process writes ("Could not set lock on file ... Conflicting lock is
held"). Dagster's "duckdb" pool only serialises runs when a daemon or run coordinator
enforces it; runs started from several processes (CLI, tests, a multiprocess backfill)
would still collide. So every connection, reader or writer, holds an exclusive ``flock``
on the sibling file ``<database>.lock`` for its lifetime, and other processes wait for it.

Built on ``filelock`` rather than hand-written ``fcntl`` code, with its options chosen so
the lock keeps the properties the pipeline relies on:

- ``flock`` only (``fallback_to_soft=False``): the kernel releases the lock when its
  process dies, so a killed run never blocks the next. A filesystem without ``flock``
  fails loudly rather than falling back to a marker file a crash would leave behind.
- re-entrant across the process (``is_singleton=True``, ``thread_local=False``): DuckDB
  shares one database between a process's connections, so a nested open, or another
  thread's, joins the hold instead of waiting for itself.
- a forked child holds nothing: filelock closes the inherited descriptor in the child,
  which then waits like any other process and cannot keep its parent's lock alive.
- the lock file stays in place (``preserve_lock_file=True``): unlinking it would split
  waiters across two files, and other tools may lock the same path with plain ``flock``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_POLL_SECONDS = 0.05


def lock_path(database: Path) -> Path:
    """The lock file beside the database: ``<database>.lock``."""
    return database.with_name(database.name + ".lock")


@contextmanager
def store_lock(lock_file: Path, timeout: float) -> Iterator[None]:
    """Hold the exclusive lock on ``lock_file`` for the ``with`` block, waiting up to
    ``timeout`` seconds (0: one try) for another process to release it.

    Raises ``TimeoutError`` naming the lock file and what to do about it.
    """
    lock = FileLock(lock_file, mode=0o666, thread_local=False, is_singleton=True,
                    fallback_to_soft=False, preserve_lock_file=True)
    try:
        lock.acquire(timeout=timeout, poll_interval=LOCK_POLL_SECONDS)
    except Timeout:
        raise TimeoutError(
            f"DuckDB file lock {lock_file}: still held by another process after waiting "
            f"{timeout:g} s (a run writing or reading the warehouse). Let that run finish, "
            f"or raise the warehouse's lock_timeout_seconds.") from None
    try:
        yield
    finally:
        lock.release()
