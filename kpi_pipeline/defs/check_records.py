"""Reading a code location's asset-check evaluations from Dagster's check execution
records, the way the alert sensor and the report gate both need them: check by check,
newest first, in pages that start small and grow, up to a bound. The event log is never
scanned, and nothing here opens the store, so neither waits for a run that holds it.

Dagster 1.13 has no public API for check execution records, so this module is the one
place that imports them from Dagster's internals (a test allows it here only): a Dagster
upgrade that moves them breaks one import, not the sensor and the gate."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Set

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

CheckRecord = AssetCheckExecutionRecord
CheckStatus = AssetCheckExecutionRecordStatus
PLANNED = AssetCheckExecutionRecordStatus.PLANNED  # started, not evaluated yet
COMPLETED = COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES  # evaluated

PAGE_GROWTH = 4  # each page this many times the one before


def check_keys(graph, layers: Collection[str] | None = None) -> list[dg.AssetCheckKey]:
    """The check keys in an asset ``graph`` (of the ``layers`` only, by first asset-key
    element, when given), in a stable order."""
    return sorted((key for key in graph.asset_check_keys
                   if layers is None or key.asset_key.path[0] in layers),
                  key=lambda key: key.to_user_string())


def record_pages(instance: dg.DagsterInstance, key: dg.AssetCheckKey, *, first: int,
                 most: int, before: int | None = None,
                 statuses: Set[CheckStatus] | None = None,
                 ) -> Iterator[list[CheckRecord]]:
    """Pages of ``key``'s execution records with id < ``before``, newest (highest id)
    first: the first page ``first`` long, each next one PAGE_GROWTH times longer, ``most``
    records in all. Ends after a short page; a caller that has what it needs stops."""
    storage = instance.event_log_storage
    size, read = first, 0
    while read < most:
        size = min(size, most - read)
        page = storage.get_asset_check_execution_history(key, limit=size, cursor=before,
                                                         status=statuses)
        yield page
        read += len(page)
        if len(page) < size:
            return
        before, size = page[-1].id, size * PAGE_GROWTH
