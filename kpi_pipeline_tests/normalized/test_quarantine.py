"""Quarantine on the real chain: rows breaking a row rule go to quality.quarantine in the
transaction that replaces the window, the table keeps exactly the good rows; above the
threshold nothing at all is written; re-running a window replaces its quarantine rows.

Bad values are injected behind the parser: the parsers already refuse negative or
non-finite numbers in a payload, and a row dated outside its landing file's requested
window, as hard failures.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from kpi_pipeline.defs.normalized import assets as normalized_module
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.normalized.checks import RECONCILES_WITH_RAW, SCHEMA_VALID
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.lib.core.schemas import ACCOUNT_DAILY, ValidationFailed, screen
from kpi_pipeline.lib.normalized.quarantine import (
    THRESHOLD_ENV,
    ThresholdError,
    quarantine_threshold,
)
from kpi_pipeline_tests.normalized.test_normalized_checks import (
    FIRST,
    LAST,
    demo_resources,
    evaluations,
    meta,
    query,
    table_only,
    tags,
)

ALL = [*raw_assets, *normalized_assets]
NEXT_WEEK = FIRST + timedelta(days=7)
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
    row(s) that came from ``day``'s landing file."""
    original = normalized_module.parse_stream

    def parse(conn, stream, files):
        frame, days, problems = original(conn, stream, files)
        for name, column, value in edits:
            if name == stream.name:
                frame = frame.copy()
                if isinstance(value, float):
                    frame[column] = frame[column].astype("float64")
                hit = frame.index[(days == pd.Timestamp(day)).to_numpy()][:rows]
                frame.loc[hit, column] = value
        return frame, days, problems

    monkeypatch.setattr(normalized_module, "parse_stream", parse)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("quarantine_template")
    resources = demo_resources(root)
    assert dg.materialize(raw_assets, resources=resources,
                          tags=tags(FIRST, NEXT_WEEK)).success
    assert dg.materialize([*raw_assets, *normalized_assets], resources=resources,
                          selection=dg.AssetSelection.groups("normalized"),
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
    candidates = {s: {p for (p,) in query(built, """SELECT post_id FROM normalized.post_daily
                                                  WHERE source_stream = ?
                                                    AND report_date = ?""", (s, DAY))}
                  for s in (NEGATIVE[0], INFINITE[0])}
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
    first_rows = {"facebook_posts": record["post_id"],
                  "instagram_media": json.loads(watch["record"])["post_id"]}
    for stream, post_id in first_rows.items():
        assert post_id in candidates[stream], stream  # a post of that day's file
    assert record["shares"] == -5
    assert record["report_date"] == DAY.isoformat() and record["platform"] == "facebook"
    assert f"post_id={first_rows['facebook_posts']}, report_date=2025-03-04" in \
        shares["record_key"]
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


def test_a_rerun_of_another_week_replaces_only_its_weeks_rows(built, monkeypatch):
    later = NEXT_WEEK + timedelta(days=2)
    break_rows(monkeypatch, NEGATIVE, day=FIRST)
    assert run(built, table_only("post_daily")).success
    break_rows(monkeypatch, NEGATIVE, day=later)
    assert run(built, table_only("post_daily"), NEXT_WEEK, NEXT_WEEK).success
    days = sorted(r["partition_date"].date() for r in quarantine(built))
    assert days == [FIRST, later]  # the first week's row stays


def test_above_the_threshold_nothing_is_written(built, monkeypatch):
    [(total,)] = query(built, "SELECT count(*) FROM normalized.post_daily")
    [(on_day,)] = query(built, "SELECT count(*) FROM normalized.post_daily WHERE "
                               "source_stream = 'facebook_posts' AND report_date = ?", (DAY,))
    broken = math.floor(total * 0.015)  # 1.5 % of the week's rows
    assert broken <= on_day  # all of them in that one file
    break_rows(monkeypatch, NEGATIVE, rows=broken)
    before = store_hashes(built)
    result = run(built, with_checks("post_daily"))
    assert not result.success
    failure = failure_of(result)
    message = failure.description
    assert f"{broken} of {total} row(s) ({broken / total:.2%})" in message
    assert "threshold 1.00%" in message and THRESHOLD_ENV in message
    assert ("post_daily from facebook_posts, instagram_media, linkedin_posts, tiktok_videos, "
            "partition 2025-03-03..2025-03-09") in message
    assert "column shares, rule non-negative" in message and f"{broken} row(s)" in message
    assert "shares=-5" in message and "post_id=" in message
    assert store_hashes(built) == before
    assert "quality.quarantine" not in before
    values = {k: v.value for k, v in failure.metadata.items()}
    assert values["rows_quarantined"] == broken and values["quarantine_threshold"] == 0.01
    assert values["decision"] == "failed: rejected share above the threshold"


def test_the_threshold_is_read_at_run_time(built, monkeypatch):
    [(total,)] = query(built, "SELECT count(*) FROM normalized.post_daily")
    broken = math.floor(total * 0.015)
    break_rows(monkeypatch, NEGATIVE, rows=broken)
    monkeypatch.setenv(THRESHOLD_ENV, "0.05")
    assert run(built, table_only("post_daily")).success
    assert len(quarantine(built)) == broken
    monkeypatch.setenv(THRESHOLD_ENV, "five percent")
    result = run(built, table_only("post_daily"))
    assert not result.success and THRESHOLD_ENV in failure_of(result).description


def test_threshold_values():
    assert quarantine_threshold("") == 0.01
    assert quarantine_threshold(" ") == 0.01
    assert quarantine_threshold("0") == 0.0
    for bad in ("1.5", "-0.1", "nan", "1%"):
        with pytest.raises(ThresholdError, match=THRESHOLD_ENV):
            quarantine_threshold(bad)


def test_a_row_dated_outside_the_partition_is_quarantined_on_its_landing_day(built,
                                                                             monkeypatch):
    """A row that reached the table dated after the partition (not through a payload: the
    parsers refuse a row outside its file's window) is quarantined on its landing day."""
    outside = pd.Timestamp(LAST + timedelta(days=2))
    original = normalized_module.parse_stream

    def moved(conn, stream, files):
        frame, days, problems = original(conn, stream, files)
        if stream.name == "ga4_sessions":
            frame = frame.copy()
            frame.loc[frame.index[(days == pd.Timestamp(LAST)).to_numpy()][:1],
                      "report_date"] = outside
        return frame, days, problems

    monkeypatch.setattr(normalized_module, "parse_stream", moved)
    monkeypatch.setenv(THRESHOLD_ENV, "0.05")  # 1 row of the week's
    [(before,)] = query(built, "SELECT count(*) FROM normalized.web_daily")
    result = run(built, with_checks("web_daily"))
    assert result.success
    [row] = quarantine(built)
    assert (row["rule"], row["column_name"], row["value"]) == (
        "date inside the partition 2025-03-03..2025-03-09", "report_date", "2025-03-11")
    assert row["partition_date"].date() == LAST  # the landing file's day
    record = json.loads(row["record"])
    assert record["report_date"] == "2025-03-11"
    assert query(built, "SELECT count(*) FROM normalized.web_daily") == [(before - 1,)]
    assert evaluations(result)[("web_daily", RECONCILES_WITH_RAW)].passed


def test_a_duplicate_key_still_fails_at_once(built, monkeypatch):
    original = normalized_module.parse_stream

    def doubled(conn, stream, files):
        frame, days, problems = original(conn, stream, files)
        return (pd.concat([frame, frame.head(1)], ignore_index=True),
                pd.concat([days, days.head(1)], ignore_index=True), problems)

    monkeypatch.setattr(normalized_module, "parse_stream", doubled)
    before = store_hashes(built)
    result = run(built, table_only("email_daily"))
    assert not result.success
    message = failure_of(result).description
    assert "email_daily from mailchimp_list" in message and "unique key" in message
    assert store_hashes(built) == before


def test_screen_splits_row_failures_from_valid_rows():
    from kpi_pipeline_tests.core.test_schemas import DAY as SCHEMA_DAY
    from kpi_pipeline_tests.core.test_schemas import account_rows

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
    from kpi_pipeline_tests.core.test_schemas import DAY as SCHEMA_DAY
    from kpi_pipeline_tests.core.test_schemas import account_rows

    with pytest.raises(ValidationFailed, match="column_in_dataframe"):
        screen(ACCOUNT_DAILY, account_rows().drop(columns=["brand"]), source="facebook_page",
               start=SCHEMA_DAY, end=SCHEMA_DAY)
