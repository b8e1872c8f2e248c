"""Objects that live as long as the process, kept out of Python's cyclic garbage collector.

A run process imports Dagster, pandas and DuckDB, loads the definitions and, in a KPI run,
imports Great Expectations (matplotlib in a report run): millions of objects that stay
until the process ends. Every full collection of Python's cyclic garbage collector walks
all of them again, and a run triggers several: on a Monday's runs that was 1.1 to 1.4
CPU s of collections (``benchmarks/fast_path.py``, a Monday, with ``gc.callbacks``
timing them). ``gc.freeze`` moves what is alive to a generation the collector skips; what
is created afterwards is collected as usual.

Python starts a full collection only when the objects moved to the oldest generation
since the last one are a quarter of those it kept then, so once the long-lived objects
are frozen, full collections come more often (two in a Monday's ingest, 0.25 CPU s, where
the unfrozen process had none); but each walks only what is not frozen. Spacing them ten
times wider took those two away and raised the peak of ``make run`` by about 50 MB (776
against 724 MB): Python's own rhythm is kept.
"""

from __future__ import annotations

import gc
import importlib
from functools import cache
from types import ModuleType


@cache
def freeze_long_lived(after: str) -> None:
    """Freeze every object alive now, once per process for each ``after`` (what was just
    loaded: "definitions", or a module's name). Once: a frozen object is never
    collected, so a process that loads the definitions again and again (a test session)
    would otherwise keep the cyclic garbage alive at each load."""
    gc.freeze()


@cache
def import_long_lived(name: str) -> ModuleType:
    """The module ``name``, for a library imported by the first function that needs it
    rather than when the code location loads, then frozen; once per process.

    In the middle of a run the collector may hold garbage not yet collected: it is
    collected first, or the freeze would keep it for good. The import runs with
    collections off: all it makes is frozen right after, so no collection needs to walk
    it meanwhile. The collector is left as the caller had it."""
    gc.collect()  # the run's garbage so far, so that the freeze below keeps none of it
    collecting = gc.isenabled()
    gc.disable()
    try:
        module = importlib.import_module(name)
    finally:
        if collecting:
            gc.enable()
    freeze_long_lived(after=name)
    return module
