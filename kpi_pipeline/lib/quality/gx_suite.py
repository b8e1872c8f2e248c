"""Great Expectations suites over the KPI tables, and a readable page of their results.

Plain Python (no Dagster): the checks in ``defs/kpis/checks.py`` load one window of
``kpi.weekly`` or ``kpi.monthly`` into pandas and call ``validate_kpi_periods`` (the
blocking rules) and ``validate_kpi_jumps`` (the period-over-period warning). Each period
of the window is validated on its own, so every period has its own result and page.

The rules (one GX expectation each, so a failure names what broke):

- every *bounded* rate (a ratio whose numerator is a part of its denominator, listed in
  ``BOUNDED_RATES``) has its value in [0, 1], one expectation per KPI;
- ``value`` is not NULL where the denominator is positive (a row condition);
- every catalogue KPI computed at scope ``all`` for the grain has a row at scope
  ``all`` (KPIs restricted by ``scopes`` or ``grains`` are left out, and so are KPIs
  whose source reads a normalized table that holds no row for the period);
- warning only: ``|change_vs_previous|`` stays within a band (default 3.0 = +300 %).

Great Expectations takes about 4 s to import, so it is imported inside the functions
that use it, never at module import. It runs with an ephemeral context (no files, no
network) and its progress bars off.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from kpi_pipeline.lib.kpis.catalog import Kpi
from kpi_pipeline.lib.kpis.facts import SOURCES

# Ratios whose numerator counts a subset of what the denominator counts: a value outside
# [0, 1] is an error. Every other ratio KPI is listed in UNBOUNDED_RATIOS (a growth rate
# can be negative or above 1; pages per session is at least 1), so a new ratio KPI must be
# classified (a test asserts that every ratio of the catalogue is in one of the two).
BOUNDED_RATES = frozenset({
    "engagement_rate", "share_rate", "completion_rate", "organic_click_through_rate",
    "click_through_rate", "bounce_rate", "signup_conversion_rate", "lead_quality",
    "order_conversion_rate", "repeat_customer_rate",
})
UNBOUNDED_RATIOS = frozenset({"follower_growth_rate", "email_list_growth_rate",
                              "pages_per_session"})

KPI_COLUMNS = ("period_start", "kpi", "scope", "scope_key", "unit", "numerator",
               "denominator", "value", "previous_value", "change_vs_previous")
INDEX_COLUMNS = ["period", "kpi", "scope_key"]  # what a failing row is named by
EXAMPLES_KEPT = 5

DEFAULT_JUMP_BAND = 3.0  # |change vs previous period| above 3.0 (= +300 %) warns
DEFAULT_JUMP_SCOPES = ("all", "brand", "platform")


def bounded_rates(kpis: dict[str, Kpi], grain: str) -> list[str]:
    """The bounded rates of the catalogue computed at ``grain``."""
    return [k.name for k in kpis.values()
            if k.name in BOUNDED_RATES and k.unit == "ratio" and grain in k.grains]


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


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that failed: what it asked, how many rows broke it, examples."""

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
    """The validation of one period: GX's statistics, failures and full result."""

    period: date
    rows: int
    success: bool
    evaluated: int
    failed: int
    failures: list[FailedExpectation]
    result: dict[str, Any]


def _example_text(example: dict[str, Any]) -> str:
    measured = [k for k in example if k not in INDEX_COLUMNS]
    value = example.get(measured[0]) if measured else None
    shown = "NULL" if value is None or (isinstance(value, float) and pd.isna(value)) else value
    return f"{example.get('kpi')} at {example.get('scope_key')} = {shown}"


def _context():
    """An ephemeral GX context: in memory, no temporary docs site, no analytics, no
    progress bars."""
    import great_expectations as gx
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


