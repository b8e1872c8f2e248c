"""The normalized asset rebuilding a week leaves the export rows of that week alone, and
its reconciliation and volume checks count only its own streams' rows."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from kpi_pipeline.defs.exports import exports
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core.streams import streams_for_table
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY
from kpi_pipeline_tests.sources.exports import samples
from kpi_pipeline_tests.sources.exports.conftest import query

pytestmark = pytest.mark.slow

DAY = date(2025, 3, 10)  # a Monday: the ingest week 10-16 March, closed on the demo clock
RANGE = {"dagster/asset_partition_range_start": DAY.isoformat(),
         "dagster/asset_partition_range_end": DAY.isoformat()}


def test_rebuilding_a_week_keeps_its_export_rows_and_reconciles(tmp_path):
    drop = tmp_path / "exports"
    drop.mkdir()
    (drop / "exports.yaml").write_text(
        "defaults: {brand: acme, account_id: '104920372957382', timezone: UTC, "
        f"as_of: {DAY.isoformat()}}}\n")
    (drop / "fb_posts.csv").write_text(samples.META_FACEBOOK.replace("03/14/2025",
                                                                     "03/09/2025")
                                       .replace("03/20/2025", "03/08/2025"))
    resources = {
        "warehouse": Warehouse(database=str(tmp_path / "store.duckdb")),
        "settings": Settings(landing_dir=str(tmp_path / "landing"), exports_dir=str(drop)),
        "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                   today=DEMO_TODAY.isoformat()),
    }
    platforms = {s.platform for s in streams_for_table("post_daily")}
    raw = [a for a in raw_assets if a.key.path[1] in platforms]
    post_daily = next(a for a in normalized_assets if a.key.path[1] == "post_daily")
    assert dg.materialize([*raw, post_daily], resources=resources, tags=RANGE).success
    assert dg.materialize([exports], resources=resources).success
    by_stream = "SELECT source_stream, count(*) FROM normalized.post_daily GROUP BY 1"
    before = dict(query(resources["warehouse"], by_stream))
    assert before["export:meta_facebook_posts"] == 2

    result = dg.materialize([post_daily], resources=resources, tags=RANGE)
    assert result.success
    assert dict(query(resources["warehouse"], by_stream)) == before
    assert checks(result)["unique_key"] and checks(result)["volume_in_band"]
    assert checks(result)["reconciles_with_raw"]  # export rows have no landing file


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
