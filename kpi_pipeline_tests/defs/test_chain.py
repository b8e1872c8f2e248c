"""Raw -> normalized on a temporary DuckDB file, over an ingest week in one run.

Expected values come from the demo world directly (the ground truth the payloads were
built from) and from hand arithmetic, never from the parsers under test.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.lib.core.landing import landing_path
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS
from kpi_pipeline_tests.conftest import DEMO_TODAY, copy_of, demo_resources

FIRST, LAST = date(2025, 3, 3), date(2025, 3, 9)  # one ingest week, closed on the demo clock
RANGE_TAGS = {"dagster/asset_partition_range_start": FIRST.isoformat(),
              "dagster/asset_partition_range_end": FIRST.isoformat()}
ALL_ASSETS = [*raw_assets, *normalized_assets]


def materialize(resources, selection=None, tags=RANGE_TAGS, raise_on_error=True):
    return dg.materialize(ALL_ASSETS, resources=resources, tags=tags, selection=selection,
                          raise_on_error=raise_on_error)


def table_snapshot(resources) -> dict[str, list[tuple]]:
    with resources["warehouse"].get_connection(read_only=True) as conn:
        return {name: conn.execute(f"SELECT * FROM normalized.{name} ORDER BY ALL").fetchall()
                for name in TABLES}


def content_hash(resources) -> str:
    return hashlib.sha256(repr(table_snapshot(resources)).encode()).hexdigest()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The whole raw -> normalized chain for one week, in one run, once for the module."""
    root = tmp_path_factory.mktemp("chain")
    assert materialize(demo_resources(root)).success
    return root


@pytest.fixture
def built(template: Path, tmp_path: Path):
    """The built week's store and landing files, copied for one test that may change them."""
    return demo_resources(copy_of(template, tmp_path))


