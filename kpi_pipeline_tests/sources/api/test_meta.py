"""The Meta connector (Graph API and Marketing API) against the loopback server.

The server answers from the demo world, so every test that ends in success asserts the
API client's parsed rows equal the demo client's for the same streams and days. Faults are
Graph's real error envelopes: queued for a path (``fail_next``) or, when only one exact
request must fail, indexed for that request's query (``add_answer``).
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import date
from typing import Any

import pandas as pd
import pytest

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platforms.meta import (
    DEFAULT_ATTRIBUTION_WINDOWS,
    parse_attribution_windows,
)
from kpi_pipeline.lib.core.platforms.objectives import normalize_objective
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.normalized.parsing import parse_window
from kpi_pipeline.lib.sources.api import meta
from kpi_pipeline.lib.sources.api.errors import ApiError, AuthError
from kpi_pipeline.lib.sources.api.session import RetryPolicy
from kpi_pipeline.lib.sources.demo import payloads_meta
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline_tests.sources.api.replay import (
    PlatformReplay,
    assert_demo_rows,
    graph_error,
    respond,
    slow,
)

DAYS = [date(2025, 3, 13), date(2025, 3, 14)]
DAY = DAYS[0]
META_STREAMS = ["facebook_page", "facebook_posts", "instagram_account", "instagram_media",
                "meta_ads"]
PAGE_DAY_METRICS = list(meta.PAGE_INSIGHTS[0][0])


# ----------------------------------------------------------------------- helpers
def rows(client, stream: str, day: date = DAY) -> pd.DataFrame:
    envelope = client.pull_envelope(STREAMS_BY_NAME[stream], day)
    return parse_window(stream, [envelope]).drop(columns="pulled_at")


def demo(world) -> DemoClient:
    return DemoClient.for_world(world)


def first_account(world, stream: str) -> AccountRef:
    return demo(world).accounts(STREAMS_BY_NAME[stream])[0]


def demo_records(world, stream: str, day: date = DAY) -> list[RequestRecord]:
    """The first account's demo records for ``stream`` and ``day``."""
    return demo(world).fetch(STREAMS_BY_NAME[stream], first_account(world, stream), day)


def page_day_record(world) -> RequestRecord:
    """The first Page's daily insights request (seven metrics) on ``DAY``."""
    return demo_records(world, "facebook_page")[0]


def part(record: RequestRecord, metrics: list[str]) -> RequestRecord:
    """The demo answer to ``record``'s request asked for ``metrics`` only."""
    out = copy.deepcopy(record)
    asked = ",".join(metrics)
    out["params"]["metric"] = asked
    by_name = {entry["name"]: entry for entry in record["body"]["data"]}
    out["body"]["data"] = [by_name[m] for m in metrics if m in by_name]
    if "paging" in out["body"]:
        out["body"]["paging"] = {k: meta._with_param(v, "metric", asked)
                                 for k, v in out["body"]["paging"].items()}
    return out


def add_answer(replay: PlatformReplay, record: RequestRecord, metrics: list[str],
               error: dict[str, Any] | None = None) -> None:
    """Index the answer to ``record``'s request for ``metrics``: the demo's, or a Graph error."""
    answer = part(record, metrics)
    if error is not None:
        answer["status"], answer["body"] = 400, {"error": {"type": "OAuthException",
                                                           "fbtrace_id": "Ab12", **error}}
    replay.add(answer)


# ------------------------------------------------------------------ same rows
@pytest.mark.parametrize("stream", META_STREAMS)
def test_every_stream_gives_the_demo_rows_over_two_days(stream, replay, api_client,
                                                        replay_world, monkeypatch):
    if stream == "meta_ads":  # four campaigns a day: page by 3 so the ads page too
        monkeypatch.setattr(payloads_meta, "PAGE_SIZE", 3)
        monkeypatch.setattr(meta, "LIST_LIMIT", 3)
    client = api_client("meta", "meta_ads")
    for day in DAYS:
        # Lifetime post insights are asked without a date (Graph answers "as of now"), so
        # the same request means another day's snapshot: serve one day at a time.
        replay.index.clear()
        replay.serve([stream], [day])
        assert_demo_rows(client, replay_world, stream, day)
    assert replay.unmatched == []  # insights' paging.next (next period) was not followed
    if stream in ("facebook_posts", "instagram_media", "meta_ads"):
        assert any("after" in seen.query for seen in replay.seen)  # a second page was read


