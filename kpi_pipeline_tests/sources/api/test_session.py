"""The shared HTTP session over loopback: retries, waits, budgets and token hygiene."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from kpi_pipeline.lib.sources.api.errors import ApiError, AuthError
from kpi_pipeline.lib.sources.api.session import ApiSession, RetryPolicy, retry_after
from kpi_pipeline_tests.sources.api.replay import PlatformReplay, respond, slow

TOKEN = "session-token-SECRET-1234"


def _no_platform_rules(session, response, body) -> None:
    """The platform hook that leaves every decision to the generic mapping."""


@pytest.fixture
def session(replay: PlatformReplay, waits: list[float]) -> ApiSession:
    replay.add({"method": "GET", "path": "/v1/thing", "params": {"q": "1"}, "status": 200,
                "body": {"ok": True}})
    return ApiSession(platform="testapi", base_url=replay.url, token=TOKEN,
                      token_env="TEST_API_TOKEN", auth_headers={"Authorization": f"Bearer {TOKEN}"},
                      classify=_no_platform_rules,
                      policy=RetryPolicy(timeout_seconds=0.3, max_attempts=4,
                                         max_total_wait_seconds=30.0,
                                         backoff_initial_seconds=1.0, backoff_max_seconds=8.0),
                      sleep=waits.append)


def test_a_429_waits_at_least_retry_after_then_succeeds(session, replay, waits):
    replay.fail_next("/v1/thing", respond({"error": "slow down"}, 429, {"Retry-After": "7"}))
    record = session.get("/v1/thing", {"q": 1})
    assert record["body"] == {"ok": True}
    assert record["params"] == {"q": "1"} and record["status"] == 200
    assert len(waits) == 1 and waits[0] >= 7.0
    assert len(replay.requests_to("/v1/thing")) == 2


def test_a_5xx_burst_backs_off_with_growing_capped_jitter(session, replay, waits):
    replay.fail_next("/v1/thing", *[respond({"error": "boom"}, 503)] * 3)
    assert session.get("/v1/thing", {"q": 1})["body"] == {"ok": True}
    # attempt n waits uniform(0, min(8, 1 * 2 ** (n - 1))): at most 1, 2 and 4 seconds
    assert len(waits) == 3
    assert all(0 <= w <= cap for w, cap in zip(waits, (1, 2, 4), strict=True))


def test_the_retry_budget_bounds_the_total_wait(session, replay, waits):
    """A Retry-After beyond the budget is not waited: the request fails, saying why."""
    replay.fail_next("/v1/thing", respond({}, 429, {"Retry-After": "3600"}))
    with pytest.raises(ApiError, match=r"testapi /v1/thing: gave up after 1 attempts within "
                                       r"the 30 s retry budget: .*HTTP 429"):
        session.get("/v1/thing", {"q": 1})
    assert waits == []


def test_attempts_are_bounded(session, replay, waits):
    replay.fail_next("/v1/thing", *[respond({}, 500)] * 10)
    with pytest.raises(ApiError, match="gave up after 4 attempts"):
        session.get("/v1/thing", {"q": 1})
    assert len(replay.requests_to("/v1/thing")) == 4 and len(waits) == 3


def test_a_slow_answer_times_out_and_is_retried(session, replay, waits):
    replay.fail_next("/v1/thing", slow(0.8))
    assert session.get("/v1/thing", {"q": 1})["body"] == {"ok": True}
    assert len(waits) == 1


def test_always_slow_fails_naming_the_timeout(session, replay):
    replay.fail_next("/v1/thing", *[slow(0.6)] * 4)
    with pytest.raises(ApiError, match=r"no answer within 0.3 s"):
        session.get("/v1/thing", {"q": 1})


def test_401_fails_at_once_naming_the_variable_and_never_the_token(session, replay, caplog):
    replay.fail_next("/v1/thing", respond({"error": f"bad token {TOKEN}"}, 401))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        session.get("/v1/thing", {"q": 1})
    message = str(info.value)
    assert "$TEST_API_TOKEN" in message and "Renew" in message
    assert TOKEN not in message and "***" in message  # the echoed token is redacted
    assert TOKEN not in caplog.text
    assert len(replay.requests_to("/v1/thing")) == 1


def test_the_token_travels_in_the_header_only(session, replay):
    record = session.get("/v1/thing", {"q": 1})
    (seen,) = replay.requests_to("/v1/thing")
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(seen.query) and TOKEN not in str(record)
    assert TOKEN not in repr(session)


def test_paging_links_lose_their_credentials_and_stay_on_the_host(session, replay):
    replay.add({"method": "GET", "path": "/v1/thing", "params": {"q": "1", "after": "x"},
                "status": 200, "body": {"page": 2}})
    record = session.get(f"{replay.url}/v1/thing?q=1&after=x&access_token={TOKEN}")
    assert record["body"] == {"page": 2}
    assert record["params"] == {"q": "1", "after": "x"}
    assert "access_token" not in replay.seen[-1].query
    with pytest.raises(ApiError, match="refusing to follow a paging link to https://evil"):
        session.get("https://evil.example/v1/thing?access_token=x")


def test_a_200_without_json_is_an_error(session, replay):
    from werkzeug import Response

    replay.fail_next("/v1/thing", lambda: Response("<html>maintenance</html>", 200))
    with pytest.raises(ApiError, match="HTTP 200 without a JSON body"):
        session.get("/v1/thing", {"q": 1})


def test_retry_after_reads_seconds_and_http_dates():
    class Answer:
        def __init__(self, value):
            self.headers = {"Retry-After": value} if value is not None else {}

    assert retry_after(Answer("12")) == 12.0
    assert retry_after(Answer(None)) is None
    assert retry_after(Answer("soon")) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 <= retry_after(Answer(later)) <= 90


def test_a_token_echoed_in_a_body_is_not_stored(session, replay):
    replay.add({"method": "GET", "path": "/v1/echo", "params": {}, "status": 200,
                "body": {"paging": {"next": f"{replay.url}/v1/echo?access_token={TOKEN}&x=1"},
                         "data": [{"note": f"token {TOKEN}"}]}})
    record = session.get("/v1/echo")
    assert TOKEN not in str(record)
    assert record["body"]["data"] == [{"note": "token ***"}]
