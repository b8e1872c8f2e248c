"""The TikTok connectors over loopback: the demo's rows, TikTok's 200-with-error codes,
rate limits, system-error bursts, timeouts and token hygiene."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest

from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.normalized.parsing import parse_window
from kpi_pipeline.lib.sources.api.errors import ApiError, AuthError, RetryableError
from kpi_pipeline.lib.sources.api.session import RetryPolicy
from kpi_pipeline.lib.sources.api.tiktok import REPORT_MAX_DAYS, report_window
from kpi_pipeline_tests.sources.api.replay import assert_demo_rows, respond, slow

# 03-12 answers the ads report in one page for one advertiser and two for the other;
# 03-13 and 03-14 in two pages for both. Video lists page by cursor on every day.
DAYS = [date(2025, 3, 12), date(2025, 3, 13), date(2025, 3, 14)]
STREAMS = ("tiktok_account", "tiktok_videos", "tiktok_ads")
REPORT = r"/report/integrated/get/$"
CONNECTOR = {"tiktok_account": "tiktok", "tiktok_videos": "tiktok", "tiktok_ads": "tiktok_ads"}
TOKEN_ENV = {"tiktok": "KPI_PIPELINE_TIKTOK_TOKEN", "tiktok_ads": "KPI_PIPELINE_TIKTOK_ADS_TOKEN"}
PATHS = {"tiktok_account": r"/business/get/$", "tiktok_videos": r"/business/video/list/$",
         "tiktok_ads": REPORT}


def tiktok_error(code: int, message: str, status: int = 200,
                 headers: dict[str, str] | None = None):
    """TikTok's error envelope, by default with HTTP 200 as TikTok sends it."""
    return respond({"code": code, "message": message, "request_id": "202503200600001A2B3C4D",
                    "data": {}}, status, headers)


def test_the_three_streams_match_the_demo_rows_across_pages(replay, api_client, replay_world,
                                                             waits):
    replay.serve(["tiktok_account", "tiktok_ads"], DAYS)
    client = api_client("tiktok", "tiktok_ads")
    for day in DAYS:
        assert_demo_rows(client, replay_world, "tiktok_account", day)
        assert_demo_rows(client, replay_world, "tiktok_ads", day)
        # the video list takes no date (it is a snapshot of lifetime totals), so the
        # server can hold one day's list at a time
        replay.serve(["tiktok_videos"], [day])
        assert_demo_rows(client, replay_world, "tiktok_videos", day)
    assert replay.unmatched == []
    pages = [s.query["page"] for s in replay.requests_to(REPORT)]
    assert pages.count("2") == 5 and pages.count("3") == 0  # 3 days x 2 advertisers, 1 single
    assert all(s.query["page_size"] == "2" for s in replay.requests_to(REPORT))
    assert {s.query["cursor"] for s in replay.requests_to(PATHS["tiktok_videos"])} == {"0", "20"}
    assert waits == []


def test_a_200_with_rate_limit_code_backs_off_then_succeeds(replay, api_client, replay_world,
                                                            waits):
    replay.serve(["tiktok_ads"], DAYS[:1])
    replay.fail_next(REPORT, tiktok_error(40100, "Too many requests. Please retry later."))
    assert_demo_rows(api_client("tiktok_ads"), replay_world, "tiktok_ads", DAYS[0])
    assert len(waits) == 1 and 0 <= waits[0] <= 1.0  # first back-off: uniform(0, 1 s)
    assert replay.unmatched == []


@pytest.mark.parametrize("stream_name", ["tiktok_ads", "tiktok_account"])
def test_an_invalid_token_fails_at_once_naming_its_variable(replay, api_client, stream_name,
                                                            waits):
    replay.serve([stream_name], DAYS[:1])
    replay.fail_next(PATHS[stream_name], tiktok_error(
        40105, f"Access token is incorrect or has been revoked: {replay.token}"))
    client = api_client(CONNECTOR[stream_name])
    with pytest.raises(AuthError) as info:
        client.pull_envelope(STREAMS_BY_NAME[stream_name], DAYS[0])
    message = str(info.value)
    assert f"${TOKEN_ENV[CONNECTOR[stream_name]]}" in message and "Renew" in message
    assert f"{CONNECTOR[stream_name]} /open_api/v1.3/" in message and "40105" in message
    assert replay.token not in message and "***" in message
    assert len(replay.seen) == 1 and waits == []


