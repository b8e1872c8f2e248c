"""Diagnostics: DOMAIN.md's decision rules evaluated per period and scope, as data.

Rules live in ``kpi_pipeline/data/diagnostic_rules.yaml``. A rule fires when every one
of its conditions holds: the KPI's value in the period, compared with the KPI's baseline
snapshot at the same scope taken as of the period's start, times a factor. Each finding
keeps its evidence (every KPI value, baseline and threshold) beside the diagnosis and
the recommended action.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN
from kpi_pipeline.lib.core.yaml_files import load_yaml_file, named_entries
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.normalized.store import transaction

RULES_PATH = data_file("diagnostic_rules.yaml")
SCHEMA = "diagnostic"


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kpi: str
    op: Literal[">=", "<="]
    factor: float = Field(gt=0)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    title: str
    diagnosis: str
    action: str
    scopes: tuple[Literal["all", "brand", "platform", "account", "campaign", "media_type"], ...]
    when: tuple[Condition, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _kpis_exist_at_the_scopes(self) -> Rule:
        kpis = catalog()
        for condition in self.when:
            if condition.kpi not in kpis:
                raise ValueError(f"unknown KPI {condition.kpi!r}")
            missing = set(self.scopes) - set(kpis[condition.kpi].computed_scopes)
            if missing:
                raise ValueError(f"{condition.kpi} is not computed for scopes {sorted(missing)}")
        return self


def load_rules(path: Path | str = RULES_PATH) -> list[Rule]:
    """Read and validate the rules file; every invalid rule is reported at once."""
    raw = load_yaml_file(path) or {}
    built, problems = named_entries(raw.get("rules") or {}, Rule, "rule")
    rules = list(built.values())
    if problems or not rules:
        raise ValueError(f"{path}: invalid diagnostic rules\n" + "\n".join(problems or
                                                                           ["no rules"]))
    return rules


@cache
def rules() -> tuple[Rule, ...]:
    return tuple(load_rules())


def findings_ddl(grain: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE_FOR_GRAIN[grain]} (
  period_start DATE NOT NULL, grain VARCHAR NOT NULL, rule VARCHAR NOT NULL,
  title VARCHAR NOT NULL, scope VARCHAR NOT NULL, scope_key VARCHAR NOT NULL,
  diagnosis VARCHAR NOT NULL, action VARCHAR NOT NULL, evidence VARCHAR NOT NULL,
  PRIMARY KEY (period_start, rule, scope_key)
)"""


def rule_sql(rule: Rule, grain: str) -> str:
    """SELECT of the rule's findings for periods in [$lo, $hi]: one row per period and
    scope where every condition holds, with the evidence as JSON."""
    table = TABLE_FOR_GRAIN[grain]
    joins, checks, evidence = [], [], []
    for i, cond in enumerate(rule.when):
        k, b = f"k{i}", f"b{i}"
        if i:
            joins.append(f"JOIN kpi.{table} {k} ON {k}.period_start = k0.period_start "
                         f"AND {k}.scope_key = k0.scope_key AND {k}.kpi = '{cond.kpi}'")
        joins.append(f"JOIN baseline.{table} {b} ON {b}.as_of = {k}.period_start "
                     f"AND {b}.kpi = {k}.kpi AND {b}.scope_key = {k}.scope_key")
        threshold = f"coalesce({b}.pooled, {b}.mean) * {cond.factor}"
        checks.append(f"{k}.value {cond.op} {threshold}")
        evidence.append(f"json_object('kpi', '{cond.kpi}', 'value', {k}.value, 'baseline', "
                        f"coalesce({b}.pooled, {b}.mean), 'rule', "
                        f"'{cond.op} {cond.factor:g} x baseline', 'threshold', {threshold})")
    scopes = ", ".join(f"'{s}'" for s in rule.scopes)
    return f"""
SELECT k0.period_start, '{grain}', $name, $title, k0.scope, k0.scope_key, $diagnosis,
       $action, CAST(json_array({', '.join(evidence)}) AS VARCHAR)
FROM kpi.{table} k0
{chr(10).join(joins)}
WHERE k0.kpi = '{rule.when[0].kpi}' AND k0.scope IN ({scopes})
  AND k0.period_start BETWEEN $lo AND $hi
  AND {' AND '.join(checks)}"""


def findings_insert_sql(rule: Rule, grain: str) -> str:
    """The INSERT of the rule's findings for periods in [$lo, $hi] into the grain's table
    (parameters as ``rule_sql``'s)."""
    return f"INSERT INTO {SCHEMA}.{TABLE_FOR_GRAIN[grain]} {rule_sql(rule, grain)}"


def replace_findings(conn: duckdb.DuckDBPyConnection, grain: str, first, last,
                     rule_set: tuple[Rule, ...] | None = None) -> int:
    """Re-evaluate every rule for the periods starting in [first, last]."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(findings_ddl(grain))
    target = f"{SCHEMA}.{TABLE_FOR_GRAIN[grain]}"
    with transaction(conn):
        conn.execute(f"DELETE FROM {target} WHERE period_start BETWEEN ? AND ?", [first, last])
        for rule in rule_set or rules():
            conn.execute(findings_insert_sql(rule, grain),
                         {"lo": first, "hi": last, "name": rule.name, "title": rule.title,
                          "diagnosis": rule.diagnosis, "action": rule.action})
        count = conn.execute(f"SELECT count(*) FROM {target} WHERE period_start BETWEEN ? AND ?",
                             [first, last]).fetchone()[0]
    return count
