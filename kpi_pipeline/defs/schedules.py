"""Jobs and schedules: what runs when.

``daily_ingest_job`` pulls every stream and rebuilds the normalized tables for a range of
local days in one run (single-run backfill policies). The daily schedule runs it every
morning for the day that just closed.
"""

from __future__ import annotations

import dagster as dg

INGEST_SELECTION = dg.AssetSelection.groups("raw", "normalized")

daily_ingest_job = dg.define_asset_job(
    name="daily_ingest_job",
    selection=INGEST_SELECTION,
    description="Pull every source stream and rebuild the validated normalized tables.",
)

daily_ingest_schedule = dg.build_schedule_from_partitioned_job(
    daily_ingest_job,
    hour_of_day=6,
    minute_of_hour=15,
    name="daily_ingest_schedule",
    description="Every morning: pull and normalize the day that just closed.",
)

weekly_kpi_job = dg.define_asset_job(
    name="weekly_kpi_job",
    selection=dg.AssetSelection.assets(["kpi", "weekly"], ["baseline", "weekly"],
                                       ["diagnostic", "weekly"]),
    description="Weekly KPIs, baseline snapshots and diagnostics for closed weeks "
                "(Monday to Sunday).",
)
monthly_kpi_job = dg.define_asset_job(
    name="monthly_kpi_job",
    selection=dg.AssetSelection.assets(["kpi", "monthly"], ["baseline", "monthly"],
                                       ["diagnostic", "monthly"]),
    description="Monthly KPIs, baseline snapshots and diagnostics for closed months.",
)
weekly_kpi_schedule = dg.build_schedule_from_partitioned_job(
    weekly_kpi_job, day_of_week=1, hour_of_day=8, name="weekly_kpi_schedule",
    description="Monday morning: KPIs of the week that just closed.",
)
monthly_kpi_schedule = dg.build_schedule_from_partitioned_job(
    monthly_kpi_job, day_of_month=2, hour_of_day=8, name="monthly_kpi_schedule",
    description="On the 2nd: KPIs of the month that just closed.",
)

goal_attainment_job = dg.define_asset_job(
    name="goal_attainment_job",
    selection=dg.AssetSelection.groups("goal"),
    description="Goal attainment for each day: after the day's pull and the weekly baselines.",
)
goal_attainment_schedule = dg.build_schedule_from_partitioned_job(
    goal_attainment_job, hour_of_day=9, minute_of_hour=0, name="goal_attainment_schedule",
    description="Every morning, after the pull and (on Mondays) the weekly run.",
)

weekly_report_job = dg.define_asset_job(
    name="weekly_report_job",
    selection=dg.AssetSelection.assets(["report", "weekly"]),
    description="The weekly report pages, after the week's KPIs and goal attainment.",
)
monthly_report_job = dg.define_asset_job(
    name="monthly_report_job",
    selection=dg.AssetSelection.assets(["report", "monthly"]),
    description="The monthly report pages, after the month's KPIs and goal attainment.",
)
weekly_report_schedule = dg.build_schedule_from_partitioned_job(
    weekly_report_job, day_of_week=1, hour_of_day=9, minute_of_hour=30,
    name="weekly_report_schedule",
    description="Monday morning, after the weekly KPIs and the day's goal attainment.",
)
monthly_report_schedule = dg.build_schedule_from_partitioned_job(
    monthly_report_job, day_of_month=2, hour_of_day=9, minute_of_hour=30,
    name="monthly_report_schedule",
    description="On the 2nd, after the monthly KPIs and the day's goal attainment.",
)
