"""``normalized/exports``: the drop folder of platform export files, as a source.

Many teams start from the CSV exports of the platforms' own analytics screens (Meta
Business Suite, LinkedIn page analytics, TikTok Studio, GA4). Files dropped in the export
folder (``settings.exports_dir``, ``$KPI_PIPELINE_EXPORTS``, default ``data/exports``)
with an optional ``exports.yaml`` are recognised by their columns and loaded into the
same normalized tables as the API streams (``lib/sources/exports/``).

Every file is read and validated first; if any fails, the asset fails naming each file,
line, column and rule, and nothing is written. Then, in ONE transaction, the export rows
of post_daily, account_daily and web_daily (``source_stream LIKE 'export:%'``) are
replaced by what the folder holds now: the folder is their source of truth (a file
removed from it takes its rows away at the next run). The API streams' rows are never
touched, and the daily normalized assets never delete export rows.

An empty folder loads zero rows (and removes earlier export rows); a folder that does not
exist changes nothing and says so, so a mistyped path cannot wipe the loaded exports.

``export_folder_sensor`` watches the folder (names, sizes and modification times of its
files) and runs ``exports_job`` when they change, so dropping a file is enough.
"""

import hashlib
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd

from kpi_pipeline.defs.conventions import DUCKDB_WRITER, OWNERS
from kpi_pipeline.defs.partitions import START
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.defs.settings import START_DATE as START_VARIABLE
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.normalized.export_tables import finish
from kpi_pipeline.lib.normalized.store import (
    ensure_tables,
    export_rows,
    key_conflicts,
    read_window,
    replace_exports,
)
from kpi_pipeline.lib.sources.exports.folder import (
    EXPORT_TABLES,
    ExportsFailed,
    FolderRead,
    read_folder,
)
from kpi_pipeline.lib.sources.exports.reading import ExportError

MAX_CONFLICTS_LISTED = 5


def _fx_rates(conn, read: FolderRead) -> pd.DataFrame:
    """The stored rates over the days of the export's web rows (none needed otherwise)."""
    web = read.frames.get("web_daily")
    if web is None or web.empty:
        return pd.DataFrame()
    days = pd.to_datetime(web["report_date"])
    first: date = days.min().date()
    last: date = days.max().date()
    return read_window(conn, "fx_daily", first, last)


def _conflicts(conn, read: FolderRead, frames: dict[str, pd.DataFrame]) -> list[ExportError]:
    """Export rows whose key an API stream already stored: one source per account and day."""
    errors = []
    for name, frame in frames.items():
        table = TABLES[name]
        clashes = key_conflicts(conn, table, frame)
        for position, stream in clashes.head(MAX_CONFLICTS_LISTED).itertuples(index=False):
            origin = read.origins[name].iloc[int(position)]
            key = ", ".join(f"{k}={frame.iloc[int(position)][k]}" for k in table.key)
            errors.append(ExportError(
                str(origin["file"]), f"{name} already holds ({key}) from the API stream "
                f"{stream!r}: the same account and day cannot come from both; remove the "
                "file or the account from one of the two sources", line=int(origin["line"])))
    return errors


def before_start(frames: dict[str, pd.DataFrame], start: date) -> dict[str, dict[str, object]]:
    """Per table, the export rows dated before the project's first partition day (their
    periods have no partition to be computed in) and the earliest of their dates."""
    found = {}
    for name, frame in frames.items():
        if frame.empty:
            continue
        days = pd.to_datetime(frame["report_date"]).dt.date
        early = days[days < start]
        if len(early):
            found[name] = {"rows": len(early), "earliest": early.min().isoformat()}
    return found


def _files_table(read: FolderRead) -> str:
    if not read.files:
        return "(no export files)"
    frame = pd.DataFrame([{k: v for k, v in r.summary().items()
                           if k in ("file", "format", "platform", "table", "rows", "encoding",
                                    "delimiter")} for r in read.files])
    return frame.to_markdown(index=False)


def _summary(read: FolderRead) -> dict[str, object]:
    duplicates = sum(int(r.quirks.get("duplicates_dropped", 0)) for r in read.files)
    return {
        "folder": str(read.folder),
        "files_read": len(read.files),
        "files": dg.MetadataValue.md(_files_table(read)),
        "formats_recognised": dg.MetadataValue.json(
            {r.name: r.format for r in read.files}),
        "rows_by_table": dg.MetadataValue.json(read.rows_by_table()),
        "duplicates_dropped": duplicates,
        "rows_merged_across_files": dg.MetadataValue.json(read.merged),
        "quirks": dg.MetadataValue.json({r.name: r.quirks for r in read.files if r.quirks}),
        "warnings": dg.MetadataValue.json({r.name: r.warnings for r in read.files
                                           if r.warnings}),
        "ignored_columns": dg.MetadataValue.json(
            {r.name: list(r.ignored_columns) for r in read.files if r.ignored_columns}),
        "skipped": dg.MetadataValue.json(read.skipped),
        "unused_manifest_entries": dg.MetadataValue.json(read.unused_manifest_entries),
    }


