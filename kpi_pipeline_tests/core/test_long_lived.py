"""What the run process loads once is frozen out of the cyclic garbage collector."""

from __future__ import annotations

import gc
import weakref

from kpi_pipeline.definitions import defs
from kpi_pipeline.lib.core.long_lived import freeze_long_lived, import_long_lived
from kpi_pipeline.lib.kpis.expectations import great_expectations


def tracked(obj: object) -> bool:
    """Whether the collector still walks ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


def test_the_first_load_of_the_definitions_is_frozen_and_later_loads_are_not():
    freeze_long_lived.cache_clear()  # as in a fresh run process
    first = defs()
    assert not tracked(first)
    again = defs()  # a process loading them again keeps collecting what it drops
    assert tracked(again)


def test_great_expectations_is_frozen_once_imported_and_the_collector_left_as_found():
    gx = great_expectations()
    assert not tracked(gx.expectations.ExpectColumnValuesToBeBetween)
    assert gc.isenabled()
    gc.disable()  # a caller that turned the collector off keeps it off
    try:
        import_long_lived.__wrapped__("great_expectations")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_garbage_pending_at_a_late_import_is_collected_not_frozen_for_good():
    class Node:
        pass

    gc.disable()  # the garbage stays pending until the import
    try:
        node = Node()
        node.itself = node  # a cycle: only the collector frees it
        pending = weakref.ref(node)
        del node
        import_long_lived.__wrapped__("json")
        assert pending() is None
    finally:
        gc.enable()
