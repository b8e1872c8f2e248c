"""The GA4 BigQuery export reader and the web_events / web_sessions tables.

The fixture is written in the layout of Google's published export schema as a BigQuery
JSON extract writes it: INTEGER columns as strings, NULL fields left out, records the
pipeline does not read (device, geo, items, privacy_info ...) present. A malformed file
must be refused with its file, line, field and rule named, and leave the tables as they
were.
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import duckdb
import fsspec
import pytest

from kpi_pipeline.lib.normalized.web_events import replace_web_window
from kpi_pipeline.lib.sources.exports.ga4_events import (
    Ga4ExportError,
    export_files,
    export_folder_exists,
)

DAY = date(2025, 3, 20)
# 2025-03-20 10:00:00 UTC = 03:00 in Los Angeles, the property's day
T0 = 1742464800


def _event(name: str, ts: int, session: int, *, user: str = "1197712011.1742464800",
           source: str | None = "ig", medium: str | None = "social",
           campaign: str | None = "bio_link", ecommerce: dict | None = None) -> dict:
    """One record as BigQuery's JSON extract writes it."""
    record: dict = {
        "event_date": "20250320",
        "event_timestamp": str(ts * 1_000_000),
        "event_name": name,
        "event_params": [
            {"key": "ga_session_id", "value": {"int_value": str(session)}},
            {"key": "ga_session_number", "value": {"int_value": "1"}},
            {"key": "page_location", "value": {"string_value": "https://shop.example/?a=<b>"}},
            {"key": "engaged_session_event", "value": {"int_value": "1"}},
        ],
        "event_previous_timestamp": None,
        "event_bundle_sequence_id": "1",
        "user_pseudo_id": user,
        "privacy_info": {"analytics_storage": "Yes", "ads_storage": "No"},
        "user_first_touch_timestamp": str(T0 * 1_000_000),
        "device": {"category": "mobile", "operating_system": "iOS",
                   "web_info": {"browser": "Safari", "hostname": "shop.example"}},
        "geo": {"country": "United States", "city": "Portland"},
        "traffic_source": {"name": "bio_link", "medium": "social", "source": "ig"},
        "stream_id": "1234567890",
        "platform": "WEB",
        "items": [],
        "is_active_user": True,
    }
    if source is not None:
        record["collected_traffic_source"] = {"manual_source": source,
                                              "manual_medium": medium,
                                              "manual_campaign_name": campaign}
        record["session_traffic_source_last_click"] = {"manual_campaign": {
            "source": source, "medium": medium, "campaign_name": campaign,
            "campaign_id": "(not set)"}}
    if ecommerce is not None:
        record["ecommerce"] = ecommerce
    return record


def good_records() -> list[dict]:
    first = T0 + 60
    later = T0 + 3600
    return [
        _event("first_visit", first, first),
        _event("session_start", first, first),
        _event("page_view", first + 1, first),
        _event("session_start", later, later, source=None),  # a direct session
        _event("page_view", later + 2, later, source=None),
        _event("purchase", later + 300, later, source=None,
               ecommerce={"total_item_quantity": "2", "purchase_revenue_in_usd": 64.5,
                          "purchase_revenue": 64.5, "unique_items": "1",
                          "transaction_id": "T-1001"}),
    ]


