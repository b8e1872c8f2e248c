"""The one entry point of the code location: everything under ``defs/``, loaded by folder,
with the in-process executor for every job.

Dagster's default executor starts a process per step, and each start pays the imports and
the loading of this code location (seconds) for steps that compute in a fraction of that;
DuckDB also admits one writer at a time, so steps gain nothing from running side by side.
One process per run (the run launcher's) is all a run of this project needs.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=dg.in_process_executor),
    )