def test_the_token_stays_in_the_header(replay, api_client, replay_world, caplog):
    """Bearer header on every request; never in a query, a record, an error or a log."""
    caplog.set_level(logging.DEBUG)
    replay.serve(META_STREAMS, [DAY])
    client = api_client("meta", "meta_ads")
    records = [client.fetch(STREAMS_BY_NAME[s], first_account(replay_world, s), DAY)
               for s in META_STREAMS]
    # Graph writes access_token into list paging links (the replay does too): cleaned
    listing = records[1][0]["body"]["paging"]["next"]
    assert listing.startswith(replay.url) and "access_token" not in listing
    page = first_account(replay_world, "facebook_page").account_id
    replay.fail_next(rf"/{page}/insights$", graph_error(
        190, f"Error validating access token: token {replay.token} has expired", subcode=463))
    with pytest.raises(AuthError) as info:
        client.fetch(STREAMS_BY_NAME["facebook_page"], first_account(replay_world,
                                                                     "facebook_page"), DAY)
    assert replay.token not in json.dumps(records)
    assert replay.token not in str(info.value) and "***" in str(info.value)
    assert replay.token not in caplog.text
    assert replay.seen and all(s.headers.get("Authorization") == f"Bearer {replay.token}"
                               for s in replay.seen)
    assert all(replay.token not in str(s.query) and "access_token" not in s.query
               for s in replay.seen)


# -------------------------------------------------------- retries and waits
def test_a_429_waits_at_least_retry_after(replay, api_client, replay_world, waits):
    replay.serve(["meta_ads"], [DAY])
    act = first_account(replay_world, "meta_ads").account_id
    replay.fail_next(rf"/{act}/insights$", respond(
        {"error": {"message": "(#4) Application request limit reached", "code": 4}},
        429, {"Retry-After": "7"}))
    assert_demo_rows(api_client("meta_ads"), replay_world, "meta_ads", DAY)
    assert len(waits) == 1 and waits[0] >= 7
    assert len(replay.requests_to(rf"/{act}/insights$")) == 2


def test_a_5xx_burst_is_retried_then_succeeds(replay, api_client, replay_world, waits):
    replay.serve(["instagram_account"], [DAY])
    user = first_account(replay_world, "instagram_account").account_id
    transient = {"error": {"message": "An unexpected error has occurred. Please retry your "
                                      "request later.", "code": 2, "is_transient": True}}
    replay.fail_next(rf"/{user}/insights$", respond(transient, 500), respond(transient, 503),
                     respond({"error": "gateway"}, 502))
    assert_demo_rows(api_client("meta"), replay_world, "instagram_account", DAY)
    assert len(waits) == 3 and replay.unmatched == []


@pytest.mark.parametrize(("code", "headers", "least"), [
    (17, {}, 0.0),
    (613, {"x-business-use-case-usage": json.dumps({"1079": [
        {"type": "pages", "call_count": 100, "total_cputime": 40, "total_time": 30,
         "estimated_time_to_regain_access": 1}]})}, 60.0),
    (80001, {}, 0.0),
])
def test_graph_rate_limits_back_off_then_succeed(code, headers, least, replay, api_client,
                                                 replay_world, waits):
    replay.serve(["facebook_page"], [DAY])
    page = first_account(replay_world, "facebook_page").account_id
    replay.fail_next(rf"/{page}/insights$", respond(
        {"error": {"message": f"(#{code}) User request limit reached", "code": code,
                   "type": "OAuthException"}}, 403, headers))
    assert_demo_rows(api_client("meta"), replay_world, "facebook_page", DAY)
    assert len(waits) == 1 and waits[0] >= least