@dg.asset(
    key=["normalized", "exports"],
    group_name="normalized",
    owners=OWNERS,
    pool=DUCKDB_WRITER["pool"],
    kinds={"duckdb", "pandas", "csv"},
    code_version="2",  # 2: post snapshots get their daily increments
    deps=[dg.AssetKey(["normalized", "fx_daily"])],
    description=(
        "Rows of the platforms' own analytics exports (Meta Business Suite Facebook and "
        "Instagram posts and daily series, Facebook Insights and Live-seller files, "
        "LinkedIn page analytics, TikTok Studio, GA4 reports) dropped in the export folder, "
        "loaded into normalized.post_daily, account_daily and web_daily with source_stream "
        "'export:<format>' and api_version 'export:<file>'. Lifetime post exports are one "
        "post_daily snapshot per post dated the manifest's as_of. Not partitioned: each run "
        "replaces all export rows with the folder's content, in one transaction, after "
        "every file has been validated. Grain and keys: those of the target tables."),
)
def exports(context: dg.AssetExecutionContext, warehouse: Warehouse,
            settings: Settings) -> dg.MaterializeResult:
    """The export drop folder loaded into the normalized tables (see the module docstring)."""
    folder = settings.exports_root()
    try:
        read = read_folder(folder)
    except ExportsFailed as exc:
        raise dg.Failure(description=str(exc), metadata={
            "folder": str(folder), "problems": len(exc.errors),
            "files_failed": dg.MetadataValue.json(sorted({e.file for e in exc.errors}))},
        ) from exc
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        if not read.exists:
            kept = {t: n for t, n in export_rows(conn).items() if t in EXPORT_TABLES}
            context.log.warning(f"export folder {folder} does not exist: nothing read, the "
                                f"{sum(kept.values())} export row(s) already stored are kept")
            return dg.MaterializeResult(metadata={
                "folder": str(folder), "files_read": 0, "dagster/row_count": 0,
                "decision": "no folder: nothing read, stored export rows kept",
                "export_rows_kept": dg.MetadataValue.json(kept)})
        try:
            frames = finish(read, _fx_rates(conn, read), settings.reporting_currency)
            conflicts = _conflicts(conn, read, frames)
            if conflicts:
                raise ExportsFailed(folder, conflicts)
        except ExportsFailed as exc:
            raise dg.Failure(description=str(exc), metadata={
                "folder": str(folder), "problems": len(exc.errors),
                "files_failed": dg.MetadataValue.json(sorted({e.file for e in exc.errors}))},
            ) from exc
        counts = replace_exports(conn, frames)
    early = before_start(frames, START)
    if early:
        earliest = min(v["earliest"] for v in early.values())
        context.log.warning(
            f"{sum(v['rows'] for v in early.values())} export row(s) are dated before the "
            f"project's start {START} (earliest {earliest}): they are stored, but no KPI "
            f"partition holds their periods. Set {START_VARIABLE.name}={earliest} (or earlier) "
            "and reload the code location to compute them.")
    for report in read.files:
        for warning in report.warnings:
            context.log.warning(f"{report.name} ({report.format}): {warning}")
    for entry in read.skipped:
        context.log.info(f"not read: {entry['file']} ({entry['reason']})")
    inserted = sum(n for _, n in counts.values())
    decision = (f"loaded {inserted} row(s) from {len(read.files)} file(s)" if read.files
                else "empty folder: zero rows; earlier export rows removed")
    context.log.info(f"normalized/exports: {decision} ({folder})")
    return dg.MaterializeResult(metadata={
        **_summary(read),
        "dagster/row_count": inserted,
        "rows_before_start": dg.MetadataValue.json(early),
        "rows_replaced": dg.MetadataValue.json(
            {t: {"deleted": d, "inserted": i} for t, (d, i) in counts.items()}),
        "decision": decision,
    })


exports_job = dg.define_asset_job(
    name="exports_job",
    selection=dg.AssetSelection.assets(["normalized", "exports"]),
    description="Load the export drop folder into the normalized tables.",
)


def folder_fingerprint(folder: Path) -> str | None:
    """A digest of the folder's visible files (name, size, modification time), or None
    when the folder does not exist. Any added, removed or rewritten file changes it."""
    if not folder.is_dir():
        return None
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                     for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return hashlib.sha256(repr(entries).encode()).hexdigest()[:16]


@dg.sensor(
    name="export_folder_sensor",
    job=exports_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Loads the export drop folder when a file is added, removed or rewritten.",
)
def export_folder_sensor(context: dg.SensorEvaluationContext,
                         settings: Settings) -> dg.SensorResult | dg.SkipReason:
    folder = settings.exports_root()
    fingerprint = folder_fingerprint(folder)
    if fingerprint is None:
        return dg.SkipReason(f"export folder {folder} does not exist")
    if fingerprint == context.cursor:
        return dg.SkipReason(f"export folder {folder} unchanged")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=fingerprint)], cursor=fingerprint)