def query(resources, sql: str, params=()) -> list[tuple]:
    with resources["warehouse"].get_connection(read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def test_one_run_covers_every_table_and_day(built):
    for name in TABLES:
        days = query(built, f"SELECT DISTINCT report_date FROM normalized.{name} ORDER BY 1")
        assert [d for (d,) in days] == [FIRST + timedelta(days=i) for i in range(7)], name


def test_account_daily_equals_the_world(built, world):
    brand = world.brands[1]  # Berlin, EUR
    day = date(2025, 3, 4)
    truth = world.account_day(brand, "facebook", day, DEMO_TODAY)
    followers, gains, losses = world.follower_day(brand, "facebook", day)
    row = query(built, """SELECT followers, follower_gains, follower_losses, reach, reach_week,
                          reach_28d FROM normalized.account_daily
                          WHERE platform = 'facebook' AND brand = ? AND report_date = ?""",
                (brand.key, day))
    assert row == [(followers, gains, losses, truth["reach"], truth["reach_week"],
                    truth["reach_28d"])]
    # the platform's 7-day unique reach is less than the sum of the daily values
    assert truth["reach_week"] < sum(
        world.account_day(brand, "facebook", day - timedelta(days=k), DEMO_TODAY)["reach"]
        for k in range(7))


def test_post_daily_holds_lifetime_snapshots_of_live_posts(built, world):
    brand = world.brands[0]
    day = date(2025, 3, 5)
    posts = world.posts_live(brand, "instagram", day, POST_LOOKBACK_DAYS)
    rows = dict(query(built, """SELECT post_id, views FROM normalized.post_daily
                               WHERE platform = 'instagram' AND brand = ? AND report_date = ?""",
                      (brand.key, day)))
    assert set(rows) == {p.post_id for p in posts}
    for post in posts:
        assert rows[post.post_id] == post.lifetime(day)["views"]


def test_lifetime_snapshots_never_shrink(built):
    shrinking = query(built, """
        SELECT count(*) FROM (
          SELECT views, lag(views) OVER (PARTITION BY platform, post_id ORDER BY report_date)
                 AS previous
          FROM normalized.post_daily) WHERE views < previous""")
    assert shrinking == [(0,)]


def test_ad_spend_is_converted_with_the_dated_rate(built, world):
    brand = world.brands[1]  # EUR account, USD reporting currency
    day = date(2025, 3, 4)
    campaign = world.campaigns(brand, "meta")[0]
    spend = world.ad_day(campaign, day, DEMO_TODAY)["spend"]
    usd_per_eur = world.fx_per_eur("USD", day)  # a Tuesday: fixed that day
    row = query(built, """SELECT spend, fx_rate, spend_reporting FROM normalized.ad_daily
                         WHERE campaign_id = ? AND report_date = ?""",
                (campaign.campaign_id, day))
    assert row == [(pytest.approx(spend), pytest.approx(usd_per_eur),
                    pytest.approx(spend * usd_per_eur))]


def test_weekend_fx_uses_fridays_fixing(built, world):
    rows = query(built, """SELECT report_date, fixing_date FROM normalized.fx_daily
                           WHERE currency = 'EUR' ORDER BY 1""")
    friday = FIRST + timedelta(days=4)
    weekdays = [(FIRST + timedelta(days=i),) * 2 for i in range(5)]
    assert rows == [*weekdays, (friday + timedelta(1), friday), (LAST, friday)]


def test_social_sessions_are_resolved_from_utm(built, world):
    brand = world.brands[0]
    day = date(2025, 3, 3)
    web = world.web_day(brand, day, DEMO_TODAY)
    expected = sum(r["sessions"] for r in web if r["source"] in ("ig", "instagram"))
    got = query(built, """SELECT sum(sessions) FROM normalized.web_daily
                         WHERE brand = ? AND report_date = ? AND platform = 'instagram'""",
                (brand.key, day))
    assert got == [(expected,)]
    non_social = query(built, """SELECT DISTINCT source FROM normalized.web_daily
                                WHERE NOT is_social ORDER BY 1""")
    assert [s for (s,) in non_social] == ["(direct)", "google", "newsletter"]


def test_rematerializing_is_idempotent(built):
    before = table_snapshot(built)
    assert materialize(built).success  # pull again and rebuild
    assert table_snapshot(built) == before
    normalized_only = dg.AssetSelection.groups("normalized")
    assert materialize(built, selection=normalized_only).success  # rebuild from landing only
    assert table_snapshot(built) == before


def corrupt(resources, stream: str, day: date, edit) -> None:
    path = landing_path(resources["settings"].landing_root(), stream, day)
    envelope = json.loads(gzip.decompress(path.read_bytes()))
    edit(envelope)
    path.write_bytes(gzip.compress(json.dumps(envelope).encode()))


def test_malformed_payload_fails_clearly_and_keeps_the_table(built):
    before = content_hash(built)

    def thousands_separator(envelope):
        series = envelope["accounts"][0]["requests"][0]["body"]["data"][0]
        series["values"][0]["value"] = "1,234"

    corrupt(built, "facebook_page", date(2025, 3, 4), thousands_separator)
    result = materialize(built, selection=dg.AssetSelection.assets(["normalized",
                                                                   "account_daily"]),
                         raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "facebook_page partition 2025-03-04" in message
    assert "'1,234'" in message and "thousands separator" in message
    assert content_hash(built) == before


def test_rows_breaking_a_rule_fail_with_column_rule_and_rows(built):
    before = content_hash(built)

    def date_outside(envelope):  # GA4 rows dated after the partition
        for account in envelope["accounts"]:
            for request in account["requests"]:
                for row in request["body"].get("rows", []):
                    row["dimensionValues"][0]["value"] = "20250311"

    corrupt(built, "ga4_sessions", date(2025, 3, 5), date_outside)
    result = materialize(built, selection=dg.AssetSelection.assets(["normalized", "web_daily"]),
                         raise_on_error=False)
    assert not result.success
    message = next(e for e in result.all_events
                   if e.is_step_failure).step_failure_data.user_failure_data.description
    assert "normalized.web_daily 2025-03-03..2025-03-09" in message
    assert "ga4_sessions 2025-03-05" in message and "nothing was written" in message
    assert "rows dated 2025-03-11 outside the requested window 2025-03-05..2025-03-05" \
        in message
    assert content_hash(built) == before


def test_store_is_a_real_duckdb_file(built):
    path = built["warehouse"].path()
    conn = duckdb.connect(str(path), read_only=True)
    try:
        schemas = {s for (s,) in conn.execute(
            "SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
    finally:
        conn.close()
    assert schemas == {"normalized"}


def test_email_daily_equals_the_world(built, world):
    brand = world.brands[1]
    day = date(2025, 3, 4)
    truth = world.email_day(brand, day)
    got = query(built, """SELECT subscribers, subscribes, unsubscribes FROM normalized.email_daily
                         WHERE brand = ? AND report_date = ?""", (brand.key, day))
    assert got == [(truth["members"], truth["subs"], truth["unsubs"])]
