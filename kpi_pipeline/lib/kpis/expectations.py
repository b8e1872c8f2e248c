"""Great Expectations over the KPI tables, one validation per run window, and a readable
page of each period's share of it.

Plain Python (no Dagster): the checks in ``defs/kpis/checks.py`` load one window of
``kpi.weekly`` or ``kpi.monthly`` into pandas and call ``validate_kpi_window`` (the
blocking rules) and ``validate_kpi_jumps`` (the period-over-period warning).

The blocking rules (one GX expectation each, so a failure names what broke):

- every *bounded* rate (a ratio whose numerator is a part of its denominator,
  ``bounded: true`` in the catalogue) has its value in [0, 1], one expectation per KPI;
- ``value`` is not NULL where the denominator is positive (a row condition);
- every catalogue KPI computed at scope ``all`` for the grain has a row at scope
  ``all`` in every period (KPIs restricted by ``scopes`` or ``grains`` are left out, and
  so are KPIs whose source reads a normalized table that holds no row for the period).

All of them run as ONE Great Expectations validation over every row of the window: the
cost of a validation is mostly GX's own per-suite and per-metric machinery, not the rows,
so a 104-week backfill validated period by period paid it 104 times. The presence rule
becomes a set over the window: each KPI row at scope ``all`` carries ``period_kpi``
(``"<period> <kpi>"``), and the expected set holds one such pair per period and KPI
expected in that period, so the per-period exemptions stay exact.

Each period keeps its own result (``PeriodValidation``), derived from the one window
result: unexpected rows come back with their ``period`` (``unexpected_index_list`` in
GX's COMPLETE format) and are grouped by it; rows checked per period are counted with the
same row conditions the expectations use (``Where``). GX reports at most 20 missing
values of a set, so the pairs missing per period are the set difference computed here,
and they must add up to GX's own ``missing_count`` (a mismatch raises).

Warning only: ``|change_vs_previous|`` stays within a band (default 3.0 = +300 %). That
one comparison is evaluated with pandas, not GX (see ``validate_kpi_jumps``).

Great Expectations takes about 4 s to import, so it is imported inside the functions
that use it, never at module import. It runs with an ephemeral context (no files, no
network) and its progress bars off.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from kpi_pipeline.lib.core.long_lived import import_long_lived
from kpi_pipeline.lib.kpis.catalog import Kpi
from kpi_pipeline.lib.kpis.facts import SOURCES

KPI_COLUMNS = ("period_start", "kpi", "scope", "scope_key", "unit", "numerator",
               "denominator", "value", "previous_value", "change_vs_previous")
INDEX_COLUMNS = ["period", "kpi", "scope_key"]  # what a failing row is named by
PRESENCE_COLUMN = "period_kpi"  # "<period> <kpi>" on rows at scope all
EXAMPLES_KEPT = 5

DEFAULT_JUMP_BAND = 3.0  # |change vs previous period| above 3.0 (= +300 %) warns
DEFAULT_JUMP_SCOPES = ("all", "brand", "platform")

CONTAIN_SET = "expect_column_distinct_values_to_contain_set"
JUMP_RULE = "kpi_change_vs_previous_within_band"  # the pandas rule's type name


def bounded_rates(kpis: dict[str, Kpi], grain: str) -> list[str]:
    """The bounded rates of the catalogue computed at ``grain``."""
    return [k.name for k in kpis.values()
            if k.bounded and grain in k.grains]


def expected_at_scope_all(kpis: dict[str, Kpi], grain: str,
                          empty_tables: Collection[str] = ()) -> list[str]:
    """Every KPI computed for scope ``all`` at ``grain`` (not restricted away from it),
    except those whose source reads a table holding no row for the period: a source the
    deployment does not pull (no Mailchimp connector, say) cannot produce its KPIs, and
    the freshness and volume checks are what notice a source that stops arriving."""
    return sorted(k.name for k in kpis.values()
                  if grain in k.grains and "all" in k.computed_scopes
                  and not set(SOURCES[k.source].tables) & set(empty_tables))


def unsourced(kpis: dict[str, Kpi], grain: str, empty_tables: Collection[str]) -> list[str]:
    """The KPIs left out of the presence rule because a table of their source is empty."""
    return sorted(set(expected_at_scope_all(kpis, grain))
                  - set(expected_at_scope_all(kpis, grain, empty_tables)))


def presence_key(period: date | str, kpi: str) -> str:
    """The value of ``period_kpi`` for a KPI row of ``period`` at scope all."""
    return f"{period} {kpi}" if isinstance(period, str) else f"{period.isoformat()} {kpi}"


@dataclass(frozen=True)
class Where:
    """A row condition, given once and used twice: as the GX ``row_condition`` of an
    expectation and as a pandas mask counting the rows it checks in each period."""

    column: str
    operator: str  # "==", ">" or "in"
    parameter: Any

    def gx(self):
        from great_expectations.expectations.row_conditions import Column

        column = Column(self.column)
        if self.operator == "==":
            return column == self.parameter
        if self.operator == ">":
            return column > self.parameter
        if self.operator == "in":
            return column.is_in(list(self.parameter))
        raise ValueError(f"unknown operator {self.operator!r}")

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        values = frame[self.column]
        if self.operator == "==":
            return values == self.parameter
        if self.operator == ">":
            return values > self.parameter
        if self.operator == "in":
            return values.isin(list(self.parameter))
        raise ValueError(f"unknown operator {self.operator!r}")

    def text(self) -> str:
        if self.operator == "in":
            return f"{self.column} in ({', '.join(self.parameter)})"
        return f"{self.column} {'=' if self.operator == '==' else self.operator} " \
               f"{self.parameter}"


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that failed in a period: what it asked, how many rows broke it,
    examples (or the KPIs missing)."""

    expectation: str
    rule: str
    kpi: str | None
    unexpected_count: int
    examples: list[dict[str, Any]]
    missing: list[str] = field(default_factory=list)

    def text(self, period: date) -> str:
        if self.missing:
            return (f"{period}: KPI(s) missing at scope all: {', '.join(self.missing)}")
        shown = "; ".join(_example_text(e) for e in self.examples[:3])
        return f"{period}: {self.rule} broken by {self.unexpected_count} row(s): {shown}"


