"""What every asset of the project shares: its owners; for DuckDB writers a
single-run backfill policy (a range of partitions is one run) and the "duckdb" pool (one
writer at a time); for pulls a backfill of one partition per run and a pool per
platform, so a backfill's pulls are bounded by platform, below its rate limits."""

import dagster as dg

OWNERS = ["team:marketing-analytics"]

RANGE_IN_ONE_RUN = {"backfill_policy": dg.BackfillPolicy.single_run(), "owners": OWNERS}
DUCKDB_WRITER = {**RANGE_IN_ONE_RUN, "pool": "duckdb"}


def puller(platform: str) -> dict:
    """A pull's policies: a UI backfill launches one run per day (a failed day retries
    alone), and pulls of one platform share the pool ``pull_<platform>`` (limit 1 by
    default in dagster.yaml; raise it per platform with ``dagster instance concurrency
    set pull_meta 2``). A range run (CLI, schedule) still pulls every day of its range."""
    return {"backfill_policy": dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
            "owners": OWNERS, "pool": f"pull_{platform}"}
