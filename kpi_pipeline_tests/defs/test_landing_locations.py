"""Landing through an fsspec URL: the pulls land into ``memory://`` (a bucket-like
filesystem) or a ``file://`` URL, the normalization reads the files from there, and every
normalized table holds what the plain-path landing of the same days gives."""

from __future__ import annotations

import gzip
from datetime import date, timedelta

import dagster as dg
import fsspec
import pytest

from kpi_pipeline.cli import summary
from kpi_pipeline.defs.freshness import source_freshness_checks
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core.landing import LandingStore, landing_path
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.core.streams import STREAMS
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY

WEEK = "2025-03-03"
DAYS = (date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 5))  # a short history
STREAM, DAY = "facebook_posts", DAYS[1]


def resources_at(folder, landing: str) -> dict[str, object]:
    return {
        "warehouse": Warehouse(database=str(folder / "warehouse.duckdb")),
        "settings": Settings(landing_dir=landing, reporting_currency="USD"),
        "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                   today=DEMO_TODAY.isoformat()),
    }


def pull_config(**config) -> dict:
    return {"ops": {f"raw__{a.key.path[1]}": {"config": config} for a in raw_assets}}


def tables(resources) -> dict[str, list[tuple]]:
    with resources["warehouse"].get_connection(read_only=True) as conn:
        return {name: conn.execute(f"SELECT * FROM normalized.{name} ORDER BY ALL").fetchall()
                for name in TABLES}


def landed_bytes(store: LandingStore) -> dict[str, bytes]:
    """Every landing file's bytes by its name below the landing root."""
    root = str(store)
    return {str(path)[len(root):]: store.read(path) for path, _ in store.files()}


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """The same three days pulled and normalized with the landing at a plain path, at a
    file:// URL and in fsspec's memory filesystem; each with its own DuckDB file."""
    root = tmp_path_factory.mktemp("landing_locations")
    bucket = f"/landing-{root.name}"
    locations = {"path": str(root / "path" / "landing"),
                 "file_url": (root / "file_url" / "landing").as_uri(),
                 "memory": f"memory://{bucket}"}
    built = {}
    try:
        for label, location in locations.items():
            resources = resources_at(root / label, location)
            result = dg.materialize(
                [*raw_assets, *normalized_assets], resources=resources, partition_key=WEEK,
                run_config=pull_config(days=[d.isoformat() for d in DAYS]))
            assert result.success
            built[label] = resources, result
        yield root, built
    finally:
        fsspec.filesystem("memory").rm(bucket, recursive=True)


def test_the_tables_equal_those_of_the_plain_path_landing(landed):
    _, built = landed
    expected = tables(built["path"][0])
    for name in TABLES:
        days = {row[TABLES[name].column_names.index("report_date")] for row in expected[name]} \
            if "report_date" in TABLES[name].column_names else set(DAYS)
        assert days == set(DAYS), name  # every table has rows, on the days pulled
    for label in ("file_url", "memory"):
        assert tables(built[label][0]) == expected, label


def test_the_landing_files_are_the_same_bytes_in_every_location(landed):
    root, built = landed
    stores = {label: resources["settings"].landing() for label, (resources, _) in built.items()}
    expected = landed_bytes(stores["path"])
    assert len(expected) == len(STREAMS) * len(DAYS)
    for label in ("file_url", "memory"):
        assert landed_bytes(stores[label]) == expected, label
    # the file:// URL is the local folder it names; memory:// writes nothing locally
    assert stores["file_url"].local == root / "file_url" / "landing"
    assert stores["memory"].local is None
    assert not (root / "memory" / "landing").exists()
    assert str(stores["memory"]).startswith("memory:///landing-")


def test_a_pull_into_a_url_says_where_it_landed(landed):
    _, built = landed
    resources, result = built["memory"]
    meta = result.asset_materializations_for_node("raw__facebook")[0].metadata
    assert meta["landing_dir"].value == str(resources["settings"].landing())
    assert meta["files_pulled"].value == 2 * len(DAYS)  # facebook_page, facebook_posts
    assert meta["bytes_pulled"].value == sum(
        len(data) for name, data in landed_bytes(resources["settings"].landing()).items()
        if name.startswith("/facebook_"))


def test_a_re_pull_into_memory_leaves_one_file_of_the_same_bytes(landed):
    _, built = landed
    resources, _ = built["memory"]
    store = resources["settings"].landing()
    path = landing_path(store, STREAM, DAY)
    before = store.read(path)
    folder = str(path).rsplit("/", 1)[0]
    listed = sorted(store.fs.ls(folder, detail=False))
    assert dg.materialize(raw_assets, resources=resources, partition_key=WEEK,
                          selection=dg.AssetSelection.assets(["raw", "facebook"]),
                          run_config={"ops": {"raw__facebook": {"config": {
                              "days": [DAY.isoformat()]}}}}).success
    assert store.read(path) == before  # the same pull, the same bytes, one file
    assert sorted(store.fs.ls(folder, detail=False)) == listed
    assert store.landed_days(STREAM) == set(DAYS)


def test_an_unreadable_file_in_memory_is_named_by_its_url(landed, tmp_path):
    """A copy of the memory landing with one file cut short: the normalization fails
    naming that file's URL, and the table is not written."""
    _, built = landed
    source = built["memory"][0]["settings"].landing()
    fs = source.fs
    bucket = f"/broken-{tmp_path.name}"
    fs.copy(str(source).removeprefix("memory://"), bucket, recursive=True)
    try:
        copy = resources_at(tmp_path, f"memory://{bucket}")
        store = copy["settings"].landing()
        path = landing_path(store, STREAM, DAY)
        store.write(path, store.read(path)[:40])
        result = dg.materialize(normalized_assets, resources=copy, partition_key=WEEK,
                                selection=dg.AssetSelection.assets(["normalized", "post_daily"]),
                                raise_on_error=False)
    finally:
        fs.rm(bucket, recursive=True)
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"landing file {path} is unreadable" in message
    assert path.startswith("memory:///broken-")
    assert gzip.decompress(source.read(landing_path(source, STREAM, DAY)))  # the original


def test_freshness_and_the_summary_read_a_url_landing(landed):
    _, built = landed
    resources, _ = built["memory"]
    store = resources["settings"].landing()
    result = dg.materialize(
        [*raw_assets, source_freshness_checks],
        selection=dg.AssetSelection.checks(source_freshness_checks),
        resources={"settings": resources["settings"], "platforms": resources["platforms"]},
        run_config={"ops": {"source_freshness_checks": {"config": {
            "today": str(DAYS[-1] + timedelta(days=1))}}}})
    evaluations = {e.asset_key.path[1]: e for e in result.get_asset_check_evaluations()}
    assert evaluations["facebook"].passed
    assert {v["latest_landing_day"] for v in evaluations["facebook"].metadata[
        "streams"].value.values()} == {str(DAYS[-1])}
    text = summary(resources["warehouse"], resources["settings"])
    size = sum(size for _, size in store.files()) / 1e6
    assert f"Landing folder: {store} ({len(STREAMS) * len(DAYS)} files, {size:.1f} MB)" in text