@dataclass(frozen=True)
class PeriodValidation:
    """One period's share of a window's validation: its rows, the expectations evaluated
    on them, its failures, and its part of the result (GX's JSON shape, one period)."""

    period: date
    rows: int
    success: bool
    evaluated: int
    failed: int
    failures: list[FailedExpectation]
    result: dict[str, Any]


@dataclass(frozen=True)
class WindowValidation:
    """One validation of a whole window and its split into periods. ``success`` is the
    validation's own verdict; the periods' verdicts always agree with it."""

    rows: int
    success: bool
    evaluated: int  # expectations in the one validation
    failed: int
    periods: list[PeriodValidation]
    result: dict[str, Any]


def _example_text(example: dict[str, Any]) -> str:
    measured = [k for k in example if k not in INDEX_COLUMNS]
    value = example.get(measured[0]) if measured else None
    shown = "NULL" if value is None or (isinstance(value, float) and pd.isna(value)) else value
    return f"{example.get('kpi')} at {example.get('scope_key')} = {shown}"


def great_expectations() -> ModuleType:
    """Great Expectations, imported by the first validation rather than when the code
    location loads (about 2 CPU s, paid only by a run that validates), and kept out of the
    garbage collector's walks: its expectation classes live as long as the process
    (``lib/core/long_lived.py``)."""
    return import_long_lived("great_expectations")


def _context():
    """An ephemeral GX context: in memory, no temporary docs site, no analytics, no
    progress bars."""
    gx = great_expectations()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False)
    return gx.get_context(mode="ephemeral", project_config=config)


