"""A second, independent formulation of the attribution, compared on the demo.

``lib/kpis/attribution.py`` is one long SQL pipeline; its hand-built tests check each rule
on a handful of journeys. This module checks the whole of it on realistic data: six
ingest weeks of the demo are written, read and attributed through the real assets, then
every conversion's credits are computed again here in plain Python over the rows of
``normalized.web_sessions`` and ``normalized.web_events``, from the rules as the README
states them ("Web events and attribution"), sharing no SQL or helper with the production
module. Per conversion and model, the credits per channel / platform / campaign must agree
to 1e-9, and ``attribution.daily`` must be the sums of them.

The comparison is a function returning every difference, so a test can prove that it
catches a production credit moved by a millionth; another proves it covers every model
and enough conversions to mean something.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from kpi_pipeline.defs.attribution.assets import attribution_daily, ga4_events, web_events
from kpi_pipeline.defs.partitions import range_tags
from kpi_pipeline_tests.conftest import demo_resources

FIRST, LAST = "2025-01-27", "2025-03-03"  # six ingest weeks (Mondays), as the asset test
WINDOW = (date(2025, 1, 27), date(2025, 3, 9))
LOOKBACK_DAYS, HALF_LIFE_DAYS = 30, 7.0  # the settings' defaults, used by the run
MODEL_NAMES = ("last_click", "last_non_direct", "first_touch", "linear", "position_based",
               "time_decay")
TOLERANCE = 1e-9

Scope = tuple[str, str, str]  # channel, platform ('' for none), campaign


@dataclass(frozen=True)
class Touch:
    """One session as a touch of a journey."""

    start: datetime
    ga_session_id: int
    user_pseudo_id: str
    channel: str
    platform: str
    campaign: str


@dataclass(frozen=True)
class Conversion:
    """One conversion event counted once, with what the daily totals group it by."""

    conversion_id: str
    property_id: str
    day: date
    at: datetime
    kind: str
    revenue: float
    user_pseudo_id: str
    ga_session_id: int
    user_key: str


def _conversions(events: list[tuple], user_of_browser: dict[tuple[str, str], str]
                 ) -> list[Conversion]:
    """Conversion events of the window; a purchase's transaction id counted once (the
    earliest event, then file and record, keeps it)."""
    seen: set[tuple[str, str]] = set()
    found = []
    for (prop, day, at, kind, revenue, pseudo, user_id, session, transaction, file,
         record) in sorted(events, key=lambda e: (e[2], e[9], e[10])):
        if not WINDOW[0] <= day <= WINDOW[1]:
            continue
        if transaction is not None:
            if (prop, transaction) in seen:
                continue
            seen.add((prop, transaction))
        key = user_id or user_of_browser.get((prop, pseudo)) or pseudo
        found.append(Conversion(f"{file}:{record}", prop, day, at, kind, revenue or 0.0,
                                pseudo, session, key))
    return found


def _credits(journey: list[Touch], conversion: Conversion) -> dict[str, list[float]]:
    """Each model's credit per touch of ``journey`` (ordered), from the README's rules."""
    n = len(journey)
    last_non_direct = max((i for i, t in enumerate(journey) if t.channel != "direct"),
                          default=n - 1)
    if n == 1:
        positions = [1.0]
    elif n == 2:
        positions = [0.5, 0.5]
    else:
        positions = [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    ages = [(conversion.at - t.start).total_seconds() / 86400 for t in journey]
    weights = [2 ** (-age / HALF_LIFE_DAYS) for age in ages]
    return {
        "last_click": [1.0 if i == n - 1 else 0.0 for i in range(n)],
        "last_non_direct": [1.0 if i == last_non_direct else 0.0 for i in range(n)],
        "first_touch": [1.0 if i == 0 else 0.0 for i in range(n)],
        "linear": [1 / n] * n,
        "position_based": positions,
        "time_decay": [w / sum(weights) for w in weights],
    }


def second_formulation(conn: duckdb.DuckDBPyConnection
                       ) -> tuple[dict[tuple[str, str], dict[Scope, float]],
                                  list[Conversion]]:
    """Credits per (conversion, model) and scope, and the conversions, computed in Python
    from the normalized tables alone."""
    sessions = conn.execute(
        "SELECT property_id, user_pseudo_id, ga_session_id, user_id, session_start, "
        "channel, coalesce(platform, ''), campaign FROM normalized.web_sessions").fetchall()
    events = conn.execute(
        "SELECT property_id, event_date, event_ts, conversion_type, revenue, "
        "user_pseudo_id, user_id, ga_session_id, transaction_id, source_file, "
        "source_record FROM normalized.web_events WHERE conversion_type IS NOT NULL"
    ).fetchall()
    # A browser is a person where the site set a user_id on any of its sessions.
    user_of_browser: dict[tuple[str, str], str] = {}
    for prop, pseudo, _, user_id, *_ in sessions:
        if user_id is not None:
            user_of_browser[(prop, pseudo)] = max(user_id,
                                                  user_of_browser.get((prop, pseudo), ""))
    by_person: dict[tuple[str, str], list[Touch]] = defaultdict(list)
    for prop, pseudo, session, user_id, start, channel, platform, campaign in sessions:
        key = user_id or user_of_browser.get((prop, pseudo)) or pseudo
        by_person[(prop, key)].append(Touch(start, session, pseudo, channel, platform,
                                            campaign))
    credits: dict[tuple[str, str], dict[Scope, float]] = {}
    conversions = []
    for conversion in _conversions(events, user_of_browser):
        earliest = conversion.at - timedelta(days=LOOKBACK_DAYS)
        journey = sorted((t for t in by_person[(conversion.property_id, conversion.user_key)]
                          if earliest <= t.start <= conversion.at),
                         key=lambda t: (t.start, t.ga_session_id, t.user_pseudo_id))
        # "Up to the session holding the conversion": a session another device started
        # after it (and before the conversion) is not part of this journey.
        holding = [i for i, t in enumerate(journey)
                   if (t.user_pseudo_id, t.ga_session_id)
                   == (conversion.user_pseudo_id, conversion.ga_session_id)]
        if holding:
            journey = journey[:holding[0] + 1]
        if not journey:
            continue  # no stored session: not attributed (the asset's warning check)
        conversions.append(conversion)
        for model, shares in _credits(journey, conversion).items():
            scopes: dict[Scope, float] = defaultdict(float)
            for touch, share in zip(journey, shares, strict=True):
                scopes[(touch.channel, touch.platform, touch.campaign)] += share
            credits[(conversion.conversion_id, model)] = dict(scopes)
    return credits, conversions


def production_credits(conn: duckdb.DuckDBPyConnection
                       ) -> dict[tuple[str, str], dict[Scope, float]]:
    """``attribution.credits`` summed per (conversion, model) and scope."""
    found: dict[tuple[str, str], dict[Scope, float]] = defaultdict(dict)
    for conversion, model, channel, platform, campaign, credit in conn.execute(
            "SELECT conversion_id, model, channel, coalesce(platform, ''), campaign, "
            "sum(credit) FROM attribution.credits GROUP BY ALL").fetchall():
        found[(conversion, model)][(channel, platform, campaign)] = credit
    return dict(found)


def differences(expected: dict[tuple[str, str], dict[Scope, float]],
                actual: dict[tuple[str, str], dict[Scope, float]]) -> list[str]:
    """Every (conversion, model, scope) whose credit differs by more than 1e-9, and every
    (conversion, model) present on one side only."""
    problems = [f"{key}: only in the second formulation" for key in expected.keys()
                - actual.keys()]
    problems += [f"{key}: only in attribution.credits" for key in actual.keys()
                 - expected.keys()]
    for key in expected.keys() & actual.keys():
        for scope in expected[key].keys() | actual[key].keys():
            want, got = expected[key].get(scope, 0.0), actual[key].get(scope, 0.0)
            if abs(want - got) > TOLERANCE:
                problems.append(f"{key} {scope}: expected {want!r}, stored {got!r}")
    return sorted(problems)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[dict, dict, list[Conversion], list[tuple]]:
    """The demo's six weeks through the real assets, then both formulations' results."""
    root: Path = tmp_path_factory.mktemp("attribution_second")
    resources = demo_resources(root, ga4_export_dir=str(root / "ga4_export"))
    result = dg.materialize([ga4_events, web_events, attribution_daily],
                            resources=resources, tags=range_tags(FIRST, LAST))
    assert result.success
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        expected, conversions = second_formulation(conn)
        actual = production_credits(conn)
        daily = conn.execute("SELECT day, property_id, conversion_type, model, channel, "
                             "platform, campaign, conversions, revenue "
                             "FROM attribution.daily").fetchall()
    return expected, actual, conversions, daily


def test_every_credit_agrees_with_the_second_formulation(demo):
    expected, actual, _, _ = demo
    assert differences(expected, actual) == []


def test_the_comparison_covers_every_model_and_many_conversions(demo):
    expected, _, conversions, _ = demo
    assert {model for _, model in expected} == set(MODEL_NAMES)
    assert len(conversions) > 100
    assert len(expected) == len(conversions) * len(MODEL_NAMES)
    assert {c.kind for c in conversions} == {"purchase", "sign_up", "lead"}
    # Multi-touch journeys are what the models disagree on: the demo must have many.
    split = [key for key, scopes in expected.items()
             if key[1] == "linear" and len(scopes) > 1]
    assert len(split) > 50


def test_a_credit_moved_by_a_millionth_is_caught(demo):
    expected, actual, _, _ = demo
    key = next(k for k, scopes in sorted(actual.items())
               if k[1] == "position_based" and len(scopes) > 1)
    first, second = sorted(actual[key])[:2]
    altered = {**actual, key: {**actual[key], first: actual[key][first] + 1e-6,
                               second: actual[key][second] - 1e-6}}
    found = differences(expected, altered)
    assert len(found) == 2 and all(str(key) in line for line in found)
    dropped = {k: v for k, v in actual.items() if k != key}
    assert differences(expected, dropped) == [f"{key}: only in the second formulation"]


def test_daily_totals_are_the_sums_of_the_credits(demo):
    expected, _, conversions, daily = demo
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for conversion in conversions:
        for model in MODEL_NAMES:
            for (channel, platform, campaign), credit in expected[
                    (conversion.conversion_id, model)].items():
                row = sums[(conversion.day, conversion.property_id, conversion.kind, model,
                            channel, platform, campaign)]
                row[0] += credit
                row[1] += credit * conversion.revenue
    stored = {tuple(r[:7]): (r[7], r[8]) for r in daily}
    assert stored.keys() == sums.keys()
    for key, (credit, revenue) in sums.items():
        assert math.isclose(stored[key][0], credit, abs_tol=2 * TOLERANCE), key
        assert math.isclose(stored[key][1], revenue, rel_tol=1e-9, abs_tol=1e-6), key
