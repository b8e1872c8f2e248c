"""The weekly KPI asset through Dagster, on one demo week built by the real chain."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest

from kpi_pipeline.defs.baselines.assets import baseline_weekly
from kpi_pipeline.defs.kpis.assets import kpi_monthly, kpi_weekly
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline_tests.conftest import INGEST_ASSETS, copy_of, demo_resources

WEEK = date(2025, 3, 3)
DAILY_RANGE = {"dagster/asset_partition_range_start": "2025-03-02",  # the Sunday before too
               "dagster/asset_partition_range_end": "2025-03-09"}


@pytest.fixture(scope="module")
def week_template(tmp_path_factory):
    """The chain over the week, built once; each test gets a copy (``week_built``)."""
    root = tmp_path_factory.mktemp("week_template")
    resources = demo_resources(root)
    assert dg.materialize(INGEST_ASSETS, resources=resources,
                          tags=DAILY_RANGE).success
    result = dg.materialize([kpi_weekly], resources=resources, partition_key=WEEK.isoformat())
    assert result.success
    return root, result


@pytest.fixture
def week_built(week_template, tmp_path):
    root, result = week_template
    return demo_resources(copy_of(root, tmp_path / "store")), result


def rows(resources, sql, params=()):
    with resources["warehouse"].get_connection(read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def test_every_weekly_kpi_has_an_all_platform_row(week_built):
    resources, _ = week_built
    got = {k for (k,) in rows(resources, "SELECT kpi FROM kpi.weekly WHERE scope = 'all'")}
    weekly = {k.name for k in catalog().values() if "week" in k.grains and
              "all" in k.computed_scopes}
    assert got == weekly


def test_engagement_rate_is_a_ratio_of_weekly_sums(week_built):
    """A second formulation written here: activity = snapshot minus previous snapshot; a
    post's first snapshot counts only if it was published that day (its older lifetime is
    not this week's activity: the week is the first of the data)."""
    resources, _ = week_built
    (expected,) = rows(resources, """
        WITH snapshots AS (
          SELECT *, row_number() OVER (PARTITION BY platform, post_id ORDER BY report_date) = 1
                    AND published_at + INTERVAL 14 HOUR < report_date AS seen_late
          FROM normalized.post_daily),
        activity AS (
          SELECT report_date, platform,
                 CASE WHEN seen_late THEN 0 ELSE
                 coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0)
                   + coalesce(saves, 0)
                 - coalesce(lag(coalesce(likes, 0) + coalesce(comments, 0)
                   + coalesce(shares, 0) + coalesce(saves, 0))
                   OVER (PARTITION BY platform, post_id ORDER BY report_date), 0) END AS inter,
                 CASE WHEN seen_late THEN 0 ELSE
                 CASE WHEN platform = 'linkedin' THEN impressions ELSE views END
                 - coalesce(lag(CASE WHEN platform = 'linkedin' THEN impressions ELSE views END)
                   OVER (PARTITION BY platform, post_id ORDER BY report_date), 0) END AS expo
          FROM snapshots)
        SELECT sum(inter) / sum(expo) FROM activity
        WHERE report_date BETWEEN DATE '2025-03-03' AND DATE '2025-03-09'""")[0]
    assert rows(resources, """SELECT value FROM kpi.weekly WHERE kpi = 'engagement_rate'
                              AND scope = 'all'""") == [(pytest.approx(expected, rel=1e-12),)]


def test_materialization_reports_rows_and_headlines(week_built):
    _, result = week_built
    (materialization,) = result.asset_materializations_for_node("kpi__weekly")
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value > 500
    assert 0 < metadata["latest/engagement_rate"].value < 1


def test_rerun_is_idempotent(week_built):
    resources, _ = week_built
    before = rows(resources, "SELECT * FROM kpi.weekly ORDER BY ALL")
    assert dg.materialize([kpi_weekly], resources=resources,
                          partition_key=WEEK.isoformat()).success
    assert rows(resources, "SELECT * FROM kpi.weekly ORDER BY ALL") == before