def test_a_system_error_burst_is_retried_with_growing_waits(replay, api_client, replay_world,
                                                            waits):
    replay.serve(["tiktok_account"], DAYS[:1])
    replay.fail_next(PATHS["tiktok_account"],
                     *[tiktok_error(50000, "System error, please retry")] * 2,
                     tiktok_error(51021, "Service is busy"))
    assert_demo_rows(api_client("tiktok"), replay_world, "tiktok_account", DAYS[0])
    assert len(waits) == 3
    assert all(0 <= w <= cap for w, cap in zip(waits, (1, 2, 4), strict=True))


def test_a_429_waits_at_least_its_retry_after(replay, api_client, replay_world, waits):
    replay.serve(["tiktok_ads"], DAYS[:1])
    replay.fail_next(REPORT, respond({"message": "Too Many Requests"}, 429, {"Retry-After": "7"}))
    assert_demo_rows(api_client("tiktok_ads"), replay_world, "tiktok_ads", DAYS[0])
    assert len(waits) == 1 and waits[0] >= 7.0


def test_a_slow_answer_times_out_and_is_asked_again(replay, api_client, replay_world, waits):
    replay.serve(["tiktok_videos"], DAYS[:1])
    replay.fail_next(PATHS["tiktok_videos"], slow(0.6))
    client = api_client("tiktok", policy=RetryPolicy(timeout_seconds=0.3, max_attempts=3,
                                                     max_total_wait_seconds=30.0))
    assert_demo_rows(client, replay_world, "tiktok_videos", DAYS[0])
    assert len(waits) == 1


def test_any_other_code_fails_without_retry_naming_code_message_and_request_id(
        replay, api_client, waits):
    replay.serve(["tiktok_ads"], DAYS[:1])
    replay.fail_next(REPORT, tiktok_error(40002, "start_date: Field must be set"))
    with pytest.raises(ApiError) as info:
        api_client("tiktok_ads").pull_envelope(STREAMS_BY_NAME["tiktok_ads"], DAYS[0])
    assert not isinstance(info.value, AuthError | RetryableError)
    message = str(info.value)
    assert message.startswith("tiktok_ads /open_api/v1.3/report/integrated/get/: TikTok code "
                              "40002: 'start_date: Field must be set'")
    assert "request_id 202503200600001A2B3C4D" in message
    assert len(replay.seen) == 1 and waits == []


def test_the_token_goes_in_the_header_only(replay, api_client, caplog):
    """Retried, echoed and failed requests: the token is in no record, error, log or query."""
    caplog.set_level(logging.DEBUG)
    replay.serve(["tiktok_ads", "tiktok_account"], DAYS[:1])
    replay.fail_next(REPORT, tiktok_error(40100, f"Too many requests for token {replay.token}"))
    envelope = api_client("tiktok_ads").pull_envelope(STREAMS_BY_NAME["tiktok_ads"], DAYS[0])
    replay.fail_next(PATHS["tiktok_account"], tiktok_error(40105, f"bad token {replay.token}"))
    with pytest.raises(AuthError) as info:
        api_client("tiktok").pull_envelope(STREAMS_BY_NAME["tiktok_account"], DAYS[0])
    assert replay.token not in str(envelope) and replay.token not in str(info.value)
    assert "rate limited" in caplog.text and replay.token not in caplog.text
    assert replay.seen and all(s.headers.get("Access-Token") == replay.token
                               for s in replay.seen)
    assert all(replay.token not in str(s.query) for s in replay.seen)


def test_report_windows_are_at_most_thirty_local_days():
    assert report_window(date(2025, 3, 10), date(2025, 3, 10)) == ("2025-03-10", "2025-03-10")
    assert report_window(date(2025, 3, 1), date(2025, 3, 30)) == ("2025-03-01", "2025-03-30")
    assert REPORT_MAX_DAYS == 30
    with pytest.raises(ValueError, match=r"1 to 30 days per query; 2025-03-01\.\.2025-03-31 is 31"):
        report_window(date(2025, 3, 1), date(2025, 3, 31))
    with pytest.raises(ValueError, match="is 0"):
        report_window(date(2025, 3, 2), date(2025, 3, 1))


