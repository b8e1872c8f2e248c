"""Multi-touch attribution: GA4's event export -> web events and sessions -> credits.

Three assets by ingest week (Monday to Sunday, the same partitions as the raw and
normalized layers, so a backfill of ``weekly_attribution_job`` is one run over any range):

- ``raw/ga4_events``: the export folder (``settings.ga4_export_dir``: a path, or an fsspec
  URL such as ``s3://bucket/ga4``). With the demo platforms it writes the simulated export
  of the week's closed days (to a local folder only); with the real APIs the files come
  from GA4's BigQuery export (copied or synced there), and the asset only records which of
  the week's closed days have a file per property.
- ``normalized/web_events`` and ``normalized/web_sessions``: the week's files read and
  validated by DuckDB, then written in one transaction (``lib/normalized/web_events.py``).
- ``attribution/daily``: the week's conversions attributed under every model over their
  journeys (lookback ``settings.attribution_lookback_days``, so the five ingest weeks
  before are read too), written with the ``attribution.conversions`` and
  ``touch_credits`` tables (the view ``credits`` shows them one row per touch and model;
  the view ``assists_daily`` counts the conversions each scope touched and assisted)
  (``lib/kpis/attribution.py``). A blocking check proves every
  conversion's credits sum to 1 under every model; the run fails, naming the table and
  key, if a table's rows of the window are not unique on its key (no key is declared).

All three are in ``daily_ingest_job``: the morning schedule's run over the week of the day
that closed reads that day's export and attributes the week again, so the report pages
(which depend on ``attribution/daily``) wait for it; ``weekly_attribution_job`` is there for
backfills of the attribution alone.
"""

import dagster as dg

from kpi_pipeline.defs.conventions import DUCKDB_WRITER, OWNERS, puller
from kpi_pipeline.defs.partitions import ingest_weeks, window_bounds, window_days
from kpi_pipeline.defs.resources import PlatformsResource, Settings, Warehouse
from kpi_pipeline.defs.schedules import schedule_today
from kpi_pipeline.lib.kpis.attribution import (
    MODELS,
    credit_sum_problems,
    duplicate_keys,
    replace_attribution_window,
    unattributed_conversions,
)
from kpi_pipeline.lib.normalized.web_events import replace_web_window
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline.lib.sources.demo.ga4_events import write_export
from kpi_pipeline.lib.sources.exports.ga4_events import (
    Ga4ExportError,
    export_files,
    export_folder_exists,
    local_folder,
)

RAW_KEY = dg.AssetKey(["raw", "ga4_events"])
EVENTS_KEY = dg.AssetKey(["normalized", "web_events"])
SESSIONS_KEY = dg.AssetKey(["normalized", "web_sessions"])
ATTRIBUTION_KEY = dg.AssetKey(["attribution", "daily"])
CREDITS_SUM_TO_ONE = "credits_sum_to_one"
CONVERSIONS_ATTRIBUTED = "conversions_attributed"
# The lookback can reach this many ingest weeks before the attributed one (35 days).
LOOKBACK_WEEKS = 5


@dg.asset(
    **puller("ga4_events"),
    key=RAW_KEY,
    group_name="raw",
    partitions_def=ingest_weeks,
    kinds={"json", "ga4"},
    code_version="1",
    description="GA4's BigQuery event export of the week's closed days: one "
                "events_YYYYMMDD file per property and local day in the export folder "
                "(analytics_<property>/). The demo writes its simulated users' journeys "
                "there; with the real APIs the folder is filled by GA4's export and this "
                "asset records which days have arrived. Grain: property x local day.",
)
def ga4_events(context: dg.AssetExecutionContext, settings: Settings,
               platforms: PlatformsResource) -> dg.MaterializeResult:
    days = window_days(context.partition_time_window)
    client = platforms.client()
    today = schedule_today(client.now())
    closed = [day for day in days if day < today]
    folder = settings.ga4_export_root()
    written = []
    if isinstance(client, DemoClient) and closed:
        local = local_folder(folder)
        if local is None:
            raise dg.Failure(description=f"The demo writes its simulated GA4 export to a "
                                         f"local folder; {folder} is not one (set "
                                         "KPI_PIPELINE_GA4_EXPORT to a path or file:// URL, "
                                         "or use the real platforms)")
        written = write_export(client.world, local, closed[0], closed[-1])
    files = export_files(folder, days[0], days[-1])
    by_property: dict[str, set] = {}
    for file in files:
        by_property.setdefault(file.property_id, set()).add(file.day)
    missing = {prop: [d.isoformat() for d in closed if d not in present]
               for prop, present in sorted(by_property.items())}
    return dg.MaterializeResult(metadata={
        "folder": str(folder),
        "partition_window": f"{days[0]}..{days[-1]}",
        "closed_days": len(closed),
        "files": len(files),
        "files_written": len(written),
        "properties": dg.MetadataValue.json(sorted(by_property)),
        "days_missing_by_property": dg.MetadataValue.json(
            {p: d for p, d in missing.items() if d}),
    })