@pytest.mark.parametrize(("headers", "expected"), [
    ({"x-app-usage": json.dumps({"call_count": 95, "total_cputime": 20, "total_time": 25})},
     [meta.DEFAULT_PAUSE_SECONDS]),
    ({"x-app-usage": json.dumps({"call_count": 50, "total_cputime": 20, "total_time": 25})}, []),
    ({"x-business-use-case-usage": json.dumps({"1079": [
        {"type": "pages", "call_count": 12, "total_cputime": 3, "total_time": 91,
         "estimated_time_to_regain_access": 3}]})}, [180.0]),
    ({"x-ad-account-usage": json.dumps({"acc_id_util_pct": 92.5, "reset_time_duration": 45})},
     [45.0]),
])
def test_usage_headers_pause_from_90_percent(headers, expected, replay, api_client,
                                             replay_world, waits):
    replay.serve(["facebook_page"], [DAY])
    record = page_day_record(replay_world)
    replay.fail_next(rf"^{record['path']}$", respond(record["body"], 200, headers))
    assert_demo_rows(api_client("meta"), replay_world, "facebook_page", DAY)
    assert waits == expected


def test_a_slow_answer_times_out_and_is_retried(replay, api_client, replay_world, waits):
    replay.serve(["meta_ads"], [DAY])
    act = first_account(replay_world, "meta_ads").account_id
    replay.fail_next(rf"/{act}/insights$", slow(0.6))
    client = api_client("meta_ads", policy=RetryPolicy(timeout_seconds=0.3, max_attempts=3))
    assert_demo_rows(client, replay_world, "meta_ads", DAY)
    assert len(waits) == 1


def test_always_slow_fails_naming_the_timeout(replay, api_client, replay_world):
    replay.serve(["meta_ads"], [DAY])
    account = first_account(replay_world, "meta_ads")
    replay.fail_next(rf"/{account.account_id}/insights$", *[slow(0.6)] * 3)
    client = api_client("meta_ads", policy=RetryPolicy(timeout_seconds=0.3, max_attempts=3))
    with pytest.raises(ApiError, match=rf"meta_ads /v24.0/{account.account_id}/insights: gave "
                                       r"up after 3 attempts.*no answer within 0.3 s"):
        client.fetch(STREAMS_BY_NAME["meta_ads"], account, DAY)


# ---------------------------------------------------------- failing at once
@pytest.mark.parametrize(("connector", "stream", "variable"), [
    ("meta", "instagram_media", "KPI_PIPELINE_META_TOKEN"),
    ("meta_ads", "meta_ads", "KPI_PIPELINE_META_ADS_TOKEN"),
])
def test_an_expired_token_fails_at_once_naming_its_variable(connector, stream, variable, replay,
                                                            api_client, replay_world, waits):
    replay.serve([stream], [DAY])
    account = first_account(replay_world, stream)
    replay.fail_next(".", graph_error(190, "Error validating access token: Session has expired "
                                           "on Friday, 14-Mar-25 10:00:00 PDT.", subcode=463))
    with pytest.raises(AuthError) as info:
        api_client(connector).fetch(STREAMS_BY_NAME[stream], account, DAY)
    message = str(info.value)
    assert f"{connector} /v24.0/{account.account_id}/" in message
    assert f"${variable}" in message and "Graph error 190/463" in message
    assert len(replay.seen) == 1 and waits == []


@pytest.mark.parametrize(("stream", "day", "named"), [
    ("facebook_page", date(2023, 3, 19), "24 months before 2025-03-20: 2023-03-20"),
    ("instagram_media", date(2022, 12, 31), "24 months"),
    ("meta_ads", date(2022, 2, 19), "37 months before 2025-03-20: 2022-02-20"),
])
def test_a_day_meta_no_longer_serves_fails_before_asking(stream, day, named, replay,
                                                         api_client, replay_world):
    account = first_account(replay_world, stream)
    with pytest.raises(ApiError, match=rf"{account.account_id}: {day} is older than Meta keeps "
                                       rf"insights \({named}"):
        api_client("meta", "meta_ads").fetch(STREAMS_BY_NAME[stream], account, day)
    assert replay.seen == []


