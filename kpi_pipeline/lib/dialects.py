"""The KPI, baseline, diagnostic and goal SQL compiled from DuckDB's dialect to a
warehouse's (BigQuery, Snowflake, PostgreSQL) with sqlglot.

The statements are gathered from the functions that build them for the assets
(``kpi_insert_sql``, ``snapshot_insert_sql``, ``rule_sql``, ``kpi_running_sql``, ...),
rendered with the catalogue, the diagnostic rules and representative goal parameters,
never copied: what is compiled is what DuckDB runs. Each keeps its bound parameters as
named placeholders in the target's style ($lo becomes @lo in BigQuery, :lo in Snowflake,
%(lo)s in PostgreSQL; DuckDB's positional ? stays ?).

Gathered, per layer: the CREATE TABLE of every table and the statements that compute its
rows (the INSERT ... SELECT of the KPIs, baselines, findings and anomalies; the goals'
baseline lookup and running KPI values). Left out: the housekeeping around them (CREATE
SCHEMA, the window's DELETE before each insert, row counts, DuckDB settings, and the
migrations that read DuckDB's catalogue to add a column to an older store); the goal
layer's copy of the goals file (``goal.definitions``) and its attainment rows, which
are computed in Python and loaded from a data frame; and the attribution layer, whose
views the attributed-revenue KPIs read.

What a target cannot express is reported, never dropped silently (``Compiled.gaps``):
sqlglot's own messages for constructs it cannot translate, functions it writes through
untranslated (unless ``TARGET_FUNCTIONS`` says the target has one of that name),
DuckDB's 128-bit integer (the quarterly day masks), and what a statement relies on in
DuckDB's session (the KPI insert's division by zero giving NULL). ``KNOWN_GAPS`` lists
them per dialect and a test asserts that list exactly. One DuckDB construct is removed
on purpose: the ``MATERIALIZED`` hint on a common table expression, a planner hint with
no effect on the result, which BigQuery and Snowflake do not accept.

Compiled and parsed, not executed: sqlglot reads every compiled statement back in the
target dialect, which catches syntax it cannot read, not a type or function the
warehouse would reject at run time beyond those listed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from kpi_pipeline.lib.baselines.snapshots import (
    SNAPSHOT_WINDOWS_SQL,
    baseline_ddl,
    snapshot_insert_sql,
)
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN
from kpi_pipeline.lib.diagnostics.anomalies import (
    anomalies_ddl,
    anomalies_insert_sql,
    anomaly_rules,
)
from kpi_pipeline.lib.diagnostics.rules import findings_ddl, findings_insert_sql, rules
from kpi_pipeline.lib.goals.tables import attainment_ddl, baseline_sql
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import kpi_ddl, kpi_insert_sql, kpi_running_sql
from kpi_pipeline.lib.kpis.facts import SOURCES

SOURCE_DIALECT = "duckdb"
DIALECTS = ("bigquery", "snowflake", "postgres")
# Targets that reject ``WITH x AS MATERIALIZED (...)``; PostgreSQL accepts the hint.
NO_MATERIALIZED_HINT = frozenset({"bigquery", "snowflake"})

# Functions sqlglot does not translate (it writes them through unchanged and reads them
# back as unknown) that the target does have, checked in its function reference
# (PostgreSQL's JSON_ARRAY from version 16). Any other such function is a gap.
TARGET_FUNCTIONS = {
    "bigquery": frozenset({"bit_count"}),
    "snowflake": frozenset(),
    "postgres": frozenset({"json_array"}),
}
DIVISION_GAP = ("division by zero: the KPI insert runs with DuckDB set to give NULL "
                "(compute.DIVISION_SETTINGS); the target raises an error instead")
INT128_GAP = "type HUGEINT: no 128-bit integer (the quarterly day masks)"
MAD = "function mad(): DuckDB's median absolute deviation, written through untranslated"
ISFINITE = "function isfinite(): DuckDB's, written through untranslated"
BIT_COUNT = "function bit_count(): DuckDB's, written through untranslated (the coverage days)"

# Everything the compiled statements cannot express in each target, as ``Compiled.gaps``
# words it; a test asserts these sets exactly, so a gap that appears or goes away fails it.
KNOWN_GAPS = {
    "bigquery": frozenset({DIVISION_GAP, MAD, ISFINITE, INT128_GAP}),
    "snowflake": frozenset({DIVISION_GAP, MAD, ISFINITE, BIT_COUNT, INT128_GAP}),
    "postgres": frozenset({DIVISION_GAP, MAD, ISFINITE, BIT_COUNT, INT128_GAP,
                           "PostgreSQL does not support IGNORE NULLS."}),
}
_WORDING = {"mad": MAD, "isfinite": ISFINITE, "bit_count": BIT_COUNT}

# Representative parameters of the goal layer's running values: the modes the attainment
# asset asks for (a goal's value to date, a per-period target restarting each week or
# month, the leading indicators' 28-day trend, the forecast's one-day history).
GOAL_RUNNING_MODES = {
    "to_date": {},
    "per_week": {"restart": "week"},
    "per_month": {"restart": "month"},
    "trend_28_days": {"window": 28},
    "history_1_day": {"window": 1},
}


@dataclass(frozen=True)
class Statement:
    layer: str  # kpi, baseline, diagnostic, goal
    name: str  # unique within the layer, usable as a file name
    sql: str  # DuckDB's dialect, as the pipeline executes it
    # What the statement relies on in the DuckDB session that the SQL text cannot carry,
    # reported as a gap in every target.
    session: tuple[str, ...] = ()


@dataclass(frozen=True)
class Compiled:
    statement: Statement
    dialect: str
    sql: str
    parsed: exp.Expr  # ``sql`` read back by sqlglot in ``dialect``
    gaps: tuple[str, ...]  # what the target cannot express, sorted; () when none


def _kpi_statements() -> list[Statement]:
    out = []
    for grain, table in TABLE_FOR_GRAIN.items():
        out.append(Statement("kpi", f"{table}.create", kpi_ddl(grain)))
        out.append(Statement("kpi", f"{table}.insert", kpi_insert_sql(grain),
                             session=(DIVISION_GAP,)))
    return out


def _baseline_statements() -> list[Statement]:
    out = [Statement("baseline", "snapshot_windows.create", SNAPSHOT_WINDOWS_SQL)]
    for grain, table in TABLE_FOR_GRAIN.items():
        out.append(Statement("baseline", f"{table}.create", baseline_ddl(grain)))
        out.append(Statement("baseline", f"{table}.insert", snapshot_insert_sql(grain)))
    return out


def _diagnostic_statements() -> list[Statement]:
    out = []
    for grain, table in TABLE_FOR_GRAIN.items():
        out.append(Statement("diagnostic", f"{table}.create", findings_ddl(grain)))
        out += [Statement("diagnostic", f"{table}.{rule.name}.insert",
                          findings_insert_sql(rule, grain)) for rule in rules()]
        out.append(Statement("diagnostic", f"{table}_anomalies.create", anomalies_ddl(grain)))
        out += [Statement("diagnostic", f"{table}_anomalies.{rule.name}.insert",
                          anomalies_insert_sql(rule, grain)) for rule in anomaly_rules()]
    return out


def _goal_statements() -> list[Statement]:
    """The attainment table, the baseline lookup (ratios read the pooled value, counts
    the mean), and the running KPI values in each mode the attainment asset uses, for the
    first catalogue KPI of every fact source (to date at its widest scope, the other modes
    at its narrowest): every shape of the statement and every source's facts. Every
    KPI's formula is compiled in the KPI inserts, which compute them all."""
    kpis = catalog()
    out = [Statement("goal", "attainment.create", attainment_ddl()),
           *(Statement("goal", f"baseline_{column}.select", baseline_sql(column))
             for column in ("pooled", "mean"))]
    for source in SOURCES:
        kpi = next(k for k in kpis.values() if k.source == source)
        for mode, params in GOAL_RUNNING_MODES.items():
            scope = kpi.computed_scopes[0 if mode == "to_date" else -1]
            out.append(Statement("goal", f"running.{kpi.name}.{mode}.select",
                                 kpi_running_sql(kpi, scope=scope, **params)))
    return out


