"""Normalized layer: validated DuckDB tables built from the landing files, by ingest week.

Each asset reads every landing file of its streams for the partition window ONCE, inside
DuckDB (``lib.normalized.parsing.parse_files``: ``read_json`` and each stream's SQL),
adds what the table derives (reporting-currency money, UTM platforms:
``lib.normalized.derived``), validates every row with pandera BEFORE anything is
written, then replaces the window in one transaction. The checks returned with each
materialization (``checks.py``) judge what was just read and written; none reads a
landing file again.

A long window (a backfill) is read in chunks of consecutive days holding at most
``CHUNK_BYTES`` of landing files; the valid rows of every chunk gather in a temporary
staging table (DuckDB spills it to disk past its memory limit), so memory does not grow
with the history and the window is still replaced in one
transaction. The window ends on the last day with a landing file: the days of the week in
progress that are not closed yet are left alone.

Rows breaking a row-level rule (negative count, non-finite number, unknown code, NULL
key, date outside the window) are quarantined in ``quality.quarantine`` in that same
transaction while the valid rows are written, as long as they are at most the
quarantine threshold's share of the window (``lib/normalized/quarantine.py``). Above it, or
on a table-level failure (missing column, wrong type, duplicate key, unreadable payload,
a pull whose rows do not cover its window), the asset fails with a message naming the
source, partition, column, rule and example rows, and every table keeps what it had.
"""


from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import pandas as pd

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.normalized.checks import (
    check_specs,
    dates_in_partition_result,
    schema_valid_result,
    unique_key_result,
    volume_in_band_result,
)
from kpi_pipeline.defs.normalized.reconciliation import (
    RECONCILED_COLUMNS,
    Totals,
    reconciliation_result,
)
from kpi_pipeline.defs.partitions import ingest_weeks, window_bounds, window_days
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.defs.settings import QUARANTINE_THRESHOLD
from kpi_pipeline.lib.core.landing import LandingError, LandingStore
from kpi_pipeline.lib.core.schemas import (
    DUCKDB_TYPES,
    TABLES,
    Table,
    coerce_frame,
    describe_failures,
    screen,
)
from kpi_pipeline.lib.core.streams import Stream, streams_for_table
from kpi_pipeline.lib.normalized.derived import RATE_TABLES, derived
from kpi_pipeline.lib.normalized.parsing import parse_files, parse_threads, typed_parse
from kpi_pipeline.lib.normalized.quarantine import (
    THRESHOLD_ENV,
    empty_rows,
    quarantine_rows,
    quarantine_threshold,
)
from kpi_pipeline.lib.normalized.store import ensure_tables, replace_window_from
from kpi_pipeline.lib.sources.landing_checks import Problem, row_problems

PREVIEW_ROWS = 10
# A long window is parsed and validated in chunks of consecutive days whose landing files
# hold at most this many (compressed) bytes: each chunk pays a fixed cost (SQL to bind per
# stream) and holds its files' JSON in DuckDB while it is parsed, and pandera's validation
# copies its frames. A budget in bytes rather than days keeps the peak where the bulkiest
# table puts it (post_daily: about 6 weeks of the demo's posts per chunk) while the small
# tables (accounts, ads, web, email, rates) read two years in one or two chunks, and a
# chunk never stops short of one whole day. Measured over a two-year ingest with the
# warehouse's 200MB memory limit in benchmarks/RESULTS.md (2 MB since DuckDB 1.4, whose
# JSON reader holds more outside that limit than 2.0 did).
CHUNK_BYTES = 2 << 20
STAGING = "staging_rows"
PROBLEMS_SHOWN = 20

# 5: post_daily stores daily increments; 6 (ad_daily): each campaign's objective.
CODE_VERSIONS = {"ad_daily": "6"}


def materialization_metadata(table: Table, preview: pd.DataFrame, rows: int,
                             by_platform: dict[str, int], start: date,
                             end: date) -> dict[str, object]:
    """Row count, window, per-platform counts and a preview for the Dagster UI."""
    meta: dict[str, object] = {
        "dagster/row_count": rows,
        "partition_window": f"{start}..{end}",
        "table": f"normalized.{table.name}",
        "primary_key": ", ".join(table.key),
        "preview": dg.MetadataValue.md(
            preview.astype("string").to_markdown(index=False) if len(preview)
            else "(no rows)"),
    }
    if by_platform:
        meta["rows_by_platform"] = dg.MetadataValue.json(by_platform)
    return meta


