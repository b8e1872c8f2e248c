"""The LinkedIn connector over loopback: the demo's requests and rows, start/count paging,
Rest.li wire encoding, the daily quota, auth and scope errors, statistics windows, 5xx
bursts, timeouts and token hygiene."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, date, datetime

import pytest

from kpi_pipeline.lib.core.platforms import linkedin as linkedin_contract
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.normalized.parsing import parse_window
from kpi_pipeline.lib.sources.api import linkedin
from kpi_pipeline.lib.sources.api.connectors import CONNECTORS
from kpi_pipeline.lib.sources.api.errors import ApiError, AuthError, QuotaExhausted, RetryableError
from kpi_pipeline.lib.sources.api.session import RetryPolicy
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline_tests.sources.api.conftest import REPLAY_TODAY
from kpi_pipeline_tests.sources.api.replay import assert_demo_rows, respond, slow

# Today is 2025-03-20: 03-18 is the latest day LinkedIn serves organization statistics for.
# With 5 posts a page, the organizations' 10 to 13 posts answer in 2 or 3 pages.
DAYS = [date(2025, 3, 16), date(2025, 3, 17), date(2025, 3, 18)]
PAGE_SIZE = 5
STREAMS = ("linkedin_organization", "linkedin_posts", "linkedin_ads")
TOKEN_ENV = "KPI_PIPELINE_LINKEDIN_TOKEN"
SHARE_STATS = r"/rest/organizationalEntityShareStatistics$"
POSTS = r"/rest/posts$"
AD_ANALYTICS = r"/rest/adAnalytics$"
CAMPAIGNS = r"/rest/adAccounts/\d+/adCampaigns$"


def linkedin_error(status: int, code: str, service_code: int, message: str,
                   headers: dict[str, str] | None = None):
    """LinkedIn's error body, with the HTTP status it mirrors."""
    return respond({"status": status, "serviceErrorCode": service_code, "code": code,
                    "message": message}, status, headers)


def stream(name: str):
    return STREAMS_BY_NAME[name]


def first_account(client, stream_name: str):
    return client.accounts(stream(stream_name))[0]


def unit_session(url: str):
    """A LinkedIn session for calling the module's helpers directly."""
    return linkedin.make_session(CONNECTORS["linkedin"], "unit-token-0", url, RetryPolicy())


@pytest.fixture
def small_pages(monkeypatch):
    """Posts pages of 5: set before ``replay.serve`` so the demo and the client agree."""
    monkeypatch.setattr(linkedin_contract, "POSTS_PAGE_SIZE", PAGE_SIZE)


# ------------------------------------------------------------------ the demo's answers
def test_the_three_streams_match_the_demo_requests_and_rows_across_pages(
        small_pages, replay, api_client, replay_world, waits):
    client = api_client("linkedin")
    demo = DemoClient.for_world(replay_world)
    for day in DAYS:
        # networkSizes asks no day (LinkedIn answers the current total) while the demo
        # answers as of each day: one index holds one pull day.
        replay.serve_day(STREAMS, day)
        for name in STREAMS:
            for account in client.accounts(stream(name)):
                assert (client.fetch(stream(name), account, day)
                        == demo.fetch(stream(name), account, day))
            assert_demo_rows(client, replay_world, name, day)
    assert replay.unmatched == []
    starts = [s.query["start"] for s in replay.requests_to(POSTS)]
    assert {s.query["count"] for s in replay.requests_to(POSTS)} == {"5"}
    # every org-day asks start 0 and 5; 03-16 in Berlin (10 posts) stops there, the others
    # (11-13 posts) go on to 10: 2 orgs x 3 days x 2 passes (fetch + pull) = 12 each.
    assert (starts.count("0"), starts.count("5"), starts.count("10")) == (12, 12, 10)
    assert waits == []


