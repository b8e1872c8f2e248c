"""``utm_hygiene``: a warning check on ``normalized/web_daily`` of how much social traffic
the tagging loses (see ``kpi_pipeline/lib/normalized/utm_hygiene.py``).

Separate from the in-asset checks because it reads a second table (``ad_daily``, for ad
campaigns that never appear in the web data). It warns, never blocks: untagged or
misspelled traffic is still traffic, and the reports built on it are right about what
they can attribute. The data-quality page of each week and month carries the same
measures as a section (written with the KPI expectations' page).
"""

import dagster as dg

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.partitions import ingest_weeks, window_bounds
from kpi_pipeline.defs.resources import Warehouse
from kpi_pipeline.defs.settings import UTM_LOST_SHARE
from kpi_pipeline.lib.normalized.utm_hygiene import HygieneReport, failures, hygiene_report

UTM_HYGIENE = "utm_hygiene"
DEFAULT_LOST_SHARE = 0.2


def max_lost_share() -> float:
    """$KPI_PIPELINE_UTM_LOST_SHARE, else the default; a malformed value fails naming the
    variable rather than silently using the default."""
    raw = UTM_LOST_SHARE.value().strip()
    if not raw:
        return DEFAULT_LOST_SHARE
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{UTM_LOST_SHARE.name}={raw!r}: expected a share such as 0.2"
                         ) from None
    if not 0 <= value <= 1:
        raise ValueError(f"{UTM_LOST_SHARE.name}={raw!r}: need 0 <= share <= 1")
    return value


def _weeks_markdown(report: HygieneReport) -> str:
    """The per-week table for the check's metadata (markdown: the UI escapes it)."""
    if not report.weeks:
        return "No social session in the window."
    lines = ["| week | platform | social sessions | untagged | unknown source | lost share |",
             "|---|---|---:|---:|---:|---:|"]
    for row in report.weeks:
        share = "-" if row.lost_share is None else f"{row.lost_share:.1%}"
        lines.append(f"| {row.week} | {row.platform} | {row.social_sessions:,} | "
                     f"{row.untagged_sessions:,} | {row.unknown_source_sessions:,} | {share} |")
    return "\n".join(lines)


def _cell(value: str) -> str:
    """Untrusted text as a markdown table cell (no column breaks, no markup)."""
    return value.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


@dg.asset_check(
    asset=dg.AssetKey(["normalized", "web_daily"]),
    name=UTM_HYGIENE,
    description=(
        "A warning when, in the run's window, more than the allowed share (default 20 %, "
        "KPI_PIPELINE_UTM_LOST_SHARE) of social sessions arrive untagged or from a source "
        "the UTM mapping does not know, when UTM values break the naming convention "
        "(mixed case, spaces, a medium outside the known list), or when ad campaigns with "
        "clicks never appear in the web data. The metadata lists the unknown sources "
        "ready to paste into utm_sources.yaml. Never blocks."),
    blocking=False,
    pool=DUCKDB_WRITER["pool"],
)
def utm_hygiene_check(context: dg.AssetCheckExecutionContext,
                      warehouse: Warehouse) -> dg.AssetCheckResult:
    if not (context.has_partition_key or context.has_partition_key_range):
        raise dg.Failure("This check judges one partition window: run it with a partition "
                         "or a partition range.")
    keys = context.partition_key_range
    first, last = window_bounds(dg.TimeWindow(
        ingest_weeks.time_window_for_partition_key(keys.start).start,
        ingest_weeks.time_window_for_partition_key(keys.end).end))
    limit = max_lost_share()
    with warehouse.get_connection(read_only=True) as conn:
        report = hygiene_report(conn, first, last)
    problems = failures(report, limit)
    share = report.lost_share()
    paste = report.paste_block()
    naming = "\n".join(f"- {i.week} {i.platform} {i.field} `{_cell(i.value)}`: {i.problem} "
                       f"({i.sessions:,} sessions)" for i in report.naming[:50])
    unmatched = "\n".join(f"- {u.week} {u.platform} {_cell(u.campaign_name)} "
                          f"({u.clicks:,} clicks)" for u in report.unmatched[:50])
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"normalized.web_daily {first}..{last}: " + "; ".join(problems)
        if problems else None,
        metadata={
            "partition_window": f"{first}..{last}",
            **report.totals(),
            "lost_share": share if share is not None else dg.MetadataValue.null(),
            "max_lost_share": limit,
            "weeks": dg.MetadataValue.md(_weeks_markdown(report)),
            "naming_issues_list": dg.MetadataValue.md(naming or "None."),
            "unmatched_campaigns_list": dg.MetadataValue.md(unmatched or "None."),
            "unknown_sources_yaml": dg.MetadataValue.md(
                f"```yaml\n{paste}\n```" if paste else "No unknown social source."),
        })
