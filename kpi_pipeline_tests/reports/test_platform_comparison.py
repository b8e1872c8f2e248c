"""The platform comparison page, rendered on the store the real chain built.

Values on the page are checked against numbers this file computes on its own, from the
normalized tables (post snapshots, web sessions, ad spend), not from the KPI tables the
page reads, and they are found in the page through the browser by KPI and platform.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import (
    EN_DASH,
    for_unit,
    kpi_change,
    num0,
)
from kpi_pipeline.lib.reports.pages import TEMPLATES_DIR, load_page
from kpi_pipeline.lib.reports.render import ReportPeriod, render_one
from kpi_pipeline_tests.reports.conftest import PLAIN_CONTEXT, REPORT_MONTH, REPORT_WEEK

PAGE = "platform_comparison"
CONTEXT = PLAIN_CONTEXT
PERIODS = [ReportPeriod("week", REPORT_WEEK), ReportPeriod("month", REPORT_MONTH)]
ORGANIC = ("facebook", "instagram", "linkedin", "tiktok")
ADS = ("meta", "linkedin", "tiktok")
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
LONG = "Long " + "caption " * 40 + HOSTILE  # past 80 characters, markup in its tail


def render(conn: duckdb.DuckDBPyConnection, period: ReportPeriod, out: Path) -> Path:
    """Render this page alone (the other pages of the grain are other tests' business)."""
    return render_one(conn, PAGE, period, out, catalog(), CONTEXT).path


@pytest.fixture(scope="module")
def rendered(report_store, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("platform_comparison")
    with report_store.warehouse.get_connection(read_only=True) as conn:
        return {period.grain: render(conn, period, out) for period in PERIODS}


# ------------------------------------------------------- independent computations
@dataclass(frozen=True)
class PostGain:
    platform: str
    post_id: str
    caption: str | None
    views: int | None
    impressions: int | None
    interactions: int


def post_gains(conn: duckdb.DuckDBPyConnection, period: ReportPeriod) -> list[PostGain]:
    """Per post: the latest lifetime snapshot in the period minus the latest one before
    it (nothing before: the whole snapshot), done in Python over the raw snapshots."""
    rows = conn.execute(
        "SELECT platform, account_id, post_id, report_date, caption, views, impressions, "
        "likes, comments, shares, saves FROM normalized.post_daily WHERE report_date <= ?",
        [period.end]).fetchall()
    inside: dict[tuple, tuple] = {}
    before: dict[tuple, tuple] = {}
    for row in rows:
        key, day = row[:3], row[3]
        bucket = inside if day >= period.start else before
        if key not in bucket or bucket[key][3] < day:
            bucket[key] = row

    def interactions(row: tuple) -> int:
        likes, comments, shares, saves = row[7:11]
        return likes + comments + shares + (saves or 0)

    def minus(now: int | None, then: int | None) -> int | None:
        return None if now is None else now - (then or 0)

    gains = []
    for key, now in inside.items():
        then = before.get(key)
        gains.append(PostGain(
            platform=now[0], post_id=now[2], caption=now[4],
            views=minus(now[5], then[5] if then else None),
            impressions=minus(now[6], then[6] if then else None),
            interactions=interactions(now) - (interactions(then) if then else 0)))
    return gains


def organic_rates(conn: duckdb.DuckDBPyConnection,
                  period: ReportPeriod) -> dict[str, dict[str, float]]:
    """Engagement and share rate per platform from the post gains: interactions (or
    shares) over views, over impressions on LinkedIn. Shares need their own gains."""
    gains = post_gains(conn, period)
    shares = share_gains(conn, period)
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for gain in gains:
        exposure = gain.impressions if gain.platform == "linkedin" else gain.views
        sums[gain.platform]["interactions"] += gain.interactions
        sums[gain.platform]["exposure"] += exposure or 0
    for platform, value in shares.items():
        sums[platform]["shares"] += value
    return {p: {"engagement_rate": s["interactions"] / s["exposure"],
                "share_rate": s["shares"] / s["exposure"]} for p, s in sums.items()}


def share_gains(conn: duckdb.DuckDBPyConnection, period: ReportPeriod) -> dict[str, int]:
    """Shares gained per platform, by the same latest-minus-latest rule, in SQL written
    here (arg_max per post and side of the period start)."""
    rows = conn.execute("""
        WITH sides AS (
            SELECT platform, account_id, post_id, report_date >= ? AS inside,
                   arg_max(shares, report_date) AS shares
            FROM normalized.post_daily WHERE report_date <= ?
            GROUP BY ALL)
        SELECT i.platform, sum(i.shares - coalesce(b.shares, 0))
        FROM sides i LEFT JOIN sides b
          ON (b.platform, b.account_id, b.post_id) = (i.platform, i.account_id, i.post_id)
         AND NOT b.inside
        WHERE i.inside GROUP BY ALL""", [period.start, period.end]).fetchall()
    return {platform: int(value) for platform, value in rows}


def sessions(conn: duckdb.DuckDBPyConnection, period: ReportPeriod) -> dict[str, int]:
    rows = conn.execute(
        "SELECT platform, sum(sessions) FROM normalized.web_daily WHERE is_social "
        "AND report_date BETWEEN ? AND ? GROUP BY ALL", [period.start, period.end]).fetchall()
    return {platform: int(value) for platform, value in rows}


def cost_per_click(conn: duckdb.DuckDBPyConnection, period: ReportPeriod) -> dict[str, float]:
    rows = conn.execute(
        "SELECT platform, sum(spend_reporting) / sum(link_clicks) FROM normalized.ad_daily "
        "WHERE report_date BETWEEN ? AND ? GROUP BY ALL", [period.start, period.end]).fetchall()
    return dict(rows)


def top_posts(gains: list[PostGain], n: int = 5) -> list[PostGain]:
    """Most interactions first; ties by views (missing last), platform, post id."""
    return sorted(gains, key=lambda g: (-g.interactions, g.views is None, -(g.views or 0),
                                        g.platform, g.post_id))[:n]


# ----------------------------------------------------------------------- helpers
def cell(page, matrix: str, kpi: str, platform: str):
    return page.locator(f'table[data-matrix="{matrix}"] td[data-kpi="{kpi}"]'
                        f'[data-platform="{platform}"]')


def assert_clean(opened) -> None:
    assert opened.console_errors == []
    assert opened.requests == []
    assert opened.dialogs == []


# ------------------------------------------------------------------------- tests
def test_front_matter():
    spec = load_page(TEMPLATES_DIR / f"{PAGE}.html.j2", catalog())
    assert spec.grains == ("week", "month", "quarter") and spec.order == 40
    for query in spec.queries.values():
        text = (TEMPLATES_DIR / "queries" / query.file).read_text()
        assert text.startswith("--") and "Params:" in text
        assert "{" not in text  # nothing formatted into the SQL; values are $params
    kpis = catalog()
    shown = [k for q in spec.queries.values() for k in q.params.get("kpis", [])]
    assert shown and not [k for k in shown if kpis[k].vanity]


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: p.grain)
def test_matrix_values_match_independent_sums(period, rendered, store_conn, open_report):
    opened = open_report(rendered[period.grain], f"platform_comparison-{period.grain}")
    page = opened.page
    rates = organic_rates(store_conn, period)
    previous = organic_rates(store_conn, period.shifted(-1))
    engagement = catalog()["engagement_rate"]
    for platform in ORGANIC:
        for kpi in ("engagement_rate", "share_rate"):
            value = rates[platform][kpi]
            assert cell(page, "organic", kpi, platform).locator(".value").inner_text() \
                == for_unit(value, "ratio"), (kpi, platform)
        change = kpi_change(rates[platform]["engagement_rate"],
                            previous[platform]["engagement_rate"], engagement)
        line = cell(page, "organic", "engagement_rate", platform).locator(".change")
        assert line.inner_text() == f"{change.text} vs last {period.grain}"
        assert change.text.endswith(" pp")  # a share moves in percentage points
        assert change.tone in line.get_attribute("class").split()
    for platform, value in sessions(store_conn, period).items():
        assert cell(page, "site", "landing_page_sessions", platform) \
            .locator(".value").inner_text() == for_unit(value, "count")
    for platform, value in cost_per_click(store_conn, period).items():
        assert platform in ADS
        assert cell(page, "paid", "cost_per_click", platform).locator(".value") \
            .inner_text() == for_unit(value, "currency", "USD")
    # a dash where the platform does not have the KPI; paid and organic kept apart
    assert cell(page, "organic", "organic_click_through_rate", "instagram").inner_text() \
        == EN_DASH
    assert page.locator('table[data-matrix="organic"] th[data-platform="meta"]').count() == 0
    assert page.locator('table[data-matrix="paid"] th[data-platform]') \
        .evaluate_all("els => els.map(e => e.dataset.platform)") == list(ADS)
    # the period and the unit travel with the numbers
    text = opened.text()
    assert text.count(period.label) >= 4
    assert "percent" in text and "USD" in text
    assert page.locator("figure svg").count() >= 2
    chart_titles = page.locator("figure svg text").evaluate_all(
        "els => els.map(e => e.textContent)")
    assert any(t.startswith("Engagement rate by platform") for t in chart_titles)
    assert any(t.startswith("Landing-page sessions from social by platform")
               for t in chart_titles)
    assert_clean(opened)


def test_definitions_name_linkedin_impressions(rendered, open_report):
    opened = open_report(rendered["week"])
    page = opened.page
    linkedin = page.locator('dd[data-kpi="engagement_rate"] li[data-platform="linkedin"]')
    assert linkedin.inner_text() == "LinkedIn: (likes + comments + shares) / impressions"
    instagram = page.locator('dd[data-kpi="engagement_rate"] li[data-platform="instagram"]')
    assert instagram.inner_text() == ("Instagram: (likes + comments + shares + saves) / views "
                                      "(impressions where a row has no views)")
    why = page.locator('dd[data-kpi="engagement_rate"] p').inner_text()
    assert "LinkedIn divides by impressions" in why
    assert "Facebook, Instagram and TikTok divide by views" in why
    # only KPIs whose formula differs across platforms are listed
    listed = page.locator("dl.definitions dt").evaluate_all(
        "els => els.map(e => e.dataset.kpi)")
    assert listed == ["engagement_rate", "share_rate", "organic_click_through_rate"]
    assert_clean(opened)


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: p.grain)
def test_top_posts_match_independent_computation(period, rendered, store_conn, open_report):
    opened = open_report(rendered[period.grain])
    rows = opened.page.locator("table.posts tbody tr")
    expected = top_posts(post_gains(store_conn, period))
    assert rows.count() == len(expected) == 5
    for i, post in enumerate(expected):
        row = rows.nth(i)
        assert row.get_attribute("data-post") == post.post_id
        cells = row.locator("td").all_inner_texts()
        assert cells[4] == (post.caption or EN_DASH)
        assert cells[6:9] == [num0(post.views), num0(post.impressions),
                              num0(post.interactions)]
    assert_clean(opened)


