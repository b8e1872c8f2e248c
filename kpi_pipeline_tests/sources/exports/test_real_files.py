"""The two real UCI files through the export reader and the asset, into a real DuckDB file.

Expected values are read off the raw lines by hand (quoted in each test) or summed from
the raw file with the csv module, independently of the code under test.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.exports import exports
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import replace_kpis
from kpi_pipeline.lib.normalized.store import refresh_post_increments
from kpi_pipeline.lib.sources.exports import facebook
from kpi_pipeline_tests.conftest import SHARED_DATA
from kpi_pipeline_tests.sources.exports.conftest import query

UCI = "uci-facebook-metrics/dataset_Facebook.csv"
LIVE = "uci-facebook-live-sellers/Live_20210128.csv"
MANIFEST = """\
files:
  - match: dataset_Facebook.csv
    brand: uci-cosmetics
    account_id: uci-cosmetics-page
    timezone: Europe/Lisbon
    year: 2014
    as_of: 2014-12-31
  - match: Live_*.csv
    brand: uci-live
    account_id: uci-thai-sellers
    timezone: Asia/Bangkok
    as_of: 2018-06-30
"""


@pytest.fixture(scope="module")
def real_drop(tmp_path_factory) -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (present in CI beside the "
                    "clone)")
    drop = tmp_path_factory.mktemp("real") / "exports"
    drop.mkdir()
    shutil.copy(SHARED_DATA / UCI, drop)
    shutil.copy(SHARED_DATA / LIVE, drop)
    (drop / "exports.yaml").write_text(MANIFEST)
    return drop


@pytest.fixture(scope="module")
def loaded(real_drop):
    """Both files loaded once by the asset into a real DuckDB file."""
    warehouse = Warehouse(database=str(real_drop.parent / "warehouse.duckdb"))
    with dg.build_asset_context() as context:
        result = exports(context=context, warehouse=warehouse,
                         settings=Settings(exports_dir=str(real_drop)))
    return result, warehouse


def meta(result, key: str):
    value = result.metadata[key]
    return getattr(value, "value", value)


def raw_rows(path: Path, delimiter: str) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    return rows[0], rows[1:]


def post(warehouse, post_id: str, account: str) -> dict:
    cols = ("report_date", "published_at", "media_type", "impressions", "reach", "likes",
            "comments", "shares", "views", "caption", "source_stream", "api_version")
    row = query(warehouse, f"SELECT {', '.join(cols)} FROM normalized.post_daily "
                           "WHERE account_id = ? AND post_id = ?", [account, post_id])
    assert len(row) == 1, post_id
    return dict(zip(cols, row[0], strict=True))


# ------------------------------------------------------------------------------ UCI
def test_uci_weekday_one_is_sunday_the_only_encoding_that_walks_the_whole_file(shared_data):
    header, rows = raw_rows(shared_data / UCI, ";")
    month, weekday, hour = (header.index(c) for c in ("Post Month", "Post Weekday",
                                                       "Post Hour"))
    failures = {}
    for code_one in range(7):  # Python weekday of code 1: 0 = Monday ... 6 = Sunday
        previous, failed = datetime(2014, 12, 31, 23, 59, 59), 0
        for row in rows:
            moment = facebook.walk_back(previous, 2014, int(row[month]),
                                        (int(row[weekday]) - 1 + code_one) % 7, int(row[hour]))
            if moment is None:
                failed += 1
            else:
                previous = moment
        failures[code_one] = failed
    assert failures[6] == 0  # 1 = Sunday
    assert all(n > 0 for day, n in failures.items() if day != 6), failures
    assert facebook.uci_weekday(1) == 6 and facebook.uci_weekday(2) == 0


def test_uci_posts_land_with_hand_checked_dates_values_and_nulls(loaded):
    _, warehouse = loaded
    account = "uci-cosmetics-page"
    assert query(warehouse, "SELECT count(*) FROM normalized.post_daily WHERE account_id = ?",
                 [account]) == [(500,)]
    # line 2: 139441;Photo;2;12;4;3;0;2752;5091;...;4;79;17;100 -> weekday 4 = Wednesday,
    # the newest post: Wed 31 Dec 2014 03:00 in Lisbon (UTC+0 in winter).
    first = post(warehouse, "uci-2", account)
    assert first["published_at"] == datetime(2014, 12, 31, 3, 0)
    assert (first["media_type"], first["reach"], first["impressions"], first["likes"],
            first["comments"], first["shares"]) == ("photo", 2752, 5091, 79, 4, 17)
    assert first["report_date"] == date(2014, 12, 31)  # the manifest's as_of
    assert first["views"] is None and first["caption"] is None
    assert first["source_stream"] == "export:uci_facebook_insights"
    assert first["api_version"] == "export:dataset_Facebook.csv"
    # line 3: Status;...;12;3;10 -> Tuesday 10:00, the latest before Wed 31 Dec 03:00.
    assert post(warehouse, "uci-3", account)["published_at"] == datetime(2014, 12, 30, 10)
    assert post(warehouse, "uci-3", account)["media_type"] == "text"
    # lines 5 and 6: Monday 10:00 then Monday 03:00 -> 29 Dec.
    assert post(warehouse, "uci-5", account)["published_at"] == datetime(2014, 12, 29, 10)
    assert post(warehouse, "uci-6", account)["published_at"] == datetime(2014, 12, 29, 3)
    # line 200: ...;8;4;9 -> Wed 27 Aug 09:00 Lisbon = 08:00 UTC (summer time);
    # line 201: ...;8;4;10 -> a Wednesday at 10:00 cannot follow 09:00 on the 27th in
    # descending order: Wed 20 Aug 10:00 (09:00 UTC).
    assert post(warehouse, "uci-200", account)["published_at"] == datetime(2014, 8, 27, 8)
    assert post(warehouse, "uci-201", account)["published_at"] == datetime(2014, 8, 20, 9)
    # line 501, the oldest: 81370;Photo;2;1;4;4;;4188;7292;... -> Wed 15 Jan 2014 04:00.
    last = post(warehouse, "uci-501", account)
    assert last["published_at"] == datetime(2014, 1, 15, 4)
    assert (last["reach"], last["impressions"]) == (4188, 7292)
    # line 113: 136736;Photo;1;10;6;8;0;1261;2158;...;0;;;0 -> like and share empty: NULL.
    gap = post(warehouse, "uci-113", account)
    assert gap["likes"] is None and gap["shares"] is None and gap["comments"] == 0
    assert query(warehouse, "SELECT count(*) FILTER (likes IS NULL), count(*) FILTER "
                            "(shares IS NULL) FROM normalized.post_daily WHERE account_id = ?",
                 [account]) == [(1, 4)]


def test_uci_reach_above_impressions_is_kept_and_reported(loaded):
    result, warehouse = loaded
    quirks = meta(result, "quirks")["dataset_Facebook.csv"]
    assert quirks["reach_exceeds_impressions_lines"] == [478, 479, 484, 494]
    assert quirks["empty_cells_kept_null"] == 6
    assert "line 501 'Paid'" in quirks["empty_cells"]
    # line 478: ...;37088;10966;... reach 37088 > impressions 10966, stored as reported.
    row = post(warehouse, "uci-478", "uci-cosmetics-page")
    assert (row["reach"], row["impressions"]) == (37088, 10966)
    warnings = meta(result, "warnings")["dataset_Facebook.csv"]
    assert any("more reach than impressions" in w and "478" in w for w in warnings)


def test_uci_sql_totals_equal_sums_of_the_raw_file(loaded, shared_data):
    _, warehouse = loaded
    header, rows = raw_rows(shared_data / UCI, ";")
    expected = {}
    for column, source in (("impressions", "Lifetime Post Total Impressions"),
                           ("reach", "Lifetime Post Total Reach"), ("likes", "like"),
                           ("comments", "comment"), ("shares", "share")):
        index = header.index(source)
        expected[column] = sum(int(r[index]) for r in rows if r[index] != "")
    got = query(warehouse, "SELECT sum(impressions), sum(reach), sum(likes), sum(comments), "
                           "sum(shares) FROM normalized.post_daily WHERE account_id = ?",
                ["uci-cosmetics-page"])[0]
    assert dict(zip(expected, got, strict=True)) == expected


def test_uci_posts_are_rated_over_their_impressions(loaded, shared_data, tmp_path):
    """The UCI Page export has impressions and no views (it predates Meta's switch): its
    engagement and share rates are rated over impressions instead of being NULL. The
    expected sums come from the raw file (the 500 posts' snapshots all lie on the
    manifest's as_of, Wednesday 31 December 2014; empty cells count as none).

    Every post of the file was published before the export, so under the first-seen rule
    its single snapshot adds no activity; here, in a copy of the store, each is dated as
    published on the as_of day, so that its whole lifetime is that day's activity and the
    rates have something to rate."""
    _, loaded_warehouse = loaded
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(loaded_warehouse.path(), copy)
    warehouse = Warehouse(database=str(copy))
    with warehouse.get_connection() as conn:
        conn.execute("UPDATE normalized.post_daily SET published_at = report_date "
                     "WHERE account_id = 'uci-cosmetics-page'")
        refresh_post_increments(conn, date(2014, 12, 31), date(2014, 12, 31))
    header, rows = raw_rows(shared_data / UCI, ";")

    def total(column: str) -> int:
        index = header.index(column)
        return sum(int(r[index]) for r in rows if r[index] != "")

    impressions = total("Lifetime Post Total Impressions")
    interactions = total("like") + total("comment") + total("share")
    with warehouse.get_connection() as conn:
        replace_kpis(conn, "week", date(2014, 12, 29), date(2015, 1, 4),
                     {k: catalog()[k] for k in ("engagement_rate", "share_rate")})
        got = {kpi: (numerator, denominator, value, definition) for kpi, numerator,
               denominator, value, definition in conn.execute(
                   "SELECT kpi, numerator, denominator, value, definition FROM kpi.weekly "
                   "WHERE scope_key = 'facebook/uci-cosmetics-page'").fetchall()}
    assert got["engagement_rate"][:3] == (interactions, impressions,
                                          pytest.approx(interactions / impressions))
    assert got["share_rate"][:3] == (total("share"), impressions,
                                     pytest.approx(total("share") / impressions))
    assert "impressions where a row has no views" in got["engagement_rate"][3]


# ----------------------------------------------------------------------- Live sellers
def test_live_sellers_drop_the_54_repeated_rows_and_keep_the_first(loaded, shared_data):
    result, warehouse = loaded
    account = "uci-thai-sellers"
    assert query(warehouse, "SELECT count(*) FROM normalized.post_daily WHERE account_id = ?",
                 [account]) == [(7050 - 54,)]
    assert meta(result, "duplicates_dropped") == 54
    # lines 3740 and 3741: "3739,photo,7/17/2017 7:11,0,..." and "3740,photo,7/17/2017
    # 7:11,0,...": the second is dropped.
    ids = {r[0] for r in query(warehouse, "SELECT post_id FROM normalized.post_daily WHERE "
                                          "account_id = ?", [account])}
    assert "3739" in ids and "3740" not in ids
    # An independent dedup with the csv module: first of each (all columns but status_id).
    _, rows = raw_rows(shared_data / LIVE, ",")
    kept, seen = [], set()
    for row in rows:
        if tuple(row[1:]) not in seen:
            seen.add(tuple(row[1:]))
            kept.append(row)
    assert ids == {r[0] for r in kept}
    got = query(warehouse, "SELECT sum(likes), sum(comments), sum(shares) FROM "
                           "normalized.post_daily WHERE account_id = ?", [account])[0]
    assert got == (sum(int(r[6]) for r in kept), sum(int(r[4]) for r in kept),
                   sum(int(r[5]) for r in kept))


def test_live_sellers_read_both_date_forms_month_first(loaded):
    _, warehouse = loaded
    account = "uci-thai-sellers"
    # line 2: "1,video,4/22/2018 6:00,529,512,262,432,92,3,1,1,0" (Bangkok, UTC+7).
    first = post(warehouse, "1", account)
    assert first["published_at"] == datetime(2018, 4, 21, 23, 0)
    assert (first["media_type"], first["likes"], first["comments"], first["shares"]) == (
        "video", 432, 512, 262)  # likes = num_likes (432), not num_reactions (529)
    assert first["report_date"] == date(2018, 6, 30)
    # line 11: "10,photo,04-11-2018 04:53,..." between 4/17/2018 (line 10) and 04-10-2018
    # (line 12): 11 April, not 4 November.
    assert post(warehouse, "10", account)["published_at"] == datetime(2018, 4, 10, 21, 53)
    assert post(warehouse, "9", account)["published_at"] == datetime(2018, 4, 16, 20, 33)


def test_live_sellers_reactions_mismatch_is_kept_and_reported(loaded):
    result, warehouse = loaded
    quirks = meta(result, "quirks")["Live_20210128.csv"]
    assert quirks["reactions_mismatch_lines"] == [240, 249, 250, 253, 255, 256, 258, 259, 295]
    # line 240: "239,video,6/25/2017 7:42,885,462,26,659,220,0,2,0,0": 885 != 881, kept.
    assert post(warehouse, "239", "uci-thai-sellers")["likes"] == 659


def test_the_metadata_says_what_was_read(loaded):
    result, _ = loaded
    assert meta(result, "rows_by_table") == {"post_daily": 500 + 7050 - 54,
                                            "account_daily": 0, "web_daily": 0}
    assert meta(result, "formats_recognised") == {
        "dataset_Facebook.csv": "uci_facebook_insights",
        "Live_20210128.csv": "facebook_live_sellers"}
    assert "| dataset_Facebook.csv | uci_facebook_insights | facebook   | post_daily |    500 " \
           "| utf-8      | semicolon   |" in meta(result, "files")
