"""The checks of the normalized tables on the real chain: demo platforms, 2 brands, a few
days. Each check's result and metadata on clean data, and each one failing for the reason
it exists: a key stored twice, a volume drop against history, a tampered stored value."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from kpi_pipeline.defs.normalized import assets as normalized_module
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.normalized.checks import (
    DATES_IN_PARTITION,
    RECONCILES_WITH_RAW,
    SCHEMA_VALID,
    UNIQUE_KEY,
    VOLUME_IN_BAND,
)
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.landing import LandingStore
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY

FIRST, LAST = date(2025, 3, 3), date(2025, 3, 9)  # an ingest week, closed on the demo clock
NEXT = date(2025, 3, 10)  # the week after
ALL = [*raw_assets, *normalized_assets]
IN_ASSET_CHECKS = (SCHEMA_VALID, UNIQUE_KEY, DATES_IN_PARTITION, VOLUME_IN_BAND,
                   RECONCILES_WITH_RAW)


def tags(first: date, last: date) -> dict[str, str]:
    """The ingest weeks holding ``first`` and ``last``."""
    start, end = (d - timedelta(days=d.weekday()) for d in (first, last))
    return {"dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat()}


def demo_resources(root: Path) -> dict[str, object]:
    return {
        "warehouse": Warehouse(database=str(root / "warehouse.duckdb")),
        "settings": Settings(landing_dir=str(root / "landing"), reporting_currency="USD"),
        "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                   today=DEMO_TODAY.isoformat()),
    }


def run(resources, selection=None, first=FIRST, last=LAST) -> dg.ExecuteInProcessResult:
    return dg.materialize(ALL, resources=resources, selection=selection,
                          tags=tags(first, last), raise_on_error=False)


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[1], e.check_name): e
            for e in result.get_asset_check_evaluations()}


def meta(evaluation) -> dict[str, object]:
    return {k: v.value for k, v in evaluation.metadata.items()}


def query(resources, sql: str, params=()) -> list[tuple]:
    with resources["warehouse"].get_connection(read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def table_only(name: str) -> dg.AssetSelection:
    return dg.AssetSelection.assets(["normalized", name])


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Landing files for two weeks (3-16 March) and the store built for the first, once."""
    root = tmp_path_factory.mktemp("checks_template")
    resources = demo_resources(root)
    assert dg.materialize(raw_assets, resources=resources, tags=tags(FIRST, NEXT)).success
    result = run(resources)
    assert result.success
    (root / "first_run.json").write_text(json.dumps({
        f"{t}|{c}": {"passed": e.passed, "severity": e.severity.value, "metadata": meta(e)}
        for (t, c), e in evaluations(result).items()}, default=str))
    assert run(resources, table_only("fx_daily"), NEXT, NEXT).success  # rates of the week after
    return root


@pytest.fixture
def built(template, tmp_path) -> dict[str, object]:
    """A private copy of the template store and landing files."""
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    return demo_resources(tmp_path)


def test_every_check_passes_on_clean_data_with_its_numbers(template):
    first_run = json.loads((template / "first_run.json").read_text())
    resources = demo_resources(template)
    for name in TABLES:
        for check in IN_ASSET_CHECKS:
            assert first_run[f"{name}|{check}"]["passed"], (name, check)
        [(rows,)] = query(resources, f"SELECT count(*) FROM normalized.{name} "
                                     "WHERE report_date BETWEEN ? AND ?", (FIRST, LAST))
        valid = first_run[f"{name}|{SCHEMA_VALID}"]["metadata"]
        assert valid["rows_considered"] == rows > 0, name
        assert valid["rows_quarantined"] == 0 and valid["decision"] == "all rows valid"
        assert valid["quarantine_threshold"] == pytest.approx(0.01)
        assert first_run[f"{name}|{UNIQUE_KEY}"]["metadata"]["duplicate_keys"] == 0
        dates = first_run[f"{name}|{DATES_IN_PARTITION}"]["metadata"]
        assert dates["rows_outside_window"] == 0
        assert (dates["first_date"], dates["last_date"]) == (str(FIRST), str(LAST))
        volume = first_run[f"{name}|{VOLUME_IN_BAND}"]
        assert volume["severity"] == "WARN"
        assert volume["metadata"]["note"] == "no history"  # the first days of the store
        recon = first_run[f"{name}|{RECONCILES_WITH_RAW}"]["metadata"]
        assert recon["landing_rows"] == recon["table_rows"] == rows, name
        assert recon["mismatched_columns"] == []
    recon = first_run[f"post_daily|{RECONCILES_WITH_RAW}"]["metadata"]
    [(views,)] = query(resources, "SELECT sum(views) FROM normalized.post_daily")
    assert recon["landing_views"] == recon["table_views"] == views
    assert recon["quarantine_views"] == 0


