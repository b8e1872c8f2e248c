"""Objects that live as long as the process, kept out of Python's cyclic garbage collector.

A run process imports Dagster, pandas and DuckDB, loads the definitions and, in a KPI run,
imports Great Expectations: millions of objects that stay until the process ends. Every
full collection of Python's cyclic garbage collector walks all of them again, and a run
triggers several: on a Monday's runs that was 1.1 to 1.4 CPU s of collections
(``benchmarks/fast_path.py``, a Monday, with ``gc.callbacks`` timing them). ``gc.freeze``
moves what is alive to a generation the collector skips; what is created afterwards is
collected as usual.
"""

from __future__ import annotations

import gc
from functools import cache


@cache
def freeze_long_lived(after: str) -> None:
    """Freeze every object alive now, once per process for each ``after`` (what was just
    loaded: "definitions", "great_expectations"). Once: a frozen object is never
    collected, so a process that loads the definitions again and again (a test session)
    would otherwise keep the cyclic garbage alive at each load."""
    gc.freeze()
