"""The GA4 connector over loopback: the demo's rows across offset pages, Google's error
envelope (401, 403, 429 per hour and per day, 503), the quota warning and token hygiene."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.sources.api import ga4
from kpi_pipeline.lib.sources.api.errors import ApiError, AuthError, QuotaExhausted
from kpi_pipeline.lib.sources.demo import payloads_ga4
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline_tests.sources.api.replay import assert_demo_rows, respond

DAYS = [date(2025, 3, 12), date(2025, 3, 13), date(2025, 3, 14)]
STREAM = STREAMS_BY_NAME["ga4_sessions"]
RUN_REPORT = r":runReport$"


def google_error(code: int, status: str, message: str,
                 headers: dict[str, str] | None = None):
    """Google's error envelope with the matching HTTP status."""
    return respond({"error": {"code": code, "message": message, "status": status}}, code,
                   headers)


def first_property(world) -> str:
    return world.accounts("ga4_property")[0].account_id


@pytest.mark.parametrize("page_size", [5, 2])
def test_sessions_match_the_demo_rows_across_offset_pages(replay, api_client, replay_world,
                                                          monkeypatch, page_size, waits):
    monkeypatch.setattr(payloads_ga4, "GA4_PAGE_SIZE", page_size)
    monkeypatch.setattr(ga4, "PAGE_SIZE", page_size)
    replay.serve([STREAM.name], DAYS)
    client = api_client("ga4")
    for day in DAYS:
        assert_demo_rows(client, replay_world, STREAM.name, day)
    assert replay.unmatched == []
    bodies = [s.body for s in replay.requests_to(RUN_REPORT)]
    assert {b["limit"] for b in bodies} == {page_size}
    assert {b["offset"] for b in bodies} >= {0, page_size, 2 * page_size}
    assert all(b["returnPropertyQuota"] is True for b in bodies)
    assert waits == []


def test_an_hourly_quota_429_waits_its_retry_after(replay, api_client, replay_world, waits):
    replay.serve([STREAM.name], DAYS[:1])
    replay.fail_next(RUN_REPORT, google_error(
        429, "RESOURCE_EXHAUSTED", "Exhausted property tokens per hour quota. Consumed "
        "40012 tokens; requested 11 tokens.", {"Retry-After": "30"}))
    assert_demo_rows(api_client("ga4"), replay_world, STREAM.name, DAYS[0])
    assert len(waits) == 1 and waits[0] >= 30.0


def test_the_daily_quota_fails_at_once(replay, api_client, replay_world, waits):
    replay.serve([STREAM.name], DAYS[:1])
    replay.fail_next(RUN_REPORT, google_error(
        429, "RESOURCE_EXHAUSTED", "Exhausted property tokens per day quota. Consumed "
        "200005 tokens; requested 11 tokens."))
    with pytest.raises(QuotaExhausted) as info:
        api_client("ga4").pull_envelope(STREAM, DAYS[0])
    message = str(info.value)
    assert f"ga4 /v1beta/properties/{first_property(replay_world)}:runReport" in message
    assert "daily token quota" in message and "midnight Pacific time" in message
    assert len(replay.seen) == 1 and waits == []


def test_an_expired_token_fails_at_once_naming_its_variable(replay, api_client, waits):
    replay.serve([STREAM.name], DAYS[:1])
    replay.fail_next(RUN_REPORT, google_error(
        401, "UNAUTHENTICATED", f"Request had invalid authentication credentials: "
        f"Bearer {replay.token}"))
    with pytest.raises(AuthError) as info:
        api_client("ga4").pull_envelope(STREAM, DAYS[0])
    message = str(info.value)
    assert "$KPI_PIPELINE_GA4_TOKEN" in message and "UNAUTHENTICATED" in message
    assert message.startswith("ga4 /v1beta/properties/")
    assert replay.token not in message and "***" in message
    assert len(replay.seen) == 1 and waits == []


def test_a_permission_denied_names_the_property_and_is_not_retried(replay, api_client,
                                                                   replay_world, waits):
    replay.serve([STREAM.name], DAYS[:1])
    replay.fail_next(RUN_REPORT, google_error(
        403, "PERMISSION_DENIED", "User does not have sufficient permissions for this "
        "property."))
    with pytest.raises(ApiError) as info:
        api_client("ga4").pull_envelope(STREAM, DAYS[0])
    assert type(info.value) is ApiError
    assert f"(GA4 property {first_property(replay_world)}): permission denied" in str(info.value)
    assert len(replay.seen) == 1 and waits == []


def test_a_503_burst_is_retried_then_succeeds(replay, api_client, replay_world, waits):
    replay.serve([STREAM.name], DAYS[:1])
    replay.fail_next(RUN_REPORT, *[google_error(503, "UNAVAILABLE", "The service is currently "
                                                "unavailable.")] * 3)
    assert_demo_rows(api_client("ga4"), replay_world, STREAM.name, DAYS[0])
    assert len(waits) == 3
    assert all(0 <= w <= cap for w, cap in zip(waits, (1, 2, 4), strict=True))


def test_low_daily_tokens_log_a_warning_and_the_token_stays_in_the_header(
        replay, api_client, replay_world, caplog):
    caplog.set_level(logging.DEBUG)
    replay.serve([STREAM.name], DAYS[:1])
    account = replay_world.accounts("ga4_property")[0]
    record = DemoClient.for_world(replay_world).fetch(STREAM, account, DAYS[0])[0]
    record["body"]["propertyQuota"]["tokensPerDay"] = {"consumed": 11, "remaining": 4_000}
    replay.add(record)
    replay.fail_next(RUN_REPORT, google_error(503, "UNAVAILABLE", f"echo {replay.token}"))
    envelope = api_client("ga4").pull_envelope(STREAM, DAYS[0])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and "daily tokens remain" in r.getMessage()]
    assert warnings == [f"ga4 property {account.account_id}: 4000 of about 200000 daily tokens "
                        "remain (2.0 %); the pull fails with QuotaExhausted once they run out"]
    assert "echo ***" in caplog.text  # the retried 503 was logged, redacted
    assert replay.token not in caplog.text and replay.token not in str(envelope)
    assert all(s.headers.get("Authorization") == f"Bearer {replay.token}" for s in replay.seen)
    assert all(replay.token not in str(s.query) for s in replay.seen)