def test_restli_values_travel_in_their_wire_form(replay, api_client):
    """Structure unescaped, URNs inside it percent-encoded: what Rest.li 2.0 parses."""
    replay.serve(["linkedin_organization", "linkedin_ads"], DAYS[:1])
    client = api_client("linkedin")
    client.pull_envelope(stream("linkedin_organization"), DAYS[0])
    client.pull_envelope(stream("linkedin_ads"), DAYS[0])
    raw = [request.environ["RAW_URI"] for request, _ in replay.server.log]
    assert replay.unmatched == [] and len(raw) == 12
    assert any("organizationalEntity=urn%3Ali%3Aorganization%3A" in uri
               and "&timeIntervals=(timeRange:(start:" in uri
               and ",timeGranularityType:DAY)" in uri for uri in raw)
    assert any(uri.startswith("/rest/networkSizes/urn%3Ali%3Aorganization%3A") for uri in raw)
    assert any("accounts=List(urn%3Ali%3AsponsoredAccount%3A" in uri
               and "dateRange=(start:(year:2025,month:3,day:16),end:(year:2025,month:3,"
                   "day:16))" in uri and "fields=pivotValues,dateRange," in uri for uri in raw)
    assert any("search=(id:(values:List(urn%3Ali%3AsponsoredCampaign%3A" in uri
               for uri in raw)
    assert any(uri.startswith("/rest/conversions?q=account&account=urn%3Ali%3AsponsoredAccount%3A")
               for uri in raw)


def test_restli_wire_form_of_values():
    assert linkedin.restli_wire("List(urn:li:share:1,urn:li:share:2)") == \
        "List(urn%3Ali%3Ashare%3A1,urn%3Ali%3Ashare%3A2)"
    assert linkedin.restli_wire("(id:(values:List(urn:li:sponsoredCampaign:7)))") == \
        "(id:(values:List(urn%3Ali%3AsponsoredCampaign%3A7)))"
    assert linkedin.restli_wire("urn:li:organization:5") == "urn%3Ali%3Aorganization%3A5"
    assert linkedin.restli_wire("a b,c") == "a%20b,c"
    assert linkedin.restli_query({"q": "author", "count": 5}) == "q=author&count=5"
    for broken in ("(a:1", "List(1,2", "(a:1))"):
        with pytest.raises(ValueError, match=r"not a Rest\.li value"):
            linkedin.restli_wire(broken)


def test_negative_daily_likes_and_comments_pass_through(replay, api_client, replay_world):
    """Un-likes make a day's likes negative; LinkedIn sends them and the rows keep them."""
    replay.serve(["linkedin_organization"], DAYS[:1])
    client = api_client("linkedin")
    account = first_account(client, "linkedin_organization")
    answer = copy.deepcopy(DemoClient.for_world(replay_world).fetch(
        stream("linkedin_organization"), account, DAYS[0])[0]["body"])
    answer["elements"][0]["totalShareStatistics"].update(likeCount=-4, commentCount=-1)
    replay.fail_next(SHARE_STATS, respond(answer))
    rows = parse_window("linkedin_organization",
                        [client.pull_envelope(stream("linkedin_organization"), DAYS[0])])
    mine = rows[rows["account_id"] == account.account_id].iloc[0]
    assert (mine["likes"], mine["comments"]) == (-4, -1)
    assert replay.unmatched == []


# ------------------------------------------------------------------ paging edges
def test_posts_paging_stops_at_posts_older_than_the_look_back_window(replay, api_client):
    """A page ending with a post modified before the 28-day window is the last one asked,
    even though ``total`` says more pages exist (the finder lists newest first)."""
    client = api_client("linkedin")
    account = first_account(client, "linkedin_posts")
    old = int(datetime(2025, 1, 2, tzinfo=UTC).timestamp() * 1000)
    post = {"id": "urn:li:ugcPost:77", "author": f"urn:li:organization:{account.account_id}",
            "publishedAt": old, "lastModifiedAt": old, "commentary": "old news"}
    replay.fail_next(POSTS, respond({"elements": [post], "paging": {
        "start": 0, "count": 25, "total": 400, "links": [{"rel": "next", "href": "/x"}]}}))
    replay.fail_next(SHARE_STATS, respond({"elements": [], "paging": {"start": 0}}))
    records = client.fetch(stream("linkedin_posts"), account, DAYS[0])
    assert [r["path"] for r in records] == ["/rest/posts",
                                            "/rest/organizationalEntityShareStatistics"]
    assert records[1]["params"]["ugcPosts"] == "List(urn:li:ugcPost:77)"
    assert "shares" not in records[1]["params"]


