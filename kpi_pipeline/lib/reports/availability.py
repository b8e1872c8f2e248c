"""What the store does not hold yet, and empty stand-ins so the pages render anyway.

A store fills up layer by layer: the first week closes before the first month, KPIs exist
before a baseline can be taken, diagnostics and goal attainment come after both. A page's
SQL reads several of these tables at once (``FROM kpi.weekly UNION ALL BY NAME FROM
kpi.monthly``), so one table that does not exist yet would fail every page that mentions
it, weekly pages included. Instead, before a page's queries run, each reference to a
table that is absent (or, for tables whose emptiness means "not computed yet", empty) is
replaced by an empty relation of the table's real shape, taken from the layer's own DDL,
and the page says in a plain sentence what is not there yet.

The connection stays read-only and untouched: the stand-ins are subqueries in the SQL
text, not objects in the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import duckdb

from kpi_pipeline.lib.baselines.snapshots import TRAILING_PERIODS, ensure_baseline_tables
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN
from kpi_pipeline.lib.core.schemas import TABLES as NORMALIZED_TABLES
from kpi_pipeline.lib.diagnostics.anomalies import ensure_anomaly_tables
from kpi_pipeline.lib.diagnostics.rules import SCHEMA as DIAGNOSTIC_SCHEMA
from kpi_pipeline.lib.diagnostics.rules import findings_ddl
from kpi_pipeline.lib.goals.stored import ensure_definition_tables
from kpi_pipeline.lib.goals.tables import ensure_goal_tables
from kpi_pipeline.lib.kpis.attribution import ensure_attribution_tables
from kpi_pipeline.lib.kpis.compute import ensure_kpi_tables
from kpi_pipeline.lib.normalized.store import ensure_tables


@dataclass(frozen=True)
class StoreTable:
    """A table the pages may read, and what its absence means for a reader.

    ``grain`` is set for the tables of one grain: a weekly page does not mention that no
    month has closed. ``empty_is_missing`` is false where an empty table is a real answer
    (no diagnostic rule fired, no goal active yet) rather than "not computed yet"."""

    name: str
    missing: str
    grain: str | None = None
    empty_is_missing: bool = True
    covered_by: str | None = None  # a table whose own sentence says it when both lack


ATTRIBUTION_MISSING = ("No conversion has been attributed yet: the journeys appear once GA4's "
                       "event export has been read (normalized/web_events) and "
                       "attribution/daily has run.")


def _tables() -> tuple[StoreTable, ...]:
    weeks, months, quarters = (TRAILING_PERIODS[g] for g in ("week", "month", "quarter"))
    sources = [StoreTable(f"normalized.{name}", f"Nothing has been loaded into "
                          f"normalized.{name} yet: its figures appear once that source "
                          "has been pulled and normalized.") for name in NORMALIZED_TABLES]
    return (*sources,
            StoreTable("kpi.weekly", "No week has closed yet: weekly figures appear after "
                       "the first week ends and its KPIs are computed.", "week"),
            StoreTable("kpi.monthly", "No month has closed yet: monthly figures appear "
                       "after the first month ends.", "month"),
            StoreTable("kpi.quarterly", "No quarter has closed yet: quarterly figures "
                       "appear after the first quarter ends.", "quarter"),
            StoreTable("baseline.weekly", "No weekly baseline has been taken yet: "
                       f"comparisons with the baseline (the {weeks} weeks before) appear "
                       "once weekly baselines have run.", "week"),
            StoreTable("baseline.monthly", "No monthly baseline has been taken yet: "
                       f"comparisons with the baseline (the {months} months before) appear "
                       "once monthly baselines have run.", "month"),
            StoreTable("baseline.quarterly", "No quarterly baseline has been taken yet: "
                       f"comparisons with the baseline (the {quarters} quarters before) "
                       "appear once quarterly baselines have run.", "quarter"),
            StoreTable("diagnostic.weekly", "The diagnostic rules have not run on any week "
                       "yet: findings appear once weekly KPIs and baselines exist and the "
                       "weekly diagnostics have run.", "week", empty_is_missing=False),
            StoreTable("diagnostic.monthly", "The diagnostic rules have not run on any "
                       "month yet: findings appear once the first month has closed and the "
                       "monthly diagnostics have run.", "month", empty_is_missing=False),
            StoreTable("diagnostic.quarterly", "The diagnostic rules have not run on any "
                       "quarter yet: findings appear once the first quarter has closed and "
                       "the quarterly diagnostics have run.", "quarter",
                       empty_is_missing=False),
            # written by the same assets: said only when the findings are there already
            # (a store from before the anomaly rules, until its diagnostics run again)
            StoreTable("diagnostic.weekly_anomalies", "The anomaly rules have not run on "
                       "any week yet: KPIs outside their baseline band appear once the "
                       "weekly diagnostics run again.", "week", empty_is_missing=False,
                       covered_by="diagnostic.weekly"),
            StoreTable("diagnostic.monthly_anomalies", "The anomaly rules have not run on "
                       "any month yet: KPIs outside their baseline band appear once the "
                       "monthly diagnostics run again.", "month", empty_is_missing=False,
                       covered_by="diagnostic.monthly"),
            StoreTable("diagnostic.quarterly_anomalies", "The anomaly rules have not run on "
                       "any quarter yet: KPIs outside their baseline band appear once the "
                       "quarterly diagnostics run again.", "quarter", empty_is_missing=False,
                       covered_by="diagnostic.quarterly"),
            # one sentence for the three: the attribution asset writes them together
            StoreTable("attribution.daily_reporting", ATTRIBUTION_MISSING),
            StoreTable("attribution.credits", ATTRIBUTION_MISSING,
                       covered_by="attribution.daily_reporting"),
            StoreTable("attribution.conversions", ATTRIBUTION_MISSING,
                       covered_by="attribution.daily_reporting"),
            StoreTable("goal.definitions_file", "No goals file has been stored yet: the "
                       "goals appear once the goal definitions have been read from it."),
            # empty: attainment ran, and no goal's window has started yet
            StoreTable("goal.attainment", "Goal attainment has not been computed yet: each "
                       "goal's progress appears once goal attainment has run.",
                       empty_is_missing=False))


STORE_TABLES: tuple[StoreTable, ...] = _tables()
BY_NAME = {table.name: table for table in STORE_TABLES}


@cache
def _shapes() -> dict[str, tuple[tuple[str, str], ...]]:
    """Column names and types of every store table, from each layer's own DDL run in an
    empty in-memory database: a stand-in has exactly the columns the real table has."""
    with duckdb.connect(":memory:") as conn:
        ensure_tables(conn)
        ensure_kpi_tables(conn)
        ensure_baseline_tables(conn)
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {DIAGNOSTIC_SCHEMA}")
        for grain in TABLE_FOR_GRAIN:
            conn.execute(findings_ddl(grain))
        ensure_anomaly_tables(conn)
        ensure_attribution_tables(conn)
        ensure_goal_tables(conn)
        ensure_definition_tables(conn)
        rows = conn.execute("SELECT schema_name || '.' || table_name, column_name, data_type "
                            "FROM duckdb_columns() ORDER BY table_oid, column_index"
                            ).fetchall()
    shapes: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        shapes.setdefault(table, []).append((column, kind))
    return {table: tuple(columns) for table, columns in shapes.items()}


def stand_in(table: str) -> str:
    """An empty relation with the columns and types of ``table``, on one line."""
    columns = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in _shapes()[table])
    return f"(SELECT {columns} LIMIT 0)"


def _reference(table: str) -> re.Pattern[str]:
    schema, name = table.split(".")
    return re.compile(rf"(?<![\w.\"]){schema}\.{name}(?![\w\"])", re.IGNORECASE)


def mentions(sql: str, table: str) -> bool:
    """Whether ``sql`` reads ``table`` (a plain ``schema.table`` reference)."""
    return _reference(table).search(sql) is not None


@dataclass(frozen=True)
class StoreState:
    """Which of the tables the pages read the store lacks: ``absent`` ones do not exist
    (their references get stand-ins), ``missing`` adds the empty ones whose emptiness
    means "not computed yet" (the page says so, and reads them as they are)."""

    absent: frozenset[str] = frozenset()
    missing: frozenset[str] = frozenset()

    def prepare(self, sql: str) -> str:
        """``sql`` with every reference to an absent table replaced by its stand-in."""
        for table in self.absent:
            sql = _reference(table).sub(lambda _, table=table: stand_in(table), sql)
        return sql

    def not_yet(self, sqls: Iterable[str], grain: str) -> list[str]:
        """The sentences a page of ``grain`` shows for the missing tables its SQL reads,
        in the order the data flows (sources, KPIs, baselines, diagnostics, goals)."""
        texts = list(sqls)
        return [table.missing for table in STORE_TABLES
                if table.name in self.missing and table.grain in (None, grain)
                and table.covered_by not in self.missing
                and any(mentions(sql, table.name) for sql in texts)]


def store_state(conn: duckdb.DuckDBPyConnection) -> StoreState:
    """What the store lacks right now, read once per render (a catalogue lookup of its
    tables and views and, per present one, whether it holds a row)."""
    present = {row[0] for row in conn.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() UNION ALL "
        "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()}
    absent = {table.name for table in STORE_TABLES if table.name not in present}
    empty = {table.name for table in STORE_TABLES
             if table.name in present and table.empty_is_missing
             and conn.execute(f"SELECT NOT EXISTS (FROM {table.name})").fetchone()[0]}
    return StoreState(frozenset(absent), frozenset(absent | empty))
