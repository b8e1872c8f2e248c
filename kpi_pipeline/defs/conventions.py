"""What every asset of the project shares: its owners; a single-run backfill policy (a
range of partitions is one run, also for the pulls, so a backfill of the ingest job is
one run, not one per week); for DuckDB writers the "duckdb" pool (one writer at a time);
for pulls a pool per platform, so a backfill's pulls are bounded by platform, below its
rate limits."""

import dagster as dg

OWNERS = ["team:marketing-analytics"]

RANGE_IN_ONE_RUN = {"backfill_policy": dg.BackfillPolicy.single_run(), "owners": OWNERS}
DUCKDB_WRITER = {**RANGE_IN_ONE_RUN, "pool": "duckdb"}


def puller(platform: str) -> dict:
    """A pull's policies: a range of weeks is one run that pulls its days one after the
    other, and pulls of one platform share the pool ``pull_<platform>`` (limit 1 by
    default in dagster.yaml; raise it per platform with ``dagster instance concurrency
    set pull_meta 2``)."""
    return {**RANGE_IN_ONE_RUN, "pool": f"pull_{platform}"}