def prepared_frame(frame: pd.DataFrame, periods: Iterable[date] | None = None
                   ) -> pd.DataFrame:
    """The KPI rows of ``periods`` (all rows without it) with a string ``period`` column
    (row conditions and examples use it), ``period_kpi`` on rows at scope all (the
    presence rule's values) and float measures (a NULL is NaN, whatever dtype DuckDB
    handed over)."""
    if not len(frame):
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in KPI_COLUMNS})
    out = frame.copy()
    # Format each distinct period once, not once per row.
    codes, starts = pd.factorize(pd.to_datetime(out["period_start"]))
    labels = np.asarray(pd.DatetimeIndex(starts).strftime("%Y-%m-%d"), dtype=object)
    out["period"] = labels[codes] if len(labels) else pd.Series(dtype=object)
    if periods is not None:
        wanted = {p.isoformat() for p in periods}
        out = out[out["period"].isin(wanted)]
    for column in ("numerator", "denominator", "value", "previous_value",
                   "change_vs_previous"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    for column in ("kpi", "scope", "scope_key", "unit", "period"):
        out[column] = out[column].astype(object)
    at_all = (out["scope"] == "all").to_numpy()
    keys = np.full(len(out), None, dtype=object)
    keys[at_all] = (out["period"][at_all] + " " + out["kpi"][at_all]).to_numpy(dtype=object)
    out[PRESENCE_COLUMN] = keys
    return out.reset_index(drop=True)


# ------------------------------------------------------------------- the blocking rules
@dataclass(frozen=True)
class Rule:
    """One expectation of the window's suite, with what splitting it by period needs."""

    key: str
    expectation: Any  # a GX expectation
    where: Where


def _kpi_rules(gx, kpis: dict[str, Kpi], grain: str, periods: Sequence[date],
               empty_tables: Mapping[date, Collection[str]]) -> list[Rule]:
    """The blocking rules of a window (see the module docstring)."""
    rules = []
    for name in bounded_rates(kpis, grain):
        where = Where("kpi", "==", name)
        rules.append(Rule(f"{RATE_PREFIX}{name}", gx.expectations.ExpectColumnValuesToBeBetween(
            column="value", min_value=0.0, max_value=1.0, row_condition=where.gx(),
            description=f"{name} is a rate between 0 and 1",
            meta={"rule": "rate between 0 and 1", "kpi": name, "where": where.text(),
                  "key": f"{RATE_PREFIX}{name}"}), where))
    where = Where("denominator", ">", 0)
    rules.append(Rule("value_not_null", gx.expectations.ExpectColumnValuesToNotBeNull(
        column="value", row_condition=where.gx(),
        description="value is not NULL where the denominator is positive",
        meta={"rule": "value not NULL where denominator > 0", "where": where.text(),
              "key": "value_not_null"}), where))
    where = Where("scope", "==", "all")
    expected = [presence_key(period, name) for period in periods
                for name in expected_at_scope_all(kpis, grain, empty_tables.get(period, ()))]
    rules.append(Rule("present_at_scope_all",
                      gx.expectations.ExpectColumnDistinctValuesToContainSet(
        column=PRESENCE_COLUMN, value_set=expected, row_condition=where.gx(),
        description="every catalogue KPI has a row at scope all",
        meta={"rule": "every KPI present at scope all", "where": where.text(),
              "key": "present_at_scope_all"}), where))
    return rules


def _run_suite(name: str, expectations: list, frame: pd.DataFrame) -> dict[str, Any]:
    """One GX validation of ``frame`` (one batch, the whole frame) against a suite."""
    gx = great_expectations()

    context = _context()
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    batch = context.data_sources.add_pandas(name=f"{name}_source") \
        .add_dataframe_asset(name="rows") \
        .add_batch_definition_whole_dataframe("window") \
        .get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": INDEX_COLUMNS})
    return result.to_json_dict()


def validate_kpi_window(frame: pd.DataFrame, kpis: dict[str, Kpi], grain: str,
                        periods: Iterable[date],
                        empty_tables: Mapping[date, Collection[str]] | None = None
                        ) -> WindowValidation:
    """The blocking KPI rules over every period of a window (rows of ``KPI_COLUMNS``) in
    one GX validation, split into one ``PeriodValidation`` per period. ``empty_tables``
    names, per period, the normalized tables holding no row for it."""
    gx = great_expectations()

    periods = list(periods)
    rows = prepared_frame(frame, periods)
    rules = _kpi_rules(gx, kpis, grain, periods, empty_tables or {})
    # GX pays a fixed cost per expectation, whatever the rows: the bounded rates are one
    # expectation over all their rows, whose result is cut back into one per KPI. It
    # evaluates each row condition over the frame it is given: only the columns the rules
    # and the examples read.
    rates = [r for r in rules if r.key.startswith(RATE_PREFIX)]
    others = [r for r in rules if not r.key.startswith(RATE_PREFIX)]
    merged = ([_merged_rates(gx, [r.where.parameter for r in rates])] if rates else [])
    columns = ["value", "denominator", "kpi", "scope", "scope_key", "period", PRESENCE_COLUMN]
    result = _run_suite(f"kpi_{grain}", [*merged, *(r.expectation for r in others)],
                        rows[columns])
    return _split(_per_kpi(result, rates), rules, rows, periods)


RATE_PREFIX = "rate:"
RATES_KEY = "rates"


def _merged_rates(gx, names: list[str]):
    """One expectation over the rows of every bounded rate."""
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column="value", min_value=0.0, max_value=1.0,
        row_condition=Where("kpi", "in", names).gx(),
        description="bounded rates are between 0 and 1", meta={"key": RATES_KEY})


