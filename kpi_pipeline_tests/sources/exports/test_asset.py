"""normalized/exports: bad files fail naming file, line and column with the store unchanged;
the folder is the source of truth for export rows and never touches the API streams' rows,
and the daily assets never delete export rows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from kpi_pipeline.defs.exports import exports
from kpi_pipeline.defs.kpis.assets import kpi_monthly
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.core.schemas import POST_DAILY, coerce_frame, pandera_schema
from kpi_pipeline.lib.normalized.store import replace_window
from kpi_pipeline.lib.sources.exports.folder import describe, read_folder
from kpi_pipeline_tests.sources.exports import samples
from kpi_pipeline_tests.sources.exports.conftest import query, stock_template, store_hashes

API_POST = {"report_date": "2025-03-31", "platform": "facebook",
            "account_id": "104920372957382", "brand": "acme", "post_id": "api-post-1",
            "published_at": "2025-03-30T10:00:00Z", "media_type": "photo", "caption": "hi",
            "likes": 3, "source_stream": "facebook_posts", "api_version": "v24.0",
            "pulled_at": "2025-04-01T06:00:00Z"}


def api_rows(**change) -> pd.DataFrame:
    return coerce_frame(POST_DAILY, pd.DataFrame([{**API_POST, **change}]))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Built once: a store holding one API post and the rows of two good export files."""
    return stock_template(tmp_path_factory.mktemp("stocked"), lambda conn: replace_window(
        conn, POST_DAILY, api_rows(), date(2025, 3, 31), date(2025, 3, 31)))


@pytest.fixture
def stocked(template, drop, warehouse):
    """A copy of the template's store and drop folder for one test."""
    shutil.copy(template / "warehouse.duckdb", warehouse.path())
    for path in (template / "exports").iterdir():
        shutil.copy(path, drop / path.name)
    return warehouse


def counts(warehouse) -> dict[str, int]:
    return dict(query(warehouse, "SELECT source_stream, count(*) FROM normalized.post_daily "
                                 "GROUP BY 1 UNION ALL SELECT source_stream, count(*) FROM "
                                 "normalized.account_daily GROUP BY 1"))


FB_HEADER = samples.META_FACEBOOK.splitlines()[0]
FB_ROW = ("104920372957382_9,104920372957382,Acme,T,D,,03/14/2025 09:30,,https://x,No,No,"
          "{type},,,,,Lifetime,10,8,3,{reactions},1,0,0,0,0,,\n")


def fb(reactions: str = "2", type_: str = "Photos", post_id: str = "104920372957382_9",
       published: str = "03/14/2025 09:30") -> str:
    row = FB_ROW.format(reactions=reactions, type=type_).replace("104920372957382_9",
                                                                 post_id, 1)
    return FB_HEADER + "\n" + row.replace("03/14/2025 09:30", published)


