"""The one entry point of the code location: everything under ``defs/``, loaded by folder,
with the in-process executor for every job.

Dagster's default executor starts a process per step, and each start pays the imports and
the loading of this code location (seconds) for steps that compute in a fraction of that;
DuckDB also admits one writer at a time, so steps gain nothing from running side by side.
One process per run (the run launcher's) is all a run of this project needs.

The period assets get their automation conditions here, in the schedules' time zone
(``defs/schedules.py``): the order in which the layers run is carried by the asset graph.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from kpi_pipeline.defs.schedules import schedule_timezone, with_period_automation


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=dg.in_process_executor),
    )
    return with_period_automation(loaded, schedule_timezone())