# ------------------------------------------------------- splitting and retiring
def test_reduce_the_amount_of_data_splits_the_metrics_and_merges_the_answer(
        replay, api_client, replay_world):
    replay.serve(["facebook_page"], [DAY])
    record = page_day_record(replay_world)
    add_answer(replay, record, PAGE_DAY_METRICS, {
        "code": 1, "message": "Please reduce the amount of data you're asking for, then retry "
                              "your request"})
    add_answer(replay, record, PAGE_DAY_METRICS[:3])
    add_answer(replay, record, PAGE_DAY_METRICS[3:])
    client = api_client("meta")
    account = first_account(replay_world, "facebook_page")
    merged = client.fetch(STREAMS_BY_NAME["facebook_page"], account, DAY)[0]
    # one record, shaped exactly like the answer to the whole list
    assert merged["params"]["metric"] == record["params"]["metric"]
    assert merged["body"] == replay._rewrite(record["body"])
    assert [s.query["metric"].count(",") + 1 for s in replay.requests_to(
        rf"/{account.account_id}/insights$") if s.query["period"] == "day"] == [7, 3, 4]
    assert_demo_rows(client, replay_world, "facebook_page", DAY)
    assert replay.unmatched == []


@pytest.mark.parametrize(("message", "asked"), [
    ("(#100) The value must be a valid insights metric: page_views_total", [7, 6]),
    ("(#100) metric[5] must be a valid insights metric", [7, 6]),
    # names none: halve until the failing request holds one metric
    ("(#100) The value must be a valid insights metric", [7, 3, 4, 2, 2, 1, 1]),
])
def test_a_retired_metric_without_replacement_spares_the_others(message, asked, replay,
                                                                api_client, replay_world,
                                                                caplog):
    replay.serve(["facebook_page"], [DAY])
    record = page_day_record(replay_world)
    bad = PAGE_DAY_METRICS.index("page_views_total")
    n = len(PAGE_DAY_METRICS)
    for start in range(n):  # answer any contiguous slice the client may ask
        for stop in range(start + 1, n + 1):
            error = {"code": 100, "message": message} if start <= bad < stop else None
            add_answer(replay, record, PAGE_DAY_METRICS[start:stop], error)
    add_answer(replay, record, PAGE_DAY_METRICS[:bad] + PAGE_DAY_METRICS[bad + 1:])
    caplog.set_level(logging.WARNING)
    api = rows(api_client("meta"), "facebook_page")
    expected = rows(demo(replay_world), "facebook_page")
    account = first_account(replay_world, "facebook_page").account_id
    expected.loc[expected["account_id"] == account, "profile_views"] = pd.NA
    pd.testing.assert_frame_equal(api, expected)
    assert api["views"].notna().all() and api["followers"].notna().all()  # the others survived
    assert "no longer serves metric 'page_views_total'" in caplog.text
    assert [s.query["metric"].count(",") + 1 for s in replay.requests_to(
        rf"/{account}/insights$") if s.query["period"] == "day"] == asked
    assert replay.unmatched == []


def test_a_retired_metric_named_by_graph_is_replaced_from_the_catalogue(
        replay, api_client, replay_world, monkeypatch, caplog):
    """Before its retirement date the client asks page_impressions; Graph refuses it and
    the catalogue's replacement page_media_view is asked in its place."""
    old = ["page_impressions" if m == "page_media_view" else m for m in PAGE_DAY_METRICS]
    monkeypatch.setattr(meta, "PAGE_INSIGHTS", ((tuple(old), {"period": "day"}),
                                                *meta.PAGE_INSIGHTS[1:]))
    replay.serve(["facebook_page"], [DAY])
    for account in demo(replay_world).accounts(STREAMS_BY_NAME["facebook_page"]):
        record = demo(replay_world).fetch(STREAMS_BY_NAME["facebook_page"], account, DAY)[0]
        add_answer(replay, record, old, {
            "code": 100, "message": "(#100) The value must be a valid insights metric: "
                                    "page_impressions"})
    caplog.set_level(logging.WARNING)
    assert_demo_rows(api_client("meta"), replay_world, "facebook_page", DAY)
    assert "metric 'page_impressions'; asking its replacement 'page_media_view'" in caplog.text
    assert replay.unmatched == []


