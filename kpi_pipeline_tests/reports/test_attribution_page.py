"""The attribution page ("Where social pays") on the shared demo store, April 2025: the
revenue each channel gets under each model, recomputed here from the journeys' credits
(attribution.credits x the conversions' revenue, converted in Python at the stored
rates), read back from the page in the browser."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from kpi_pipeline.lib.kpis.attribution import MODELS
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import for_unit, pct1
from kpi_pipeline.lib.reports.render import ReportPeriod, render_one
from kpi_pipeline_tests.reports.conftest import PLAIN_CONTEXT, REPORT_MONTH

PERIOD = ReportPeriod("month", REPORT_MONTH)
SOCIAL = ("organic_social", "paid_social")


def expected_revenue(conn) -> dict[str, dict[str, float]]:
    """model -> channel -> purchase revenue in USD, from the credits of each purchase."""
    currency = dict(conn.execute(
        "SELECT DISTINCT property_id, currency FROM normalized.web_daily").fetchall())
    rates = {(day, cur): rate for day, cur, rate in conn.execute(
        "SELECT report_date, currency, rate FROM normalized.fx_daily "
        "WHERE reporting_currency = 'USD'").fetchall()}
    rows = conn.execute("""
        SELECT c.model, c.channel, c.credit, v.revenue, v.property_id, v.conversion_date
        FROM attribution.credits c JOIN attribution.conversions v USING (conversion_id)
        WHERE v.conversion_type = 'purchase' AND v.conversion_date BETWEEN ? AND ?""",
        [PERIOD.start, PERIOD.end]).fetchall()
    assert rows
    found: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for model, channel, credit, revenue, prop, day in rows:
        cur = currency[prop]
        rate = 1.0 if cur == "USD" else rates[(day, cur)]
        found[model][channel] += credit * revenue * rate
    return found


@pytest.fixture(scope="module")
def page(report_store, tmp_path_factory) -> Path:
    with report_store.warehouse.get_connection(read_only=True) as conn:
        return render_one(conn, "attribution", PERIOD, tmp_path_factory.mktemp("attribution"),
                          catalog(), PLAIN_CONTEXT).path


def test_revenue_by_channel_under_every_model(page, store_conn, open_report):
    expected = expected_revenue(store_conn)
    opened = open_report(page, "attribution")
    assert "Where social pays" in opened.page.locator("h1").inner_text()
    headers = opened.page.locator('table[data-table="revenue"] thead th').all_inner_texts()
    assert len(headers) == 1 + len(MODELS)
    totals = {model: sum(by_channel.values()) for model, by_channel in expected.items()}
    # the models only move credit: every model's total is the period's purchase revenue
    assert max(totals.values()) == pytest.approx(min(totals.values()), rel=1e-9)
    channels = {ch for by_channel in expected.values() for ch in by_channel}
    assert {"organic_social", "paid_social", "email"} <= channels
    for channel in channels:
        row = opened.page.locator(f'table[data-table="revenue"] tr[data-channel="{channel}"]')
        cells = row.locator("td").all_inner_texts()
        assert cells == [for_unit(expected[m].get(channel), "currency") for m in MODELS], channel
    footer = opened.page.locator('table[data-table="revenue"] tfoot td').all_inner_texts()
    assert footer == [for_unit(totals[m], "currency") for m in MODELS]
    social = {m: sum(v for ch, v in expected[m].items() if ch in SOCIAL) for m in MODELS}
    card = opened.page.locator('[data-figure="social-revenue-position-based"]').inner_text()
    assert for_unit(social["position_based"], "currency") in card
    assert pct1(social["position_based"] / totals["last_click"]) in card
    card = opened.page.locator('[data-figure="social-revenue-last-click"]').inner_text()
    assert for_unit(social["last_click"], "currency") in card
    # the demo's journeys find social before the last click: first touch gives it more
    assert social["first_touch"] > social["last_click"]
    assert opened.page.locator('figure[data-chart="social_by_model"] svg').count() == 1
    assert opened.console_errors == [] and opened.requests == [] and opened.dialogs == []


def test_social_platforms_touched_and_assisted(page, store_conn, open_report):
    """Touched: purchases, sign-ups and leads with a touch of the platform; assisted: of
    those, the ones whose last non-direct click went elsewhere (counted here per
    conversion from its touches)."""
    touches = store_conn.execute("""
        SELECT conversion_id, model, platform, channel, credit FROM attribution.credits
        WHERE conversion_date BETWEEN ? AND ? AND model IN ('linear', 'last_non_direct')""",
        [PERIOD.start, PERIOD.end]).fetchall()
    platforms: dict[str, set[str]] = defaultdict(set)
    last: dict[str, str | None] = {}
    for conversion, model, platform, channel, credit in touches:
        if model == "linear" and channel in SOCIAL and platform:
            platforms[platform].add(conversion)
        if model == "last_non_direct" and credit > 0:
            last[conversion] = platform
    opened = open_report(page, "attribution-platforms")
    assert platforms
    for platform, touched in platforms.items():
        row = opened.page.locator(f'table[data-table="platforms"] tr[data-platform="{platform}"]')
        cells = row.locator("td").all_inner_texts()
        assisted = sum(1 for c in touched if last.get(c) != platform)
        assert cells[-2:] == [f"{len(touched):,}", f"{assisted:,}"], platform
        assert 0 < assisted < len(touched)


def test_a_store_without_the_export_says_so(tmp_path, open_report):
    """A store whose attribution never ran renders the page with the sentence that says
    what is missing, not an error."""
    import duckdb

    from kpi_pipeline.lib.normalized.store import ensure_tables

    path = tmp_path / "young.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_tables(conn)
    with duckdb.connect(str(path), read_only=True) as conn:
        page = render_one(conn, "attribution", PERIOD, tmp_path / "out", catalog(),
                          PLAIN_CONTEXT).path
    opened = open_report(page, "attribution-young")
    assert "No conversion has been attributed yet" in opened.text()
    assert opened.console_errors == []


def test_a_goal_reads_attributed_revenue_like_any_kpi(report_store, store_conn, tmp_path):
    """Revenue from social, position-based, is a catalogue KPI: goal attainment's running
    value over April (kpi_running, on a writable copy where the view is ensured) is the
    credits' revenue recomputed here, and the monthly KPI row holds the same."""
    import shutil

    import duckdb

    from kpi_pipeline.lib.kpis.attribution import ensure_attribution_tables
    from kpi_pipeline.lib.kpis.compute import kpi_running

    expected = sum(v for ch, v in expected_revenue(store_conn)["position_based"].items()
                   if ch in SOCIAL)
    kpi = catalog()["attributed_social_revenue_position_based"]
    assert "position-based" in kpi.label and "lookback" in kpi.description
    copy = tmp_path / "goal_copy.duckdb"
    shutil.copy(report_store.warehouse.path(), copy)
    with duckdb.connect(str(copy)) as conn:
        ensure_attribution_tables(conn)
        running = kpi_running(conn, kpi, PERIOD.start, PERIOD.end, "all", scope="all")
        stored = conn.execute(
            "SELECT value FROM kpi.monthly WHERE kpi = ? AND scope_key = 'all' "
            "AND period_start = ?", [kpi.name, PERIOD.start]).fetchone()
    assert running[PERIOD.end] == pytest.approx(expected, rel=1e-9)
    assert stored is not None and stored[0] == pytest.approx(expected, rel=1e-9)
