"""``landing_files_valid``: each stream's landing files of the window are fit to normalize.

One blocking check per ``raw/<stream>`` asset (one factory). For every day of the run's
partition window it opens the stream's landing file and asks
``kpi_pipeline.lib.quality.landing_checks.landing_file_problems``: the file exists and
reads, parses with the stream's parser, covers the window the pull requested (recorded in
the envelope), and carries the expected metrics (Meta insights against the Meta metric
catalogue, a missing or retired metric named; other streams: the parsed rows' required
and metric columns filled). A failure stops the normalized table downstream in the same
run, and the reports' gate later.

Reads only the landing folder (no DuckDB), so it takes no pool.
"""

import dagster as dg
import pandas as pd

from kpi_pipeline.defs.partitions import daily_partitions, window_bounds, window_days
from kpi_pipeline.defs.resources import Settings
from kpi_pipeline.lib.quality.landing_checks import META_OBJECTS, landing_file_problems
from kpi_pipeline.lib.streams import STREAMS, Stream

LANDING_FILES_VALID = "landing_files_valid"
PROBLEMS_SHOWN = 50  # problems listed in the metadata (all are counted)


def _description(stream: Stream) -> str:
    metrics = ("its Meta insights carry every current metric of the Meta metric catalogue "
               "(data/meta_metrics.yaml) and no unknown or retired one"
               if stream.name in META_OBJECTS else
               "its parsed rows fill the table's required columns and the stream's metrics")
    return (f"Every {stream.name} landing file of the partition exists, reads, parses with "
            f"the {stream.name} parser and covers the day the pull asked for; {metrics}. "
            "Blocking: normalization and the reports wait for a clean pull.")


def landing_check(stream: Stream) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw", stream.name]),
        name=LANDING_FILES_VALID,
        description=_description(stream),
        blocking=True,
    )
    def _landing(context: dg.AssetCheckExecutionContext,
                 settings: Settings) -> dg.AssetCheckResult:
        if not (context.has_partition_key or context.has_partition_key_range):
            raise dg.Failure(f"{LANDING_FILES_VALID} on raw/{stream.name} checks one "
                             "partition window: run it with a partition or a range.")
        keys = context.partition_key_range
        window = dg.TimeWindow(daily_partitions.time_window_for_partition_key(keys.start).start,
                               daily_partitions.time_window_for_partition_key(keys.end).end)
        first, last = window_bounds(window)
        root = settings.landing_root()
        problems = [p for day in window_days(window)
                    for p in landing_file_problems(root, stream, day)]
        files = len(window_days(window))
        bad_files = sorted({p.file for p in problems})
        shown = [p.as_dict() for p in problems[:PROBLEMS_SHOWN]]
        table = (pd.DataFrame([{"day": p["day"], "kind": p["kind"], "detail": p["detail"]}
                               for p in shown]).to_markdown(index=False)
                 if shown else "No problem found.")
        return dg.AssetCheckResult(
            passed=not problems,
            description=None if not problems else (
                f"raw/{stream.name} {first}..{last}: {len(problems)} problem(s) in "
                f"{len(bad_files)} of {files} file(s): "
                + " | ".join(p.text() for p in problems[:5])),
            metadata={
                "partition_window": f"{first}..{last}",
                "files_checked": files,
                "files_with_problems": len(bad_files),
                "problem_count": len(problems),
                "problems": dg.MetadataValue.json(shown),
                "problems_table": dg.MetadataValue.md(table),
                "landing_dir": dg.MetadataValue.path(str(root / stream.name)),
            })

    return _landing


landing_checks = [landing_check(stream) for stream in STREAMS]