def test_metrics_retired_on_the_pull_day_are_replaced_before_asking(
        replay, api_client, replay_world, monkeypatch, caplog):
    """On 2025-12-01 page_impressions and page_fans are retired: their replacements are
    asked instead, and page_fan_adds, whose replacement is already asked, is dropped."""
    old = [{"page_media_view": "page_impressions", "page_follows": "page_fans"}.get(m, m)
           for m in PAGE_DAY_METRICS] + ["page_fan_adds"]
    monkeypatch.setattr(meta, "PAGE_INSIGHTS", ((tuple(old), {"period": "day"}),
                                                *meta.PAGE_INSIGHTS[1:]))
    replay.serve(["facebook_page"], [DAY])
    caplog.set_level(logging.WARNING)
    client = api_client("meta", today=date(2025, 12, 1))
    assert_demo_rows(client, replay_world, "facebook_page", DAY)
    assert replay.unmatched == [] and all("page_fan" not in s.query["metric"]
                                          for s in replay.seen)
    assert "'page_impressions' (page) is retired since 2025-11-15; asking page_media_view" \
        in caplog.text


@pytest.mark.parametrize(("error", "kind", "named"), [
    ({"code": 10, "message": "(#10) Requires ads_read permission"}, AuthError,
     r"lacks a permission.*\$KPI_PIPELINE_META_ADS_TOKEN"),
    ({"code": 2500, "message": "Unknown path components: /act_1/insightz"}, ApiError,
     r"meta_ads /v24.0/act_\d+/insights: HTTP 400: .*Unknown path components"),
    ({"code": 1, "message": "Please reduce the amount of data you're asking for"}, ApiError,
     r"meta_ads /v24.0/act_\d+/insights: Graph error 1: Please reduce"),
])
def test_other_graph_errors_fail_with_what_to_do(error, kind, named, replay, api_client,
                                                 replay_world, waits):
    """A permission error asks for a new token; an unknown path (also code 2500) is a bad
    request, not a token problem; ads have no metric list to split."""
    replay.serve(["meta_ads"], [DAY])
    account = first_account(replay_world, "meta_ads")
    replay.fail_next(".", respond({"error": {"type": "OAuthException", **error}}, 400))
    with pytest.raises(kind, match=named) as info:
        api_client("meta_ads").fetch(STREAMS_BY_NAME["meta_ads"], account, DAY)
    assert kind is AuthError or not isinstance(info.value, AuthError)
    assert len(replay.seen) == 1 and waits == []


@pytest.mark.parametrize(("message", "named"), [
    ("(#100) The value must be a valid insights metric ... page_impressions", "page_impressions"),
    ("(#100) page_impressions_unique is not a valid insights metric", "page_impressions_unique"),
    ("(#100) metric[1] must be one of the following values: ...", "page_impressions_unique"),
    ("(#100) The value must be a valid insights metric", None),
])
def test_the_retired_metric_is_read_from_graphs_message(message, named):
    url = "https://graph.facebook.com/v24.0/1/insights?metric=page_impressions%2C" \
          "page_impressions_unique&period=day"
    assert meta._named_metric(message, url) == named