def test_the_checks_are_blocking_except_volume(built):
    asset = next(a for a in normalized_assets if a.key.path[1] == "post_daily")
    specs = {s.name: s for s in asset.check_specs}
    assert set(specs) == set(IN_ASSET_CHECKS)
    assert {n for n, s in specs.items() if s.blocking} == {SCHEMA_VALID, UNIQUE_KEY,
                                                          DATES_IN_PARTITION,
                                                          RECONCILES_WITH_RAW}
    assert all(s.description for s in specs.values())


def test_a_day_like_its_history_is_in_band(built):
    result = run(built, table_only("web_daily"), NEXT, NEXT)
    assert result.success
    volume = evaluations(result)[("web_daily", VOLUME_IN_BAND)]
    assert volume.passed
    values = meta(volume)
    assert values["history_days"] == 7 and values["rows_per_day"] == 22
    assert values["history_median_rows_per_day"] == 22 and values["ratio"] == 1


def test_a_big_drop_against_history_warns_without_failing(built, monkeypatch):
    original_parse = normalized_module.parse_stream

    def two_rows(conn, stream, files):  # the source "lost" all but two rows a day
        frame, days, problems = original_parse(conn, stream, files)
        return frame.head(14), days.head(14), problems

    monkeypatch.setattr(normalized_module, "parse_stream", two_rows)
    result = run(built, table_only("web_daily"), NEXT, NEXT)
    assert result.success  # a warning, not a blocker
    volume = evaluations(result)[("web_daily", VOLUME_IN_BAND)]
    assert not volume.passed and volume.severity == dg.AssetCheckSeverity.WARN
    values = meta(volume)
    assert values["rows_per_day"] == 2 and values["history_median_rows_per_day"] == 22
    assert values["ratio"] == pytest.approx(2 / 22)
    assert "outside 0.5x..2.0x" in volume.description
    assert evaluations(result)[("web_daily", RECONCILES_WITH_RAW)].passed


def test_a_key_stored_twice_fails_unique_key(built, monkeypatch):
    """A store whose table lost its primary key (an old DDL) and a validation gap: the
    blocking check after the write is what still catches the double row."""
    with built["warehouse"].get_connection() as conn:
        conn.execute("DROP TABLE normalized.email_daily")
        conn.execute(schemas.ddl(TABLES["email_daily"]).replace(
            ",\n  PRIMARY KEY (list_id, report_date)\n", "\n"))
    original_schema, original_parse = schemas.pandera_schema, normalized_module.parse_stream

    def without_frame_rules(table, start, end):
        schema = original_schema(table, start, end)
        return schema.__class__(schema.columns, strict=True, ordered=True, name=schema.name)

    def doubled(conn, stream, files):
        frame, days, problems = original_parse(conn, stream, files)
        return (pd.concat([frame, frame.head(1)], ignore_index=True),
                pd.concat([days, days.head(1)], ignore_index=True), problems)

    monkeypatch.setattr(schemas, "pandera_schema", without_frame_rules)
    monkeypatch.setattr(normalized_module, "parse_stream", doubled)
    result = run(built, table_only("email_daily"), NEXT, NEXT)
    assert not result.success  # the blocking failure stops the run's downstream steps
    unique = evaluations(result)[("email_daily", UNIQUE_KEY)]
    assert not unique.passed and unique.severity == dg.AssetCheckSeverity.ERROR
    values = meta(unique)
    assert values["duplicate_keys"] == 1
    [example] = values["examples"]
    assert example["copies"] == "2"
    assert NEXT <= date.fromisoformat(example["report_date"]) <= NEXT + timedelta(days=6)