CASES = {
    "unknown columns": (
        "mystery.csv", "Date,Foo,Bar\n2025-03-01,1,2\n",
        ["mystery.csv, line 1: unknown format", "(28 bytes, 3 column(s), comma-separated",
         "meta_facebook_posts (facebook -> post_daily) lacks Post ID, Page ID"]),
    "ambiguous columns": (
        "both.csv", "Post ID,Page ID,Account ID,Account username,Publish time,Permalink,"
        "Post type\n1,2,3,x,03/01/2025 10:00,p,Photos\n",
        ["both.csv, line 1: ambiguous", "meta_facebook_posts", "meta_instagram_posts"]),
    "non-UTF-8 bytes": (
        "fb_latin1.csv", fb().replace("T,D", "T,Caf\u00e9").encode("latin-1"),
        ["fb_latin1.csv, line 2: is not valid UTF-8: byte 0xE9 at offset"]),
    "data delimiter differs from the header's": (
        "linkedin_semicolons.csv",
        samples.LINKEDIN_FOLLOWERS.splitlines()[0] + "\n03/12/2025;0;7;1;8\n",
        ["linkedin_semicolons.csv, line 2, column 'Sponsored followers': has 1 cell(s) but "
         "the header has 5 (comma-separated"]),
    "a delimiter we do not read": (
        "pipes.csv", "Date|Video Views|Profile Views\n2025-03-01|1|2\n",
        ["pipes.csv, line 1: unknown format", "Only one column was found"]),
    "text in a number column": (
        "fb_text.csv", fb(reactions="lots"),
        ["fb_text.csv, line 2, column 'Reactions': value 'lots' is not a number"]),
    "a negative count": (
        "tiktok_neg.csv", samples.TIKTOK_VIDEOS.replace(",1200,", ",-5,"),
        ["tiktok_neg.csv, line 2, column 'Total likes': value '-5' is negative"]),
    "a bad date": (
        "fb_date.csv", fb(published="14/03/2025 09:30"),
        ["fb_date.csv, line 2, column 'Publish time': value '14/03/2025 09:30' is not a "
         "date in the expected form (MM/DD/YYYY HH:MM"]),
    "a value the manifest does not give": (
        "uci_small.csv",
        "Page total likes;Type;Category;Post Month;Post Weekday;Post Hour;Paid;"
        "Lifetime Post Total Reach;Lifetime Post Total Impressions;comment;like;share\n"
        "139441;Photo;2;12;4;3;0;2752;5091;4;79;17\n",
        ["uci_small.csv: needs 'year' (the file has month, weekday and hour but no year)",
         "Add `year:` for this file"]),
    "a post id a spreadsheet rounded": (
        "fb_excel.csv", fb(post_id="1.22158E+17"),
        ["fb_excel.csv, line 2, column 'Post ID': value '1.22158E+17' is a post id a "
         "spreadsheet rounded"]),
    "an unknown media type": (
        "fb_type.csv", fb(type_="Hologram"),
        ["fb_type.csv, line 2, column 'Post type': Post type 'Hologram' is not one"]),
    "a post published after as_of": (
        "fb_late.csv", fb(published="04/02/2025 10:00"),
        ["fb_late.csv, line 2, column 'Publish time': the post was published on 2025-04-02, "
         "after the export's as_of 2025-03-31"]),
    "two files disagreeing on a day": (
        "linkedin_followers_again.csv", samples.LINKEDIN_FOLLOWERS.replace(",8\n", ",9\n"),
        ["linkedin_followers_again.csv, line 2, column 'Total followers': "
         "account_daily.follower_gains = 9", "which says 8"]),
    "a key the API already stored": (
        "fb_api.csv", fb(post_id="api-post-1").replace("api-post-1", "104920372957382_77")
        .replace("03/14/2025", "03/30/2025"), None),
    "a workbook": (
        "linkedin.xlsx", b"PK\x03\x04\x14\x00\x06\x00",
        ["linkedin.xlsx: is a spreadsheet workbook (xlsx/xls), not a CSV file"]),
    "a second table in the file": (
        "tiktok_two.csv", samples.TIKTOK_OVERVIEW + "\nDate,Followers\nJanuary 2,3\n",
        ["tiktok_two.csv, line 6: more content after the blank line 5"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_file_fails_naming_file_line_and_column_and_changes_nothing(
        case, stocked, write, run):
    name, content, expected = CASES[case]
    if case == "a key the API already stored":
        # The API stored post api-post-1 of this Page on 2025-03-31: an export row with the
        # same key (same post, the same as_of day) cannot also be written.
        content = fb(post_id="104920372957382_77").replace("104920372957382_77", "1111", 1)
        with stocked.get_connection() as conn:
            replace_window(conn, POST_DAILY, api_rows(post_id="1111"), date(2025, 3, 31),
                           date(2025, 3, 31), sources=("facebook_posts",))
        expected = ["fb_api.csv, line 2: post_daily already holds (platform=facebook, "
                    "account_id=104920372957382, post_id=1111, report_date=2025-03-31",
                    "from the API stream 'facebook_posts'"]
    before = store_hashes(stocked)
    write(name, content)
    with pytest.raises(dg.Failure) as err:
        run()
    message = str(err.value.description)
    assert "nothing was written" in message, message
    for text in expected:
        assert text in message, f"{case}: {text!r} not in {message}"
    assert store_hashes(stocked) == before, case


def test_every_problem_of_every_file_is_listed_at_once(stocked, write, run):
    write("fb_text.csv", fb(reactions="lots"))
    write("mystery.csv", "Date,Foo\n2025-03-01,1\n")
    with pytest.raises(dg.Failure) as err:
        run()
    assert "2 problem(s) in 2 file(s)" in err.value.description


def test_a_bad_manifest_fails_and_changes_nothing(stocked, drop, run):
    before = store_hashes(stocked)
    (drop / "exports.yaml").write_text("defaults: {brand: acme, colour: red}\n")
    with pytest.raises(dg.Failure, match=r"exports.yaml: is not a valid manifest: "
                                         r"defaults.colour"):
        run()
    assert store_hashes(stocked) == before


def test_a_bom_is_accepted_and_gives_the_same_rows(drop, write, manifest, run, warehouse):
    manifest(**samples.MANIFEST)
    write("fb_posts.csv", samples.META_FACEBOOK)
    run()
    plain = query(warehouse, "SELECT * EXCLUDE (api_version, pulled_at) FROM "
                             "normalized.post_daily ORDER BY ALL")
    (drop / "fb_posts.csv").unlink()
    write("fb_posts_bom.csv", "\ufeff" + samples.META_FACEBOOK, newline="\r\n")
    run()
    assert query(warehouse, "SELECT * EXCLUDE (api_version, pulled_at) FROM "
                            "normalized.post_daily ORDER BY ALL") == plain


def test_the_folder_is_the_source_of_truth_and_api_rows_stay(stocked, drop, write, run):
    assert counts(stocked) == {"facebook_posts": 1, "export:meta_facebook_posts": 2,
                               "export:linkedin_followers": 2}
    (drop / "linkedin_followers.csv").unlink()
    write("tiktok_content.csv", samples.TIKTOK_VIDEOS)
    result = run()
    assert counts(stocked) == {"facebook_posts": 1, "export:meta_facebook_posts": 2,
                               "export:tiktok_videos": 1}
    assert result.metadata["rows_replaced"].value["account_daily"] == {"deleted": 2,
                                                                       "inserted": 0}
    again = run()  # idempotent
    assert counts(stocked) == {"facebook_posts": 1, "export:meta_facebook_posts": 2,
                               "export:tiktok_videos": 1}
    assert again.metadata["dagster/row_count"] == 3


def test_an_empty_folder_loads_nothing_and_an_absent_one_keeps_what_is_stored(
        stocked, drop, run, tmp_path):
    before = store_hashes(stocked)
    absent = run(folder=tmp_path / "no-such-folder")
    assert absent.metadata["decision"] == "no folder: nothing read, stored export rows kept"
    assert store_hashes(stocked) == before
    for path in drop.iterdir():
        path.unlink()
    empty = run()
    assert empty.metadata["dagster/row_count"] == 0
    assert "empty folder" in empty.metadata["decision"]
    assert counts(stocked) == {"facebook_posts": 1}


def test_files_not_read_are_listed_never_skipped_silently(drop, write, manifest, run):
    manifest(**{**samples.MANIFEST, "ignore": ["notes.txt"]})
    write("fb_posts.csv", samples.META_FACEBOOK)
    write("notes.txt", "call the agency\n")
    write(".DS_Store", b"\x00\x01")
    (drop / "archive").mkdir()
    result = run()
    assert result.metadata["skipped"].value == [
        {"file": ".DS_Store", "reason": "hidden file"},
        {"file": "archive", "reason": "folder: only the top level is read"},
        {"file": "notes.txt", "reason": "listed under ignore in exports.yaml"}]
    assert "tiktok_*.csv" in result.metadata["unused_manifest_entries"].value


def test_a_header_without_rows_loads_nothing_and_says_so(drop, write, manifest):
    manifest(**samples.MANIFEST)
    write("tiktok_overview.csv", samples.TIKTOK_OVERVIEW.splitlines()[0] + "\n")
    read = read_folder(drop)
    assert read.rows_by_table()["account_daily"] == 0
    assert read.files[0].warnings == ["the file has a header and no rows"]


def test_the_same_export_dropped_twice_is_merged_and_counted(drop, write, manifest):
    manifest(**samples.MANIFEST)
    write("fb_posts.csv", samples.META_FACEBOOK)
    write("fb_posts (1).csv", samples.META_FACEBOOK)
    read = read_folder(drop)
    assert len(read.frames["post_daily"]) == 2 and read.merged["post_daily"] == 2


def test_table_rule_failures_name_file_lines_and_column():
    frame = api_rows(likes=-4, source_stream="export:x")
    frame.index = pd.Index([12])
    schema = pandera_schema(POST_DAILY, date(1900, 1, 1), date(2200, 1, 1))
    with pytest.raises(Exception) as err:
        schema.validate(frame, lazy=True)
    errors = describe(POST_DAILY, "x.csv", frame, err.value.failure_cases, {"likes": "Likes"})
    assert [str(e) for e in errors] == [
        "x.csv, line 12, column 'Likes (-> post_daily.likes)': rule non-negative (the "
        "platform cannot report < 0) broken on 1 row(s) (lines 12; values -4)"]


def test_replace_window_with_sources_keeps_the_export_rows_of_the_day(stocked):
    streams = ("facebook_posts", "instagram_media", "linkedin_posts", "tiktok_videos")
    with stocked.get_connection() as conn:
        replace_window(conn, POST_DAILY, api_rows(post_id="api-post-2"), date(2025, 3, 31),
                       date(2025, 3, 31), sources=streams)
    assert counts(stocked)["export:meta_facebook_posts"] == 2  # dated 2025-03-31, kept
    assert query(stocked, "SELECT post_id FROM normalized.post_daily WHERE source_stream = "
                          "'facebook_posts'") == [("api-post-2",)]
    with stocked.get_connection() as conn:  # unscoped (the default): every row of the day
        replace_window(conn, POST_DAILY, api_rows(post_id="api-post-3"), date(2025, 3, 31),
                       date(2025, 3, 31))
    assert counts(stocked) == {"facebook_posts": 1, "export:linkedin_followers": 2}


def test_a_lifetime_export_dated_after_it_was_written_is_refused(stocked, drop, write, run):
    """as_of 2100-01-01 for a file written today: a snapshot of a day that has not come
    would outrank every real snapshot of its posts."""
    manifest = yaml.safe_load((drop / "exports.yaml").read_text())
    manifest["files"] = [*manifest.get("files", []),
                         {"match": "fb_future.csv", "as_of": "2100-01-01"}]
    (drop / "exports.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    write("fb_future.csv", fb())
    before = store_hashes(stocked)
    with pytest.raises(dg.Failure) as err:
        run()
    message = str(err.value.description)
    written = date.today().isoformat()
    assert (f"fb_future.csv: as_of 2100-01-01 (exports.yaml) is after {written}, the day "
            "the file was written") in message, message
    assert store_hashes(stocked) == before


def test_a_line_repeated_in_an_export_without_post_ids_is_refused(stocked, drop, write, run):
    """The UCI format has no post id: a repeated line would be stored as a second post and
    counted twice."""
    manifest = yaml.safe_load((drop / "exports.yaml").read_text())
    manifest["files"] = [*manifest.get("files", []), {"match": "uci_dup.csv", "year": 2014}]
    (drop / "exports.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    header = ("Page total likes;Type;Category;Post Month;Post Weekday;Post Hour;Paid;"
              "Lifetime Post Total Reach;Lifetime Post Total Impressions;comment;like;share\n")
    line = "139441;Photo;2;12;4;3;0;2752;5091;4;79;17\n"
    write("uci_dup.csv", header + line + "139441;Status;2;12;4;3;0;100;200;1;2;3\n" + line)
    before = store_hashes(stocked)
    with pytest.raises(dg.Failure) as err:
        run()
    message = str(err.value.description)
    assert "uci_dup.csv, line 4: repeats line 2 in every column" in message, message
    assert store_hashes(stocked) == before


def test_one_run_of_the_exports_and_the_kpis_loads_the_files_first(tmp_path):
    """The KPI assets depend on the drop folder's asset: a run selecting both loads the
    export files, then computes the month from them (before, the KPIs ran first on empty
    tables). The first post is published on the export's as_of day here, so its lifetime is
    that day's activity; the second, published earlier, counts 0 there (first-seen rule)."""

    drop = tmp_path / "exports"
    drop.mkdir()
    (drop / "exports.yaml").write_text(yaml.safe_dump(samples.MANIFEST, sort_keys=False))
    (drop / "fb_posts.csv").write_text(
        samples.META_FACEBOOK.replace("03/14/2025 09:30", "03/31/2025 09:30"))
    warehouse = Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    result = dg.materialize([exports, kpi_monthly], partition_key="2025-03-01", resources={
        "warehouse": warehouse, "settings": Settings(exports_dir=str(drop))})
    assert result.success
    started = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert started.index("normalized__exports") < started.index("kpi__monthly")
    (likes,) = query(warehouse, "SELECT sum(likes_delta) FROM normalized.post_daily "
                                "WHERE platform = 'facebook'")[0]
    assert likes == 40  # the first post's reactions
    assert query(warehouse, "SELECT value FROM kpi.monthly WHERE kpi = 'likes' "
                                      "AND scope = 'platform' AND scope_key = 'facebook' "
                                      "AND period_start = DATE '2025-03-01'") == [(likes,)]


def test_rows_before_the_project_start_are_named_with_the_setting_to_change(
        stocked, drop, write, run):
    """A 2014 export loads (its rows are stored), and the materialization says how many
    rows no partition can compute and which setting opens their periods."""
    manifest = yaml.safe_load((drop / "exports.yaml").read_text())
    manifest["files"] = [*manifest.get("files", []), {
        "match": "uci_2014.csv", "brand": "uci-cosmetics", "account_id": "uci-page",
        "timezone": "Europe/Lisbon", "year": 2014, "as_of": "2014-12-31"}]
    (drop / "exports.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    header = ("Page total likes;Type;Category;Post Month;Post Weekday;Post Hour;Paid;"
              "Lifetime Post Total Reach;Lifetime Post Total Impressions;comment;like;share\n")
    write("uci_2014.csv", header + "139441;Photo;2;12;4;3;0;2752;5091;4;79;17\n"
          "139441;Status;2;11;4;3;0;100;200;1;2;3\n")
    result = run()
    early = result.metadata["rows_before_start"].value
    assert list(early) == ["post_daily"]
    assert early["post_daily"]["rows"] == 2
    assert early["post_daily"]["earliest"] == "2014-12-31"  # a lifetime file: its as_of
    [(stored,)] = query(stocked, "SELECT count(*) FROM normalized.post_daily "
                                 "WHERE report_date < DATE '2024-01-01'")
    assert stored == 2


def test_the_start_date_setting_moves_every_grain_s_first_partition(monkeypatch):
    from kpi_pipeline.defs.partitions import project_start

    assert project_start("2014-01-01") == date(2014, 1, 1)
    for bad, says in (("2014-13-01", "expected a date YYYY-MM-DD"),
                      ("1999-12-31", "expected a day from 2000-01-01 to today"),
                      ("2999-01-01", "expected a day from 2000-01-01 to today")):
        with pytest.raises(ValueError, match=says) as err:
            project_start(bad)
        assert "KPI_PIPELINE_START_DATE" in str(err.value)
    code = ("from kpi_pipeline.defs import partitions as p; print(p.daily_partitions."
            "get_first_partition_key(), p.ingest_weeks.get_first_partition_key(), "
            "p.monthly_partitions.get_first_partition_key(), "
            "p.quarterly_partitions.get_first_partition_key())")
    env = {**os.environ, "KPI_PIPELINE_START_DATE": "2014-02-12"}  # a Wednesday
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["2014-02-12", "2014-02-10", "2014-02-01", "2014-01-01"]
