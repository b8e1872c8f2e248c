"""GA4 runReport: demo payloads in the real shape, parsed back to exactly the world's values.

The demo pages with a limit of 5 and splits the 12 metrics into two requests (GA4 allows
10), so these tests cover offset paging, the merge on dimension values, and the typing of
string metric values by their headers.
"""

from __future__ import annotations

import copy
from datetime import date

import pandas as pd
import pytest

from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import account_entry
from kpi_pipeline.lib.core.platforms.ga4 import GA4_METRIC_COLUMNS, GA4_METRIC_GROUPS
from kpi_pipeline.lib.core.schemas import WEB_DAILY
from kpi_pipeline.lib.core.values import ParseError
from kpi_pipeline.lib.normalized import currency, utm
from kpi_pipeline.lib.normalized.parsing import parse as parse_typed
from kpi_pipeline.lib.sources.demo.payloads_ga4 import BUILDERS, GA4_PAGE_SIZE
from kpi_pipeline.lib.sources.demo.world import World
from kpi_pipeline_tests.demo_helpers import demo_envelope

TODAY = date(2026, 11, 23)
SETTLED_DAY = date(2025, 3, 3)
RECENT_DAY = date(2026, 11, 22)  # still restating when pulled on TODAY
FX_ACCOUNT = AccountRef("fx", "ecb", "all", "Europe/Berlin", "EUR", "ECB reference rates")
COUNT_COLUMNS = [c for c in GA4_METRIC_COLUMNS.values()
                 if c not in ("revenue", "engagement_time_seconds")]



def ga4_envelope(world: World, day: date = SETTLED_DAY) -> dict:
    return demo_envelope(world, "ga4_sessions", day)


def expected_rows(world: World, day: date) -> pd.DataFrame:
    """What the parser must return, computed straight from the world."""
    rows = []
    for brand in world.brands:
        account = brand.account("ga4_property")
        for r in world.web_day(brand, day, world.today):
            rows.append({"property_id": account.account_id, "brand": brand.key,
                         "currency": brand.currency, "report_date": pd.Timestamp(day),
                         "bounces": r["sessions"] - r["engaged_sessions"], **r})
    return pd.DataFrame(rows)


def sort_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["property_id", "source", "medium", "campaign"], ignore_index=True)


# ----------------------------------------------------------------------- round trip
@pytest.mark.parametrize("day", [SETTLED_DAY, RECENT_DAY])
def test_round_trip_equals_the_world(demo_world, day):
    parsed = sort_rows(parse_typed(ga4_envelope(demo_world, day)))
    expected = sort_rows(expected_rows(demo_world, day))
    assert list(parsed.columns) == WEB_DAILY.parsed_columns
    assert len(parsed) == len(expected) > 10
    for column in ["report_date", "property_id", "brand", "source", "medium", "campaign",
                   "currency", "bounces", *GA4_METRIC_COLUMNS.values()]:
        assert parsed[column].tolist() == expected[column].tolist(), column
    assert (parsed["source_stream"] == "ga4_sessions").all()
    assert (parsed["pulled_at"] == pd.Timestamp("2026-11-23 06:00:00")).all()


def test_registry_and_columns_are_typed(demo_world):
    parsed = parse_typed(ga4_envelope(demo_world))
    assert str(parsed["sessions"].dtype) == "Int64"
    assert str(parsed["revenue"].dtype) == "Float64"
    assert str(parsed["report_date"].dtype) == "datetime64[ns]"


def test_bounces_are_sessions_minus_engaged_sessions(demo_world):
    parsed = parse_typed(ga4_envelope(demo_world))
    assert (parsed["bounces"] == parsed["sessions"] - parsed["engaged_sessions"]).all()
    assert (parsed["bounces"] > 0).any()


def test_parsed_rows_complete_to_a_valid_web_daily_table(demo_world):
    """Parser + UTM mapping + FX conversion give rows that pass the table's own rules."""
    day = date(2026, 11, 21)  # a Saturday: Friday's fixing
    parsed = parse_typed(ga4_envelope(demo_world, day))
    rates = parse_typed(demo_envelope(demo_world, "fx_rates", day))
    fx_daily = currency.fx_daily_frame(rates, "USD")
    web = currency.convert(utm.resolve_platforms(parsed), fx_daily,
                     amount_cols={"revenue": "revenue_reporting"}, currency_col="currency",
                     reporting_currency="USD", source="ga4_sessions")
    web = schemas.coerce_frame(WEB_DAILY, web)
    schemas.validate(WEB_DAILY, web, source="ga4_sessions", start=day, end=day)
    eur = web[web["currency"] == "EUR"]
    usd_per_eur = demo_world.fx_per_eur("USD", date(2026, 11, 20))
    assert (eur["fx_rate"] == usd_per_eur).all()
    assert (web.loc[web["currency"] == "USD", "fx_rate"] == 1.0).all()


