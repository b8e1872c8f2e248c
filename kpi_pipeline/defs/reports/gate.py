"""The data-quality gate in front of the reports.

Dagster stops downstream steps after a failed blocking check only inside one run; the
reports run in their own jobs. So before rendering a period, the report assets read, for
every check on the layers they are built from (raw to goal), the newest evaluations that
judged data of that period: a failed blocking check stops the render, and failed
warnings go into the pages' data-quality footer.

The checks are the code location's own, found by layer (the first element of their
asset key) in the definitions the run was built from, so new assets and checks of a
gated layer are gated without a change here. Their evaluations are read from Dagster's
asset-check execution records, newest first, check by check, until every day of the
period has its newest judgement, or the evaluations are older than the period's data, or
EVALUATIONS_PER_CHECK were read; the event log is never scanned.

Which days an evaluation judged: the ``partition_window`` ("YYYY-MM-DD..YYYY-MM-DD") in
its metadata, else its partition, else the partition or partition range of the run it
ran in (the checks are not partitioned; each evaluation covers its run's window). An
evaluation with none of these (the daily source freshness, a check run without a
partition) judged no window in particular: its newest evaluation counts for every
period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg

from kpi_pipeline.defs.check_records import COMPLETED, CheckRecord, check_keys, record_pages
from kpi_pipeline.defs.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from kpi_pipeline.lib.reports.context import QualityFailure
from kpi_pipeline.lib.reports.coverage import Coverage

GATED_LAYERS = frozenset({"raw", "normalized", "kpi", "baseline", "diagnostic", "goal"})
# Evaluations of one check read per render, at most: about a year of daily evaluations.
# They are read in pages, the first as long as the period has days, then 4 times larger.
EVALUATIONS_PER_CHECK = 400
# Data of a day exists only after the day began: an evaluation made this long before the
# period's first day judged none of its days, nor did any evaluation before it.
EVALUATED_BEFORE_DATA = timedelta(days=2)

Window = tuple[date, date]


@dataclass(frozen=True)
class CheckState:
    asset: str
    check: str
    partition: str | None  # the partition, else the window the evaluation judged
    passed: bool
    blocking: bool
    severity: str
    description: str | None
    window: Window | None = None  # the days judged; None: no window in particular
    failed_rows: tuple[dict, ...] = ()  # failed_expectations of the KPI checks

    def text(self) -> str:
        where = f" ({self.partition})" if self.partition else ""
        detail = f": {self.description}" if self.description else ""
        return f"check {self.check} on {self.asset}{where} failed{detail}"


def definitions_graph(job_def: dg.JobDefinition):
    """The asset graph of the definitions a run's job was built from: the whole code
    location in a launched run, the assets given to ``dg.materialize`` in a test (a job's
    own graph holds only the assets it selects)."""
    graph = job_def.asset_layer.asset_graph
    return getattr(graph, "source_asset_graph", graph)


def gated_check_keys(graph) -> list[dg.AssetCheckKey]:
    """The check keys of the gated layers in ``graph``, by layer = first key element."""
    return check_keys(graph, GATED_LAYERS)


def parse_window(text: str) -> Window | None:
    """``"2025-04-14..2025-04-20"`` as two dates, else None."""
    try:
        first, last = text.split("..", 1)
        return date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return None


def _time_window(partitions_def: dg.TimeWindowPartitionsDefinition,
                 key: str) -> dg.TimeWindow | None:
    """The time window of ``key`` when it is a key of ``partitions_def`` (Dagster snaps
    other dates to a window; they are not this definition's keys)."""
    try:
        window = partitions_def.time_window_for_partition_key(key)
    except ValueError:
        return None
    return window if window.start.strftime(partitions_def.fmt) == key else None


def keys_window(partitions_def: dg.PartitionsDefinition | None, first_key: str,
                last_key: str) -> Window | None:
    """The days from the start of ``first_key``'s partition to the end of ``last_key``'s,
    read with the asset's time partitions; keys that are dates without such a definition
    count as those days; anything else is unknown (None)."""
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        start = _time_window(partitions_def, first_key)
        end = _time_window(partitions_def, last_key)
        if start is not None and end is not None:
            return start.start.date(), end.end.date() - timedelta(days=1)
    try:
        return date.fromisoformat(first_key[:10]), date.fromisoformat(last_key[:10])
    except ValueError:
        return None


class _Windows:
    """Finds the window each evaluation judged; looks the runs up in batches, once."""

    def __init__(self, instance: dg.DagsterInstance, graph) -> None:
        self._instance = instance
        self._graph = graph
        self._run_tags: dict[str, dict[str, str]] = {}

    def _partitions_def(self, asset_key: dg.AssetKey) -> dg.PartitionsDefinition | None:
        return self._graph.get(asset_key).partitions_def if self._graph.has(asset_key) \
            else None

    def _load_runs(self, run_ids: Iterable[str]) -> None:
        missing = sorted({r for r in run_ids if r and r not in self._run_tags})
        if not missing:
            return
        for record in self._instance.get_run_records(dg.RunsFilter(run_ids=missing)):
            self._run_tags[record.dagster_run.run_id] = dict(record.dagster_run.tags)
        for run_id in missing:
            self._run_tags.setdefault(run_id, {})  # deleted run: no window

    def of(self, records: list[CheckRecord]
           ) -> dict[int, tuple[Window | None, str | None]]:
        """Record id -> (window judged or None when unknown, label for the footer)."""
        found: dict[int, tuple[Window | None, str | None]] = {}
        by_run = []
        for record in records:
            evaluation = record.evaluation
            metadata_window = evaluation.metadata.get("partition_window")
            window = parse_window(str(metadata_window.value)) if metadata_window else None
            partitions_def = self._partitions_def(evaluation.asset_key)
            if window is not None:
                found[record.id] = window, evaluation.partition or str(metadata_window.value)
            elif evaluation.partition:
                found[record.id] = (keys_window(partitions_def, evaluation.partition,
                                                evaluation.partition), evaluation.partition)
            else:
                by_run.append((record, partitions_def))
        self._load_runs(record.run_id for record, _ in by_run)
        for record, partitions_def in by_run:
            tags = self._run_tags.get(record.run_id, {})
            first_key = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)
            last_key = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG)
            window = keys_window(partitions_def, first_key, last_key) \
                if first_key and last_key else None
            found[record.id] = window, f"{window[0]}..{window[1]}" if window else None
        return found