def test_the_video_list_stops_at_the_look_back(replay, api_client, replay_world):
    """TikTok lists every video, newest first: paging stops at the page reaching past the
    28-day look-back, the parser accepts that stop, and keeps only look-back videos."""
    from datetime import UTC, datetime

    account = replay_world.accounts("tiktok_account")[0]
    day = date(2025, 3, 14)
    recent = int(datetime(2025, 3, 10, 12, tzinfo=UTC).timestamp())
    old = int(datetime(2025, 1, 20, 12, tzinfo=UTC).timestamp())  # 53 days before
    video = {"caption": "x", "video_views": 10, "likes": 1, "comments": 0, "shares": 0,
             "reach": 8, "average_time_watched": 1.5, "total_time_watched": 15.0,
             "full_video_watched_rate": 0.5}
    fields = ('["item_id","create_time","caption","video_views","likes","comments","shares",'
              '"reach","average_time_watched","total_time_watched","full_video_watched_rate"]')
    for other in replay_world.accounts("tiktok_account"):
        replay.add({"method": "GET", "path": "/open_api/v1.3/business/video/list/",
                    "params": {"business_id": other.account_id, "fields": fields,
                               "cursor": "0", "max_count": "20"},
                    "status": 200, "body": {"code": 0, "message": "OK", "request_id": "r1",
                                            "data": {"videos": [
                                                {**video, "item_id": "v-new",
                                                 "create_time": recent},
                                                {**video, "item_id": "v-old",
                                                 "create_time": old}],
                                                "cursor": 2, "has_more": True}}})
    envelope = api_client("tiktok").pull_envelope(STREAMS_BY_NAME["tiktok_videos"], day)
    assert replay.unmatched == []  # the second page was never asked
    assert {s.query["cursor"] for s in replay.requests_to("/business/video/list/")} == {"0"}
    (entry,) = [a for a in envelope["accounts"] if a["account_id"] == account.account_id]
    assert "look-back" in entry["requests"][-1]["stopped_at_lookback"]
    rows = parse_window("tiktok_videos", [{**envelope, "accounts": [entry]}])
    assert list(rows["post_id"]) == ["v-new"]


def test_the_report_asks_for_the_campaign_objective(replay, api_client, replay_world, waits):
    """``objective_type`` is among the report's metrics (an attribute metric of the
    AUCTION_CAMPAIGN level); the rows carry it normalized."""
    replay.serve(["tiktok_ads"], DAYS[:1])
    client = api_client("tiktok", "tiktok_ads")
    df = parse_window("tiktok_ads", [client.pull_envelope(STREAMS_BY_NAME["tiktok_ads"],
                                                          DAYS[0])])
    asked = replay.requests_to(REPORT)
    assert asked and all(s.query["data_level"] == "AUCTION_CAMPAIGN" and
                         "objective_type" in json.loads(s.query["metrics"]) for s in asked)
    assert len(df) > 0 and df["objective"].notna().all()
    assert set(df["objective"]) == {"conversions", "traffic"}


def test_the_report_comes_with_its_campaigns_ad_groups_and_their_windows(replay, api_client,
                                                                        waits):
    """The report takes no attribution window: the client asks the ad groups of the
    campaigns it names (every page), and each campaign day carries their windows (the
    demo's: 7 days after a click, 1 after a view)."""
    replay.serve(["tiktok_ads"], DAYS[1:2])
    client = api_client("tiktok_ads")
    df = parse_window("tiktok_ads", [client.pull_envelope(STREAMS_BY_NAME["tiktok_ads"],
                                                          DAYS[1])])
    asked = replay.requests_to(r"/adgroup/get/$")
    assert replay.unmatched == [] and len(asked) > len({s.query["advertiser_id"]
                                                        for s in asked})  # paged
    for seen in asked:
        assert "click_attribution_window" in json.loads(seen.query["fields"])
        assert "view_attribution_window" in json.loads(seen.query["fields"])
        reported = set(df.loc[df["ad_account_id"] == seen.query["advertiser_id"],
                              "campaign_id"])
        assert set(json.loads(seen.query["filtering"])["campaign_ids"]) == reported
    assert len(df) > 0 and set(df["attribution_setting"]) == {"7d_click,1d_view"}
