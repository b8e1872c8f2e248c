"""A store lock held by another process, as a run holds it, for the tests of what must
not wait for the store (sensors, the report gate)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOLDER = """import fcntl, sys, time
f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX)
print('held', flush=True); time.sleep(60)
"""


@contextmanager
def lock_held_elsewhere(lock: str | Path) -> Iterator[subprocess.Popen]:
    """Hold ``lock`` exclusively in a child process for the ``with`` block; the child is
    yielded so a test can assert it still held the lock at the end."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()
