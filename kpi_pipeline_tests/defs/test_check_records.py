"""Check execution records read newest first in growing pages, up to a bound: what the
report gate and the check alert sensor read."""

from __future__ import annotations

import dagster as dg

from kpi_pipeline.defs.alerts import sensors
from kpi_pipeline.defs.check_records import check_keys, record_pages


@dg.asset
def tracked() -> None:
    return None


@dg.asset_check(asset=tracked)
def sane() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


SANE = dg.AssetCheckKey(tracked.key, "sane")


def _evaluated(count: int) -> tuple[dg.DagsterInstance, list[int]]:
    instance = dg.DagsterInstance.ephemeral()
    for n in range(count):
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=tracked.key, check_name="sane", passed=n % 2 == 0))
    ids = [r.id for r in instance.event_log_storage.get_asset_check_execution_history(
        SANE, limit=1000)]
    assert len(ids) == count
    return instance, ids  # newest first


def test_pages_grow_fourfold_and_stop_at_the_bound():
    instance, ids = _evaluated(30)
    pages = [[r.id for r in page]
             for page in record_pages(instance, SANE, first=2, most=20)]
    assert [len(page) for page in pages] == [2, 8, 10]
    assert [i for page in pages for i in page] == ids[:20]  # no gap, no repeat


def test_pages_end_after_a_short_page_and_start_below_a_cursor():
    instance, ids = _evaluated(30)
    pages = [[r.id for r in page]
             for page in record_pages(instance, SANE, first=2, most=100, before=ids[4])]
    assert [len(page) for page in pages] == [2, 8, 15]
    assert [i for page in pages for i in page] == ids[5:]


def test_the_sensor_says_when_it_left_records_unread(monkeypatch):
    instance, ids = _evaluated(30)
    monkeypatch.setattr(sensors, "CHECK_RECORDS_PER_TICK", 10)
    records, cut = sensors._new_records(instance, SANE, floor=0, ceiling=ids[0])
    assert cut and [r.id for r in records] == sorted(ids[:10])
    records, cut = sensors._new_records(instance, SANE, floor=ids[6], ceiling=ids[0])
    assert not cut and [r.id for r in records] == sorted(ids[:6])


def test_check_keys_by_layer():
    graph = dg.Definitions(assets=[tracked], asset_checks=[sane]).resolve_asset_graph()
    assert check_keys(graph) == [SANE]
    assert check_keys(graph, {"raw"}) == []