def test_a_write_that_alters_a_value_fails_reconciliation(built, monkeypatch):
    """The landing side is what the asset read; a write path that changes a stored value
    (here: one more view on one post) is caught after the write."""
    original_write = normalized_module.replace_window_from

    def altering(conn, table, rows, start, end, **kwargs):
        written = original_write(conn, table, rows, start, end, **kwargs)
        conn.execute("""UPDATE normalized.post_daily SET views = views + 100
                        WHERE (platform, post_id, report_date) IN (
                          SELECT platform, post_id, report_date FROM normalized.post_daily
                          WHERE report_date = ? ORDER BY ALL LIMIT 1)""", [date(2025, 3, 4)])
        return written

    monkeypatch.setattr(normalized_module, "replace_window_from", altering)
    result = run(built, table_only("post_daily"))
    assert not result.success  # blocking: nothing downstream runs on it
    evaluation = evaluations(result)[("post_daily", RECONCILES_WITH_RAW)]
    assert not evaluation.passed
    values = meta(evaluation)
    assert values["mismatched_columns"] == ["views"]
    assert values["table_views"] - values["landing_views"] == 100
    assert values["landing_rows"] == values["table_rows"]
    assert "views" in evaluation.description and "2025-03-03..2025-03-09" in evaluation.description


def test_the_volume_band_is_read_from_the_environment(monkeypatch):
    from kpi_pipeline.defs.normalized.checks import VOLUME_BAND_ENV, volume_band

    monkeypatch.delenv(VOLUME_BAND_ENV, raising=False)
    assert volume_band() == (0.5, 2.0)
    monkeypatch.setenv(VOLUME_BAND_ENV, "0.8,1.25")
    assert volume_band() == (0.8, 1.25)
    for bad in ("2,0.5", "x,y", "0.5"):
        monkeypatch.setenv(VOLUME_BAND_ENV, bad)
        with pytest.raises(ValueError, match=VOLUME_BAND_ENV):
            volume_band()


def test_chunks_cut_a_window_by_the_bytes_of_its_landing_files(tmp_path):
    days = [FIRST + timedelta(days=i) for i in range(5)]
    files, store = {}, LandingStore(tmp_path)
    for stream, sizes in (("a", [3, 3, 9, 1, 1]), ("b", [1, 1, 0, 1, 1])):
        files[stream] = []
        for day, size in zip(days, sizes, strict=True):
            path = tmp_path / f"{stream}_{day}.json.gz"
            path.write_bytes(b"x" * size)
            files[stream].append((path, day))
    # per day: 4, 4, 9, 2, 2 bytes; a budget of 8 closes a chunk before it would pass 8, and
    # the 9-byte day, larger than the budget, is a chunk of its own
    assert normalized_module.chunks(files, days[0], days[-1], store, budget=8) == [
        (days[0], days[1]), (days[2], days[2]), (days[3], days[4])]
    assert normalized_module.chunks(files, days[0], days[-1], store, budget=100) == [
        (days[0], days[-1])]
    # days after the last landing file (a week in progress) join the last chunk
    assert normalized_module.chunks(files, days[0], days[-1] + timedelta(days=2),
                                    store, budget=4) == [
        (days[0], days[0]), (days[1], days[1]), (days[2], days[2]),
        (days[3], days[-1] + timedelta(days=2))]


def test_a_window_read_day_by_day_stores_what_one_chunk_stores(template, tmp_path, monkeypatch):
    """Two ingest weeks in one chunk, then in one chunk per day (a budget of one byte):
    every normalized table holds the same rows, and the checks count the same rows."""
    stores = {}
    for label, budget in (("whole", normalized_module.CHUNK_BYTES), ("daily", 1)):
        root = tmp_path / label
        shutil.copytree(template / "landing", root / "landing")
        resources = demo_resources(root)
        monkeypatch.setattr(normalized_module, "CHUNK_BYTES", budget)
        result = dg.materialize(normalized_assets, resources=resources,
                                tags=tags(FIRST, NEXT + timedelta(days=6)))
        assert result.success
        considered = {t: meta(e)["rows_considered"] for (t, c), e in evaluations(result).items()
                      if c == SCHEMA_VALID}
        with resources["warehouse"].get_connection(read_only=True) as conn:
            tables = {name: conn.execute(f"SELECT * FROM normalized.{name} ORDER BY ALL").df()
                      for name in TABLES}
        stores[label] = considered, tables
    (whole_counts, whole), (daily_counts, daily) = stores["whole"], stores["daily"]
    assert whole_counts == daily_counts
    for name in TABLES:
        assert len(whole[name]) > 0, name
        pd.testing.assert_frame_equal(whole[name], daily[name], obj=name)