def _state(record: CheckRecord, label: str | None, window: Window | None) -> CheckState:
    evaluation = record.evaluation
    rows = evaluation.metadata.get("failed_expectations")
    failed_rows = tuple(r for r in (rows.value if rows is not None else None) or ()
                        if isinstance(r, dict))
    return CheckState(evaluation.asset_key.to_user_string(), evaluation.check_name, label,
                      evaluation.passed, bool(evaluation.blocking),
                      evaluation.severity.value, evaluation.description, window,
                      failed_rows)


def latest_check_states(instance: dg.DagsterInstance, graph, first: date,
                        last: date) -> list[CheckState]:
    """For every check of the gated layers in ``graph``, the newest evaluation of each day
    in first..last (one state per evaluation that is the newest for some day), read from
    the check execution records, newest first, until every day has one, the records are
    older than the period, or EVALUATIONS_PER_CHECK were read."""
    windows = _Windows(instance, graph)
    period = set(range(first.toordinal(), last.toordinal() + 1))
    too_old = (datetime.combine(first, time(), UTC) - EVALUATED_BEFORE_DATA).timestamp()
    states = []
    for key in gated_check_keys(graph):
        open_days = set(period)
        for page in record_pages(instance, key, first=len(period) + 2,
                                 most=EVALUATIONS_PER_CHECK,
                                 statuses=COMPLETED):
            judged = windows.of(page)
            # newest evaluation first (records are numbered when their run is planned)
            for record in sorted(page, key=lambda r: (r.event.timestamp, r.id), reverse=True):
                window, label = judged[record.id]
                if window is not None and record.event.timestamp < too_old:
                    open_days = set()  # older than the data of the period
                    break
                days = open_days if window is None else open_days & set(
                    range(window[0].toordinal(), window[1].toordinal() + 1))
                if days:
                    open_days -= days
                    states.append(_state(record, label, window))
                if not open_days:
                    break
            if not open_days:
                break
    return states


PARTIAL_HINT = ("ask for a partial report to render it marked as partial: run config "
                "`partial: true` on the report asset (launchpad: ops > report__<weekly|"
                "monthly> > config), or `--partial-reports` with `python -m "
                "kpi_pipeline.cli run`")


def completeness_gate(coverages: Mapping[date, Coverage], grain: str, partial: bool
                      ) -> list[date]:
    """Refuse to publish periods whose KPIs do not cover every day of them: raise
    ``dg.Failure`` naming each such period and what it covers, unless ``partial`` (the
    user asked for a partial report); return the incomplete periods either way.

    A period is complete when every KPI computed across all platforms for it covers every
    day (``coverage_days = period_days``, lib/kpis/compute.py); a KPI stored before
    coverage existed has none, and counts as incomplete until it is computed again."""
    incomplete = sorted(start for start, c in coverages.items() if c.kpis_incomplete)
    if incomplete and not partial:
        lines = []
        for start in incomplete[:10]:
            coverage = coverages[start]
            parts = [f"normalized.{s.table} "
                     + ("coverage unknown (KPIs computed before coverage: recompute them)"
                        if s.days is None else f"{s.days} of {s.period_days} days")
                     for s in coverage.incomplete_sources if s.from_kpis]
            if not parts:
                parts = [f"{kpi} {'unknown' if days is None else days} of "
                         f"{coverage.period_days} days"
                         for kpi, days in coverage.incomplete_kpis[:5]]
            lines.append(f"{grain} {start}: " + ", ".join(parts))
        raise dg.Failure(
            description=(f"not rendering {len(incomplete)} {grain}(s) whose KPIs the data "
                         "covers only partly (" + "; ".join(lines) + "). Wait for the "
                         "missing days, or " + PARTIAL_HINT + "."),
            metadata={"incomplete_periods": dg.MetadataValue.json(
                [str(start) for start in incomplete])})
    return incomplete


def gate(instance: dg.DagsterInstance, graph, first: date, last: date
         ) -> list[QualityFailure]:
    """Raise ``dg.Failure`` when a blocking check failed for first..last; else the failed
    warnings, each with the days it judged, so that each period's pages list only those
    that judged that period (``lib.reports.context.quality_notes``): a run over many
    periods must not print one period's warnings on every page. ``graph``: the
    definitions' asset graph (``definitions_graph(context.job_def)`` in an asset)."""
    failed = [s for s in latest_check_states(instance, graph, first, last) if not s.passed]
    blocking = [s for s in failed if s.blocking or s.severity == "ERROR"]
    if blocking:
        raise dg.Failure(
            description=(f"not rendering {first}..{last}: {len(blocking)} blocking check(s) "
                         "failed on the data the reports read; fix the data and re-run the "
                         "checks. " + "; ".join(s.text() for s in blocking[:10])),
            metadata={"failed_checks": dg.MetadataValue.json([s.text() for s in blocking])})
    return [QualityFailure(s.check, s.asset, s.window, s.description, s.failed_rows)
            for s in failed]
