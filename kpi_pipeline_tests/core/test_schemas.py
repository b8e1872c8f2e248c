"""The normalized tables' rules, and the message a user gets when rows break them."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from kpi_pipeline.lib.core.schemas import (
    ACCOUNT_DAILY,
    FX_DAILY,
    TABLES,
    ValidationFailed,
    coerce_frame,
    ddl,
    validate,
)

DAY = date(2025, 3, 3)


def account_rows(**overrides) -> pd.DataFrame:
    row = {"report_date": "2025-03-03", "platform": "facebook", "account_id": "1",
           "brand": "northwind", "timezone": "America/Los_Angeles", "followers": 100,
           "follower_gains": 3, "follower_losses": 1, "impressions": 50, "views": 55,
           "reach": 40, "reach_week": 200, "reach_28d": 500, "profile_views": 2, "clicks": 4,
           "likes": 5, "comments": 1, "shares": 0, "source_stream": "facebook_page",
           "api_version": "v24.0", "pulled_at": "2025-03-04T06:00:00Z"}
    rows = [row | {"account_id": str(i)} for i in range(3)]
    for index, values in overrides.items():
        rows[int(index.removeprefix("row"))].update(values)
    return coerce_frame(ACCOUNT_DAILY, pd.DataFrame(rows))


def failure(frame: pd.DataFrame) -> str:
    with pytest.raises(ValidationFailed) as info:
        validate(ACCOUNT_DAILY, frame, source="facebook_page", start=DAY, end=DAY)
    return str(info.value)


def test_valid_rows_pass_unchanged():
    frame = account_rows()
    pd.testing.assert_frame_equal(
        validate(ACCOUNT_DAILY, frame, source="facebook_page", start=DAY, end=DAY), frame)


def test_message_names_source_partition_column_rule_and_rows():
    message = failure(account_rows(row1={"followers": -5}))
    assert "account_daily from facebook_page, partition 2025-03-03" in message
    assert "column followers" in message and "non-negative" in message
    assert "row 1: platform='facebook', account_id='1', report_date=2025-03-03" in message
    assert "followers=-5" in message
    assert "nothing was written" in message


def test_date_outside_the_partition_is_rejected():
    message = failure(account_rows(row2={"report_date": pd.Timestamp("2025-03-05")}))
    assert "column report_date" in message and "inside the partition 2025-03-03" in message


def test_duplicate_keys_are_rejected():
    message = failure(account_rows(row1={"account_id": "0"}))
    assert "unique key (platform, account_id, report_date)" in message


def test_unknown_platform_is_rejected():
    message = failure(account_rows(row0={"platform": "myspace"}))
    assert "column platform" in message and "known platform" in message


def test_negative_likes_are_allowed_on_linkedin_only():
    linkedin = account_rows(row0={"platform": "linkedin", "likes": -3, "comments": -1})
    validate(ACCOUNT_DAILY, linkedin, source="linkedin_organization", start=DAY, end=DAY)
    assert "un-likes" in failure(account_rows(row0={"likes": -3}))


def test_every_problem_is_reported_at_once():
    message = failure(account_rows(row0={"followers": -1}, row2={"platform": "myspace"}))
    assert "column followers" in message and "column platform" in message


def test_fx_rate_must_be_finite():
    frame = coerce_frame(FX_DAILY, pd.DataFrame({
        "report_date": ["2025-03-03"], "currency": ["EUR"], "reporting_currency": ["USD"],
        "rate": [float("inf")], "fixing_date": ["2025-03-03"], "source_stream": ["fx_rates"],
        "api_version": ["v1"], "pulled_at": ["2025-03-04T06:00:00Z"]}))
    with pytest.raises(ValidationFailed, match="finite number"):
        validate(FX_DAILY, frame, source="fx_rates", start=DAY, end=DAY)


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_ddl_and_schema_share_one_column_list(table):
    statement = ddl(table)
    for column in table.columns:
        assert f"  {column.name} " in statement
    assert f"PRIMARY KEY ({', '.join(table.key)})" in statement


def test_a_date_column_is_a_day_however_it_arrives():
    """Text or an already parsed time stamp, a date column keeps only the day."""
    typed = account_rows().assign(report_date=pd.Timestamp("2025-03-03 13:00"))
    for frame in (account_rows(), typed):
        days = coerce_frame(ACCOUNT_DAILY, frame)["report_date"]
        assert (days == pd.Timestamp("2025-03-03")).all(), days.tolist()
