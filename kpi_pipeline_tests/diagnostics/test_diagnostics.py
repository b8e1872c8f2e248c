"""Each diagnostic rule fires on a case built for it and stays silent on its near miss."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pytest

from kpi_pipeline.lib.baselines.snapshots import ensure_baseline_tables
from kpi_pipeline.lib.diagnostics.rules import load_rules, replace_findings, rules
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import ensure_kpi_tables

WEEK = date(2025, 3, 3)
BASELINE = 100.0  # every KPI's baseline in these cases; values are multiples of it


def scope_for(rule) -> tuple[str, str]:
    return ("all", "all") if "all" in rule.scopes else (rule.scopes[0], "x")


def load_case(conn, rule, factors: dict[str, float]) -> None:
    """KPI rows for WEEK at the rule's scope, each value = factor x the baseline."""
    scope, key = scope_for(rule)
    for kpi, factor in factors.items():
        unit = catalog()[kpi].unit
        conn.execute("""INSERT INTO kpi.weekly (period_start, period_end, grain, kpi, scope,
                        scope_key, unit, definition, value) VALUES (?, ?, 'week', ?, ?, ?, ?,
                        'd', ?)""", [WEEK, WEEK + timedelta(days=6), kpi, scope, key, unit,
                                     BASELINE * factor])
        conn.execute("""INSERT INTO baseline.weekly VALUES (?, 'week', ?, ?, ?, ?, 12, ?, ?, 12,
                        ?, ?, 1, ?, ?, ?, ?)""",
                     [WEEK, kpi, scope, key, unit, WEEK - timedelta(weeks=12),
                      WEEK - timedelta(weeks=1), BASELINE, BASELINE, BASELINE, BASELINE,
                      BASELINE if catalog()[kpi].denominator else None, None])


def findings(rule, factors: dict[str, float], tmp_path) -> list[tuple]:
    conn = duckdb.connect(str(tmp_path / f"{rule.name}-{len(factors)}.duckdb"))
    ensure_kpi_tables(conn)
    ensure_baseline_tables(conn)
    load_case(conn, rule, factors)
    replace_findings(conn, "week", WEEK, WEEK, (rule,))
    rows = conn.execute("SELECT rule, scope_key, evidence FROM diagnostic.weekly").fetchall()
    conn.close()
    return rows


def firing(rule, margin: float) -> dict[str, float]:
    """Every condition met with ``margin`` to spare (negative: missed by it)."""
    return {c.kpi: c.factor * (1 + margin if c.op == ">=" else 1 - margin) for c in rule.when}


@pytest.mark.parametrize("rule", rules(), ids=[r.name for r in rules()])
def test_rule_fires_on_its_case_with_evidence(rule, tmp_path):
    (row,) = findings(rule, firing(rule, 0.02), tmp_path)
    assert row[:2] == (rule.name, scope_for(rule)[1])
    evidence = json.loads(row[2])
    assert [e["kpi"] for e in evidence] == [c.kpi for c in rule.when]
    for item, cond in zip(evidence, rule.when, strict=True):
        assert item["baseline"] == BASELINE
        assert item["threshold"] == pytest.approx(BASELINE * cond.factor)
        assert item["rule"] == f"{cond.op} {cond.factor:g} x baseline"


@pytest.mark.parametrize("rule", rules(), ids=[r.name for r in rules()])
def test_rule_is_silent_on_a_near_miss(rule, tmp_path):
    """All conditions but the last hold; the last misses its threshold by 2 %."""
    factors = firing(rule, 0.02)
    last = rule.when[-1]
    factors[last.kpi] = last.factor * (0.98 if last.op == ">=" else 1.02)
    assert findings(rule, factors, tmp_path) == []


def test_every_domain_rule_is_there():
    assert {r.name for r in rules()} == {
        "unclear_call_to_action", "weak_opening_hook", "message_audience_mismatch",
        "cost_per_lead_rising", "landing_page_overpromised", "landing_page_not_converting"}


def test_invalid_rules_are_reported_together(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("""rules:
  a: {title: t, diagnosis: d, action: x, scopes: [all], when: [{kpi: nope, op: ">=", factor: 1}]}
  b: {title: t, diagnosis: d, action: x, scopes: [campaign],
      when: [{kpi: bounce_rate, op: ">=", factor: 1}]}
""")
    with pytest.raises(ValueError) as info:
        load_rules(path)
    assert "rule 'a'" in str(info.value) and "unknown KPI 'nope'" in str(info.value)
    assert "rule 'b'" in str(info.value) and "not computed for scopes" in str(info.value)