def prepared_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The KPI rows with a string ``period`` column (row conditions and examples use it)
    and float measures (a NULL is NaN, whatever dtype DuckDB handed over)."""
    out = frame.copy()
    out["period"] = pd.to_datetime(out["period_start"]).dt.strftime("%Y-%m-%d").astype(object)
    for column in ("numerator", "denominator", "value", "previous_value",
                   "change_vs_previous"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    for column in ("kpi", "scope", "scope_key", "unit"):
        out[column] = out[column].astype(object)
    return out.reset_index(drop=True)


def _kpi_expectations(gx, kpis: dict[str, Kpi], grain: str,
                      empty_tables: Collection[str] = ()) -> list:
    """The blocking rules of one period (see the module docstring)."""
    from great_expectations.expectations.row_conditions import Column

    expectations = [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="value", min_value=0.0, max_value=1.0, row_condition=Column("kpi") == name,
            description=f"{name} is a rate between 0 and 1",
            meta={"rule": "rate between 0 and 1", "kpi": name, "where": f"kpi = {name}"})
        for name in bounded_rates(kpis, grain)]
    expectations.append(gx.expectations.ExpectColumnValuesToNotBeNull(
        column="value", row_condition=Column("denominator") > 0,
        description="value is not NULL where the denominator is positive",
        meta={"rule": "value not NULL where denominator > 0", "where": "denominator > 0"}))
    expectations.append(gx.expectations.ExpectColumnDistinctValuesToContainSet(
        column="kpi", value_set=expected_at_scope_all(kpis, grain, empty_tables),
        row_condition=Column("scope") == "all",
        description="every catalogue KPI has a row at scope all",
        meta={"rule": "every KPI present at scope all", "where": "scope = all"}))
    return expectations


def _jump_expectations(gx, band: float, scopes: Sequence[str]) -> list:
    from great_expectations.expectations.row_conditions import Column

    return [gx.expectations.ExpectColumnValuesToBeBetween(
        column="change_vs_previous", min_value=-band, max_value=band,
        row_condition=Column("scope").is_in(list(scopes)),
        description=f"change vs the previous period within +/-{band:g} "
                    f"(scopes {', '.join(scopes)})",
        meta={"rule": f"|change vs previous| <= {band:g}",
              "where": f"scope in ({', '.join(scopes)})"})]


def _validate(context, suite_name: str, expectations: list, frame: pd.DataFrame,
              period: date) -> PeriodValidation:
    import great_expectations as gx

    suite = context.suites.add(gx.ExpectationSuite(name=suite_name,
                                                   expectations=expectations))
    source = context.data_sources.add_pandas(name=f"{suite_name}_source")
    batch_definition = source.add_dataframe_asset(name="rows") \
        .add_batch_definition_whole_dataframe("window")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": INDEX_COLUMNS})
    return _summary(period, len(frame), result.to_json_dict())


def _summary(period: date, rows: int, result: dict[str, Any]) -> PeriodValidation:
    failures = []
    for item in result["results"]:
        if item["success"]:
            continue
        config = item["expectation_config"]
        meta = config.get("meta") or {}
        details = item.get("result") or {}
        exception = (item.get("exception_info") or {}).get("exception_message")
        missing = [str(m) for m in details.get("partial_missing_list") or []] \
            if config["type"] == "expect_column_distinct_values_to_contain_set" else []
        if config["type"] == "expect_column_distinct_values_to_contain_set" and not rows:
            missing = list(config["kwargs"].get("value_set") or [])
        examples = [{k: _plain(v) for k, v in e.items()}
                    for e in (details.get("unexpected_index_list") or [])[:EXAMPLES_KEPT]]
        count = int(details.get("unexpected_count") or len(missing) or 0)
        if exception and not examples and not missing:
            examples = [{"error": exception}]
        failures.append(FailedExpectation(
            expectation=config["type"], rule=meta.get("rule", config["type"]),
            kpi=meta.get("kpi"), unexpected_count=count, examples=examples,
            missing=missing))
    stats = result["statistics"]
    return PeriodValidation(period=period, rows=rows, success=bool(result["success"]),
                            evaluated=int(stats["evaluated_expectations"]),
                            failed=int(stats["unsuccessful_expectations"]),
                            failures=failures, result=result)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and pd.isna(value):
        return None
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _periods(frame: pd.DataFrame, periods: Iterable[date]) -> Iterable[tuple[date,
                                                                             pd.DataFrame]]:
    prepared = prepared_frame(frame) if len(frame) else prepared_frame(
        pd.DataFrame({c: pd.Series(dtype=object) for c in KPI_COLUMNS}))
    for period in periods:
        yield period, prepared[prepared["period"] == period.isoformat()].reset_index(drop=True)


def validate_kpi_periods(frame: pd.DataFrame, kpis: dict[str, Kpi], grain: str,
                         periods: Iterable[date],
                         empty_tables: Mapping[date, Collection[str]] | None = None
                         ) -> list[PeriodValidation]:
    """The blocking KPI rules for each period of a window (rows of ``KPI_COLUMNS``);
    ``empty_tables`` names, per period, the normalized tables holding no row for it."""
    import great_expectations as gx

    context = _context()
    empty = empty_tables or {}
    return [_validate(context, f"kpi_{grain}_{period:%Y%m%d}",
                      _kpi_expectations(gx, kpis, grain, empty.get(period, ())), rows, period)
            for period, rows in _periods(frame, periods)]


def validate_kpi_jumps(frame: pd.DataFrame, grain: str, periods: Iterable[date],
                       band: float = DEFAULT_JUMP_BAND,
                       scopes: Sequence[str] = DEFAULT_JUMP_SCOPES) -> list[PeriodValidation]:
    """The period-over-period warning for each period of a window."""
    import great_expectations as gx

    context = _context()
    return [_validate(context, f"kpi_jumps_{grain}_{period:%Y%m%d}",
                      _jump_expectations(gx, band, scopes), rows, period)
            for period, rows in _periods(frame, periods)]


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
<details><summary>Validation result (Great Expectations JSON)</summary>
<pre>{{ result_json }}</pre></details>
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
        missing = details.get("partial_missing_list") or []
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
            "unexpected": details.get("unexpected_count", len(missing) or ""),
            "examples": examples})
    return items


def render_validation_page(validation: PeriodValidation, title: str, subtitle: str,
                           generated: str) -> str:
    """One self-contained HTML page (inline CSS, no scripts) of a period's validation,
    rendered with autoescaping: KPI names, scope keys and values are text, never markup."""
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined)
    return env.from_string(PAGE).render(
        title=title, subtitle=subtitle, validation=validation,
        items=_page_items(validation.result), generated=generated,
        result_json=json.dumps(validation.result, indent=1, default=str))