def statements() -> list[Statement]:
    """Every statement gathered, layer by layer in the order the data flows."""
    return [*_kpi_statements(), *_baseline_statements(), *_diagnostic_statements(),
            *_goal_statements()]


def _gaps_in(tree: exp.Expr, dialect: str) -> set[str]:
    """Functions sqlglot wrote through untranslated that the target lacks, and 128-bit
    integers, in a statement read in the target's dialect."""
    found = set()
    for node in tree.find_all(exp.Anonymous):
        name = str(node.this).lower()
        if name not in TARGET_FUNCTIONS[dialect]:
            found.add(_WORDING.get(name, f"function {name}(): written through untranslated"))
    for node in tree.find_all(exp.DataType):
        if node.this in (exp.DataType.Type.INT128, exp.DataType.Type.UINT128):
            found.add(INT128_GAP)
    return found


def compile_statement(statement: Statement, dialect: str, pretty: bool = True,
                      tree: exp.Expr | None = None) -> Compiled:
    """``statement`` in ``dialect``: sqlglot reads it as DuckDB (or takes its ``tree``,
    read once for several dialects) and writes it in the target, collecting every message
    ``unsupported_level=ErrorLevel.RAISE`` would raise on, then reads the result back
    with ``sqlglot.parse_one(sql, read=dialect)``, which raises on what it cannot read."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}")
    tree = (tree or sqlglot.parse_one(statement.sql, read=SOURCE_DIALECT)).copy()
    if dialect in NO_MATERIALIZED_HINT:
        for cte in tree.find_all(exp.CTE):
            cte.set("materialized", None)
    generator = sqlglot.Dialect.get_or_raise(dialect).generator(
        pretty=pretty, unsupported_level=ErrorLevel.IGNORE)
    sql = generator.generate(tree, copy=False)
    gaps = {*generator.unsupported_messages, *statement.session}
    parsed = sqlglot.parse_one(sql, read=dialect)
    gaps |= _gaps_in(parsed, dialect)
    return Compiled(statement, dialect, sql, parsed, tuple(sorted(gaps)))


def compile_all(dialects: Iterable[str] = DIALECTS,
                pretty: bool = True) -> dict[str, list[Compiled]]:
    """Every statement in each of ``dialects``, each statement read as DuckDB once."""
    gathered = statements()
    trees = [sqlglot.parse_one(s.sql, read=SOURCE_DIALECT) for s in gathered]
    return {dialect: [compile_statement(s, dialect, pretty, tree)
                      for s, tree in zip(gathered, trees, strict=True)]
            for dialect in dialects}


def write_compiled(compiled: Iterable[Compiled], out: Path) -> list[Path]:
    """One file per statement, ``<out>/<layer>/<name>.sql``, each headed by where it comes
    from and the gaps it has; returns the files written."""
    written = []
    for c in compiled:
        path = out / c.statement.layer / f"{c.statement.name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = [f"-- {c.statement.layer}/{c.statement.name}: compiled from DuckDB to "
                  f"{c.dialect} by sqlglot {sqlglot.__version__}; "
                  "parsed, not executed",
                  *(f"-- GAP: {gap}" for gap in c.gaps)]
        path.write_text("\n".join(header) + "\n" + c.sql + ";\n", encoding="utf-8")
        written.append(path)
    return written
