"""Raw layer: one asset per platform, partitioned by ingest week.

A materialization pulls the platform's streams for the closed days of its partition
window and lands exactly what the source returned, one compressed envelope per stream and
day, replaced atomically. Which days it pulls:

- every closed day without a landing file (a backfill, a new week's day);
- every day inside the stream's re-read window (``Stream.reread_days``, ending yesterday):
  the platforms restate those;
- with ``repull`` set in the launchpad, every closed day of the window.

A day already landed outside the re-read window is kept: the platforms' answer for it no
longer changes, and a lifetime post snapshot cannot be pulled again for a past day (the
API only knows today's totals). Days from today on are not closed and are never pulled.

Days are closed in the schedules' time zone (``KPI_PIPELINE_SCHEDULE_TIMEZONE``), as
the morning schedule that asks for them counts them.

``landing_files_valid`` (blocking) is decided here, from the envelopes as they were
pulled, before they are written: every account records a window holding its day, and
Meta insights carry the metrics of the Meta metric catalogue. A pull with a problem is
not landed: it is set aside under ``_rejected/`` in the landing folder for inspection,
the day's landed file (if any) stays as it was, and a day never landed is pulled again
on the next run, so it keeps failing until the platform answers cleanly; every file
that lands has passed. Nothing here touches
DuckDB, so pulls never wait for the writer; pulls of one platform share a pool, so a
backfill stays within the platform's rate limits.
"""

from datetime import date, timedelta

import dagster as dg
import pandas as pd
from pydantic import Field

from kpi_pipeline.defs.conventions import puller
from kpi_pipeline.defs.partitions import ingest_weeks, window_days
from kpi_pipeline.defs.resources import PlatformsResource, Settings
from kpi_pipeline.defs.schedules import schedule_today
from kpi_pipeline.lib.core.landing import write_envelope
from kpi_pipeline.lib.core.streams import Stream, platforms, streams_for_platform
from kpi_pipeline.lib.sources.landing_checks import (
    META_OBJECTS,
    Problem,
    envelope_problems,
)

LANDING_FILES_VALID = "landing_files_valid"
PROBLEMS_SHOWN = 50  # problems listed in the metadata (all are counted)


class PullConfig(dg.Config):
    """What a raw materialization pulls again."""

    repull: bool = Field(
        default=False,
        description="Pull every closed day of the partitions again, also the days already "
                    "landed outside the streams' re-read windows. For the real APIs a past "
                    "day's lifetime post snapshot then holds today's totals.")
    days: list[str] = Field(
        default_factory=list,
        description="Pull exactly these closed days of the partitions (YYYY-MM-DD), landed "
                    "or not, and no other. Empty: the days the rule above chooses.")


def days_to_pull(stream: Stream, days: list[date], today: date, landed: set[date],
                 repull: bool = False, only: set[date] | None = None) -> list[date]:
    """The closed days of ``days`` to pull for ``stream``: those not landed yet, those in
    its re-read window ending yesterday, or all of them with ``repull``; with ``only``,
    exactly those days."""
    reread_from = today - timedelta(days=stream.reread_days)
    if only:
        return [day for day in days if day < today and day in only]
    return [day for day in days if day < today
            and (repull or day not in landed or day >= reread_from)]


def _check_description(platform: str) -> str:
    meta = [s.name for s in streams_for_platform(platform) if s.name in META_OBJECTS]
    metrics = (f"; the Meta insights ({', '.join(meta)}) carry every current metric of the "
               "Meta metric catalogue (data/meta_metrics.yaml) and no unknown or retired one"
               if meta else "")
    return (f"Every {platform} pull of the partition records, for every account, a window "
            f"holding the day it was pulled for{metrics}. Decided from the answers as "
            "pulled, before they are written. Blocking: normalization and the reports wait "
            "for a clean pull.")


