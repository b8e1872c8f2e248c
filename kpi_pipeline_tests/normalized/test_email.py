"""Mailchimp list payloads: the demo's requests round-trip to the world's values."""

from __future__ import annotations

from datetime import date

import pytest

from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.values import ParseError
from kpi_pipeline.lib.normalized.parsing import parse
from kpi_pipeline.lib.sources.demo.world import World
from kpi_pipeline_tests.demo_helpers import demo_envelope, one

DAY = date(2025, 3, 4)  # a Tuesday: the demo newsletter goes out


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=7, n_brands=2, today=date(2025, 3, 20))


def test_round_trip_keeps_the_partition_day_only(world):
    df = parse(demo_envelope(world, "mailchimp_list", DAY))
    assert list(df.columns) == schemas.EMAIL_DAILY.parsed_columns
    assert len(df) == 2  # one row per list, though each answer holds 7 days of activity
    for brand in world.brands:
        truth = world.email_day(brand, DAY)
        row = one(df, brand=brand.key)
        assert row["report_date"].date() == DAY
        assert (row["subscribers"], row["subscribes"], row["unsubscribes"], row["imports"],
                row["removals"], row["emails_sent"], row["clicks"]) == (
            truth["members"], truth["subs"], truth["unsubs"], truth["other_adds"],
            truth["other_removes"], truth["emails_sent"], truth["recipient_clicks"])
        assert truth["emails_sent"] == truth["members"] > 0  # Tuesday: sent to everyone


def test_members_follow_the_flows(world):
    brand = world.brands[0]
    before, after = world.email_day(brand, date(2025, 3, 3)), world.email_day(brand, DAY)
    assert after["members"] - before["members"] == (
        after["subs"] + after["other_adds"] - after["unsubs"] - after["other_removes"])


def test_a_day_missing_from_the_activity_list_is_an_error(world):
    envelope = demo_envelope(world, "mailchimp_list", DAY)
    activity = envelope["accounts"][0]["requests"][0]["body"]["activity"]
    activity[:] = [a for a in activity if a["day"] != DAY.isoformat()]
    with pytest.raises(ParseError, match="no entry for 2025-03-04"):
        parse(envelope)


def test_a_count_with_a_thousands_separator_names_the_field(world):
    envelope = demo_envelope(world, "mailchimp_list", DAY)
    envelope["accounts"][1]["requests"][0]["body"]["activity"][0]["subs"] = "1,234"
    with pytest.raises(ParseError, match=r"mailchimp_list partition 2025-03-04 account .*'subs'"):
        parse(envelope)