# --------------------------------------------------------------------------- paging
def test_offset_paging_covers_every_row_exactly_once(demo_world):
    brand = demo_world.brands[0]
    account = brand.account("ga4_property")
    world_rows = demo_world.web_day(brand, SETTLED_DAY, TODAY)
    requests = BUILDERS["ga4_sessions"](demo_world, account, SETTLED_DAY, TODAY)
    for metrics in GA4_METRIC_GROUPS:
        pages = [r for r in requests
                 if tuple(m["name"] for m in r["body_sent"]["metrics"]) == metrics]
        assert len(metrics) <= 10
        assert len(pages) > 1  # several pages per request
        assert [p["body_sent"]["offset"] for p in pages] == list(
            range(0, len(world_rows), GA4_PAGE_SIZE))
        seen = [tuple(v["value"] for v in row["dimensionValues"][1:])
                for p in pages for row in p["body"]["rows"]]
        assert all(p["body"]["rowCount"] == len(world_rows) for p in pages)
        assert all(len(p["body"]["rows"]) <= GA4_PAGE_SIZE for p in pages)
        assert sorted(seen) == sorted((r["source"], r["medium"], r["campaign"])
                                      for r in world_rows)
        assert len(set(seen)) == len(seen)


def test_a_missing_page_is_an_error_not_fewer_rows(demo_world):
    env = ga4_envelope(demo_world)
    del env["accounts"][0]["requests"][1]
    with pytest.raises(ParseError, match=r"rowCount .*pages are missing"):
        parse_typed(env)


def test_a_repeated_page_is_an_error_not_double_counting(demo_world):
    env = ga4_envelope(demo_world)
    requests = env["accounts"][0]["requests"]
    requests.append(copy.deepcopy(requests[0]))
    with pytest.raises(ParseError, match="appears on two pages"):
        parse_typed(env)


# --------------------------------------------------------------------------- merging
HEADERS = [{"name": "date"}, {"name": "sessionSource"}, {"name": "sessionMedium"},
           {"name": "sessionCampaignName"}]
GROUP_A = {"sessions": "TYPE_INTEGER", "engagedSessions": "TYPE_INTEGER",
           "screenPageViews": "TYPE_INTEGER", "userEngagementDuration": "TYPE_SECONDS",
           "ecommercePurchases": "TYPE_INTEGER", "purchaseRevenue": "TYPE_CURRENCY",
           "firstTimePurchasers": "TYPE_INTEGER", "totalPurchasers": "TYPE_INTEGER"}
GROUP_B = {"sessions": "TYPE_INTEGER", "keyEvents:sign_up": "TYPE_FLOAT",
           "keyEvents:generate_lead": "TYPE_FLOAT", "keyEvents:qualify_lead": "TYPE_FLOAT",
           "keyEvents:book_appointment": "TYPE_FLOAT"}


def report(metrics: dict[str, str], rows: list[tuple[tuple[str, ...], list[str]]]) -> dict:
    body = {"dimensionHeaders": HEADERS,
            "metricHeaders": [{"name": n, "type": t} for n, t in metrics.items()],
            "rows": [{"dimensionValues": [{"value": v} for v in dims],
                      "metricValues": [{"value": v} for v in values]} for dims, values in rows],
            "rowCount": len(rows), "metadata": {"currencyCode": "EUR", "timeZone": "Europe/Berlin"},
            "kind": "analyticsData#runReport"}
    return {"method": "POST", "path": "/v1beta/properties/42:runReport", "params": {},
            "body_sent": {"offset": 0}, "status": 200, "body": body}


def hand_envelope(*bodies: dict) -> dict:
    account = AccountRef("ga4", "42", "alpenglow", "Europe/Berlin", "EUR", "Alpenglow")
    return {"stream": "ga4_sessions", "platform": "ga4", "source": "test",
            "api_version": "v1beta", "partition": "2025-03-03",
            "pulled_at": "2025-03-04T06:00:00Z",
            "accounts": [account_entry(account, SETTLED_DAY, SETTLED_DAY, list(bodies))]}


IG = ("20250303", "ig", "social", "bio_link")
FB = ("20250303", "l.facebook.com", "referral", "(referral)")