def test_monthly_asset_is_defined_on_month_partitions():
    assert kpi_monthly.partitions_def.get_partition_keys()[0] == "2024-01-01"
    assert kpi_weekly.partitions_def.get_partition_keys()[0] == "2024-01-01"  # a Monday


def test_baseline_asset_snapshots_the_weeks_before_and_keeps_them(week_built):
    resources, _ = week_built
    next_week = (WEEK + timedelta(weeks=1)).isoformat()
    first = dg.materialize([baseline_weekly], resources=resources, partition_key=next_week)
    assert first.success
    (event,) = first.asset_materializations_for_node("baseline__weekly")
    assert event.metadata["snapshots_created"].value > 500
    taken = rows(resources, """SELECT kpi, scope_key, periods, mean FROM baseline.weekly
                               WHERE as_of = ? ORDER BY ALL""", (next_week,))
    (engagement,) = [r for r in taken if r[:2] == ("engagement_rate", "all")]
    (kpi_value,) = rows(resources, """SELECT value FROM kpi.weekly WHERE scope = 'all'
                                      AND kpi = 'engagement_rate'""")
    assert engagement[2:] == (1, pytest.approx(kpi_value[0]))
    again = dg.materialize([baseline_weekly], resources=resources, partition_key=next_week)
    (event,) = again.asset_materializations_for_node("baseline__weekly")
    assert event.metadata["snapshots_created"].value == 0
    assert rows(resources, """SELECT kpi, scope_key, periods, mean FROM baseline.weekly
                              WHERE as_of = ? ORDER BY ALL""", (next_week,)) == taken


def test_a_week_the_data_covers_partly_is_named_on_the_materialization(week_built):
    """The social sessions stop after Wednesday: the materialization lists the week, with
    the fewest days a KPI covers (counted here in plain SQL), and the web KPIs first. The
    week is also the first of the post data: its Monday has no day before to measure the
    posts' growth from, so the post KPIs cover 6 days."""
    resources, _ = week_built
    cut = WEEK + timedelta(days=3)
    with resources["warehouse"].get_connection() as conn:
        conn.execute("DELETE FROM normalized.web_daily WHERE report_date >= ?", [cut])
        (web_days, both_days) = conn.execute(
            """WITH web AS (SELECT DISTINCT report_date FROM normalized.web_daily
                            WHERE is_social AND report_date BETWEEN ? AND ?),
                    ads AS (SELECT DISTINCT report_date FROM normalized.ad_daily
                            WHERE report_date BETWEEN ? AND ?)
               SELECT (SELECT count(*) FROM web),
                      (SELECT count(*) FROM web JOIN ads USING (report_date))""",
            [WEEK, WEEK + timedelta(days=6)] * 2).fetchone()
    assert web_days == 3
    result = dg.materialize([kpi_weekly], resources=resources, partition_key=WEEK.isoformat())
    assert result.success
    (materialization,) = result.asset_materializations_for_node("kpi__weekly")
    [week] = materialization.metadata["incomplete_periods"].value
    assert (week["period_start"], week["fewest_days"], week["period_days"]) == (
        WEEK.isoformat(), min(web_days, both_days), 7)
    web = {"landing_page_sessions", "bounce_rate", "booked_calls"}  # 3 days, fewest first
    assert web <= set(week["kpis"]) and "engagement_rate" not in week["kpis"][:8]
    (post_days,) = rows(resources, """
        SELECT count(DISTINCT p.report_date) FROM normalized.post_daily p
        WHERE p.report_date BETWEEN ? AND ? AND EXISTS (
            SELECT 1 FROM normalized.post_daily b WHERE b.account_id = p.account_id
            AND b.platform = p.platform AND b.report_date = p.report_date - 1)""",
        [WEEK, WEEK + timedelta(days=6)])[0]
    assert post_days == 6
    assert rows(resources, "SELECT coverage_days FROM kpi.weekly WHERE kpi = "
                           "'engagement_rate' AND scope = 'all'") == [(post_days,)]
