"""Jobs and schedules: what runs when.

``daily_ingest_job`` pulls every stream and rebuilds the normalized tables for a range of
local days in one run (single-run backfill policies). The daily schedule runs it every
morning for the day that just closed.
"""

from __future__ import annotations

import dagster as dg

INGEST_SELECTION = dg.AssetSelection.groups("raw", "normalized")

daily_ingest_job = dg.define_asset_job(
    name="daily_ingest_job",
    selection=INGEST_SELECTION,
    description="Pull every source stream and rebuild the validated normalized tables.",
)

daily_ingest_schedule = dg.build_schedule_from_partitioned_job(
    daily_ingest_job,
    hour_of_day=6,
    minute_of_hour=15,
    name="daily_ingest_schedule",
    description="Every morning: pull and normalize the day that just closed.",
)
