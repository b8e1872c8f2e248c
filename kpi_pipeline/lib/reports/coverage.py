"""How much of a report period its data covers, read from the KPI rows' coverage.

Every KPI row says on how many days of its period every table it reads has rows
(``coverage_days`` of ``period_days``, see ``lib/kpis/compute.py``). A report period is
complete when every KPI computed across all platforms for it covers every day; otherwise
its totals are partial and it is marked as incomplete wherever it shows (the page's box,
the index, the trend charts' points, the KPI table rows), and the report assets refuse to
publish it unless a partial report is asked for.

A cohort KPI (lifetime value: the customers first acquired in the period, followed over
a window after it) covers the days whose cohort window has closed, so a recent period's is
open for the window after the period ends: its own rows are marked, but it does not make
the period incomplete, nor speak for the table it reads (``open_cohorts`` lists it).

The box names each normalized table the period's KPIs read with the days it covers: the
fewest days of the KPIs that read that table alone, across all platforms. A period whose
KPIs are not computed (no row) falls back on the table's own days with rows, so a period
before the data begins still says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from kpi_pipeline.lib.kpis.catalog import Kpi, catalog
from kpi_pipeline.lib.kpis.compute import TABLE_FOR_GRAIN
from kpi_pipeline.lib.kpis.facts import SOURCES


@dataclass(frozen=True)
class SourceCoverage:
    """One normalized table's days in the period (None: a KPI row stored before coverage
    existed, so unknown)."""

    table: str
    days: int | None
    period_days: int
    from_kpis: bool  # read from KPI rows (else from the table, no KPI being computed)

    @property
    def complete(self) -> bool:
        return self.days is not None and self.days >= self.period_days


@dataclass(frozen=True)
class Coverage:
    """The coverage of one period: per table, and the KPIs that do not cover it whole."""

    period_days: int
    sources: tuple[SourceCoverage, ...] = ()
    incomplete_kpis: tuple[tuple[str, int | None], ...] = ()  # (kpi, coverage_days)
    kpi_rows: int = 0
    # cohort KPIs whose window has not closed on every day: (kpi, coverage_days)
    open_cohorts: tuple[tuple[str, int | None], ...] = ()

    @property
    def incomplete_sources(self) -> tuple[SourceCoverage, ...]:
        return tuple(s for s in self.sources if not s.complete)

    @property
    def incomplete(self) -> bool:
        """The period is marked: a KPI or a table does not cover all of its days."""
        return bool(self.incomplete_kpis or self.incomplete_sources)

    @property
    def kpis_incomplete(self) -> bool:
        """What the report gate judges: a KPI row of the period covers it only partly
        (or its coverage is unknown)."""
        return bool(self.incomplete_kpis)


def _tables_of(kpi: Kpi) -> tuple[str, ...]:
    return SOURCES[kpi.source].tables


def summarize(rows: Iterable[Any], kpis: Mapping[str, Kpi], period_days: int) -> Coverage:
    """``rows`` of ``queries/_coverage.sql`` (kpi, source, coverage_days, period_days) as
    one ``Coverage``."""
    rows = list(rows)
    cohort_rows = [r for r in rows if r.kpi in kpis and kpis[r.kpi].cohort]
    kpi_rows = [r for r in rows if r.kpi is not None
                and not (r.kpi in kpis and kpis[r.kpi].cohort)]
    table_rows = {r.source: r for r in rows if r.kpi is None}
    incomplete = tuple((r.kpi, r.coverage_days) for r in kpi_rows
                       if r.coverage_days is None or r.coverage_days < r.period_days)
    open_cohorts = tuple((r.kpi, r.coverage_days) for r in cohort_rows
                         if r.coverage_days is None or r.coverage_days < r.period_days)
    by_table: dict[str, list[int | None]] = {}
    for row in kpi_rows:
        tables = _tables_of(kpis[row.kpi]) if row.kpi in kpis else ()
        if len(tables) == 1:  # a KPI of two tables says nothing of either alone
            by_table.setdefault(tables[0], []).append(row.coverage_days)
    sources = []
    for table in sorted({*by_table, *table_rows}):
        if table in by_table:
            days = by_table[table]
            fewest = None if any(d is None for d in days) else min(days)
            sources.append(SourceCoverage(table, fewest, period_days, True))
        elif not kpi_rows:  # no KPI computed for the period: the table's own days
            sources.append(SourceCoverage(table, table_rows[table].coverage_days,
                                          period_days, False))
    return Coverage(period_days, tuple(sources), incomplete, len(kpi_rows), open_cohorts)


def incomplete_periods(conn: duckdb.DuckDBPyConnection, grain: str
                       ) -> set[date]:
    """The first days of the periods of ``grain`` whose KPIs across all platforms do not
    all cover every day (coverage unknown included): the periods the index marks. An open
    cohort (``Kpi.cohort``) does not make its period incomplete."""
    table = f"kpi.{TABLE_FOR_GRAIN[grain]}"
    cohorts = [name for name, kpi in catalog().items() if kpi.cohort]
    try:
        rows = conn.execute(
            f"SELECT period_start FROM {table} WHERE scope = 'all' "
            "AND NOT list_contains($cohorts, kpi) GROUP BY period_start "
            "HAVING bool_or(coverage_days IS NULL OR coverage_days < period_days)",
            {"cohorts": cohorts}).fetchall()
    except (duckdb.CatalogException, duckdb.BinderException):
        return set()  # no KPI table yet, or one the KPIs have not run on since coverage
    return {start for (start,) in rows}
