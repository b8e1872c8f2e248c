"""Report layer: the HTML pages of every week and month, rendered from the store.

``report/weekly``, ``/monthly`` and ``/quarterly`` render each page template of
``lib/reports/templates/`` whose front matter lists their grain, for every period of the
partition window, to
``<reports folder>/<grain>/<period start>/<page>.html``, then rewrite the index. They
read the store read-only and sit downstream of every table they read; before rendering
they read the latest check evaluations of those layers (``gate.py``): a failed blocking
check stops the render, failed warnings appear in the pages' data-quality footer. A
period whose KPIs the data covers only partly is refused too, unless the run asks for a
partial report (``ReportConfig.partial``); then its pages say "Partial report". The
newest period's paths and headline numbers go into the materialization metadata, so the
Dagster UI links to the pages. On a young store (no month closed, no baseline, no goals
file stored yet) every page still renders and says what is not there yet
(``lib/reports/availability.py``).
"""


import dagster as dg
from pydantic import Field

from kpi_pipeline.defs.conventions import DUCKDB_WRITER
from kpi_pipeline.defs.partitions import (
    monthly_partitions,
    period_starts,
    quarterly_partitions,
    weekly_partitions,
    window_bounds,
)
from kpi_pipeline.defs.reports.gate import completeness_gate, definitions_graph, gate
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN
from kpi_pipeline.lib.goals.findings import GoalsError
from kpi_pipeline.lib.goals.stored import stored_goals
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.context import goal_context, quality_notes
from kpi_pipeline.lib.reports.render import (
    ReportError,
    ReportPeriod,
    period_coverage,
    render_period,
    write_index,
)


class ReportConfig(dg.Config):
    """What a report run may publish."""

    partial: bool = Field(
        default=False,
        description="Render periods whose KPIs the data covers only partly (the first "
                    "week or month of a history, a pull that has not caught up), marked "
                    "on every page as a partial report. Without it such a period fails "
                    "the run, naming what it covers.")


def report_asset(grain: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    table = TABLE_FOR_GRAIN[grain]

    @dg.asset(
        # Reads share the writers' pool: DuckDB refuses a read-only open while another
        # process holds the file for writing.
        **DUCKDB_WRITER,
        key=["report", table],
        description=(
            f"The {grain}ly HTML report pages: every page template of the package whose "
            f"front matter lists the {grain} grain (the {grain}ly review, goal scorecard, platform "
            f"comparison, funnel, where social pays, diagnostics), one self-contained file per "
            f"page and {grain}, "
            "plus the index of every page and period. Templates are read when the asset "
            "runs, so a broken template fails this asset, not the code location."),
        deps=[dg.AssetKey(["kpi", table]), dg.AssetKey(["baseline", table]),
              dg.AssetKey(["diagnostic", table]), dg.AssetKey(["goal", "attainment"]),
              dg.AssetKey(["goal", "definitions"]), dg.AssetKey(["attribution", "daily"])],
        partitions_def=partitions_def,
        group_name="report",
        kinds={"html", "jinja"},
        code_version="3",  # 3: incomplete periods refused unless partial, and marked
    )
    def _report(context: dg.AssetExecutionContext, config: ReportConfig, warehouse: Warehouse,
                settings: Settings) -> dg.MaterializeResult:
        first, last = window_bounds(context.partition_time_window)
        warnings = gate(context.instance, definitions_graph(context.job_def), first, last)
        kpis = catalog()
        out_root = settings.reports_root()
        rendered = []
        starts = period_starts(context.partition_time_window, grain)
        with warehouse.get_connection(read_only=True) as conn:
            partial = completeness_gate(
                {start: period_coverage(conn, ReportPeriod(grain, start), kpis)
                 for start in starts}, grain, config.partial)
            try:
                context_values = {
                    "currency": settings.reporting_currency,
                    **goal_context(conn, stored_goals(conn), last, kpis,
                                   settings.reporting_currency),
                }
            except GoalsError as exc:
                raise dg.Failure(description=str(exc)) from exc
            for start in starts:
                try:
                    period = ReportPeriod(grain, start)
                    notes = quality_notes(warnings, period.start, period.end, kpis,
                                          settings.reporting_currency)
                    rendered += render_period(conn, period, out_root, kpis,
                                              {**context_values, "quality_notes": notes,
                                               "partial_report": start in partial})
                except ReportError as exc:
                    raise dg.Failure(description=str(exc)) from exc
            index = write_index(out_root, kpis, conn=conn)
        if partial:
            context.log.warning(f"rendered {len(partial)} partial {grain}(s), as asked: "
                                + ", ".join(str(p) for p in partial))
        newest = [page for page in rendered if page.period.start == rendered[-1].period.start]
        context.log.info(f"rendered {len(rendered)} page(s) for {first}..{last}; "
                         f"index: {index.resolve()}")
        return dg.MaterializeResult(metadata={
            "partition_window": f"{first}..{last}",
            "pages_rendered": len(rendered),
            "quality_warnings": len(warnings),
            "partial_periods": dg.MetadataValue.json([str(p) for p in partial]),
            "index": dg.MetadataValue.url(index.resolve().as_uri()),
            **{f"page/{page.spec.name}": dg.MetadataValue.url(page.path.resolve().as_uri())
               for page in newest},
            **{f"headline/{kpi}": dg.MetadataValue.float(float(value))
               for page in newest for kpi, value in page.headlines.items()
               if value is not None},
        })

    return _report


report_weekly = report_asset("week", weekly_partitions)
report_monthly = report_asset("month", monthly_partitions)
report_quarterly = report_asset("quarter", quarterly_partitions)