@dg.multi_asset(
    backfill_policy=DUCKDB_WRITER["backfill_policy"],
    pool=DUCKDB_WRITER["pool"],
    specs=[
        dg.AssetSpec(EVENTS_KEY, group_name="normalized", owners=OWNERS, deps=[RAW_KEY],
                     kinds={"duckdb", "sql"},
                     code_version="1",
                     description="GA4 export events, one row per event (primary key: "
                                 "source_file, source_record): local day, UTC time, user, "
                                 "session, UTMs, conversion type and revenue.",
                     metadata={"dagster/table_name": "normalized.web_events"}),
        dg.AssetSpec(SESSIONS_KEY, group_name="normalized", owners=OWNERS, deps=[RAW_KEY],
                     kinds={"duckdb", "sql"},
                     code_version="1",
                     description="GA4 sessions from the export (primary key: property_id, "
                                 "user_pseudo_id, ga_session_id): start, source / medium / "
                                 "campaign, channel, social platform, conversions, revenue.",
                     metadata={"dagster/table_name": "normalized.web_sessions"}),
    ],
    partitions_def=ingest_weeks,
)
def web_events(context: dg.AssetExecutionContext, warehouse: Warehouse,
               settings: Settings):
    """Both tables of the week's export files, validated before anything is written."""
    first, last = window_bounds(context.partition_time_window)
    folder = settings.ga4_export_root()
    window = f"{first}..{last}"
    if not export_folder_exists(folder):
        # A mistyped or unmounted folder must not empty the tables: nothing changes.
        context.log.warning(f"GA4 export folder {folder} does not exist: web_events and "
                            "web_sessions left as they were")
        for key in (EVENTS_KEY, SESSIONS_KEY):
            yield dg.MaterializeResult(asset_key=key, metadata={
                "partition_window": window, "decision": f"folder {folder} missing: "
                                                        "nothing changed"})
        return
    files = export_files(folder, first, last)
    with warehouse.get_connection() as conn:
        try:
            counts = replace_web_window(conn, files, first, last)
        except Ga4ExportError as exc:
            raise dg.Failure(description=str(exc), metadata={
                "partition_window": f"{first}..{last}",
                "problems": dg.MetadataValue.json(exc.problems[:50])}) from exc
        channels = conn.execute(
            "SELECT channel, coalesce(platform, '') AS platform, count(*) AS sessions, "
            "sum(conversions) AS conversions FROM normalized.web_sessions "
            "WHERE session_date BETWEEN ? AND ? GROUP BY ALL ORDER BY sessions DESC",
            [first, last]).df()
    yield dg.MaterializeResult(asset_key=EVENTS_KEY, metadata={
        "dagster/row_count": counts["web_events"], "partition_window": window,
        "files_read": len(files)})
    yield dg.MaterializeResult(asset_key=SESSIONS_KEY, metadata={
        "dagster/row_count": counts["web_sessions"], "partition_window": window,
        "sessions_by_channel": dg.MetadataValue.md(
            channels.to_markdown(index=False) if not channels.empty else "(no sessions)")})


_LOOKBACK = dg.TimeWindowPartitionMapping(start_offset=-LOOKBACK_WEEKS, end_offset=0)


