"""Anomalies: a KPI that leaves the band its own trailing periods set.

The decision rules (``rules.py``) look for known patterns across several KPIs; an anomaly
rule asks a simpler question of every KPI at once: is this period's value outside what
its baseline calls normal? "Normal" is robust, so one viral week in the baseline does not
widen the band for the next three months the way a standard deviation would:

    robust deviation  = 1.4826 x MAD   (the baseline snapshot's median absolute
                                        deviation, scaled to match a standard deviation
                                        on normally distributed values)
    half-width        = max(deviations x robust deviation,
                            min_relative_change x |median|)
    band              = median +/- half-width

A rule fires for a period, KPI and scope when the value is strictly beyond its side of
the band, the snapshot has at least ``min_periods`` periods, and the period's base (the
denominator of a ratio; for a count, money or duration, the larger of the value and the
baseline median) is at least ``min_base``: 3 saves against a median of 1 is not news.
The ``min_relative_change`` floor keeps a KPI that barely moved in its baseline (MAD
near 0) from firing on a 1 % wobble.

Rules live in ``kpi_pipeline/data/diagnostic_rules.yaml`` under ``anomalies``; the
deviations and minimum base can be overridden for every rule at run time (the
diagnostic assets pass ``KPI_PIPELINE_ANOMALY_DEVIATIONS`` / ``_MIN_BASE``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kpi_pipeline.lib.alerts import Alert
from kpi_pipeline.lib.core.periods import TABLE_FOR_GRAIN
from kpi_pipeline.lib.core.yaml_files import load_yaml_file, named_entries
from kpi_pipeline.lib.diagnostics.rules import RULES_PATH, SCHEMA
from kpi_pipeline.lib.kpis.catalog import SCOPES, catalog
from kpi_pipeline.lib.normalized.store import transaction

MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normal values
ANOMALIES_KEPT = 50  # newest anomalies listed in one materialization's metadata
Scope = Literal["all", "brand", "platform", "account", "campaign", "media_type"]


class AnomalyRule(BaseModel):
    """One side of the band (above or below), with its thresholds and wording."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    title: str
    diagnosis: str
    action: str
    direction: Literal["above", "below"]
    deviations: float = Field(gt=0)
    min_relative_change: float = Field(ge=0)
    min_base: float = Field(ge=0)
    min_periods: int = Field(ge=3)
    scopes: tuple[Scope, ...] = Field(min_length=1)
    kpis: tuple[str, ...] = ()  # empty: every catalogue KPI computed at the scopes

    @model_validator(mode="after")
    def _kpis_exist(self) -> AnomalyRule:
        unknown = sorted(set(self.kpis) - set(catalog()))
        if unknown:
            raise ValueError(f"unknown KPI(s) {unknown}")
        return self

    def judged_kpis(self) -> list[str]:
        """The KPIs the rule judges: its list, else every catalogue KPI."""
        return list(self.kpis or sorted(catalog()))


def load_anomaly_rules(path: Path | str = RULES_PATH) -> list[AnomalyRule]:
    """Read and validate the ``anomalies`` section; every invalid rule is reported at
    once. A file without the section has no anomaly rules."""
    raw = load_yaml_file(path) or {}
    rules, problems = named_entries(raw.get("anomalies") or {}, AnomalyRule, "anomaly rule")
    if problems:
        raise ValueError(f"{path}: invalid anomaly rules\n" + "\n".join(problems))
    return list(rules.values())


@cache
def anomaly_rules() -> tuple[AnomalyRule, ...]:
    return tuple(load_anomaly_rules())


def with_overrides(rules: Iterable[AnomalyRule], deviations: float | None = None,
                   min_base: float | None = None) -> tuple[AnomalyRule, ...]:
    """The rules with the run's settings in place of the file's values, where given."""
    changes: dict[str, float] = {}
    if deviations is not None:
        if not deviations > 0:
            raise ValueError(f"anomaly deviations must be > 0, got {deviations}")
        changes["deviations"] = deviations
    if min_base is not None:
        if not min_base >= 0:
            raise ValueError(f"anomaly minimum base must be >= 0, got {min_base}")
        changes["min_base"] = min_base
    return tuple(rule.model_copy(update=changes) for rule in rules)


def anomalies_table(grain: str) -> str:
    return f"{SCHEMA}.{TABLE_FOR_GRAIN[grain]}_anomalies"


