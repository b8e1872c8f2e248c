"""The whole-window KPI validation on hand-built frames: one Great Expectations run per
window, its result split by period exactly (failures name their period only, each
period's page shows its own verdict), and the jump warning's pandas evaluation agreeing
with GX's ``expect_column_values_to_be_between`` on the same rows."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from kpi_pipeline.lib.kpis import expectations
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.expectations import (
    KPI_COLUMNS,
    failure_rows,
    render_validation_page,
    validate_kpi_jumps,
    validate_kpi_window,
)

W1, W2 = date(2025, 3, 3), date(2025, 3, 10)
# A small catalogue: a bounded rate, a count and an email KPI (source table email_daily).
KPIS = {name: catalog()[name] for name in ("engagement_rate", "leads", "email_opt_ins")}


def row(period: date, kpi: str, scope: str = "all", scope_key: str = "all",
        value: float | None = 0.5, denominator: float | None = 10.0,
        change: float | None = 0.1) -> dict[str, object]:
    return {"period_start": period, "kpi": kpi, "scope": scope, "scope_key": scope_key,
            "unit": "ratio", "numerator": None if value is None else 5.0,
            "denominator": denominator, "value": value, "previous_value": 0.4,
            "change_vs_previous": change}


def clean_period(period: date) -> list[dict[str, object]]:
    """Every KPI of KPIS at scope all plus two platform rows of the rate: no rule broken."""
    return [row(period, "engagement_rate"), row(period, "leads", value=12.0),
            row(period, "email_opt_ins", value=3.0),
            row(period, "engagement_rate", "platform", "instagram", value=0.2),
            row(period, "engagement_rate", "platform", "tiktok", value=0.9)]


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(KPI_COLUMNS))


@pytest.fixture
def suite_runs(monkeypatch) -> list[int]:
    """The number of rows of every Great Expectations validation run (one per call)."""
    runs: list[int] = []
    original = expectations._run_suite

    def counted(name, expectations, rows):
        runs.append(len(rows))
        return original(name, expectations, rows)

    monkeypatch.setattr(expectations, "_run_suite", counted)
    return runs


def test_a_bad_rate_in_one_period_fails_that_period_only(suite_runs):
    rows = clean_period(W1) + clean_period(W2)
    rows[5 + 3]["value"] = 1.7  # W2, engagement_rate at instagram
    validation = validate_kpi_window(frame(rows), KPIS, "week", [W1, W2])

    assert suite_runs == [10]  # one validation over both periods' 10 rows
    assert not validation.success
    first, second = validation.periods
    assert (first.period, first.rows, first.success, first.failed) == (W1, 5, True, 0)
    assert (second.period, second.rows, second.success, second.failed) == (W2, 5, False, 1)
    # one bounded rate, the NULL rule and the presence rule, in each period
    assert first.evaluated == second.evaluated == 3
    assert failure_rows(validation.periods) == [{
        "period": "2025-03-10", "rule": "rate between 0 and 1", "kpi": "engagement_rate",
        "expectation": "expect_column_values_to_be_between", "unexpected_count": 1,
        "missing": [],
        "examples": [{"value": 1.7, "period": "2025-03-10", "kpi": "engagement_rate",
                      "scope_key": "instagram"}]}]
    (failure,) = second.failures
    assert failure.text(W2) == ("2025-03-10: rate between 0 and 1 broken by 1 row(s): "
                                "engagement_rate at instagram = 1.7")

    passed = render_validation_page(first, "W1", "sub", "now")
    failed = render_validation_page(second, "W2", "sub", "now")
    assert "All expectations met" in passed and "FAILED" not in passed
    assert "instagram" not in passed  # the other period's bad row stays on its own page
    assert "Expectations failed" in failed
    assert "engagement_rate at instagram = 1.7 (2025-03-10)" in failed
    # rows checked by the rate rule in each period: 3 engagement_rate rows
    assert "<td>3</td><td>0</td>" in passed and "<td>3</td><td>1</td>" in failed


def test_a_null_value_counts_only_where_the_denominator_is_positive():
    rows = clean_period(W1) + clean_period(W2)
    rows[1].update(value=None, denominator=0.0)  # W1 leads: no denominator, NULL is right
    rows[5 + 1].update(value=None, denominator=4.0)  # W2 leads: a value is owed
    validation = validate_kpi_window(frame(rows), KPIS, "week", [W1, W2])
    first, second = validation.periods
    assert first.success and not second.success
    (failure,) = second.failures
    assert failure.rule == "value not NULL where denominator > 0"
    assert failure.examples == [{"value": None, "period": "2025-03-10", "kpi": "leads",
                                 "scope_key": "all"}]


def test_presence_is_judged_per_period_with_its_own_exemptions():
    """email_opt_ins is absent from both periods; W2's email table is empty, so it is
    expected in W1 only. leads is absent from W2 only."""
    rows = [r for r in clean_period(W1) + clean_period(W2) if r["kpi"] != "email_opt_ins"]
    rows = [r for r in rows if not (r["period_start"] == W2 and r["kpi"] == "leads")]
    validation = validate_kpi_window(frame(rows), KPIS, "week", [W1, W2],
                                     empty_tables={W2: frozenset({"email_daily"})})
    first, second = validation.periods
    assert [f.missing for f in first.failures] == [["email_opt_ins"]]
    assert [f.missing for f in second.failures] == [["leads"]]
    assert first.failures[0].text(W1) == "2025-03-03: KPI(s) missing at scope all: email_opt_ins"


def test_more_missing_pairs_than_gx_lists_are_all_named_by_period():
    """Great Expectations lists at most 20 missing values of a set; 30 periods without
    leads are still named one by one."""
    periods = [W1 + timedelta(weeks=i) for i in range(30)]
    rows = [r for p in periods for r in clean_period(p) if r["kpi"] != "leads"]
    validation = validate_kpi_window(frame(rows), KPIS, "week", periods)
    assert [v.period for v in validation.periods] == periods
    assert all([f.missing for f in v.failures] == [["leads"]] for v in validation.periods)


def test_a_period_without_rows_misses_every_kpi_and_the_other_passes():
    validation = validate_kpi_window(frame(clean_period(W1)), KPIS, "week", [W1, W2])
    first, second = validation.periods
    assert first.success and second.rows == 0
    assert [f.missing for f in second.failures] == [["email_opt_ins", "engagement_rate",
                                                     "leads"]]


def test_an_empty_window_names_every_kpi_of_every_period():
    validation = validate_kpi_window(frame([]), KPIS, "week", [W1])
    assert validation.rows == 0 and not validation.success
    assert [f.missing for f in validation.periods[0].failures] == [
        ["email_opt_ins", "engagement_rate", "leads"]]


def test_rows_outside_the_periods_are_not_validated():
    rows = clean_period(W1) + clean_period(W2)
    rows[5]["value"] = 3.0  # W2, which the window does not hold
    validation = validate_kpi_window(frame(rows), KPIS, "week", [W1])
    assert validation.success and validation.rows == 5


def test_jumps_band_inclusive_nulls_skipped_scopes_configurable():
    rows = clean_period(W1) + clean_period(W2)
    rows[0]["change_vs_previous"] = 3.0  # on the band: passes
    rows[1]["change_vs_previous"] = None  # no previous period: not judged
    rows[3]["change_vs_previous"] = -3.5  # W1 platform instagram, beyond the band
    rows[5 + 2]["change_vs_previous"] = 4.0  # W2 email_opt_ins at all
    default = validate_kpi_jumps(frame(rows), "week", [W1, W2])
    assert not default.success
    assert [[(e["kpi"], e["scope_key"], e["change_vs_previous"]) for e in f.examples]
            for v in default.periods for f in v.failures] == [
        [("engagement_rate", "instagram", -3.5)], [("email_opt_ins", "all", 4.0)]]
    only_all = validate_kpi_jumps(frame(rows), "week", [W1, W2], scopes=["all"])
    assert [v.success for v in only_all.periods] == [True, False]
    wide = validate_kpi_jumps(frame(rows), "week", [W1, W2], band=5.0)
    assert wide.success and all(v.success for v in wide.periods)
    # rows checked per period: the 5 rows are all at scopes all or platform
    assert [v.result["results"][0]["result"]["element_count"] for v in default.periods] \
        == [5, 5]


def test_jumps_agree_with_great_expectations_between():
    """The pandas evaluation flags the rows GX's expect_column_values_to_be_between
    flags, under the same row condition."""
    import great_expectations as gx

    from kpi_pipeline.lib.kpis.expectations import Where, prepared_frame

    rows = clean_period(W1) + clean_period(W2)
    for item, change in zip(rows, [3.0, -3.0, 3.01, None, -7.0, 0.0, 10.0, -3.2, 2.9, None],
                            strict=True):
        item["change_vs_previous"] = change
    rows[2]["scope"] = "account"  # out of the default scopes: not judged
    prepared = prepared_frame(frame(rows))
    expectation = gx.expectations.ExpectColumnValuesToBeBetween(
        column="change_vs_previous", min_value=-3.0, max_value=3.0,
        row_condition=Where("scope", "in", expectations.DEFAULT_JUMP_SCOPES).gx())
    result = expectations._run_suite("jumps", [expectation], prepared)
    by_gx = sorted((e["period"], e["kpi"], e["scope_key"])
                   for e in result["results"][0]["result"]["unexpected_index_list"])
    by_pandas = sorted((e["period"], e["kpi"], e["scope_key"])
                       for v in validate_kpi_jumps(frame(rows), "week", [W1, W2]).periods
                       for f in v.failures for e in f.examples)
    # W1: 3.0 and -3.0 on the band, 3.01 at scope account, NULL skipped, -7.0 out;
    # W2: 0.0 in, 10.0 and -3.2 out, 2.9 in, NULL skipped
    assert by_pandas == by_gx == [("2025-03-03", "engagement_rate", "tiktok"),
                                  ("2025-03-10", "email_opt_ins", "all"),
                                  ("2025-03-10", "leads", "all")]