def check_result(problems: list[Problem], first: date, last: date,
                 files: int) -> dg.AssetCheckResult:
    """``landing_files_valid`` from the problems found in a run's ``files`` pulls. It
    judges the whole window: its landed files all passed when they landed."""
    bad_files = sorted({p.file for p in problems})
    shown = [p.as_dict() for p in problems[:PROBLEMS_SHOWN]]
    table = (pd.DataFrame([{"day": p["day"], "stream": p["stream"], "kind": p["kind"],
                            "detail": p["detail"]} for p in shown]).to_markdown(index=False)
             if shown else "No problem found.")
    return dg.AssetCheckResult(
        check_name=LANDING_FILES_VALID,
        passed=not problems,
        description=None if not problems else (
            f"{first}..{last}: {len(problems)} problem(s) in {len(bad_files)} of {files} "
            "pulled file(s), set aside under _rejected/ and not landed: "
            + " | ".join(p.text() for p in problems[:5])),
        metadata={
            "partition_window": f"{first}..{last}",
            "files_checked": files,
            "files_with_problems": len(bad_files),
            "problem_count": len(problems),
            "problems": dg.MetadataValue.json(shown),
            "problems_table": dg.MetadataValue.md(table),
        })


# A platform's version moves when what it asks changes. 3 (meta, tiktok): campaign reports
# ask for the campaign objective.
CODE_VERSIONS = {"meta": "3", "tiktok": "3"}


def raw_asset(platform: str) -> dg.AssetsDefinition:
    """The landing asset of one platform (one factory, one asset per platform)."""
    streams = streams_for_platform(platform)
    key = dg.AssetKey(["raw", platform])
    tables = sorted({s.table for s in streams})

    @dg.asset(
        **puller(platform),
        key=key,
        description=(
            f"Every {platform} stream pulled for the closed days of the week: "
            + "; ".join(f"{s.name} ({s.description.rstrip('.')})" for s in streams)
            + ". Grain: one landing file per stream and local day holding every account's "
            f"requests and untouched response bodies. Feeds normalized/"
            f"{', normalized/'.join(tables)}."),
        check_specs=[dg.AssetCheckSpec(LANDING_FILES_VALID, asset=key, blocking=True,
                                       description=_check_description(platform))],
        partitions_def=ingest_weeks,
        group_name="raw",
        kinds={"python", "json"},
        code_version=CODE_VERSIONS.get(platform, "2"),
        tags={"platform": platform},
        metadata={"streams": ", ".join(s.name for s in streams),
                  "api_versions": ", ".join(sorted({s.api_version for s in streams})),
                  "normalized_tables": ", ".join(tables)},
    )
    def _raw(context: dg.AssetExecutionContext, config: PullConfig,
             platforms: PlatformsResource, settings: Settings) -> dg.MaterializeResult:
        client = platforms.client()
        store = settings.landing()
        today = schedule_today(client.now())
        days = window_days(context.partition_time_window)
        problems: list[Problem] = []
        pulled, kept, requests, size, rejected = {}, {}, 0, 0, 0
        for stream in streams:
            landed = store.landed_days(stream.name) & set(days)
            chosen = days_to_pull(stream, days, today, landed, config.repull,
                                  {date.fromisoformat(d) for d in config.days})
            for day in chosen:
                envelope = client.pull_envelope(stream, day)
                found = envelope_problems(stream, envelope, day,
                                          store.rejected_path(stream.name, day))
                path = write_envelope(store, envelope, rejected=bool(found))
                problems += found
                rejected += bool(found)
                requests += sum(len(a["requests"]) for a in envelope["accounts"])
                size += store.size(path)
            pulled[stream.name] = len(chosen)
            kept[stream.name] = len(landed - set(chosen))
        closed = [day for day in days if day < today]
        files = sum(pulled.values())
        context.log.info(f"raw/{platform}: pulled {files} file(s) with {requests} "
                         f"request(s), kept {sum(kept.values())} landed file(s)"
                         + (f", set {rejected} aside under _rejected/" if rejected else ""))
        first, last = days[0], days[-1]
        return dg.MaterializeResult(
            metadata={
                "partition_window": f"{first}..{last}",
                "closed_days": len(closed),
                "files_pulled": files,
                "files_rejected": rejected,
                "files_kept": sum(kept.values()),
                "pulled_by_stream": dg.MetadataValue.json(pulled),
                "requests": requests,
                "bytes_pulled": size,
                "source": client.source,
                "landing_dir": dg.MetadataValue.path(str(store)),
            },
            check_results=[check_result(problems, first, last, files)])

    return _raw


raw_assets = [raw_asset(platform) for platform in platforms()]