@dataclass(frozen=True)
class Built:
    """One window (or chunk) of a table, ready to write: the valid rows, the quarantine
    rows of the rejected ones, how many records were considered and rejected, and the
    rejected rows described (source, partition, column, rule, example rows)."""

    frame: pd.DataFrame
    quarantine: pd.DataFrame
    considered: int
    rejected: int
    rejections: str = ""


def build_table(table: Table, parsed: pd.DataFrame, conn: duckdb.DuckDBPyConnection,
                settings: Settings, start: date, end: date, *,
                landing_days: pd.Series | None = None, run_id: str | None = None,
                now: datetime | None = None) -> Built:
    """Enrich, type and screen one window of ``table``; raises before any write on a
    table-level failure. Rows breaking a row-level rule come back as quarantine rows."""
    streams = streams_for_table(table.name)
    if parsed.empty:
        return Built(coerce_frame(table, pd.DataFrame(columns=table.column_names)),
                     empty_rows(), 0, 0)
    source = ", ".join(s.name for s in streams)
    now = now or datetime.now(UTC)
    # Dates first: an out-of-window row would otherwise surface as a confusing
    # missing-rate error while deriving.
    dated = screen(table, parsed, source=source, start=start, end=end, only=("report_date",))
    frame = coerce_frame(table, derived(table.name, conn, dated.valid,
                                        settings.reporting_currency, start, end))
    # Every rule at once: a table-level failure raises, and the rows left are those that
    # broke none (validating them again would find nothing new).
    checked = screen(table, frame, source=source, start=start, end=end)
    valid = checked.valid
    # The quarantine keeps each record as parsed (fx rows are reshaped: keep the table row).
    records = frame if table.name == "fx_daily" else parsed
    common = {"start": start, "end": end, "run_id": run_id, "quarantined_at": now}
    quarantine = pd.concat([
        quarantine_rows(table.name, table.key, parsed, dated.failures, records=parsed,
                        partition_dates=landing_days, **common),
        quarantine_rows(table.name, table.key, frame, checked.failures, records=records,
                        **common),
    ], ignore_index=True)
    rejected = len(dated.rejected_index) + len(checked.rejected_index)
    rejections = "\n".join(
        describe_failures(table, df, screened.failures, source=source, start=start, end=end,
                          outcome="")
        for df, screened in ((parsed, dated), (frame, checked)) if len(screened.failures))
    return Built(valid, quarantine, len(dated.rejected_index) + len(frame), rejected,
                 rejections)


def landing_files(streams: tuple[Stream, ...], store: LandingStore,
                  days: list[date]) -> tuple[dict[str, list[tuple]], date | None]:
    """Each stream's landing files of ``days`` in ``store`` up to the last day any of them
    has one, and that day (None: no file at all). A missing file before it is an error
    naming it."""
    present = {s.name: store.landed_days(s.name) & set(days) for s in streams}
    landed = set().union(*present.values())
    if not landed:
        return {s.name: [] for s in streams}, None
    last = max(landed)
    for stream in streams:
        for day in days:
            if day <= last and day not in present[stream.name]:
                path = store.path(stream.name, day)
                raise LandingError(f"{stream.name} {day}: no landing file at {path}. "
                                   f"Materialize raw/{stream.platform} for this partition "
                                   "first.")
    return ({s.name: [(store.path(s.name, d), d) for d in days if d <= last]
             for s in streams}, last)


def chunks(files: dict[str, list[tuple]], start: date, end: date, store: LandingStore,
           budget: int = CHUNK_BYTES) -> list[tuple[date, date]]:
    """``start``..``end`` cut into runs of consecutive days whose landing files (every
    stream's, ``files`` as ``landing_files`` returns them, in ``store``) hold at most
    ``budget`` bytes; a day larger than the budget is a chunk of its own."""
    size: dict[date, int] = {}
    for stream_files in files.values():
        for path, day in stream_files:
            size[day] = size.get(day, 0) + store.size(path)
    found, first, held = [], start, 0
    day = start
    while day <= end:
        if held and held + size.get(day, 0) > budget:
            found.append((first, day - timedelta(days=1)))
            first, held = day, 0
        held += size.get(day, 0)
        day += timedelta(days=1)
    found.append((first, end))
    return found


def parse_stream(conn: duckdb.DuckDBPyConnection, stream: Stream,
                 files: list[tuple]) -> tuple[pd.DataFrame, pd.Series, list[Problem]]:
    """One stream's files parsed inside DuckDB: the rows (pandas, typed), the day of the
    landing file each row came from, and the problems the rows show about their files."""
    name = parse_files(conn, stream.name, files)
    problems = row_problems(conn, stream, name)
    frame = conn.execute(f"SELECT * FROM {name}").df()
    conn.execute(f"DROP TABLE {name}")
    landing_days = frame.pop("landing_day").astype("datetime64[ns]")
    return typed_parse(stream.name, frame), landing_days, problems


