"""Raw layer: one daily-partitioned asset per source stream.

Each materialization pulls its stream for every day of the partition window and lands
exactly what the source returned, one compressed envelope per stream and day, replaced
atomically on re-pull. Nothing here touches DuckDB, so pulls never wait for the writer;
pulls of one platform share a pool, so a backfill stays within its rate limits.
"""


import dagster as dg

from kpi_pipeline.defs.conventions import puller
from kpi_pipeline.defs.partitions import daily_partitions, window_days
from kpi_pipeline.defs.resources import PlatformsResource, Settings
from kpi_pipeline.lib.landing import write_envelope
from kpi_pipeline.lib.streams import STREAMS, Stream


def raw_asset(stream: Stream) -> dg.AssetsDefinition:
    """The landing asset of one stream (one factory, one asset per stream)."""

    @dg.asset(
        **puller(stream.platform),
        key=["raw", stream.name],
        description=(
            f"{stream.description}\n\nGrain: one landing file per local day holding every "
            f"account's requests and untouched response bodies ({stream.platform}, API "
            f"{stream.api_version}). Feeds normalized/{stream.table}."
        ),
        partitions_def=daily_partitions,
        group_name="raw",
        kinds={"python", "json"},
        code_version="1",
        tags={"platform": stream.platform},
        metadata={"stream": stream.name, "api_version": stream.api_version,
                  "normalized_table": stream.table},
    )
    def _raw(context: dg.AssetExecutionContext, platforms: PlatformsResource,
             settings: Settings) -> dg.MaterializeResult:
        client = platforms.client()
        root = settings.landing_root()
        days = window_days(context.partition_time_window)
        files, requests, size = [], 0, 0
        for day in days:
            envelope = client.pull_envelope(stream, day)
            path = write_envelope(root, envelope)
            files.append(path)
            requests += sum(len(a["requests"]) for a in envelope["accounts"])
            size += path.stat().st_size
        context.log.info(f"{stream.name}: landed {len(files)} file(s), {requests} request(s)")
        return dg.MaterializeResult(metadata={
            "partition_window": f"{days[0]}..{days[-1]}",
            "files": len(files),
            "requests": requests,
            "bytes": size,
            "source": client.source,
            "landing_dir": dg.MetadataValue.path(str(root / stream.name)),
            "last_file": dg.MetadataValue.path(str(files[-1])),
        })

    return _raw


raw_assets = [raw_asset(stream) for stream in STREAMS]
