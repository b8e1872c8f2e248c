"""Campaign objectives: each platform's spelling read into ad_daily's small vocabulary.

Meta insights ``objective``, TikTok's ``objective_type`` attribute metric and LinkedIn's
``objectiveType`` on the campaign search answer; hand cases for known values, an unknown
value (``other``) and a missing one (NULL), and the demo's campaigns carried through.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pandas as pd
import pytest

from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.landing import Envelope
from kpi_pipeline.lib.core.platforms.objectives import (
    OBJECTIVE_MAP,
    OBJECTIVES,
    normalize_objective,
    objective_sql,
)
from kpi_pipeline.lib.normalized.parsing import parse
from kpi_pipeline.lib.sources.demo.world import World
from kpi_pipeline_tests.demo_helpers import demo_envelope, one
from kpi_pipeline_tests.normalized.test_meta import ad_item, ads_envelope

DAY = date(2026, 11, 20)  # a Black Friday campaign runs beside the always-on ones
PLATFORMS = {"meta_ads": "meta", "tiktok_ads": "tiktok", "linkedin_ads": "linkedin"}


def test_the_table_maps_into_the_vocabulary() -> None:
    assert {v for table in OBJECTIVE_MAP.values() for v in table.values()} <= set(OBJECTIVES)
    assert normalize_objective("meta", "OUTCOME_SALES") == "conversions"
    assert normalize_objective("meta", " outcome_leads ") == "leads"  # case and blanks
    assert normalize_objective("tiktok", "WEB_CONVERSIONS") == "conversions"
    assert normalize_objective("linkedin", "WEBSITE_VISIT") == "traffic"
    assert normalize_objective("linkedin", "SOMETHING_NEW") == "other"
    assert normalize_objective("tiktok", None) is None
    assert normalize_objective("meta", "") is None


def test_the_sql_agrees_with_the_table() -> None:
    import duckdb

    conn = duckdb.connect()
    for platform, table in OBJECTIVE_MAP.items():
        for raw in (*table, "NOT_AN_OBJECTIVE", "", None):
            got = conn.execute(f"SELECT {objective_sql(platform, '$v')}", {"v": raw}).fetchone()
            assert got[0] == normalize_objective(platform, raw), (platform, raw)


def test_meta_objectives_by_hand() -> None:
    items = [ad_item(campaign_id="1", objective="OUTCOME_SALES"),
             ad_item(campaign_id="2", objective="LINK_CLICKS"),
             ad_item(campaign_id="3", objective="OUTCOME_AWARENESS"),
             ad_item(campaign_id="4", objective="OUTCOME_SOMETHING_NEW"),
             ad_item(campaign_id="5"),  # not asked, or an answer without it
             ad_item(campaign_id="6", objective="")]
    df = parse(ads_envelope(*items))
    got = dict(zip(df["campaign_id"], df["objective"], strict=True))
    assert {k: v for k, v in got.items() if not pd.isna(v)} == {
        "1": "conversions", "2": "traffic", "3": "awareness", "4": "other"}
    assert pd.isna(got["5"]) and pd.isna(got["6"])


def _tiktok_rows(envelope: Envelope) -> list[dict[str, Any]]:
    """The report rows (the ad groups listed after them are not campaign days)."""
    return [row for account in envelope["accounts"] for request in account["requests"]
            if request["path"].endswith("/report/integrated/get/")
            for row in request["body"]["data"]["list"]]


def test_tiktok_objectives_by_hand(demo_world: World) -> None:
    envelope = copy.deepcopy(demo_envelope(demo_world, "tiktok_ads", DAY))
    rows = _tiktok_rows(envelope)
    assert len(rows) >= 4
    values = ["LEAD_GENERATION", "REACH", "SHOPPING_SPREE", None]
    for row, value in zip(rows, values, strict=False):
        if value is None:
            del row["metrics"]["objective_type"]
        else:
            row["metrics"]["objective_type"] = value
    df = parse(envelope)
    got = [one(df, campaign_id=row["dimensions"]["campaign_id"],
               ad_account_id=account["account_id"])["objective"]
           for account in envelope["accounts"] for request in account["requests"]
           if request["path"].endswith("/report/integrated/get/")
           for row in request["body"]["data"]["list"]][:4]
    assert got[:3] == ["leads", "awareness", "other"] and pd.isna(got[3])


def test_linkedin_objectives_by_hand(demo_world: World) -> None:
    envelope = copy.deepcopy(demo_envelope(demo_world, "linkedin_ads", DAY))
    campaigns = [element for account in envelope["accounts"] for request in account["requests"]
                 if "/adCampaigns" in request["path"]
                 for element in request["body"]["elements"]]
    assert len(campaigns) >= 4
    values = ["WEBSITE_CONVERSION", "BRAND_AWARENESS", "JOB_APPLICANT_PLUS", None]
    for element, value in zip(campaigns, values, strict=False):
        if value is None:
            del element["objectiveType"]
        else:
            element["objectiveType"] = value
    df = parse(envelope)
    got = [one(df, campaign_id=str(e["id"]))["objective"] for e in campaigns[:4]]
    assert got[:3] == ["conversions", "awareness", "other"] and pd.isna(got[3])


@pytest.mark.parametrize("stream", list(PLATFORMS))
def test_the_demo_campaigns_carry_their_objective(demo_world: World, stream: str) -> None:
    platform = PLATFORMS[stream]
    df = parse(demo_envelope(demo_world, stream, DAY))
    assert list(df.columns) == schemas.AD_DAILY.parsed_columns
    seen = set()
    for brand in demo_world.brands:
        for campaign in demo_world.campaigns(brand, platform):
            if demo_world.ad_day(campaign, DAY, date(2026, 11, 23)) is None:
                continue
            row = one(df, campaign_id=campaign.campaign_id)
            assert row["objective"] == normalize_objective(platform, campaign.objective)
            seen.add(row["objective"])
    assert df["objective"].notna().all()
    # Sales campaigns on Meta and TikTok; LinkedIn's demo runs lead and traffic campaigns.
    assert seen == ({"leads", "traffic"} if platform == "linkedin"
                    else {"conversions", "traffic"} | ({"leads"} if platform == "meta" else set()))