def anomalies_ddl(grain: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {anomalies_table(grain)} (
  period_start DATE NOT NULL, grain VARCHAR NOT NULL, rule VARCHAR NOT NULL,
  kpi VARCHAR NOT NULL, scope VARCHAR NOT NULL, scope_key VARCHAR NOT NULL,
  direction VARCHAR NOT NULL, value DOUBLE NOT NULL, baseline_median DOUBLE NOT NULL,
  baseline_mad DOUBLE NOT NULL, baseline_periods INTEGER NOT NULL,
  robust_deviations DOUBLE, band_low DOUBLE NOT NULL, band_high DOUBLE NOT NULL,
  base DOUBLE NOT NULL, deviations DOUBLE NOT NULL, min_relative_change DOUBLE NOT NULL,
  min_base DOUBLE NOT NULL, title VARCHAR NOT NULL, diagnosis VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  PRIMARY KEY (period_start, rule, kpi, scope_key)
)"""


def ensure_anomaly_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for grain in TABLE_FOR_GRAIN:
        conn.execute(anomalies_ddl(grain))


def anomaly_sql(rule: AnomalyRule, grain: str) -> str:
    """SELECT of the rule's anomalies for periods in [$lo, $hi], with the evidence
    (value, baseline median and MAD, band, base, thresholds) as columns. Every value from
    the rule is a bound parameter; only names from the catalogue and the grain's table
    are written into the SQL."""
    table = TABLE_FOR_GRAIN[grain]
    beyond = "value > median + hw" if rule.direction == "above" else "value < median - hw"
    return f"""
WITH judged AS (
    SELECT k.period_start, k.kpi, k.scope, k.scope_key, k.value, b.median, b.mad,
           b.periods,
           CASE WHEN k.denominator IS NOT NULL THEN k.denominator
                ELSE greatest(abs(k.value), abs(b.median)) END AS base,
           greatest($deviations * {MAD_TO_SIGMA} * b.mad,
                    $min_relative_change * abs(b.median)) AS hw
    FROM kpi.{table} k
    JOIN baseline.{table} b
      ON b.as_of = k.period_start AND b.kpi = k.kpi AND b.scope_key = k.scope_key
    WHERE k.period_start BETWEEN $lo AND $hi
      AND list_contains($scopes, k.scope) AND list_contains($kpis, k.kpi)
      AND k.value IS NOT NULL AND isfinite(k.value)
      AND b.median IS NOT NULL AND b.mad IS NOT NULL AND b.periods >= $min_periods)
SELECT period_start, '{grain}', $name, kpi, scope, scope_key, $direction, value, median,
       mad, periods,
       CASE WHEN mad > 0 THEN (value - median) / ({MAD_TO_SIGMA} * mad) END,
       median - hw, median + hw, base, $deviations, $min_relative_change, $min_base,
       $title, $diagnosis, $action
FROM judged
WHERE base >= $min_base AND {beyond}"""


def anomalies_insert_sql(rule: AnomalyRule, grain: str) -> str:
    """The INSERT of the rule's anomalies for periods in [$lo, $hi] into the grain's
    anomaly table (parameters as ``anomaly_sql``'s)."""
    return f"INSERT INTO {anomalies_table(grain)} {anomaly_sql(rule, grain)}"


def _params(rule: AnomalyRule, first: date, last: date) -> dict[str, object]:
    return {"lo": first, "hi": last, "name": rule.name, "direction": rule.direction,
            "deviations": rule.deviations, "min_relative_change": rule.min_relative_change,
            "min_base": rule.min_base, "min_periods": rule.min_periods,
            "scopes": list(rule.scopes), "kpis": rule.judged_kpis(), "title": rule.title,
            "diagnosis": rule.diagnosis, "action": rule.action}


def replace_anomalies(conn: duckdb.DuckDBPyConnection, grain: str, first: date, last: date,
                      rule_set: Sequence[AnomalyRule] | None = None) -> int:
    """Re-evaluate every anomaly rule for the periods starting in [first, last] (delete
    the window's anomalies, insert, one transaction) and return how many there are."""
    ensure_anomaly_tables(conn)
    target = anomalies_table(grain)
    with transaction(conn):
        conn.execute(f"DELETE FROM {target} WHERE period_start BETWEEN ? AND ?", [first, last])
        for rule in anomaly_rules() if rule_set is None else rule_set:
            conn.execute(anomalies_insert_sql(rule, grain),
                         _params(rule, first, last))
        count = conn.execute(f"SELECT count(*) FROM {target} WHERE period_start BETWEEN ? "
                             "AND ?", [first, last]).fetchall()[0][0]
    return count


@dataclass(frozen=True)
class Anomaly:
    """One KPI outside its band for one period and scope, as the alert needs it."""

    grain: str
    period_start: date
    kpi: str
    scope: str
    scope_key: str
    direction: str
    value: float
    median: float
    band_low: float
    band_high: float
    robust_deviations: float | None
    rule: str

    def key(self) -> str:
        """What is announced once: the KPI, scope and period (whatever the rule)."""
        return f"{self.grain}|{self.period_start.isoformat()}|{self.kpi}|{self.scope}|" \
               f"{self.scope_key}"

    def alert(self) -> Alert:
        kpi = catalog().get(self.kpi)
        label = kpi.label if kpi else self.kpi
        better = f"; {kpi.direction} is better" if kpi else ""
        where = "all platforms" if self.scope == "all" else f"{self.scope} {self.scope_key}"
        deviations = "" if self.robust_deviations is None else \
            f", {self.robust_deviations:+.1f} robust deviations"
        side = "above" if self.direction == "above" else "below"
        return Alert("kpi_anomaly", f"{self.kpi} at {where}",
                     f"{label} for the {self.grain} of {self.period_start} is {_num(self.value)},"
                     f" {side} its baseline band {_num(self.band_low)}..{_num(self.band_high)}"
                     f" (median {_num(self.median)}{deviations}){better}; rule {self.rule}")

    def record(self) -> dict[str, object]:
        """JSON-ready form, as kept in the diagnostic asset's materialization metadata."""
        data = {**self.__dict__, "period_start": self.period_start.isoformat()}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in data.items()}

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> Anomaly:
        deviations = record.get("robust_deviations")
        return cls(str(record["grain"]), date.fromisoformat(str(record["period_start"])),
                   str(record["kpi"]), str(record["scope"]), str(record["scope_key"]),
                   str(record["direction"]), float(record["value"]),
                   float(record["median"]), float(record["band_low"]),
                   float(record["band_high"]),
                   None if deviations is None else float(deviations), str(record["rule"]))


def _num(value: float) -> str:
    """A number short enough for a chat line (the page formats by unit)."""
    return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}".rstrip("0").rstrip(".")