def test_more_pages_follows_total_else_the_next_link():
    posts = [{"id": "urn:li:share:1"}]
    assert linkedin._more_pages({"paging": {"total": 30}}, 0, 25, posts)
    assert not linkedin._more_pages({"paging": {"total": 25}}, 0, 25, posts)
    assert not linkedin._more_pages({"paging": {"total": 30}}, 0, 25, [])
    assert linkedin._more_pages({"paging": {"links": [{"rel": "next"}]}}, 0, 25, posts)
    assert not linkedin._more_pages({"paging": {"links": [{"rel": "prev"}]}}, 25, 25, posts)


def test_campaign_search_follows_next_page_tokens(replay, api_client, replay_world):
    replay.serve(["linkedin_ads"], DAYS[:1])
    client = api_client("linkedin")
    account = first_account(client, "linkedin_ads")
    demo = DemoClient.for_world(replay_world).fetch(stream("linkedin_ads"), account, DAYS[0])
    campaigns = demo[1]["body"]
    first = {**campaigns, "elements": campaigns["elements"][:2],
             "metadata": {"nextPageToken": "DgFl"}}
    second = {**campaigns, "elements": campaigns["elements"][2:], "metadata": {}}
    replay.fail_next(CAMPAIGNS, respond(first), respond(second))
    rows = parse_window("linkedin_ads", [client.pull_envelope(stream("linkedin_ads"),
                                                              DAYS[0])])
    asked = replay.requests_to(CAMPAIGNS)
    assert "pageToken" not in asked[0].query and asked[1].query["pageToken"] == "DgFl"
    assert asked[1].query["search"] == asked[0].query["search"]
    assert rows["campaign_name"].notna().all()


def test_a_day_without_delivery_asks_no_campaign_names(replay, api_client):
    client = api_client("linkedin")
    replay.fail_next(AD_ANALYTICS, respond({"elements": [], "paging": {"start": 0}}))
    records = client.fetch(stream("linkedin_ads"), first_account(client, "linkedin_ads"),
                           DAYS[0])
    assert [r["path"] for r in records] == ["/rest/adAnalytics"]
    assert len(replay.seen) == 1


# ------------------------------------------------------------------ errors
def test_429_is_a_daily_quota_and_fails_at_once_saying_when_it_resets(
        replay, api_client, waits, monkeypatch):
    monkeypatch.setattr(linkedin, "_utc_now", lambda: datetime(2025, 3, 20, 18, 30, 5, tzinfo=UTC))
    replay.serve(["linkedin_posts"], DAYS[:1])
    replay.fail_next(POSTS, linkedin_error(
        429, "TOO_MANY_REQUESTS", 101, "Resource level throttle APPLICATION DAY limit for "
        "calls to this resource is reached.", {"Retry-After": "3"}))
    with pytest.raises(QuotaExhausted) as info:
        api_client("linkedin").pull_envelope(stream("linkedin_posts"), DAYS[0])
    message = str(info.value)
    assert message.startswith("linkedin /rest/posts: LinkedIn's daily quota")
    assert "resets at midnight UTC, in 5 h 30 min (2025-03-21 00:00 UTC)" in message
    assert "APPLICATION DAY limit" in message
    assert len(replay.seen) == 1 and waits == []


def test_quota_reset_text_counts_to_the_next_midnight_utc():
    assert "in 0 h 01 min (2025-03-21 00:00 UTC)" in linkedin.quota_reset_text(
        datetime(2025, 3, 20, 23, 59, 30, tzinfo=UTC))
    assert "in 24 h 00 min (2025-03-21 00:00 UTC)" in linkedin.quota_reset_text(
        datetime(2025, 3, 20, tzinfo=UTC))


def test_a_5xx_burst_is_retried_with_growing_waits(replay, api_client, replay_world, waits):
    replay.serve(["linkedin_ads"], DAYS[:1])
    replay.fail_next(AD_ANALYTICS, linkedin_error(503, "SERVICE_UNAVAILABLE", 0, "busy"),
                     respond({"message": "Internal Server Error"}, 500),
                     respond({"message": "Gateway Timeout"}, 504))
    assert_demo_rows(api_client("linkedin"), replay_world, "linkedin_ads", DAYS[0])
    assert len(waits) == 3
    assert all(0 <= w <= cap for w, cap in zip(waits, (1, 2, 4), strict=True))
    assert replay.unmatched == []