def _write(folder: Path, records: list[dict] | list[str], name: str = "events_20250320",
           gz: bool = True) -> Path:
    dataset = folder / "analytics_3107919"
    dataset.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    text = "\n".join(lines) + "\n"
    path = dataset / (f"{name}.json.gz" if gz else f"{name}.json")
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The good file read into an in-memory store once for the module."""
    folder = tmp_path_factory.mktemp("ga4_export")
    _write(folder, good_records())
    (folder / "analytics_3107919" / "events_intraday_20250320.json").write_text("{}\n")
    (folder / "notes.txt").write_text("not an export")
    conn = duckdb.connect()
    files = export_files(folder)
    counts = replace_web_window(conn, files, DAY, DAY)
    yield conn, counts, files
    conn.close()


def test_files_found_by_layout(loaded):
    _, _, files = loaded
    assert [(f.name, f.property_id, f.day, f.file_format) for f in files] == [
        ("events_20250320.json.gz", "3107919", DAY, "json")]


def test_events_and_sessions(loaded):
    conn, counts, _ = loaded
    assert counts == {"web_events": 6, "web_sessions": 2}
    sessions = conn.execute(
        "SELECT ga_session_id, session_date, source, medium, campaign, channel, platform, "
        "is_social, is_paid, events, conversions, revenue FROM normalized.web_sessions "
        "ORDER BY session_start").fetchall()
    assert sessions == [
        (T0 + 60, DAY, "ig", "social", "bio_link", "organic_social", "instagram", True,
         False, 3, 0, 0.0),
        (T0 + 3600, DAY, "(direct)", "(none)", "(direct)", "direct", None, False, False,
         3, 1, 64.5),
    ]
    purchase = conn.execute(
        "SELECT event_ts, conversion_type, revenue, transaction_id, first_source, "
        "source_record FROM normalized.web_events WHERE event_name = 'purchase'"
    ).fetchall()
    assert purchase == [(duckdb.sql(f"SELECT make_timestamp({(T0 + 3900) * 10**6})")
                         .fetchall()[0][0], "purchase", 64.5, "T-1001", "ig", 6)]


def test_parquet_reads_the_same(tmp_path, loaded):
    conn, _, files = loaded
    dataset = tmp_path / "analytics_3107919"
    dataset.mkdir()
    target = (dataset / "events_20250320.parquet").as_posix()
    source = files[0].path
    duckdb.execute(f"COPY (SELECT * FROM read_json('{source}')) TO '{target}' "
                   "(FORMAT parquet)")
    other = duckdb.connect()
    replace_web_window(other, export_files(tmp_path), DAY, DAY)
    query = ("SELECT * EXCLUDE (source_file) FROM normalized.web_events "
             "ORDER BY source_record")
    assert other.execute(query).fetchall() == conn.execute(query).fetchall()


@pytest.mark.parametrize(("line", "field", "rule"), [
    (2, "event_timestamp", "an integer of microseconds"),
    (3, "event_params.ga_session_id", "required, an integer"),
    (4, "event_date", "must be the day of its file"),
    (7, "ecommerce.purchase_revenue", "a number, not negative"),
    (6, "user_pseudo_id", "required, not empty"),
])
def test_bad_records_are_named(tmp_path, line, field, rule):
    records = good_records()
    records[1]["event_timestamp"] = "17424648O0000000"  # a letter O
    records[2]["event_params"] = [p for p in records[2]["event_params"]
                                  if p["key"] != "ga_session_id"]
    records[3]["event_date"] = "20250321"
    records[5]["ecommerce"]["purchase_revenue"] = -3
    extra = dict(records[4], user_pseudo_id="")
    path = _write(tmp_path, [*records[:5], extra, records[5]], gz=False)
    with pytest.raises(Ga4ExportError) as caught:
        replace_web_window(duckdb.connect(), export_files(tmp_path), DAY, DAY)
    problems = [p for p in caught.value.problems if f"field {field}" in p]
    assert problems, caught.value.problems
    assert problems[0].startswith(f"{path}, line {line}, field {field}")
    assert rule in problems[0]


def test_malformed_json_names_file_and_line_and_changes_nothing(tmp_path, loaded):
    conn, counts, _ = loaded
    lines = [json.dumps(r) for r in good_records()]
    lines[3] = lines[3][:40]  # a truncated record
    path = _write(tmp_path, lines)
    before = conn.execute("SELECT * FROM normalized.web_events ORDER BY ALL").fetchall()
    with pytest.raises(Ga4ExportError, match=r"line 4, field \(record\): not valid JSON") as e:
        replace_web_window(conn, export_files(tmp_path), DAY, DAY)
    assert str(path) in str(e.value)
    assert conn.execute("SELECT * FROM normalized.web_events ORDER BY ALL").fetchall() == before
    assert conn.execute("SELECT count(*) FROM normalized.web_sessions").fetchall()[0][0] == \
        counts["web_sessions"]


def test_a_file_name_that_is_not_a_date_is_refused(tmp_path):
    _write(tmp_path, good_records(), name="events_20250230")
    with pytest.raises(Ga4ExportError, match=r"events_20250230\.json\.gz: the file name.s day"):
        export_files(tmp_path)


@pytest.fixture
def memory_export(tmp_path):
    """The good file (and files that must not be read) in fsspec's in-memory filesystem,
    as an export folder in a bucket would hold them; removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/ga4-{tmp_path.name}"
    local = _write(tmp_path, good_records())
    fs.pipe(f"{root}/analytics_3107919/{local.name}", local.read_bytes())
    fs.pipe(f"{root}/analytics_3107919/events_intraday_20250320.json", b"{}\n")
    fs.pipe(f"{root}/notes.txt", b"not an export")
    yield f"memory://{root}", fs, root
    fs.rm(root, recursive=True)


def test_an_fsspec_url_reads_like_a_folder(memory_export, loaded):
    url, _, root = memory_export
    conn, counts, _ = loaded
    files = export_files(url)
    assert [(f.path, f.property_id, f.day) for f in files] == [
        (f"memory://{root}/analytics_3107919/events_20250320.json.gz", "3107919", DAY)]
    assert export_folder_exists(url) and not export_folder_exists(f"{url}-mistyped")
    other = duckdb.connect()
    assert replace_web_window(other, files, DAY, DAY) == counts
    for query in ("SELECT * FROM normalized.web_sessions ORDER BY ALL",
                  "SELECT * EXCLUDE (source_file) FROM normalized.web_events ORDER BY ALL"):
        assert other.execute(query).fetchall() == conn.execute(query).fetchall()
    assert other.execute("SELECT DISTINCT source_file FROM normalized.web_events"
                         ).fetchall() == [(files[0].path,)]


def test_a_file_url_is_the_local_folder(tmp_path):
    _write(tmp_path, good_records())
    assert export_files(tmp_path.as_uri()) == export_files(tmp_path)
    assert export_files(str(tmp_path))[0].path == str(
        tmp_path / "analytics_3107919" / "events_20250320.json.gz")


def test_a_malformed_record_over_fsspec_is_named(memory_export):
    url, fs, root = memory_export
    lines = [json.dumps(r) for r in good_records()]
    lines[3] = lines[3][:40]
    fs.pipe(f"{root}/analytics_3107919/events_20250320.json.gz",
            gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(Ga4ExportError, match=r"line 4, field \(record\): not valid JSON") as e:
        replace_web_window(duckdb.connect(), export_files(url), DAY, DAY)
    assert f"memory://{root}/analytics_3107919/events_20250320.json.gz" in str(e.value)