@dg.asset(
    **DUCKDB_WRITER,
    key=ATTRIBUTION_KEY,
    group_name="attribution",
    partitions_def=ingest_weeks,
    deps=[dg.AssetDep(SESSIONS_KEY, partition_mapping=_LOOKBACK),
          dg.AssetDep(EVENTS_KEY)],
    kinds={"duckdb", "sql"},
    code_version="4",  # 4: keys proved after the write, not declared; 3: customer cohorts
    check_specs=[
        dg.AssetCheckSpec(CREDITS_SUM_TO_ONE, asset=ATTRIBUTION_KEY, blocking=True,
                          description="Every conversion of the window has credits under "
                                      "every model, and they sum to 1 (to 1e-9)."),
        dg.AssetCheckSpec(CONVERSIONS_ATTRIBUTED, asset=ATTRIBUTION_KEY,
                          description="Every conversion event of the window has a journey "
                                      "(its session is stored); one without is missing "
                                      "from every model's totals: a day's export file is "
                                      "probably missing."),
    ],
    description="Web conversions (purchases, sign-ups, leads) by local day of conversion, "
                "property, conversion type, model, channel, platform and campaign: "
                "attributed conversions and revenue under last click, last non-direct, "
                "first touch, linear, position-based (40/20/40) and time decay, over each "
                "conversion's journey within the lookback. Primary key: (day, property_id, "
                "conversion_type, model, channel, platform, campaign). Beside it: "
                "attribution.conversions (journeys), touch_credits (each touch's credit "
                "under every model; the view credits: one row per touch and model), "
                "the view assists_daily (conversions each scope touched and assisted), "
                "the weekly "
                "and monthly views, and cohort_purchases (every customer's purchases within "
                "the lifetime-value window from their first purchase, rebuilt whole).",
    metadata={"dagster/table_name": "attribution.daily"},
)
def attribution_daily(context: dg.AssetExecutionContext, warehouse: Warehouse,
                      settings: Settings) -> dg.MaterializeResult:
    first, last = window_bounds(context.partition_time_window)
    config = settings.attribution_settings()
    with warehouse.get_connection() as conn:
        counts = replace_attribution_window(conn, first, last, config)
        duplicated = duplicate_keys(conn, first, last)
        if duplicated:
            # the tables declare no keys (see KEYS in lib/kpis/attribution.py): a bug
            # writing a row twice stops the run here, before anything reads the window
            raise dg.Failure(
                description="attribution rows not unique on their key: " + "; ".join(
                    f"{table} {key}: {n} key value(s) on more than one row"
                    for table, key, n in duplicated),
                metadata={"partition_window": f"{first}..{last}",
                          "duplicated": dg.MetadataValue.json(
                              [list(d) for d in duplicated])})
        problems = credit_sum_problems(conn, first, last)
        missing = unattributed_conversions(conn, first, last)
        social = conn.execute(
            "SELECT model, sum(revenue_reporting) FILTER (WHERE channel IN ('organic_social', "
            "'paid_social')) AS social_revenue, sum(conversions) FILTER (WHERE channel IN "
            "('organic_social', 'paid_social')) AS social_conversions "
            "FROM attribution.daily_reporting WHERE day BETWEEN ? AND ? GROUP BY model",
            [first, last]).fetchall()
        touched = conn.execute(
            "SELECT count(*) FILTER (WHERE social_touched) / nullif(count(*), 0) "
            "FROM attribution.conversions WHERE conversion_date BETWEEN ? AND ?",
            [first, last]).fetchall()[0][0]
    by_model = {model: {"social_conversions": round(float(c or 0), 2),
                        "social_revenue_reporting": round(float(r or 0), 2)}
                for model, r, c in social}
    checks = [
        dg.AssetCheckResult(check_name=CREDITS_SUM_TO_ONE, passed=not problems,
                            metadata={"conversions_checked": counts["conversions"],
                                      "models": list(MODELS),
                                      "failing": dg.MetadataValue.json(
                                          [list(p) for p in problems[:20]]),
                                      "failing_total": len(problems)}),
        dg.AssetCheckResult(check_name=CONVERSIONS_ATTRIBUTED, passed=missing == 0,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"conversions_without_journey": missing}),
    ]
    return dg.MaterializeResult(
        metadata={"dagster/row_count": counts["daily"],
                  "partition_window": f"{first}..{last}",
                  "conversions": counts["conversions"],
                  "lookback_days": config.lookback_days,
                  "half_life_days": config.half_life_days,
                  "ltv_window_days": config.cohort_window_days,
                  "cohort_purchases": counts["cohort_purchases"],
                  "social_touched_share": float(touched) if touched is not None else None,
                  "social_by_model": dg.MetadataValue.json(by_model)},
        check_results=checks)


weekly_attribution_job = dg.define_asset_job(
    name="weekly_attribution_job",
    selection=dg.AssetSelection.assets(ATTRIBUTION_KEY),
    description="Attribute the conversions of the weeks under every model (after "
                "daily_ingest_job has written or collected the GA4 event export and rebuilt "
                "the web events and sessions).",
)