@pytest.mark.parametrize("answer", [
    linkedin_error(401, "INVALID_ACCESS_TOKEN", 65600, "Invalid access token"),
    respond({"message": "Unauthorized"}, 401),
], ids=["linkedin-body", "bare-401"])
def test_an_invalid_token_fails_at_once_naming_its_variable(replay, api_client, waits, answer):
    replay.serve(["linkedin_organization"], DAYS[:1])
    replay.fail_next(SHARE_STATS, answer)
    with pytest.raises(AuthError) as info:
        api_client("linkedin").pull_envelope(stream("linkedin_organization"), DAYS[0])
    message = str(info.value)
    assert message.startswith("linkedin /rest/organizationalEntityShareStatistics: the API "
                              "rejected the access token (HTTP 401")
    assert f"${TOKEN_ENV}" in message and "Renew" in message
    assert len(replay.seen) == 1 and waits == []


def test_the_linkedin_401_body_is_quoted(replay, api_client):
    replay.serve(["linkedin_posts"], DAYS[:1])
    replay.fail_next(POSTS, linkedin_error(401, "INVALID_ACCESS_TOKEN", 65600,
                                           "Invalid access token"))
    with pytest.raises(AuthError, match=r"INVALID_ACCESS_TOKEN \(serviceErrorCode 65600\): "
                                        r"'Invalid access token'"):
        api_client("linkedin").pull_envelope(stream("linkedin_posts"), DAYS[0])


def test_a_missing_scope_fails_at_once_naming_the_scope(replay, api_client, waits):
    replay.serve(["linkedin_ads"], DAYS[:1])
    replay.fail_next(AD_ANALYTICS, linkedin_error(
        403, "ACCESS_DENIED", 100, "Not enough permissions to access: adAnalytics.FINDER-"
        "analytics.20251101"))
    with pytest.raises(ApiError) as info:
        api_client("linkedin").pull_envelope(stream("linkedin_ads"), DAYS[0])
    assert not isinstance(info.value, AuthError | QuotaExhausted | RetryableError)
    message = str(info.value)
    assert message.startswith("linkedin /rest/adAnalytics: access denied (HTTP 403 "
                              "ACCESS_DENIED (serviceErrorCode 100)")
    assert "scope r_ads_reporting" in message and f"${TOKEN_ENV}" in message
    assert len(replay.seen) == 1 and waits == []


@pytest.mark.parametrize(("day", "problem"), [
    (date(2025, 3, 19), "up to 2 days before today (2025-03-18); 2025-03-19 is too recent"),
    (date(2025, 3, 20), "2025-03-20 is too recent"),
    (date(2024, 3, 19), "last 12 months only (back to 2024-03-20); 2024-03-19 is too old"),
])
def test_statistics_days_outside_linkedins_window_are_refused_before_any_request(
        replay, api_client, day, problem):
    client = api_client("linkedin")
    with pytest.raises(ApiError, match=r"^linkedin /rest/organizationalEntityShareStatistics: "
                                       r"LinkedIn serves organization statistics") as info:
        client.fetch(stream("linkedin_organization"),
                     first_account(client, "linkedin_organization"), day)
    assert problem in str(info.value)
    assert replay.seen == []


def test_the_window_edges_are_served(replay, api_client):
    session = unit_session(replay.url)
    for day in (date(2024, 3, 20), date(2025, 3, 18)):
        linkedin.check_statistics_day(session, day, REPLAY_TODAY)
    # The pull itself leaves too-recent days pending (the re-read window fetches them).
    envelope = api_client("linkedin").pull_envelope(stream("linkedin_organization"),
                                                    date(2025, 3, 19))
    assert all(a["requests"] == [] and "publishes" in a["pending"]
               for a in envelope["accounts"])
    assert replay.seen == []


def test_a_slow_answer_times_out_and_is_asked_again(replay, api_client, replay_world, waits):
    replay.serve(["linkedin_organization"], DAYS[:1])
    replay.fail_next(r"/rest/networkSizes/", slow(0.6))
    client = api_client("linkedin", policy=RetryPolicy(timeout_seconds=0.3, max_attempts=3,
                                                       max_total_wait_seconds=30.0))
    assert_demo_rows(client, replay_world, "linkedin_organization", DAYS[0])
    assert len(waits) == 1