@dataclass
class Window:
    """What a run learns while it builds a window chunk by chunk."""

    considered: int = 0
    rejected: int = 0
    quarantine: list[pd.DataFrame] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    written: int = 0
    by_platform: dict[str, int] = field(default_factory=dict)
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)
    landing: Totals | None = None
    outside: list[str] = field(default_factory=list)

    def add(self, table: Table, built: Built, parsed: pd.DataFrame,
            settings: Settings) -> None:
        self.considered += built.considered
        self.rejected += built.rejected
        if len(built.quarantine):
            self.quarantine.append(built.quarantine)
        if built.rejections:
            self.rejections.append(built.rejections)
        self.written += len(built.frame)
        if "platform" in built.frame.columns and len(built.frame):
            for platform, count in built.frame["platform"].fillna("(none)").value_counts(
                    ).items():
                self.by_platform[str(platform)] = self.by_platform.get(str(platform), 0) \
                    + int(count)
        self.preview = built.frame.head(PREVIEW_ROWS) if len(built.frame) else self.preview
        totals = Totals.of_parsed(table, parsed, settings, RECONCILED_COLUMNS[table.name])
        self.landing = totals if self.landing is None else self.landing + totals

    def quarantined(self) -> pd.DataFrame:
        return pd.concat([empty_rows(), *self.quarantine], ignore_index=True) \
            if self.quarantine else empty_rows()

    @property
    def share(self) -> float:
        return self.rejected / self.considered if self.considered else 0.0



def quarantine_rules(quarantine: pd.DataFrame) -> dict[str, int]:
    """Quarantined records per "column: rule"."""
    counts = (quarantine.groupby(["column_name", "rule"]).size() if len(quarantine)
              else pd.Series(dtype=int))
    return {f"{c}: {r}": int(n) for (c, r), n in counts.items()}


def _staging(conn: duckdb.DuckDBPyConnection, table: Table) -> None:
    columns = ", ".join(f"{c.name} {DUCKDB_TYPES[c.kind]}" for c in table.columns)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {STAGING} ({columns})")