# ------------------------------------------------------------- per-media errors
@pytest.mark.parametrize("stream", ["instagram_media", "facebook_posts"])
def test_media_meta_will_not_report_are_skipped_and_the_rest_kept(stream, replay, api_client,
                                                                  replay_world, caplog):
    replay.serve([stream], [DAY])
    listed = [item["id"] for record in demo_records(replay_world, stream)
              if not record["path"].endswith("/insights") for item in record["body"]["data"]]
    few_viewers, too_old = listed[0], listed[-1]
    replay.fail_next(rf"/{few_viewers}/insights$",
                     graph_error(10, "(#10) Not enough viewers for the media to show insights"))
    replay.fail_next(rf"/{too_old}/insights$", graph_error(
        100, "Invalid parameter: media posted before business account conversion",
        subcode=2108006))
    caplog.set_level(logging.WARNING)
    api = rows(api_client("meta"), stream)
    expected = rows(demo(replay_world), stream)
    expected = expected[~expected["post_id"].isin([few_viewers, too_old])]
    pd.testing.assert_frame_equal(api, expected.reset_index(drop=True))
    assert len(api) == len(rows(demo(replay_world), stream)) - 2
    assert f"skipping {few_viewers}" in caplog.text and "Not enough viewers" in caplog.text
    assert f"skipping {too_old}" in caplog.text and "100/2108006" in caplog.text


def test_campaign_insights_ask_for_the_objective(replay, api_client, replay_world):
    """The real client asks Meta for each campaign's ``objective``; its rows carry the
    normalized objective of every demo campaign (sales, leads and traffic)."""
    replay.serve(["meta_ads"], [DAY])
    df = rows(api_client("meta", "meta_ads"), "meta_ads")
    insights = [s for s in replay.seen if s.path.endswith("/insights")]
    assert insights and all("objective" in s.query["fields"].split(",") for s in insights)
    truth = {c.campaign_id: normalize_objective("meta", c.objective)
             for brand in replay_world.brands for c in replay_world.campaigns(brand, "meta")}
    assert df["objective"].notna().all()
    assert all(truth[cid] == got for cid, got in zip(df["campaign_id"], df["objective"],
                                                     strict=True))
    assert set(df["objective"]) == {"conversions", "leads", "traffic"}


# -------------------------------------------------------- attribution windows
def _insights_windows(replay) -> list[list[str]]:
    return [json.loads(s.query["action_attribution_windows"])
            for s in replay.requests_to(r"/insights$")]


def test_ad_insights_ask_the_attribution_windows_explicitly(replay, api_client, replay_world):
    """Every page of the campaign insights asks the configured windows, so Meta's default
    or an ad set's own setting never decides what a conversion is."""
    replay.serve(["meta_ads"], [DAY])
    assert_demo_rows(api_client("meta_ads"), replay_world, "meta_ads", DAY)
    assert _insights_windows(replay) and all(
        w == ["7d_click", "7d_view"] for w in _insights_windows(replay))


def test_the_default_windows_are_metas_standard_setting(replay, api_client, replay_world):
    account = first_account(replay_world, "meta_ads")
    replay.fail_next(r"/insights$", respond({"data": []}))
    api_client("meta_ads", meta_attribution_windows=DEFAULT_ATTRIBUTION_WINDOWS).fetch(
        STREAMS_BY_NAME["meta_ads"], account, DAY)
    assert _insights_windows(replay) == [["7d_click", "1d_view"]]


@pytest.mark.parametrize(("today", "asked"), [
    (date(2026, 1, 11), ["7d_click", "7d_view"]),
    (date(2026, 1, 12), ["7d_click"]),  # Meta stopped serving 7-day view that day
])
def test_a_retired_window_is_dropped_before_asking(today, asked, replay, api_client,
                                                   replay_world, caplog):
    account = first_account(replay_world, "meta_ads")
    replay.fail_next(r"/insights$", respond({"data": []}))
    with caplog.at_level(logging.WARNING):
        api_client("meta_ads", today=today).fetch(STREAMS_BY_NAME["meta_ads"], account, DAY)
    assert _insights_windows(replay) == [asked]
    assert ("no longer serves the attribution window(s) 7d_view" in caplog.text) == \
        (asked == ["7d_click"])


def test_unknown_attribution_windows_are_refused_naming_the_accepted_ones():
    assert parse_attribution_windows(" 7d_click, 1d_view,7d_click") == ("7d_click", "1d_view")
    with pytest.raises(ValueError, match=r"'7d_clicks'.*1d_click, 7d_click, 28d_click"):
        parse_attribution_windows("7d_clicks")
