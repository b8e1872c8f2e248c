"""The KPI, baseline, diagnostic and goal SQL compiled to BigQuery, Snowflake and
PostgreSQL (``kpi_pipeline/lib/dialects.py``): every statement is gathered, compiles,
reads back in the target's dialect with its parameters, and has exactly the known gaps.

Compiled and parsed only: nothing here runs on a warehouse.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest
from sqlglot import exp

from kpi_pipeline import cli
from kpi_pipeline.lib import dialects
from kpi_pipeline.lib.dialects import DIALECTS, KNOWN_GAPS, compile_all, statements

LIB = Path(__file__).resolve().parents[1] / "kpi_pipeline" / "lib"

# Statements gathered per layer. KPI: a CREATE TABLE and an INSERT per grain. Baseline:
# the snapshot windows, a CREATE TABLE and an INSERT per grain. Diagnostic: per grain a
# findings table, one INSERT per decision rule (6), an anomaly table, one INSERT per
# anomaly rule (2). Goal: the attainment table, two baseline lookups, and 5 modes of the
# running values for each of the 8 fact sources. A rule, grain or source added changes
# these numbers on purpose.
EXPECTED = {"kpi": 6, "baseline": 7, "diagnostic": 30, "goal": 43}

# The functions whose result the pipeline executes and the gathering compiles.
GATHERED = {"kpi_ddl", "kpi_insert_sql", "kpi_running_sql", "baseline_ddl",
            "snapshot_insert_sql", "SNAPSHOT_WINDOWS_SQL", "findings_ddl",
            "findings_insert_sql", "anomalies_ddl", "anomalies_insert_sql",
            "attainment_ddl", "baseline_sql"}
# Every other statement those layers execute, per module: the housekeeping the gathering
# leaves out (schemas, the window's deletes, counts, settings, the stored cohort window,
# migrations reading DuckDB's catalogue or rebuilding tables), kpi_range (tests only),
# the goals file's stored copy, the attainment rows loaded from a data frame, the anomaly
# alerts' read-back, and the attribution tables and views (their own layer), with their
# key checks. A statement added to a layer changes
# a count here: gather it, or say why it is left out.
NOT_GATHERED = {"kpis/attribution.py": 18, "kpis/compute.py": 9, "baselines/snapshots.py": 10,
                "diagnostics/rules.py": 3, "diagnostics/anomalies.py": 4,
                "goals/tables.py": 6, "goals/stored.py": 9}


@pytest.fixture(scope="module")
def compiled():
    """Every statement in every dialect, compiled once for the module (about 8 CPU-s)."""
    return compile_all(DIALECTS)


def _executed(path: Path) -> list[str]:
    """The first argument of every ``.execute(...)`` in a module, as source text."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [ast.unparse(node.args[0]) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "execute"]


def _gathered(source: str) -> bool:
    return re.match(r"\w*", source).group(0) in GATHERED


def test_every_statement_of_the_layers_is_gathered():
    gathered = statements()
    assert Counter(s.layer for s in gathered) == EXPECTED
    assert len({(s.layer, s.name) for s in gathered}) == len(gathered)
    not_gathered = {}
    for layer in ("kpis", "baselines", "diagnostics", "goals"):
        for path in sorted((LIB / layer).glob("*.py")):
            others = [s for s in _executed(path) if not _gathered(s)]
            if others:
                not_gathered[f"{layer}/{path.name}"] = len(others)
    assert not_gathered == NOT_GATHERED


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake", "postgres"])
def test_every_statement_compiles_and_reads_back(compiled, dialect):
    """sqlglot reads each compiled statement back in the target's dialect
    (``sqlglot.parse_one(sql, read=dialect)`` in ``compile_statement``, which raises when
    it cannot): the same kind of statement, with the same named parameters in the
    target's style."""
    kinds = {"create": exp.Create, "insert": exp.Insert, "select": exp.Select}
    assert len(compiled[dialect]) == sum(EXPECTED.values())
    for c in compiled[dialect]:
        assert isinstance(c.parsed, kinds[c.statement.name.rsplit(".", 1)[1]]), c.statement
        named = set(re.findall(r"\$(\w+)", c.statement.sql))
        found = {n.name for n in c.parsed.find_all(exp.Parameter, exp.Placeholder)
                 if n.name != "?"}
        assert found == named, c.statement.name
        assert "$" not in c.sql, c.statement.name
        if dialect in dialects.NO_MATERIALIZED_HINT:
            assert "MATERIALIZED" not in c.sql, c.statement.name


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake", "postgres"])
def test_the_gaps_are_exactly_the_known_ones(compiled, dialect):
    found = {gap for c in compiled[dialect] for gap in c.gaps}
    assert found == KNOWN_GAPS[dialect]
    # where they are: the quarter's day masks, the baselines' MAD, the anomalies' check
    # for a finite value, the KPI inserts' division by zero
    by_gap = {gap: sorted(f"{c.statement.layer}/{c.statement.name}" for c in compiled[dialect]
                          if gap in c.gaps) for gap in found}
    assert by_gap[dialects.INT128_GAP] == ["kpi/quarterly.insert"]
    assert by_gap[dialects.MAD] == [f"baseline/{t}.insert"
                                    for t in ("monthly", "quarterly", "weekly")]
    assert by_gap[dialects.DIVISION_GAP] == [f"kpi/{t}.insert"
                                             for t in ("monthly", "quarterly", "weekly")]
    assert {name.split("/")[1].split(".")[0] for name in by_gap[dialects.ISFINITE]} == {
        "weekly_anomalies", "monthly_anomalies", "quarterly_anomalies"}


def test_the_cli_writes_one_file_per_statement(compiled, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "compile_all", lambda chosen: {d: compiled[d] for d in chosen})
    assert cli.main(["compile-sql", "--dialect", "snowflake", "--out", str(tmp_path)]) == 0
    files = sorted(tmp_path.rglob("*.sql"))
    assert len(files) == sum(EXPECTED.values())
    weekly = (tmp_path / "kpi" / "weekly.insert.sql").read_text(encoding="utf-8")
    assert weekly.startswith("-- kpi/weekly.insert: compiled from DuckDB to snowflake")
    assert f"-- GAP: {dialects.DIVISION_GAP}" in weekly
    assert "INSERT INTO kpi.weekly" in weekly and ":lo" in weekly
    err = capsys.readouterr().err
    assert all(gap in err for gap in KNOWN_GAPS["snowflake"])


def test_the_cli_prints_the_statements_without_out(compiled, monkeypatch, capsys):
    monkeypatch.setattr(cli, "compile_all", lambda chosen: {d: compiled[d] for d in chosen})
    assert cli.main(["compile-sql", "--dialect", "bigquery"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n-- goal/") + out.startswith("-- goal/") == EXPECTED["goal"]
    assert "@lo" in out and "-- GAP: " in out