def _stage(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    conn.register("chunk_rows", frame)
    conn.execute(f"INSERT INTO {STAGING} SELECT * FROM chunk_rows")
    conn.unregister("chunk_rows")


def _stage_chunk(conn: duckdb.DuckDBPyConnection, table: Table,
                 files: dict[str, list[tuple]], settings: Settings, window: Window,
                 start: date, end: date, *, run_id: str) -> None:
    """Parse, build and stage the rows of the landing files of ``start``..``end``, and
    add what they showed to ``window``. A function of its own so that a chunk's frames
    are freed before the next chunk is read (peak memory is one chunk's, not two)."""
    frames, landing_days, problems = [], [], []
    for stream in streams_for_table(table.name):
        chunk = [(p, d) for p, d in files[stream.name] if start <= d <= end]
        frame, landed, found = parse_stream(conn, stream, chunk)
        problems += found
        if not frame.empty:
            frames.append(frame)
            landing_days.append(landed)
    if problems:
        raise _problems_failure(table, problems, start, end)
    parsed = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    landed = pd.concat(landing_days, ignore_index=True) if landing_days else None
    del frames, landing_days
    built = build_table(table, parsed, conn, settings, start, end, landing_days=landed,
                        run_id=run_id)
    window.add(table, built, parsed, settings)
    _stage(conn, built.frame)


def _problems_failure(table: Table, problems: list[Problem], start: date,
                      end: date) -> dg.Failure:
    shown = [p.text() for p in problems[:PROBLEMS_SHOWN]]
    more = f"\n(and {len(problems) - PROBLEMS_SHOWN} more)" if len(problems) > PROBLEMS_SHOWN \
        else ""
    return dg.Failure(
        description=(f"normalized.{table.name} {start}..{end}: {len(problems)} problem(s) "
                     "in the landing files' rows; nothing was written.\n"
                     + "\n".join(shown) + more),
        metadata={"partition_window": f"{start}..{end}",
                  "problems": dg.MetadataValue.json([p.as_dict() for p in
                                                     problems[:PROBLEMS_SHOWN]])})


def normalized_asset(table: Table) -> dg.AssetsDefinition:
    """The validated DuckDB table ``normalized.<table>`` fed by its streams."""
    streams = streams_for_table(table.name)
    stream_names = tuple(s.name for s in streams)
    deps = [dg.AssetKey(["raw", p]) for p in dict.fromkeys(s.platform for s in streams)]
    deps += [dg.AssetKey(["normalized", name]) for name in RATE_TABLES.get(table.name, [])]
    columns = RECONCILED_COLUMNS[table.name]

    @dg.asset(
        **DUCKDB_WRITER,
        key=["normalized", table.name],
        check_specs=check_specs(dg.AssetKey(["normalized", table.name]), columns),
        description=(f"{table.description}\n\nGrain and primary key: "
                     f"({', '.join(table.key)}). Built from: "
                     f"{', '.join(s.name for s in streams)}."),
        deps=deps,
        partitions_def=ingest_weeks,
        group_name="normalized",
        kinds={"duckdb", "sql"},
        code_version=CODE_VERSIONS.get(table.name, "5"),
        metadata={"dagster/table_name": f"normalized.{table.name}",
                  "dagster/column_schema": dg.TableSchema(columns=[
                      dg.TableColumn(c.name, c.kind, description=c.description or None)
                      for c in table.columns])},
    )
    def _normalized(context: dg.AssetExecutionContext, warehouse: Warehouse,
                    settings: Settings) -> dg.MaterializeResult:
        days = window_days(context.partition_time_window)
        start, _ = window_bounds(context.partition_time_window)
        failure_meta: dict[str, object] = {"partition_window": f"{start}..{days[-1]}"}
        try:
            threshold = quarantine_threshold(QUARANTINE_THRESHOLD.value())
            store = settings.landing()
            files, last = landing_files(streams, store, days)
        except ValueError as exc:
            raise dg.Failure(description=str(exc), metadata=failure_meta) from exc
        end = last or days[-1]
        window = Window()
        with warehouse.get_connection() as conn:
            ensure_tables(conn)
            _staging(conn, table)
            store.expose_to(conn)
            with parse_threads(conn):
                # the budget read when the run starts (a default argument would be fixed at
                # import time)
                spans = chunks(files, start, end, store, CHUNK_BYTES) if last else []
                for chunk_start, chunk_end in spans:
                    try:
                        _stage_chunk(conn, table, files, settings, window, chunk_start,
                                     chunk_end, run_id=context.run.run_id)
                    except ValueError as exc:
                        raise dg.Failure(description=str(exc), metadata=failure_meta) from exc
            quarantine = window.quarantined()
            rules = quarantine_rules(quarantine)
            quality = {"rows_considered": window.considered,
                       "rows_quarantined": window.rejected,
                       "rejected_share": window.share, "quarantine_threshold": threshold}
            if window.share > threshold:
                raise dg.Failure(
                    description=(f"{window.rejected} of {window.considered} row(s) "
                                 f"({window.share:.2%}) broke a row rule: more than the "
                                 f"quarantine threshold {threshold:.2%} ({THRESHOLD_ENV}); "
                                 "nothing was written.\n" + "\n".join(window.rejections)),
                    metadata={**failure_meta, **quality,
                              "decision": "failed: rejected share above the threshold",
                              "quarantined_by_rule": dg.MetadataValue.json(rules)})
            # Only this table's streams: the export folder's rows stay (defs/exports.py).
            if last is not None:
                replace_window_from(conn, table, STAGING, start, end,
                                    quarantine=quarantine, sources=stream_names)
            checks = [
                schema_valid_result(considered=window.considered,
                                    quarantined=window.rejected, threshold=threshold,
                                    rules=rules),
                unique_key_result(conn, table, start, end),
                dates_in_partition_result(conn, STAGING, start, end),
                volume_in_band_result(conn, table, start, end, sources=stream_names),
                reconciliation_result(conn, table, window.landing, start, end,
                                      sources=stream_names),
            ]
            conn.execute(f"DROP TABLE {STAGING}")
        if window.rejected:
            context.log.warning(f"normalized.{table.name} {start}..{end}: quarantined "
                                f"{window.rejected} row(s)\n" + "\n".join(window.rejections))
        context.log.info(f"normalized.{table.name}: wrote {window.written} row(s) for "
                         f"{start}..{end}")
        decision = "quarantined" if window.rejected else "all rows valid"
        return dg.MaterializeResult(
            metadata={**materialization_metadata(table, window.preview, window.written,
                                                 window.by_platform, start, end),
                      **quality, "decision": decision,
                      "quarantined_by_rule": dg.MetadataValue.json(rules)},
            check_results=checks)

    return _normalized


normalized_assets = [normalized_asset(table) for table in TABLES.values()]
