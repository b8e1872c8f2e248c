"""What every asset of the project shares: its owners, and for DuckDB writers, a
single-run backfill policy (a range of partitions is one run) and the "duckdb" pool
(one writer at a time)."""

import dagster as dg

OWNERS = ["team:marketing-analytics"]

RANGE_IN_ONE_RUN = {"backfill_policy": dg.BackfillPolicy.single_run(), "owners": OWNERS}
DUCKDB_WRITER = {**RANGE_IN_ONE_RUN, "pool": "duckdb"}
