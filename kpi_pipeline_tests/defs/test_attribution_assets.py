"""The attribution assets in one run over six ingest weeks of the demo: the simulated
export is written, read, attributed, and the blocking check passes; a rerun gives the
same rows; a malformed file fails the normalized asset and changes nothing stored."""

from __future__ import annotations

import gzip
from pathlib import Path

import dagster as dg
import duckdb
import fsspec
import pytest

from kpi_pipeline.defs.attribution.assets import (
    attribution_daily,
    ga4_events,
    web_events,
)
from kpi_pipeline.defs.partitions import range_tags
from kpi_pipeline_tests.conftest import demo_resources

FIRST, LAST = "2025-01-27", "2025-03-03"  # six ingest weeks (Mondays)
ASSETS = [ga4_events, web_events, attribution_daily]


def _run(resources: dict, first: str = FIRST, last: str = LAST) -> dg.ExecuteInProcessResult:
    return dg.materialize(ASSETS, resources=resources, tags=range_tags(first, last),
                          raise_on_error=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("attribution")
    resources = demo_resources(root, ga4_export_dir=str(root / "ga4_export"))
    result = _run(resources)
    return root, resources, result


def _store(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)


def test_the_chain_writes_reads_and_attributes(built):
    root, _, result = built
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"credits_sum_to_one": True, "conversions_attributed": True}
    files = sorted((root / "ga4_export").glob("analytics_*/events_*.json.gz"))
    assert len(files) == 2 * 42  # two brands, six weeks of days
    with _store(root) as conn:
        days = conn.execute("SELECT min(session_date), max(session_date), count(*) "
                            "FROM normalized.web_sessions").fetchall()[0]
        models = conn.execute("SELECT model, round(sum(conversions), 6) FROM "
                              "attribution.daily GROUP BY model").fetchall()
        conversions = conn.execute("SELECT count(*) FROM attribution.conversions"
                                   ).fetchall()[0][0]
    assert str(days[0]) == FIRST and str(days[1]) == "2025-03-09" and days[2] > 1000
    assert {m: v for m, v in models} == {m: float(conversions) for m, _ in models}
    assert len(models) == 6


def test_social_gains_beyond_the_last_click(built):
    root, _, _ = built
    with _store(root) as conn:
        social = dict(conn.execute(
            "SELECT model, sum(conversions) FROM attribution.weekly WHERE channel IN "
            "('organic_social', 'paid_social') GROUP BY model").fetchall())
        share = conn.execute("SELECT sum(social_touched_conversions) / sum(conversions) "
                             "FROM attribution.journeys_monthly").fetchall()[0][0]
    assert social["first_touch"] > social["position_based"] > social["last_click"]
    assert 0.3 < share < 0.9


def test_rerun_gives_the_same_tables(built, tmp_path):
    root, resources, _ = built
    with _store(root) as conn:
        before = conn.execute("SELECT * FROM attribution.daily ORDER BY ALL").fetchall()
    assert _run(resources, "2025-02-24", "2025-03-03").success
    with _store(root) as conn:
        assert conn.execute("SELECT * FROM attribution.daily ORDER BY ALL").fetchall() == before


def test_a_malformed_file_fails_and_changes_nothing(tmp_path):
    resources = demo_resources(tmp_path, ga4_export_dir=str(tmp_path / "ga4_export"))
    week = "2025-03-03"
    assert _run(resources, week, week).success
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        before = conn.execute("SELECT count(*), sum(revenue) FROM normalized.web_sessions"
                              ).fetchall()
    victim = sorted((tmp_path / "ga4_export").glob("analytics_*/events_20250305.json.gz"))[0]
    lines = gzip.decompress(victim.read_bytes()).decode().splitlines()
    lines[9] = lines[9].replace('"event_timestamp":"', '"event_timestamp":"x')
    victim.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    result = dg.materialize([web_events], resources=resources, partition_key=week,
                            raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"{victim}, line 10, field event_timestamp" in failure
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*), sum(revenue) FROM normalized.web_sessions"
                            ).fetchall() == before


