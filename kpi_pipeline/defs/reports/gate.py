"""The data-quality gate in front of the reports.

Dagster stops downstream steps after a failed blocking check only inside one run; the
reports run in their own jobs. So before rendering, the report assets read the latest
evaluation of every check on the layers they are built from (raw to goal) whose
partition falls inside the period being rendered (or that is not partitioned): a failed
blocking check stops the render, and failed warnings go into the pages' data-quality
footer.
"""

from dataclasses import dataclass
from datetime import date

import dagster as dg

from kpi_pipeline.lib.reports.context import Note

GATED_LAYERS = frozenset({"raw", "normalized", "kpi", "baseline", "diagnostic", "goal"})
EVALUATIONS_READ = 5000  # newest check evaluations read per render


@dataclass(frozen=True)
class CheckState:
    asset: str
    check: str
    partition: str | None
    passed: bool
    blocking: bool
    severity: str
    description: str | None

    def text(self) -> str:
        where = f" ({self.partition})" if self.partition else ""
        detail = f": {self.description}" if self.description else ""
        return f"check {self.check} on {self.asset}{where} failed{detail}"


def _in_window(partition: str | None, first: date, last: date) -> bool:
    if partition is None:
        return True
    try:
        day = date.fromisoformat(partition[:10])
    except ValueError:
        return True  # not a date: cannot tell, so it counts
    return first <= day <= last


def latest_check_states(instance: dg.DagsterInstance, first: date,
                        last: date) -> list[CheckState]:
    """The newest evaluation of each check and partition on the gated layers, for the
    partitions inside first..last."""
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
        limit=EVALUATIONS_READ, ascending=False)
    seen, states = set(), []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.asset_key.path[0] not in GATED_LAYERS:
            continue
        key = (evaluation.asset_key, evaluation.check_name, evaluation.partition)
        if key in seen:
            continue
        seen.add(key)
        if _in_window(evaluation.partition, first, last):
            states.append(CheckState(evaluation.asset_key.to_user_string(),
                                     evaluation.check_name, evaluation.partition,
                                     evaluation.passed, bool(evaluation.blocking),
                                     evaluation.severity.value, evaluation.description))
    return states


def gate(instance: dg.DagsterInstance, first: date, last: date) -> list[Note]:
    """Raise ``dg.Failure`` when a blocking check failed for the period; else the failed
    warnings as footer notes."""
    failed = [s for s in latest_check_states(instance, first, last) if not s.passed]
    blocking = [s for s in failed if s.blocking or s.severity == "ERROR"]
    if blocking:
        raise dg.Failure(
            description=(f"not rendering {first}..{last}: {len(blocking)} blocking check(s) "
                         "failed on the data the reports read; fix the data and re-run the "
                         "checks. " + "; ".join(s.text() for s in blocking[:10])),
            metadata={"failed_checks": dg.MetadataValue.json([s.text() for s in blocking])})
    return [Note("warning", s.text()) for s in failed]