def test_two_metric_groups_merge_on_dimension_values_not_positions():
    group_a = report(GROUP_A, [(IG, ["100", "60", "250", "4200", "3", "180.5", "2", "3"]),
                               (FB, ["40", "10", "55", "600", "0", "0", "0", "0"])])
    group_b = report(GROUP_B, [(FB, ["40", "1", "2", "0", "0"]),  # other order
                               (IG, ["100", "7", "9.0", "3", "1"])])
    parsed = parse_typed(hand_envelope(group_a, group_b)).set_index("source")
    assert parsed.loc["ig", ["sessions", "engaged_sessions", "bounces", "orders", "sign_ups",
                             "leads", "qualified_leads", "booked_calls"]].tolist() == [
        100, 60, 40, 3, 7, 9, 3, 1]
    assert parsed.loc["ig", "revenue"] == 180.5
    assert parsed.loc["ig", "engagement_time_seconds"] == 4200.0
    assert parsed.loc["l.facebook.com", ["sessions", "sign_ups", "leads"]].tolist() == [40, 1, 2]
    assert (parsed["currency"] == "EUR").all()
    assert (parsed["property_id"] == "42").all()


def test_a_row_missing_from_one_group_keeps_that_groups_metrics_null():
    group_a = report(GROUP_A, [(IG, ["100", "60", "250", "4200", "3", "180.5", "2", "3"]),
                               (FB, ["40", "10", "55", "600", "0", "0", "0", "0"])])
    group_b = report(GROUP_B, [(IG, ["100", "7", "9", "3", "1"])])
    parsed = parse_typed(hand_envelope(group_a, group_b)).set_index("source")
    fb = parsed.loc["l.facebook.com"]
    assert fb["sessions"] == 40
    assert all(pd.isna(fb[c]) for c in ("sign_ups", "leads", "qualified_leads", "booked_calls"))


def test_a_missing_metric_group_is_an_error():
    group_a = report(GROUP_A, [(IG, ["100", "60", "250", "4200", "3", "180.5", "2", "3"])])
    with pytest.raises(ParseError, match=r"no request returned the metrics .*keyEvents:sign_up"):
        parse_typed(hand_envelope(group_a))


def test_groups_that_disagree_on_sessions_are_an_error():
    group_a = report(GROUP_A, [(IG, ["100", "60", "250", "4200", "3", "180.5", "2", "3"])])
    group_b = report(GROUP_B, [(IG, ["101", "7", "9", "3", "1"])])
    with pytest.raises(ParseError, match="sessions is 100 in one metric group and 101"):
        parse_typed(hand_envelope(group_a, group_b))


# ------------------------------------------------------------------------ bad values
def test_a_row_shorter_than_its_headers_names_the_metrics():
    group_a = report(GROUP_A, [(IG, ["100", "60", "250", "4200", "3", "180.5", "2"])])
    group_b = report(GROUP_B, [(IG, ["100", "7", "9", "3", "1"])])
    with pytest.raises(ParseError, match=r"7 metric values but metricHeaders name 8 metrics "
                                         r"\(sessions, .*totalPurchasers\)"):
        parse_typed(hand_envelope(group_a, group_b))


def test_a_thousands_separator_names_stream_partition_account_metric_and_value():
    group_a = report(GROUP_A, [(IG, ["100", "60", "1,234", "4200", "3", "180.5", "2", "3"])])
    group_b = report(GROUP_B, [(IG, ["100", "7", "9", "3", "1"])])
    with pytest.raises(ParseError) as err:
        parse_typed(hand_envelope(group_a, group_b))
    message = str(err.value)
    for part in ("ga4_sessions", "2025-03-03", "account 42", "'screenPageViews'", "'1,234'"):
        assert part in message


def test_a_fractional_key_event_count_is_an_error():
    group_a = report(GROUP_A, [(IG, ["100", "60", "250", "4200", "3", "180.5", "2", "3"])])
    group_b = report(GROUP_B, [(IG, ["100", "2.5", "9", "3", "1"])])
    with pytest.raises(ParseError, match=r"'keyEvents:sign_up' value '2\.5' is not a whole"):
        parse_typed(hand_envelope(group_a, group_b))


def test_campaign_names_pass_through_unchanged():
    campaign = "  Black Friday <Promo> 'x'; DROP TABLE t; -- café  "
    dims = ("20250303", "instagram", "paid_social", campaign)
    group_a = report(GROUP_A, [(dims, ["5", "3", "9", "100", "0", "0", "0", "0"])])
    group_b = report(GROUP_B, [(dims, ["5", "0", "0", "0", "0"])])
    parsed = parse_typed(hand_envelope(group_a, group_b))
    assert parsed["campaign"].tolist() == [campaign]


def test_an_empty_report_gives_an_empty_typed_frame():
    pages = [report(GROUP_A, []), report(GROUP_B, [])]
    for page in pages:
        del page["body"]["rows"], page["body"]["rowCount"]  # proto3 JSON leaves both out
    parsed = parse_typed(hand_envelope(*pages))
    assert parsed.empty
    assert list(parsed.columns) == WEB_DAILY.parsed_columns
