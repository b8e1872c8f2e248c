"""Quarantine on the real chain: rows breaking a row rule go to quality.quarantine in the
transaction that replaces the window, the table keeps exactly the good rows; above the
threshold nothing at all is written; re-running a window replaces its quarantine rows.

Bad values are injected behind the parser (the parsers already refuse negative or
non-finite numbers in a payload, a hard failure) or in the landing file where the
payload itself can carry them (a GA4 row dated outside the partition).
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from kpi_pipeline.defs.normalized import assets as normalized_module
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.normalized.checks import RECONCILES_WITH_RAW, SCHEMA_VALID
from kpi_pipeline.defs.normalized.reconciliation import reconciliation_checks
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.lib.landing import landing_path
from kpi_pipeline.lib.quality.quarantine import (
    THRESHOLD_ENV,
    ThresholdError,
    quarantine_threshold,
)
from kpi_pipeline.lib.schemas import ACCOUNT_DAILY, ValidationFailed, screen
from kpi_pipeline_tests.quality.test_normalized_checks import (
    FIRST,
    LAST,
    demo_resources,
    evaluations,
    meta,
    query,
    table_only,
    tags,
)

ALL = [*raw_assets, *normalized_assets, *reconciliation_checks]
DAY = date(2025, 3, 4)
NEGATIVE = ("facebook_posts", "shares", -5)
INFINITE = ("instagram_media", "watch_time_seconds", float("inf"))


def run(resources, selection, first=FIRST, last=LAST) -> dg.ExecuteInProcessResult:
    return dg.materialize(ALL, resources=resources, selection=selection,
                          tags=tags(first, last), raise_on_error=False)


def with_checks(name: str) -> dg.AssetSelection:
    return table_only(name) | dg.AssetSelection.checks_for_assets(
        dg.AssetKey(["normalized", name]))


def store_hashes(resources) -> dict[str, str]:
    """md5 over each table's rows in a stable order, for every table in the store."""
    with resources["warehouse"].get_connection(read_only=True) as conn:
        tables = [f"{s}.{t}" for s, t in conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL").fetchall()]
        return {t: conn.execute(f"SELECT md5(coalesce(string_agg(r::VARCHAR, '|' ORDER BY "
                                f"r::VARCHAR), '')) FROM {t} r").fetchone()[0]
                for t in tables}


def failure_of(result):
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.user_failure_data


def quarantine(resources) -> list[dict]:
    with resources["warehouse"].get_connection(read_only=True) as conn:
        frame = conn.execute("SELECT * FROM quality.quarantine ORDER BY ALL").df()
    return frame.to_dict("records")


def break_rows(monkeypatch, *edits: tuple[str, str, object], rows: int = 1,
               day: date = DAY) -> None:
    """The parser of each (stream, column, value) returns ``value`` in the first ``rows``
    row(s) of ``day``."""
    original = normalized_module.parse_window

    def parse(stream, envelopes):
        envelopes = list(envelopes)
        frame = original(stream, envelopes)
        for name, column, value in edits:
            if name == stream and envelopes[0]["partition"] == day.isoformat():
                frame = frame.copy()
                if isinstance(value, float):
                    frame[column] = frame[column].astype("float64")
                frame.loc[frame.index[:rows], column] = value
        return frame

    monkeypatch.setattr(normalized_module, "parse_window", parse)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("quarantine_template")
    resources = demo_resources(root)
    assert dg.materialize([*raw_assets, *normalized_assets], resources=resources,
                          tags=tags(FIRST, LAST)).success
    return root


@pytest.fixture
def built(template, tmp_path) -> dict[str, object]:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    return demo_resources(tmp_path)


@pytest.fixture(autouse=True)
def default_threshold(monkeypatch):
    monkeypatch.delenv(THRESHOLD_ENV, raising=False)


def test_a_clean_store_has_no_quarantine_table(built):
    assert "quality.quarantine" not in store_hashes(built)


def test_rows_below_the_threshold_are_quarantined_and_the_rest_written(built, monkeypatch):
    [(before,)] = query(built, "SELECT count(*) FROM normalized.post_daily")
    original = normalized_module.parse_window
    first_rows = {s: original(s, [json.loads(gzip.decompress(landing_path(
        built["settings"].landing_root(), s, DAY).read_bytes()))])["post_id"].iloc[0]
        for s in (NEGATIVE[0], INFINITE[0])}  # the posts about to break
    break_rows(monkeypatch, NEGATIVE, INFINITE)

    result = run(built, with_checks("post_daily"))
    assert result.success
    materialization = result.asset_materializations_for_node("normalized__post_daily")[0]
    values = {k: v.value for k, v in materialization.metadata.items()}
    assert values["rows_quarantined"] == 2 and values["rows_considered"] == before
    assert values["decision"] == "quarantined" and values["quarantine_threshold"] == 0.01
    assert values["dagster/row_count"] == before - 2

    checks = evaluations(result)
    valid = checks[("post_daily", SCHEMA_VALID)]
    assert not valid.passed and valid.severity == dg.AssetCheckSeverity.WARN
    assert meta(valid)["rows_quarantined"] == 2
    assert meta(valid)["quarantined_by_rule"] == {
        "shares: non-negative (the platform cannot report < 0)": 1,
        "watch_time_seconds: finite number": 1}
    recon = checks[("post_daily", RECONCILES_WITH_RAW)]
    assert recon.passed  # landing = table + quarantine
    assert meta(recon)["quarantine_rows"] == 2

    rows = {r["column_name"]: r for r in quarantine(built)}
    assert set(rows) == {"shares", "watch_time_seconds"}
    shares, watch = rows["shares"], rows["watch_time_seconds"]
    assert (shares["source_table"], shares["source_stream"]) == ("post_daily", "facebook_posts")
    assert shares["rule"] == "non-negative (the platform cannot report < 0)"
    assert shares["value"] == "-5" and watch["value"] == "inf"
    assert watch["rule"] == "finite number" and watch["source_stream"] == "instagram_media"
    assert shares["partition_date"].date() == DAY
    assert (shares["window_start"].date(), shares["window_end"].date()) == (FIRST, LAST)
    record = json.loads(shares["record"])
    assert record["post_id"] == first_rows["facebook_posts"] and record["shares"] == -5
    assert record["report_date"] == DAY.isoformat() and record["platform"] == "facebook"
    assert f"post_id={first_rows['facebook_posts']}, report_date=2025-03-04" in \
        shares["record_key"]
    assert json.loads(watch["record"])["post_id"] == first_rows["instagram_media"]
    assert shares["run_id"] == result.run_id and pd.notna(shares["quarantined_at"])

    [(after,)] = query(built, "SELECT count(*) FROM normalized.post_daily")
    assert after == before - 2
    for stream, post_id in first_rows.items():
        assert query(built, """SELECT count(*) FROM normalized.post_daily WHERE post_id = ?
                              AND report_date = ?""", (post_id, DAY)) == [(0,)], stream
        assert query(built, """SELECT count(*) FROM normalized.post_daily WHERE post_id = ?
                              AND report_date <> ?""", (post_id, DAY)) != [(0,)], stream
    assert query(built, "SELECT count(*) FROM normalized.post_daily WHERE shares < 0 OR "
                        "isinf(watch_time_seconds)") == [(0,)]


def test_rematerializing_replaces_the_quarantine_rows(built, monkeypatch):
    clean = store_hashes(built)
    break_rows(monkeypatch, NEGATIVE)
    assert run(built, table_only("post_daily")).success
    assert run(built, table_only("post_daily")).success
    assert len(quarantine(built)) == 1  # twice the same window: still one row
    monkeypatch.undo()
    assert run(built, table_only("post_daily")).success  # the source was fixed
    assert quarantine(built) == []
    hashes = store_hashes(built)
    assert {t: h for t, h in hashes.items() if t != "quality.quarantine"} == clean


def test_a_single_day_rerun_replaces_only_its_days_rows(built, monkeypatch):
    break_rows(monkeypatch, NEGATIVE, day=FIRST)
    assert run(built, table_only("post_daily")).success
    break_rows(monkeypatch, NEGATIVE, day=LAST)
    assert run(built, table_only("post_daily"), LAST, LAST).success
    days = sorted(r["partition_date"].date() for r in quarantine(built))
    assert days == [FIRST, LAST]  # the 3-5 March run's row for the 3rd stays


def test_above_the_threshold_nothing_is_written(built, monkeypatch):
    break_rows(monkeypatch, NEGATIVE, rows=10)  # 10 of 553 rows: 1.8 %
    before = store_hashes(built)
    result = run(built, with_checks("post_daily"))
    assert not result.success
    failure = failure_of(result)
    message = failure.description
    assert "10 of 553 row(s) (1.81%)" in message and "threshold 1.00%" in message
    assert THRESHOLD_ENV in message
    assert ("post_daily from facebook_posts, instagram_media, linkedin_posts, tiktok_videos, "
            "partition 2025-03-03..2025-03-05") in message
    assert "column shares, rule non-negative" in message and "10 row(s)" in message
    assert "shares=-5" in message and "post_id=" in message
    assert store_hashes(built) == before
    assert "quality.quarantine" not in before
    values = {k: v.value for k, v in failure.metadata.items()}
    assert values["rows_quarantined"] == 10 and values["quarantine_threshold"] == 0.01
    assert values["decision"] == "failed: rejected share above the threshold"


def test_the_threshold_is_read_at_run_time(built, monkeypatch):
    break_rows(monkeypatch, NEGATIVE, rows=10)
    monkeypatch.setenv(THRESHOLD_ENV, "0.05")
    assert run(built, table_only("post_daily")).success
    assert len(quarantine(built)) == 10
    monkeypatch.setenv(THRESHOLD_ENV, "five percent")
    result = run(built, table_only("post_daily"))
    assert not result.success and THRESHOLD_ENV in failure_of(result).description


def test_threshold_values():
    assert quarantine_threshold({}) == 0.01
    assert quarantine_threshold({THRESHOLD_ENV: "0"}) == 0.0
    for bad in ("1.5", "-0.1", "nan", "1%"):
        with pytest.raises(ThresholdError, match=THRESHOLD_ENV):
            quarantine_threshold({THRESHOLD_ENV: bad})


def test_a_row_dated_outside_the_partition_is_quarantined_on_its_landing_day(built,
                                                                             monkeypatch):
    path = landing_path(built["settings"].landing_root(), "ga4_sessions", LAST)
    envelope = json.loads(gzip.decompress(path.read_bytes()))
    account = envelope["accounts"][0]
    first = account["requests"][0]["body"]["rows"][0]["dimensionValues"]
    moved = [d["value"] for d in first]
    for request in account["requests"]:  # both metric groups of that one row
        for row in request["body"]["rows"]:
            if row["dimensionValues"] == first:
                row["dimensionValues"] = [{"value": "20250309"}, *first[1:]]
    path.write_bytes(gzip.compress(json.dumps(envelope).encode()))
    monkeypatch.setenv(THRESHOLD_ENV, "0.05")  # 1 row of 66

    result = run(built, with_checks("web_daily"))
    assert result.success
    [row] = quarantine(built)
    assert (row["rule"], row["column_name"], row["value"]) == (
        "date inside the partition 2025-03-03..2025-03-05", "report_date", "2025-03-09")
    assert row["partition_date"].date() == LAST  # the landing file's day
    record = json.loads(row["record"])
    assert record["report_date"] == "2025-03-09" and record["campaign"] in moved
    assert query(built, "SELECT count(*) FROM normalized.web_daily") == [(65,)]
    assert evaluations(result)[("web_daily", RECONCILES_WITH_RAW)].passed


def test_a_duplicate_key_still_fails_at_once(built, monkeypatch):
    original = normalized_module.parse_window

    def doubled(stream, envelopes):
        frame = original(stream, envelopes)
        return pd.concat([frame, frame.head(1)], ignore_index=True)

    monkeypatch.setattr(normalized_module, "parse_window", doubled)
    before = store_hashes(built)
    result = run(built, table_only("email_daily"))
    assert not result.success
    message = failure_of(result).description
    assert "email_daily from mailchimp_list" in message and "unique key" in message
    assert store_hashes(built) == before


def test_screen_splits_row_failures_from_valid_rows():
    from kpi_pipeline_tests.lib.test_schemas import DAY as SCHEMA_DAY
    from kpi_pipeline_tests.lib.test_schemas import account_rows

    frame = account_rows(row0={"followers": -1}, row1={"platform": "myspace", "likes": -2},
                         row2={})
    screened = screen(ACCOUNT_DAILY, frame, source="facebook_page", start=SCHEMA_DAY,
                      end=SCHEMA_DAY)
    assert screened.valid.index.tolist() == [2]
    assert sorted(screened.rejected_index) == [0, 1]
    broken = {(int(i), c, r) for i, c, r in screened.failures[["index", "column", "check"]]
              .itertuples(index=False)}
    assert (0, "followers", "non-negative (the platform cannot report < 0)") in broken
    assert (1, "platform", "known platform") in broken
    assert (1, None, "likes and comments non-negative except on LinkedIn (un-likes)") in broken


def test_screen_raises_on_table_level_failures():
    from kpi_pipeline_tests.lib.test_schemas import DAY as SCHEMA_DAY
    from kpi_pipeline_tests.lib.test_schemas import account_rows

    with pytest.raises(ValidationFailed, match="column_in_dataframe"):
        screen(ACCOUNT_DAILY, account_rows().drop(columns=["brand"]), source="facebook_page",
               start=SCHEMA_DAY, end=SCHEMA_DAY)