def _per_kpi(result: dict[str, Any], rates: list[Rule]) -> dict[str, Any]:
    """``result`` with the merged bounded-rate item cut into one item per KPI, as if each
    rate had been its own expectation (its configuration, its rows)."""
    items = []
    for item in result["results"]:
        if (item["expectation_config"].get("meta") or {}).get("key") != RATES_KEY:
            items.append(item)
            continue
        details = item.get("result") or {}
        examples = details.get("unexpected_index_list") or []
        for rule in rates:
            name = rule.where.parameter
            found = [e for e in examples if e.get("kpi") == name]
            items.append({**item, "success": not found and not (
                              item.get("exception_info") or {}).get("raised_exception"),
                          "expectation_config": rule.expectation.configuration.to_json_dict(),
                          "result": {**details, "unexpected_count": len(found),
                                     "unexpected_index_list": found}})
    failed = sum(not i["success"] for i in items)
    return {**result, "results": items, "statistics": {
        **result["statistics"], "evaluated_expectations": len(items),
        "successful_expectations": len(items) - failed,
        "unsuccessful_expectations": failed}}


def _split(result: dict[str, Any], rules: list[Rule], rows: pd.DataFrame,
           periods: list[date]) -> WindowValidation:
    """The window's result as one result per period (see the module docstring)."""
    by_key = {r.key: r for r in rules}
    labels = [p.isoformat() for p in periods]
    row_counts = rows["period"].value_counts()
    items: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    for item in result["results"]:
        config = item["expectation_config"]
        rule = by_key[(config.get("meta") or {})["key"]]
        for label, share in _item_by_period(item, rule, rows, labels).items():
            items[label].append(share)
    split = [_period_validation(period, int(row_counts.get(label, 0)), items[label],
                                result.get("meta") or {})
             for period, label in zip(periods, labels, strict=True)]
    success = bool(result["success"])
    if success != all(v.success for v in split):
        raise RuntimeError("the window's validation and its split into periods disagree: "
                           f"window success={success}, periods failed="
                           f"{[str(v.period) for v in split if not v.success]}")
    stats = result["statistics"]
    return WindowValidation(rows=len(rows), success=success,
                            evaluated=int(stats["evaluated_expectations"]),
                            failed=int(stats["unsuccessful_expectations"]),
                            periods=split, result=result)