def test_a_missing_export_folder_changes_nothing(built, tmp_path):
    root, resources, _ = built
    elsewhere = {**resources, "settings": resources["settings"].model_copy(
        update={"ga4_export_dir": str(tmp_path / "not_mounted")})}
    with _store(root) as conn:
        before = conn.execute("SELECT count(*) FROM normalized.web_events").fetchall()
    result = dg.materialize([web_events], resources=elsewhere, partition_key="2025-03-03")
    assert result.success
    with _store(root) as conn:
        assert conn.execute("SELECT count(*) FROM normalized.web_events").fetchall() == before


def test_the_export_is_read_from_an_fsspec_url(built, tmp_path):
    """The same week's files in a bucket-like filesystem (fsspec's memory://) give the
    same sessions as the local folder they came from."""
    root, _, _ = built
    fs = fsspec.filesystem("memory")
    bucket = f"/bucket-{tmp_path.name}"
    for path in (root / "ga4_export").glob("analytics_*/events_2025030[3-9].json.gz"):
        fs.pipe(f"{bucket}/{path.parent.name}/{path.name}", path.read_bytes())
    remote = demo_resources(tmp_path, ga4_export_dir=f"memory://{bucket}")
    try:
        assert dg.materialize([web_events], resources=remote,
                              partition_key="2025-03-03").success
        demo_writer = dg.materialize([ga4_events], resources=remote,
                                     partition_key="2025-03-03", raise_on_error=False)
    finally:
        fs.rm(bucket, recursive=True)
    assert not demo_writer.success
    assert "to a local folder" in demo_writer.get_step_failure_events()[0] \
        .step_failure_data.error.message
    query = ("SELECT count(*), round(sum(revenue), 6), sum(conversions) FROM "
             "normalized.web_sessions "
             "WHERE session_date BETWEEN '2025-03-03' AND '2025-03-09'")
    with _store(root) as conn:
        expected = conn.execute(query).fetchall()
    with _store(tmp_path) as conn:
        assert conn.execute(query).fetchall() == expected


def test_the_number_settings_come_from_their_variables(monkeypatch):
    """Set, the attribution and lifetime-value variables reach the settings resource when a
    run starts (the code location loads with them set); one out of range fails the run
    with its variable named."""
    from kpi_pipeline.defs.resources import default_resources
    from kpi_pipeline.lib.kpis.attribution import AttributionSettings

    monkeypatch.setenv("KPI_PIPELINE_LTV_WINDOW_DAYS", "90")
    monkeypatch.setenv("KPI_PIPELINE_ATTRIBUTION_LOOKBACK_DAYS", "20")
    settings = default_resources()["settings"].process_config_and_initialize()
    assert settings.attribution_settings() == AttributionSettings(20, 7.0, 90)
    monkeypatch.setenv("KPI_PIPELINE_LTV_WINDOW_DAYS", "0")
    settings = default_resources()["settings"].process_config_and_initialize()
    with pytest.raises(ValueError, match=r"\$KPI_PIPELINE_LTV_WINDOW_DAYS"):
        settings.attribution_settings()


def test_a_row_written_twice_fails_the_asset_naming_table_and_key(built, monkeypatch):
    """The tables declare no key: the asset proves them after its write and fails, naming
    the table and the key, when a bug wrote a row twice."""
    from kpi_pipeline.defs.attribution import assets

    _, resources, _ = built
    week, real = "2025-03-03", assets.replace_attribution_window

    def twice(conn, first, last, settings=None):
        counts = real(conn, first, last, settings)
        conn.execute("INSERT INTO attribution.daily SELECT * FROM "
                     "attribution.daily WHERE day BETWEEN ? AND ? LIMIT 1",
                     [first, last])
        return counts

    monkeypatch.setattr(assets, "replace_attribution_window", twice)
    try:
        result = dg.materialize([attribution_daily], resources=resources,
                                partition_key=week, raise_on_error=False)
    finally:
        monkeypatch.undo()
        assert dg.materialize([attribution_daily], resources=resources,
                              partition_key=week).success  # the window rewritten whole
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert ("attribution.daily (day, property_id, conversion_type, model, channel, "
            "platform, campaign): 1 key value(s) on more than one row") in failure
