"""The one entry point of the code location: everything under ``defs/``, loaded by folder,
with the in-process executor for every job unless ``KPI_PIPELINE_EXECUTOR`` says
``multiprocess``.

Dagster's default executor starts a process per step, and each start pays the imports and
the loading of this code location (seconds) for steps that compute in a fraction of that;
the DuckDB file also admits one writer at a time, so steps gain nothing from running side
by side. One process per run (the run launcher's) is all a run on the file needs. On the
PostgreSQL store steps do write side by side, so ``multiprocess`` runs each step in its
own process, forked from a server that imported the code location once (Dagster's
``forkserver`` start with the definitions preloaded): a step starts in a fraction of a
second instead of paying the imports again.

The period assets get their automation conditions here, in the schedules' time zone
(``defs/schedules.py``): the order in which the layers run is carried by the asset graph.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from kpi_pipeline.defs import settings
from kpi_pipeline.defs.schedules import schedule_timezone, with_period_automation
from kpi_pipeline.lib.core.long_lived import freeze_long_lived

EXECUTORS = {
    "in_process": dg.in_process_executor,
    "multiprocess": dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": ["kpi_pipeline.definitions"]}}}),
}


def executor() -> dg.ExecutorDefinition:
    choice = settings.EXECUTOR.value()
    if choice not in EXECUTORS:
        raise ValueError(f"{settings.EXECUTOR.name}={choice!r}: expected one of "
                         f"{sorted(EXECUTORS)}")
    return EXECUTORS[choice]


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=executor()),
    )
    definitions = with_period_automation(loaded, schedule_timezone())
    freeze_long_lived(after="definitions")  # they live as long as the process
    return definitions