def _item_by_period(item: dict[str, Any], rule: Rule, rows: pd.DataFrame,
                    labels: list[str]) -> dict[str, dict[str, Any]]:
    """One expectation's result cut into periods: rows checked (its row condition),
    unexpected rows (GX's, grouped by their period) or missing KPIs."""
    config = item["expectation_config"]
    details = item.get("result") or {}
    exception = item.get("exception_info") or {}
    condition = rule.where.mask(rows)
    checked = rows.loc[condition, "period"].value_counts()
    shares: dict[str, dict[str, Any]] = {}
    if exception.get("raised_exception"):  # GX could not evaluate it: every period fails
        for label in labels:
            shares[label] = {"success": False, "expectation_config": config,
                             "result": {"element_count": int(checked.get(label, 0))},
                             "exception_info": exception}
        return shares
    if config["type"] == CONTAIN_SET:
        missing = _missing_by_period(config["kwargs"]["value_set"],
                                     rows.loc[condition, PRESENCE_COLUMN])
        total = sum(len(m) for m in missing.values())
        if total != int(details.get("missing_count", total)):
            raise RuntimeError(f"{total} (period, KPI) pair(s) missing, Great Expectations "
                               f"counts {details.get('missing_count')}")
        expected = _by_period(config["kwargs"]["value_set"])
        for label in labels:
            gone = missing.get(label, [])
            shares[label] = {
                "success": not gone,
                "expectation_config": {**config, "kwargs": {
                    **config["kwargs"], "value_set": expected.get(label, [])}},
                "result": {"element_count": int(checked.get(label, 0)),
                           "missing_count": len(gone), "missing_list": gone},
                "exception_info": exception}
        return shares
    unexpected: dict[str, list[dict[str, Any]]] = {}
    for example in details.get("unexpected_index_list") or []:
        unexpected.setdefault(example["period"], []).append(
            {k: _plain(v) for k, v in example.items()})
    for label in labels:
        found = unexpected.pop(label, [])
        count = int(checked.get(label, 0))
        shares[label] = {
            "success": not found,
            "expectation_config": config,
            "result": {"element_count": count, "unexpected_count": len(found),
                       "unexpected_percent": 100.0 * len(found) / count if count else None,
                       "unexpected_index_column_names": INDEX_COLUMNS,
                       "unexpected_index_list": found},
            "exception_info": exception}
    if unexpected:
        raise RuntimeError(f"unexpected rows of periods outside the window: {sorted(unexpected)}")
    if int(details.get("unexpected_count") or 0) != sum(
            s["result"]["unexpected_count"] for s in shares.values()):
        raise RuntimeError(f"{config['type']}: Great Expectations counts "
                           f"{details.get('unexpected_count')} unexpected row(s), "
                           "its index list holds a different number")
    return shares