def test_a_slow_answer_past_the_attempts_fails_naming_the_timeout(replay, api_client):
    replay.serve(["linkedin_organization"], DAYS[:1])
    replay.fail_next(r"/rest/networkSizes/", slow(0.6))
    client = api_client("linkedin", policy=RetryPolicy(timeout_seconds=0.3, max_attempts=1))
    with pytest.raises(ApiError, match=r"linkedin /rest/networkSizes/urn:li:organization:\d+: "
                                       r"gave up after 1 attempts .* no answer within 0.3 s"):
        client.pull_envelope(stream("linkedin_organization"), DAYS[0])


def test_the_token_goes_in_the_authorization_header_only(replay, api_client, caplog):
    """Retried, echoed and failed requests: the token is in no record, error, log or query;
    the Rest.li headers are sent and recorded, Authorization is sent and not recorded."""
    caplog.set_level(logging.DEBUG)
    replay.serve(["linkedin_posts", "linkedin_organization"], DAYS[:1])
    replay.fail_next(POSTS, respond({"message": f"upstream failed for Bearer {replay.token}"},
                                    502))
    client = api_client("linkedin")
    envelope = client.pull_envelope(stream("linkedin_posts"), DAYS[0])
    replay.fail_next(SHARE_STATS, linkedin_error(
        401, "INVALID_ACCESS_TOKEN", 65600, f"Invalid access token {replay.token}"))
    with pytest.raises(AuthError) as info:
        client.pull_envelope(stream("linkedin_organization"), DAYS[0])
    assert replay.token not in str(envelope) and replay.token not in str(info.value)
    assert "***" in str(info.value)
    assert "HTTP 502" in caplog.text and replay.token not in caplog.text
    records = [r for a in envelope["accounts"] for r in a["requests"]]
    assert records and all(r["headers"] == linkedin_contract.HEADERS for r in records)
    assert replay.seen and all(
        s.headers.get("Authorization") == f"Bearer {replay.token}"
        and s.headers.get("Linkedin-Version") == "202511"
        and s.headers.get("X-Restli-Protocol-Version") == "2.0.0" for s in replay.seen)
    assert all(replay.token not in str(s.query) for s in replay.seen)


def test_post_urns_of_another_kind_are_refused(replay):
    session = unit_session(replay.url)
    params = linkedin._post_statistics_params(
        session, "urn:li:organization:1",
        [{"id": "urn:li:share:1"}, {"id": "urn:li:ugcPost:2"}, {"id": "urn:li:share:3"}])
    assert params["shares"] == "List(urn:li:share:1,urn:li:share:3)"
    assert params["ugcPosts"] == "List(urn:li:ugcPost:2)"
    with pytest.raises(ApiError, match="'urn:li:article:9' is neither a share nor a ugcPost"):
        linkedin._post_statistics_params(session, "urn:li:organization:1",
                                         [{"id": "urn:li:article:9"}])


def test_the_campaign_search_gives_each_campaign_its_objective(replay, api_client):
    """adAnalytics has no objective: it comes from ``objectiveType`` in the campaign search
    answer, joined to the campaign's days and normalized (the demo runs lead and traffic
    campaigns)."""
    replay.serve(["linkedin_ads"], DAYS[:1])
    client = api_client("linkedin")
    df = parse_window("linkedin_ads", [client.pull_envelope(stream("linkedin_ads"), DAYS[0])])
    assert replay.requests_to(CAMPAIGNS)
    assert len(df) > 0 and df["objective"].notna().all()
    assert set(df["objective"]) <= {"leads", "traffic"}


def test_ad_analytics_come_with_the_conversion_rules_that_counted_them(replay, api_client):
    """adAnalytics takes no attribution window: the client asks the ad account's conversion
    rules, and each campaign day carries the windows of the enabled ones (the demo's
    website purchase rule: 30 days after a click, 7 after a view)."""
    replay.serve(["linkedin_ads"], DAYS[:1])
    client = api_client("linkedin")
    df = parse_window("linkedin_ads", [client.pull_envelope(stream("linkedin_ads"), DAYS[0])])
    asked = replay.requests_to(r"^/rest/conversions$")
    accounts = {a.account_id for a in client.accounts(stream("linkedin_ads"))}
    assert sorted(s.query["account"] for s in asked) == sorted(
        f"urn:li:sponsoredAccount:{a}" for a in accounts)
    assert all(s.query["q"] == "account" for s in asked)
    assert len(df) > 0 and set(df["attribution_setting"]) == {"30d_click,7d_view"}
