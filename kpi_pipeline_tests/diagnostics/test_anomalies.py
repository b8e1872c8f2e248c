"""Anomaly rules: each fires on its case and stays silent on a near miss, with values
worked out by hand from the band's formula (median +/- max(k x 1.4826 x MAD, floor))."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from kpi_pipeline.lib.baselines.snapshots import ensure_baseline_tables
from kpi_pipeline.lib.diagnostics.anomalies import (
    DIGEST_LINES,
    Anomaly,
    anomalies_in,
    anomaly_records,
    anomaly_rules,
    load_anomaly_rules,
    new_anomaly_alerts,
    replace_anomalies,
    with_overrides,
)
from kpi_pipeline.lib.kpis.compute import ensure_kpi_tables

WEEK = date(2025, 3, 3)
RULES = {rule.name: rule for rule in anomaly_rules()}
ABOVE, BELOW = RULES["kpi_above_band"], RULES["kpi_below_band"]

# saves (a count): median 100, MAD 6 -> 1.4826 x 6 = 8.8956, x 3.5 = 31.1346; the floor
# 0.25 x 100 = 25 is smaller, so the band is 68.8654 .. 131.1346
# engagement rate: median 0.05, MAD 0.003 -> 3.5 x 1.4826 x 0.003 = 0.0155673; floor
# 0.0125; band 0.0344327 .. 0.0655673, judged only with 30 or more impressions/views
# shares: median 100, MAD 0 (a flat baseline) -> the floor 25 makes the band 75 .. 125


def judge(kpi: str, value: float, median: float, mad: float, *, denominator=None,
          periods: int = 12, scope: str = "all", key: str = "all",
          rules=None) -> list[tuple]:
    conn = duckdb.connect()
    ensure_kpi_tables(conn)
    ensure_baseline_tables(conn)
    numerator = value * denominator if denominator else value
    conn.execute("""INSERT INTO kpi.weekly (period_start, period_end, grain, kpi, scope,
                    scope_key, unit, definition, numerator, denominator, value)
                    VALUES (?, ?, 'week', ?, ?, ?, 'u', 'd', ?, ?, ?)""",
                 [WEEK, WEEK + timedelta(days=6), kpi, scope, key, numerator, denominator,
                  value])
    conn.execute("""INSERT INTO baseline.weekly (as_of, grain, kpi, scope, scope_key, unit,
                    trailing_periods, first_period, last_period, periods, mean, median, mad)
                    VALUES (?, 'week', ?, ?, ?, 'u', 12, ?, ?, ?, ?, ?, ?)""",
                 [WEEK, kpi, scope, key, WEEK - timedelta(weeks=12), WEEK - timedelta(weeks=1),
                  periods, median, median, mad])
    replace_anomalies(conn, "week", WEEK, WEEK, rules)
    rows = conn.execute("""SELECT rule, kpi, scope_key, direction, round(band_low, 7),
                           round(band_high, 7), base FROM diagnostic.weekly_anomalies"""
                        ).fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize(("value", "fires"), [(131.2, True), (131.1, False)])
def test_above_band_on_a_count(value, fires):
    rows = judge("saves", value, 100, 6, rules=(ABOVE,))
    assert rows == ([("kpi_above_band", "saves", "all", "above", 68.8654, 131.1346, value)]
                    if fires else [])


@pytest.mark.parametrize(("value", "fires"), [(68.8, True), (68.9, False)])
def test_below_band_on_a_count(value, fires):
    rows = judge("saves", value, 100, 6, rules=(BELOW,))
    assert [r[:4] for r in rows] == ([("kpi_below_band", "saves", "all", "below")]
                                     if fires else [])
    if fires:  # a drop is judged on the baseline's size: 100 >= 30
        assert rows[0][6] == 100


@pytest.mark.parametrize(("value", "fires"), [(0.0656, True), (0.0655, False),
                                              (0.0344, True), (0.0345, False)])
def test_a_ratio_on_both_sides(value, fires):
    rows = judge("engagement_rate", value, 0.05, 0.003, denominator=1000)
    assert len(rows) == (1 if fires else 0)
    if fires:
        assert rows[0][3] == ("above" if value > 0.05 else "below")
        assert rows[0][4:6] == (0.0344327, 0.0655673)


def test_a_small_base_does_not_fire():
    assert judge("engagement_rate", 0.09, 0.05, 0.003, denominator=30) != []
    assert judge("engagement_rate", 0.09, 0.05, 0.003, denominator=29) == []
    assert judge("saves", 25, 3, 1) == []  # 25 saves against 3: max(25, 3) < 30
    assert judge("saves", 31, 3, 1) != []


def test_a_flat_baseline_uses_the_relative_floor():
    assert [r[3] for r in judge("shares", 125.1, 100, 0)] == ["above"]
    assert judge("shares", 124.9, 100, 0) == []
    assert judge("shares", 75.1, 100, 0) == []
    assert [r[3] for r in judge("shares", 74.9, 100, 0)] == ["below"]


def test_a_short_baseline_does_not_fire():
    assert judge("saves", 200, 100, 4, periods=6) != []
    assert judge("saves", 200, 100, 4, periods=5) == []


def test_scopes_and_overrides():
    assert judge("saves", 200, 100, 4, scope="account", key="facebook/1") == []
    assert judge("saves", 200, 100, 4, scope="platform", key="facebook") != []
    wider = with_overrides(anomaly_rules(), deviations=6.0)  # 6 x 1.4826 x 4 = 35.58 > 25
    assert judge("saves", 130, 100, 4, rules=wider) == []
    assert judge("saves", 136, 100, 4, rules=wider) != []
    assert judge("saves", 25, 3, 1, rules=with_overrides(anomaly_rules(), min_base=20)) != []
    with pytest.raises(ValueError, match="deviations must be > 0"):
        with_overrides(anomaly_rules(), deviations=0)


def test_an_anomaly_is_announced_once_per_kpi_scope_and_period():
    first = Anomaly("week", WEEK, "saves", "all", "all", "above", 130.0, 100.0, 79.2436,
                    120.7564, 5.06, "kpi_above_band")
    other_scope = Anomaly("week", WEEK, "saves", "platform", "facebook", "above", 60.0,
                          40.0, 30.0, 50.0, 3.9, "kpi_above_band")
    alerts, keys = new_anomaly_alerts([other_scope, first, first], [])
    # one message for the week, a line per KPI and scope, the widest scope first
    [alert] = alerts
    assert alert.subject == "week of 2025-03-03: 2 KPI(s) outside their baseline band"
    lines = alert.text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["- saves at all platforms",
                                                      "- saves at platform facebook"]
    assert "Saves for the week of 2025-03-03 is 130, above its baseline band " \
           "79.24..120.76 (median 100, +5.1 robust deviations); higher is better" in lines[0]
    assert len(keys) == 2
    assert new_anomaly_alerts([first, other_scope], keys) == ([], [])
    assert [Anomaly.from_record(r) for r in anomaly_records([first])] == [first]


def test_anomalies_in_a_window_read_back_one_per_kpi_and_scope():
    conn = duckdb.connect()
    ensure_kpi_tables(conn)
    ensure_baseline_tables(conn)
    replace_anomalies(conn, "week", WEEK, WEEK)
    assert anomalies_in(conn, "week", WEEK, WEEK) == []


def test_invalid_anomaly_rules_are_reported_together(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("""anomalies:
  a: {title: t, diagnosis: d, action: x, direction: sideways, deviations: 3,
      min_relative_change: 0.1, min_base: 30, min_periods: 6, scopes: [all]}
  b: {title: t, diagnosis: d, action: x, direction: above, deviations: 3,
      min_relative_change: 0.1, min_base: 30, min_periods: 6, scopes: [all], kpis: [nope]}
""")
    with pytest.raises(ValueError) as info:
        load_anomaly_rules(path)
    assert "anomaly rule 'a'" in str(info.value) and "direction" in str(info.value)
    assert "anomaly rule 'b'" in str(info.value) and "unknown KPI(s) ['nope']" in str(info.value)


def test_a_period_with_many_anomalies_is_one_alert_with_the_rest_counted():
    many = [Anomaly("week", WEEK, "saves", "platform", f"p{i:02d}", "above", 60.0, 40.0,
                    30.0, 50.0, 3.9, "kpi_above_band") for i in range(DIGEST_LINES + 2)]
    [alert], keys = new_anomaly_alerts(many, [])
    lines = alert.text.splitlines()
    assert len(lines) == DIGEST_LINES + 1 and len(keys) == DIGEST_LINES + 2
    assert lines[-1] == "- and 2 more: see the diagnostics page"
    assert f"{DIGEST_LINES + 2} KPI(s)" in alert.subject