def _by_period(pairs: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pair in pairs:
        period, kpi = pair.split(" ", 1)
        out.setdefault(period, []).append(kpi)
    return out


def _missing_by_period(expected: Iterable[str], present: pd.Series
                       ) -> dict[str, list[str]]:
    """The expected (period, KPI) pairs absent from ``present``, as KPIs per period."""
    seen = set(present.dropna())
    return {period: sorted(kpis) for period, kpis in
            _by_period(p for p in expected if p not in seen).items()}


def _period_validation(period: date, rows: int, items: list[dict[str, Any]],
                       window_meta: dict[str, Any]) -> PeriodValidation:
    failed = [i for i in items if not i["success"]]
    result = {
        "success": not failed,
        "results": items,
        "statistics": {"evaluated_expectations": len(items),
                       "successful_expectations": len(items) - len(failed),
                       "unsuccessful_expectations": len(failed),
                       "success_percent": 100.0 * (len(items) - len(failed)) / len(items)
                       if items else None},
        "meta": {**window_meta, "period": period.isoformat(),
                 "note": "this period's share of one validation of the run's window"},
    }
    return PeriodValidation(period=period, rows=rows, success=not failed,
                            evaluated=len(items), failed=len(failed),
                            failures=[_failure(i) for i in failed], result=result)


def _failure(item: dict[str, Any]) -> FailedExpectation:
    config = item["expectation_config"]
    meta = config.get("meta") or {}
    details = item.get("result") or {}
    missing = list(details.get("missing_list") or [])
    examples = (details.get("unexpected_index_list") or [])[:EXAMPLES_KEPT]
    error = (item.get("exception_info") or {}).get("exception_message")
    if error and not examples and not missing:
        examples = [{"error": error}]
    return FailedExpectation(
        expectation=config["type"], rule=meta.get("rule", config["type"]),
        kpi=meta.get("kpi"),
        unexpected_count=int(details.get("unexpected_count") or len(missing) or 0),
        examples=examples, missing=missing)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and pd.isna(value):
        return None
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


# ------------------------------------------------------------------- the jump warning
def validate_kpi_jumps(frame: pd.DataFrame, grain: str, periods: Iterable[date],
                       band: float = DEFAULT_JUMP_BAND,
                       scopes: Sequence[str] = DEFAULT_JUMP_SCOPES) -> WindowValidation:
    """The period-over-period warning over a window: ``change_vs_previous`` within
    [-band, band] at ``scopes``, a NULL change (no previous value) not judged, split into
    one ``PeriodValidation`` per period in the same shape as the blocking rules'.

    Evaluated with pandas rather than Great Expectations: it is one vectorised
    comparison of one column, with no page of its own, so GX would add its 4 s import
    (this warning may run without the blocking check in the same process) and its
    per-validation machinery to a sub-second job, and bring nothing a reader sees. The
    semantics are GX's ``expect_column_values_to_be_between`` with a row condition:
    bounds inclusive, NULLs skipped, rows outside the condition not checked.
    """
    periods = list(periods)
    rows = prepared_frame(frame, periods)
    where = Where("scope", "in", tuple(scopes))
    checked = where.mask(rows)
    change = rows["change_vs_previous"]
    broken = checked & change.notna() & ((change < -band) | (change > band))
    config = {"type": JUMP_RULE,
              "kwargs": {"column": "change_vs_previous", "min_value": -band,
                         "max_value": band, "row_condition": where.text()},
              "description": f"change vs the previous period within +/-{band:g} "
                             f"(scopes {', '.join(scopes)})",
              "meta": {"rule": f"|change vs previous| <= {band:g}", "where": where.text()}}
    counts = rows.loc[checked, "period"].value_counts()
    bad = rows.loc[broken, ["change_vs_previous", *INDEX_COLUMNS]]
    examples = {label: [{k: _plain(v) for k, v in record.items()}
                        for record in group.to_dict("records")]
                for label, group in bad.groupby("period", sort=False)}
    row_counts = rows["period"].value_counts()
    split = []
    for period in periods:
        label = period.isoformat()
        found = examples.get(label, [])
        count = int(counts.get(label, 0))
        item = {"success": not found, "expectation_config": config,
                "result": {"element_count": count, "unexpected_count": len(found),
                           "unexpected_percent": 100.0 * len(found) / count if count
                           else None,
                           "unexpected_index_column_names": INDEX_COLUMNS,
                           "unexpected_index_list": found},
                "exception_info": {"raised_exception": False}}
        split.append(_period_validation(period, int(row_counts.get(label, 0)), [item],
                                        {"evaluated_with": "pandas"}))
    success = not bool(broken.any())
    return WindowValidation(
        rows=len(rows), success=success, evaluated=1, failed=0 if success else 1,
        periods=split,
        result={"success": success, "statistics": {
            "evaluated_expectations": 1, "successful_expectations": int(success),
            "unsuccessful_expectations": int(not success)},
            "unexpected_count": int(broken.sum()), "element_count": int(checked.sum())})


# ------------------------------------------------------------------- check metadata
def failure_rows(validations: Iterable[PeriodValidation]) -> list[dict[str, Any]]:
    """One plain row per failed expectation and period (for check metadata)."""
    return [{"period": v.period.isoformat(), "rule": f.rule, "kpi": f.kpi,
             "expectation": f.expectation, "unexpected_count": f.unexpected_count,
             "missing": f.missing, "examples": f.examples}
            for v in validations for f in v.failures]


def failures_markdown(validations: Iterable[PeriodValidation]) -> str:
    rows = [{"period": r["period"], "rule": r["rule"], "kpi": r["kpi"] or "",
             "rows": r["unexpected_count"],
             "examples": ", ".join(r["missing"]) or "; ".join(
                 _example_text(e) for e in r["examples"][:3])}
            for r in failure_rows(validations)]
    if not rows:
        return "No expectation failed."
    return pd.DataFrame(rows).to_markdown(index=False)


# ------------------------------------------------------------------------- the page
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:68rem;
color:#1f2933;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#52606d;margin-top:0}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:.8rem;font-weight:600}
.ok{background:#e3f9e5;color:#0e5c1e} .bad{background:#ffe3e3;color:#8a1c1c}
.stats{display:flex;gap:2rem;margin:1rem 0} .stats div{font-size:.9rem;color:#52606d}
.stats b{display:block;font-size:1.6rem;color:#1f2933}
table{border-collapse:collapse;width:100%;font-size:.9rem} th,td{border-bottom:1px solid
#e4e7eb;padding:.4rem;text-align:left;vertical-align:top} th{background:#f5f7fa}
tr.failed td:first-child{border-left:4px solid #d64545} code{font-size:.85rem}
pre{background:#f5f7fa;padding:1rem;overflow:auto;font-size:.8rem}
</style></head><body>
<h1>{{ title }}</h1>
<p class="sub">{{ subtitle }}</p>
<p><span class="badge {{ 'ok' if validation.success else 'bad' }}">
{{ 'All expectations met' if validation.success else 'Expectations failed' }}</span></p>
<div class="stats">
<div><b>{{ validation.evaluated }}</b>expectations evaluated</div>
<div><b>{{ validation.evaluated - validation.failed }}</b>met</div>
<div><b>{{ validation.failed }}</b>failed</div>
<div><b>{{ validation.rows }}</b>rows validated</div>
</div>
<table><thead><tr><th>Result</th><th>Expectation</th><th>Arguments</th>
<th>Rows checked</th><th>Unexpected</th><th>Examples</th></tr></thead><tbody>
{% for item in items %}
<tr class="{{ 'passed' if item.success else 'failed' }}">
<td>{{ 'met' if item.success else 'FAILED' }}</td>
<td>{{ item.description }}<br><code>{{ item.type }}</code></td>
<td><code>{{ item.arguments }}</code></td>
<td>{{ item.checked }}</td><td>{{ item.unexpected }}</td>
<td>{% for example in item.examples %}{{ example }}<br>{% endfor %}</td>
</tr>
{% endfor %}
</tbody></table>
<details><summary>Validation result (Great Expectations JSON, this period's share of the
window's validation)</summary>
<pre>{{ result_json }}</pre></details>
{% for section in sections %}{{ section }}{% endfor %}
<p class="sub">Generated {{ generated }} by the kpi_pipeline data-quality checks.</p>
</body></html>
"""


def _page_items(result: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for item in result["results"]:
        config = item["expectation_config"]
        details = item.get("result") or {}
        kwargs = {k: v for k, v in config["kwargs"].items() if k not in ("batch_id",)}
        condition = kwargs.pop("row_condition", None)
        kwargs.pop("condition_parser", None)
        if condition is not None:
            kwargs["where"] = (config.get("meta") or {}).get("where", condition)
        if "value_set" in kwargs:
            kwargs["value_set"] = f"{len(kwargs['value_set'])} value(s)"
        missing = details.get("missing_list") or []
        examples = [f"missing: {m}" for m in missing]
        examples += [_example_text(e) + f" ({e.get('period')})"
                     for e in (details.get("unexpected_index_list") or [])[:EXAMPLES_KEPT]]
        error = (item.get("exception_info") or {}).get("exception_message")
        if error:
            examples.append(f"error: {error}")
        items.append({
            "success": item["success"], "type": config["type"],
            "description": config.get("description") or config["type"],
            "arguments": json.dumps(kwargs, default=str),
            "checked": details.get("element_count", ""),
            "unexpected": details.get("unexpected_count", len(missing) or 0),
            "examples": examples})
    return sorted(items, key=lambda i: (i["success"], i["description"]))


@cache
def _page_template():
    """The page template, compiled once per process (a window writes a page per period)."""
    from jinja2 import Environment, StrictUndefined

    return Environment(autoescape=True, undefined=StrictUndefined).from_string(PAGE)


def render_validation_page(validation: PeriodValidation, title: str, subtitle: str,
                           generated: str, sections: Sequence[Markup] = ()) -> str:
    """One self-contained HTML page (inline CSS, no scripts) of a period's validation,
    rendered with autoescaping: KPI names, scope keys and values are text, never markup.
    ``sections`` are further parts of the period's data-quality page (the UTM hygiene),
    already rendered and escaped by their own autoescaping templates."""
    return _page_template().render(
        title=title, subtitle=subtitle, validation=validation,
        items=_page_items(validation.result), generated=generated,
        result_json=json.dumps(validation.result, indent=1, default=str),
        sections=list(sections))  # a plain str would be escaped: only Markup is HTML
