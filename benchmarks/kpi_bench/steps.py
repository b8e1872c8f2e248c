"""The timed steps besides the floor: the code location's jobs (``chain``), the same
library calls without Dagster (``library``), and the write-path steps of ``--write-path``.

``prepare`` turns a step name into its callable with every import already done, so no
step pays for imports inside the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from kpi_bench.datasets import SOCIAL
from kpi_bench.floor import step_floor
from kpi_bench.job import Job, Step


def prepare_library() -> Step:
    """The lib calls the weekly job and the goal job make, with nothing else around them."""
    import duckdb

    from kpi_pipeline.defs.goals.assets import review_days
    from kpi_pipeline.lib.baselines.snapshots import take_snapshots
    from kpi_pipeline.lib.diagnostics.rules import replace_findings, rules
    from kpi_pipeline.lib.goals.loading import load_goals
    from kpi_pipeline.lib.goals.tables import (
        attainment_rows,
        goal_warnings_with_baselines,
        replace_attainment,
    )
    from kpi_pipeline.lib.kpis.catalog import catalog
    from kpi_pipeline.lib.kpis.compute import replace_kpis

    rules()

    def run(job: Job) -> dict[str, Any]:
        kpis = catalog()
        with duckdb.connect(job.db, config=job.config) as conn:
            replace_kpis(conn, "week", job.week, job.sunday)
            take_snapshots(conn, "week", [job.week])
            replace_findings(conn, "week", job.week, job.sunday)
            loaded = load_goals(job.goals, job.sunday, kpis)
            goal_warnings_with_baselines(conn, loaded, kpis)
            rows = attainment_rows(conn, loaded.goals, kpis, job.week, job.sunday,
                                   review_days(job.week, job.sunday))
            replace_attainment(conn, rows, job.week, job.sunday)
        return {}

    return run


def prepare_chain() -> Step:
    """Load the code location and make the instance before the clock starts: a deployed
    run process pays for those once, before its first step. Great Expectations is
    imported here too (the checks import it on first use)."""
    import dagster as dg
    import great_expectations  # noqa: F401

    from kpi_pipeline.definitions import defs

    definitions = defs()
    jobs = {name: definitions.resolve_job_def(name)
            for name in ("weekly_kpi_job", "goal_attainment_job")}
    instance = dg.DagsterInstance.ephemeral()

    def run(job: Job) -> dict[str, Any]:
        # the dataset's store, goals and reports as run config: the resources read the
        # environment only when the definitions load, before this step knows its dataset
        config = {"resources": {
            "warehouse": {"config": {"database": job.db, "connection_config": job.config}},
            "settings": {"config": {"goals_file": str(job.goals),
                                    "reports_dir": str(job.reports)}}}}
        steps: dict[str, float] = {}
        for name, (first, last) in (("weekly_kpi_job", (job.week, job.week)),
                                    ("goal_attainment_job", (job.week, job.sunday))):
            result = jobs[name].execute_in_process(
                run_config=config, instance=instance, raise_on_error=False,
                tags={"dagster/asset_partition_range_start": first.isoformat(),
                      "dagster/asset_partition_range_end": last.isoformat()})
            if not result.success:
                raise RuntimeError(f"{name} failed for {first}..{last}")
            for event in result.all_events:
                if event.event_type_value == "STEP_SUCCESS":
                    steps[event.step_key] = event.event_specific_data.duration_ms / 1000
        return {"step_seconds": steps}

    return run


@dataclass
class WriteStep:
    """Rewrite a window of post_daily with the rows it holds (read before the clock, as a
    parsed frame would be): through ``replace_window`` (increments derived and the next
    snapshots' refreshed) or through the plain DELETE + INSERT it did before them."""

    window: str  # "day" (the last day), "week" (the last week), "mid_day" (52 weeks back)
    increments: bool
    frame: Any = None

    def bounds(self, job: Job) -> tuple[date, date]:
        if self.window == "day":
            return job.sunday, job.sunday
        if self.window == "week":
            return job.week, job.sunday
        return job.sunday - timedelta(weeks=52), job.sunday - timedelta(weeks=52)

    def before(self, job: Job) -> None:
        import duckdb

        from kpi_pipeline.lib.core.schemas import POST_DAILY, coerce_frame

        first, last = self.bounds(job)
        with duckdb.connect(job.db, read_only=True) as conn:
            rows = conn.execute("SELECT * FROM normalized.post_daily "
                                "WHERE report_date BETWEEN ? AND ?", [first, last]).df()
        self.frame = coerce_frame(POST_DAILY, rows)

    def __call__(self, job: Job) -> dict[str, Any]:
        import duckdb

        from kpi_pipeline.lib.core.schemas import POST_DAILY
        from kpi_pipeline.lib.normalized.store import replace_window, transaction

        first, last = self.bounds(job)
        streams = tuple(f"{p}_posts" for p in SOCIAL)
        with duckdb.connect(job.db, config=job.config) as conn:
            if self.increments:
                replace_window(conn, POST_DAILY, self.frame, first, last, sources=streams)
            else:
                with transaction(conn):
                    conn.execute("DELETE FROM normalized.post_daily WHERE report_date "
                                 "BETWEEN ? AND ? AND list_contains(?, source_stream)",
                                 [first, last, list(streams)])
                    conn.register("incoming_rows", self.frame)
                    conn.execute("INSERT INTO normalized.post_daily BY NAME "
                                 "SELECT * FROM incoming_rows")
        return {"rows_written": len(self.frame)}


# One KPI over the whole history, weekly engagement rate per platform, two ways.
ONE_KPI_SQL = {
    "one_kpi_lag": """
CREATE OR REPLACE TABLE scratch.engagement_rate AS
WITH activity AS (
  SELECT report_date, platform,
         coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0) + coalesce(saves, 0)
         - coalesce(lag(coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0)
                        + coalesce(saves, 0)) OVER snapshots, 0) AS interactions,
         CASE WHEN platform = 'linkedin' THEN impressions ELSE views END
         - coalesce(lag(CASE WHEN platform = 'linkedin' THEN impressions ELSE views END)
                    OVER snapshots, 0) AS exposure
  FROM normalized.post_daily
  WINDOW snapshots AS (PARTITION BY platform, account_id, post_id ORDER BY report_date))
SELECT CAST(date_trunc('week', report_date) AS DATE) AS period_start, platform,
       sum(interactions) / nullif(sum(exposure), 0) AS engagement_rate
FROM activity GROUP BY ALL""",
    "one_kpi_increments": """
CREATE OR REPLACE TABLE scratch.engagement_rate AS
SELECT CAST(date_trunc('week', report_date) AS DATE) AS period_start, platform,
       sum(coalesce(likes_delta, 0) + coalesce(comments_delta, 0) + coalesce(shares_delta, 0)
           + coalesce(saves_delta, 0))
       / nullif(sum(CASE WHEN platform = 'linkedin' THEN impressions_delta
                         ELSE views_delta END), 0) AS engagement_rate
FROM normalized.post_daily GROUP BY ALL""",
}


def step_one_kpi(step: str) -> Step:
    def run(job: Job) -> dict[str, Any]:
        import duckdb

        with duckdb.connect(job.db, config=job.config) as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS scratch")
            conn.execute(ONE_KPI_SQL[step])
            return {"rows_written": conn.execute(
                "SELECT count(*) FROM scratch.engagement_rate").fetchone()[0]}

    return run


def prepare(step: str) -> Step:
    """The callable for a step name, with every import it needs already done (duckdb,
    pandas and the catalogue for every step, so none pays for them inside the clock)."""
    import duckdb  # noqa: F401
    import pandas  # noqa: F401

    from kpi_pipeline.lib.kpis.catalog import catalog

    catalog()
    if step in ("chain", "fixed"):
        return prepare_chain()
    if step == "library":
        return prepare_library()
    if step.startswith(("write_", "plain_")):
        return WriteStep(step.split("_", 1)[1], step.startswith("write_"))
    if step.startswith("one_kpi"):
        return step_one_kpi(step)
    return step_floor
