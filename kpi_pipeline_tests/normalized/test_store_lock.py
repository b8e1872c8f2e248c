"""The store lock's behaviours that the warehouse tests do not reach on their own."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kpi_pipeline.lib.normalized.store_lock import lock_path, store_lock


def test_the_lock_file_sits_beside_the_database():
    assert lock_path(Path("/x/store.duckdb")) == Path("/x/store.duckdb.lock")


def test_another_thread_of_the_process_joins_the_hold(tmp_path: Path):
    """DuckDB shares one database between a process's connections: a second thread must
    not wait for the first (it would wait out the timeout, or forever)."""
    lock, joined = tmp_path / "store.duckdb.lock", []

    def open_too() -> None:
        with store_lock(lock, timeout=0):
            joined.append(True)

    with store_lock(lock, timeout=0):
        thread = threading.Thread(target=open_too)
        thread.start()
        thread.join(timeout=10)
    assert joined == [True]


def test_a_dead_holder_blocks_nothing_and_the_file_stays(tmp_path: Path):
    lock = tmp_path / "store.duckdb.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom pathlib import Path\n"
         "from kpi_pipeline.lib.normalized.store_lock import store_lock\n"
         f"with store_lock(Path({str(lock)!r}), 5):\n"
         "    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError, match=re.escape(str(lock))), store_lock(lock, 0):
            pass
    finally:
        holder.kill()
        holder.wait()
    with store_lock(lock, timeout=0):
        pass
    assert lock.exists()  # left in place: unlinking would split waiters across two files
    fd = os.open(lock, os.O_RDWR)  # and released: a plain flock takes it at once
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