def test_hostile_caption_shows_as_text(report_store, tmp_path, open_report):
    """A caption is untrusted: on a copy of the store with a script and an image in one
    caption and a very long one in another, both show as text and nothing runs."""
    period = ReportPeriod("week", REPORT_WEEK)
    copy = tmp_path / "escaping_store.duckdb"
    source = report_store.warehouse.path()
    with duckdb.connect(str(copy)) as conn:
        conn.execute(f"ATTACH '{source}' AS src (READ_ONLY)")  # ATTACH takes no parameter
        for schema, table in [("kpi", "weekly"), ("kpi", "monthly"), ("baseline", "weekly"),
                              ("baseline", "monthly"), ("normalized", "account_daily"),
                              ("normalized", "ad_daily"), ("normalized", "web_daily"),
                              ("normalized", "email_daily")]:
            # identifiers from the list above; no value is formatted into SQL
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            conn.execute(f"CREATE TABLE {schema}.{table} AS FROM src.{schema}.{table}")
        conn.execute("CREATE TABLE normalized.post_daily AS FROM src.normalized.post_daily "
                     "WHERE report_date <= ?", [period.end])
        conn.execute("DETACH src")
        first, second = top_posts(post_gains(conn, period), 2)
        conn.execute("UPDATE normalized.post_daily SET caption = ? WHERE post_id = ?",
                     [HOSTILE, first.post_id])
        conn.execute("UPDATE normalized.post_daily SET caption = ? WHERE post_id = ?",
                     [LONG, second.post_id])
    with duckdb.connect(str(copy), read_only=True) as conn:
        path = render(conn, period, tmp_path / "out")
    assert HOSTILE not in path.read_text()
    opened = open_report(path)
    page = opened.page
    captions = page.locator("table.posts td.caption").all_inner_texts()
    assert captions[0] == HOSTILE
    assert captions[1].startswith("Long caption") and captions[1].endswith("…")
    assert len(captions[1]) == 80
    # the whole caption is one click away (and in the cell's title), still as text
    long_cell = page.locator("table.posts td.caption").nth(1)
    assert long_cell.get_attribute("title") == LONG
    long_cell.locator("summary").click()
    assert long_cell.locator(".full").inner_text() == LONG
    assert LONG in opened.text()
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert_clean(opened)