def anomalies_in(conn: duckdb.DuckDBPyConnection, grain: str, first: date,
                 last: date) -> list[Anomaly]:
    """Every anomaly of the periods starting in [first, last], oldest first, one per KPI,
    scope and period (the rule with the farthest value, should two rules both fire)."""
    rows = conn.execute(
        f"""SELECT period_start, kpi, scope, scope_key, direction, value, baseline_median,
                   band_low, band_high, robust_deviations, rule
            FROM {anomalies_table(grain)} WHERE period_start BETWEEN ? AND ?
            QUALIFY row_number() OVER (PARTITION BY period_start, kpi, scope, scope_key
                                       ORDER BY abs(value - baseline_median) DESC, rule) = 1
            ORDER BY period_start, scope, scope_key, kpi""", [first, last]).fetchall()
    return [Anomaly(grain, start, kpi, scope, key, direction, value, median, low, high,
                    deviations, rule)
            for start, kpi, scope, key, direction, value, median, low, high, deviations, rule
            in rows]


def anomaly_records(anomalies: Sequence[Anomaly], kept: int = ANOMALIES_KEPT
                    ) -> list[dict[str, object]]:
    """The newest ``kept`` anomalies (by period), oldest first, JSON-ready."""
    newest = sorted(anomalies, key=lambda a: (a.period_start, a.key()))[-kept:] if kept else []
    return [a.record() for a in newest]


DIGEST_LINES = 20  # anomalies spelled out in one period's alert; the rest are counted
SCOPE_ORDER = {scope: i for i, scope in enumerate(SCOPES)}  # the widest first


def new_anomaly_alerts(listed: Iterable[Anomaly], sent: Iterable[str]
                       ) -> tuple[list[Alert], list[str]]:
    """One alert per grain and period for its anomalies whose key (KPI, scope, period) is
    not in ``sent`` (each key once), and those keys: a re-run of a period lists its
    anomalies again and announces nothing. A period's anomalies come as one message, a
    line each (the widest scope first), so a week with a dozen KPIs out of band pages
    once rather than a dozen times."""
    done = set(sent)
    fresh: dict[tuple[str, date], list[Anomaly]] = {}
    for anomaly in sorted(listed, key=lambda a: (a.period_start, a.key())):
        if anomaly.key() in done:
            continue
        done.add(anomaly.key())
        fresh.setdefault((anomaly.grain, anomaly.period_start), []).append(anomaly)
    alerts, keys = [], []
    for (grain, start), found in fresh.items():
        found.sort(key=lambda a: (SCOPE_ORDER.get(a.scope, len(SCOPE_ORDER)), a.kpi,
                                  a.scope_key))
        lines = [f"- {a.alert().subject}: {a.alert().text}" for a in found[:DIGEST_LINES]]
        if len(found) > DIGEST_LINES:
            lines.append(f"- and {len(found) - DIGEST_LINES} more: see the diagnostics page")
        alerts.append(Alert("kpi_anomaly", f"{grain} of {start}: {len(found)} KPI(s) "
                                           "outside their baseline band",
                            "\n".join(lines)))
        keys += [a.key() for a in found]
    return alerts, keys

