"""The monthly review on the demo store, checked against numbers recomputed here straight
from the normalized tables (GA4 social sessions, ad-platform spend, leads, purchases and
revenue), not through the KPI tables or the page's SQL, and read back from the page as a
browser shows it. Campaign names are untrusted text: one is renamed to carry markup in a
private copy of the store and must show as text."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from kpi_pipeline.lib.core.periods import period_last_day
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import (
    MISSING,
    display_unit,
    for_unit,
    kpi_change,
    kpi_value,
    num0,
    pct1,
)
from kpi_pipeline.lib.reports.pages import TEMPLATES_DIR, load_page
from kpi_pipeline.lib.reports.render import ReportPeriod, render_one
from kpi_pipeline_tests.reports.conftest import PLAIN_CONTEXT, REPORT_MONTH

CONTEXT = PLAIN_CONTEXT
PERIOD = ReportPeriod("month", REPORT_MONTH)
UNIT_NAMES = {"currency": "USD", "percent": "percent", "multiple": "times", "count": "count"}
UNTRUSTED = 'Black Friday <Promo> 2024 <script>alert("promo")</script>'

WEB = """
SELECT sum(sessions), sum(orders), sum(leads), sum(qualified_leads), sum(new_customers),
       sum(revenue_reporting)
FROM normalized.web_daily WHERE is_social AND report_date BETWEEN ? AND ?
"""
ADS = """
SELECT sum(spend_reporting), sum(leads), sum(purchases), sum(revenue_reporting)
FROM normalized.ad_daily WHERE report_date BETWEEN ? AND ?
"""
CAMPAIGNS = """
SELECT campaign_id, platform, sum(spend_reporting) AS spend, sum(leads) AS leads,
       sum(purchases) AS purchases, sum(revenue_reporting) AS revenue,
       arg_max(objective, report_date) AS objective
FROM normalized.ad_daily WHERE report_date BETWEEN ? AND ?
GROUP BY campaign_id, platform ORDER BY spend DESC
"""


def ratio(num, den):
    return None if not den else num / den


def headline_values(conn, start) -> dict[str, float | None]:
    """The six headline KPIs of a month, as ratios of plain sums."""
    end = period_last_day(start, "month")
    sessions, orders, leads, qualified, new_customers, revenue = conn.execute(
        WEB, [start, end]).fetchone()
    spend, ad_leads, _, ad_revenue = conn.execute(ADS, [start, end]).fetchone()
    return {"order_conversion_rate": ratio(orders, sessions),
            "lead_quality": ratio(qualified, leads),
            "social_revenue": revenue,
            "cost_per_lead": ratio(spend, ad_leads),
            "customer_acquisition_cost": ratio(spend, new_customers),
            "return_on_ad_spend": ratio(ad_revenue, spend)}


def render(conn, out: Path) -> Path:
    """Render only the monthly review (other pages of the grain are not this test's)."""
    return render_one(conn, "monthly_review", PERIOD, out, catalog(), CONTEXT).path


@pytest.fixture(scope="module")
def monthly_page(report_store, tmp_path_factory) -> Path:
    with report_store.warehouse.get_connection(read_only=True) as conn:
        return render(conn, tmp_path_factory.mktemp("monthly"))


def test_headlines_with_last_month_and_a_year_ago(monthly_page, store_conn, open_report):
    opened = open_report(monthly_page, "monthly-review")
    kpis = catalog()
    this = headline_values(store_conn, PERIOD.start)
    last = headline_values(store_conn, PERIOD.shifted(-1).start)
    assert list(this) == list(load_page(TEMPLATES_DIR / "monthly_review.html.j2",
                                        kpis).headlines)
    for name, value in this.items():
        assert value is not None, name
        kpi = kpis[name]
        card = opened.page.locator(f'.big-value[data-kpi="{name}"]').inner_text()
        assert kpi_value(value, kpi) in card, (name, card)
        assert f"{PERIOD.label} · {UNIT_NAMES[display_unit(kpi)]}" in card
        change = kpi_change(value, last[name], kpi)
        assert f"{change.text} vs last month" in card, (name, card)
        assert kpi_value(last[name], kpi) in card, (name, card)
        # the demo store starts in January 2025: no April 2024 to compare with
        assert f"{MISSING} vs a year ago" in card, (name, card)
    callout = opened.page.locator("p.callout").first.inner_text()
    assert pct1(this["order_conversion_rate"]) in callout
    assert for_unit(this["social_revenue"], "currency") in callout
    assert "no data for April 2024" in callout
    text = opened.text()
    for heading in ("Conversion rate", "Lead quality", "Revenue contribution from social",
                    "Cost efficiency", "Campaign cost efficiency",
                    "Every conversion, lead and revenue KPI"):
        assert opened.page.get_by_role("heading", name=heading, exact=True).count() == 1
    assert "Monthly review" in opened.page.locator("h1").inner_text()
    assert "April 2025" in text
    # seven trend charts and the revenue-by-platform bars, all inline SVG
    assert opened.page.locator("figure[data-chart] svg").count() == 7
    assert opened.page.locator("figure svg").count() == 8
    assert opened.console_errors == []
    assert opened.requests == []
    assert opened.dialogs == []


def test_the_cost_callout_gives_the_conversion_campaign_cac(monthly_page, store_conn,
                                                            open_report):
    """Beside the blended CAC the callout quotes the CAC over the spend of
    conversion-objective campaigns only, recomputed here from the normalized tables."""
    end = period_last_day(PERIOD.start, "month")
    new_customers = store_conn.execute(WEB, [PERIOD.start, end]).fetchone()[4]
    sales_spend, all_spend = store_conn.execute(
        "SELECT sum(spend_reporting) FILTER (WHERE objective = 'conversions'), "
        "sum(spend_reporting) FROM normalized.ad_daily WHERE report_date BETWEEN ? AND ?",
        [PERIOD.start, end]).fetchone()
    assert 0 < sales_spend < all_spend and new_customers > 0
    callout = open_report(monthly_page, "monthly-review").page.locator("p.callout").first
    text = " ".join(callout.inner_text().split())
    expected = for_unit(sales_spend / new_customers, "currency")
    assert f"{expected} counting only the spend of conversion-objective campaigns" in text


def test_revenue_share_of_the_site(monthly_page, store_conn, open_report):
    opened = open_report(monthly_page, "monthly-review-share")
    end = PERIOD.end
    social, site = store_conn.execute(
        """SELECT sum(CASE WHEN is_social THEN revenue_reporting END), sum(revenue_reporting)
           FROM normalized.web_daily WHERE report_date BETWEEN ? AND ?""",
        [PERIOD.start, end]).fetchone()
    row = opened.page.locator('table.share tr[data-period="this"]').inner_text()
    assert "April 2025" in row
    assert for_unit(social, "currency") in row
    assert for_unit(site, "currency") in row
    assert pct1(social / site) in row
    year_ago = opened.page.locator('table.share tr[data-period="year_ago"]').inner_text()
    assert "April 2024" in year_ago and MISSING in year_ago


def test_campaign_cost_efficiency(monthly_page, store_conn, open_report):
    opened = open_report(monthly_page, "monthly-review-campaigns")
    roas_unit = catalog()["return_on_ad_spend"].unit
    expected = store_conn.execute(CAMPAIGNS, [PERIOD.start, PERIOD.end]).fetchall()
    assert expected
    rows = opened.page.locator("table.campaigns tbody tr")
    assert rows.count() == len(expected)
    shown = [rows.nth(i).get_attribute("data-campaign") for i in range(rows.count())]
    assert shown == [campaign_id for campaign_id, *_ in expected]  # largest spend first
    for campaign_id, platform, spend, leads, purchases, revenue, objective in expected:
        row = opened.page.locator(f'table.campaigns tr[data-campaign="{campaign_id}"]')
        cells = [row.locator("td").nth(i).inner_text().strip() for i in range(11)]
        assert cells[1] == platform
        assert cells[2] == objective and objective is not None
        assert cells[3] == for_unit(spend, "currency")
        assert cells[4] == num0(leads)
        assert cells[5] == for_unit(ratio(spend, leads), "currency")
        assert cells[7] == num0(purchases)
        assert cells[8] == for_unit(ratio(spend, purchases), "currency")
        assert cells[9] == for_unit(revenue, "currency")
        assert cells[10] == for_unit(ratio(revenue, spend), roas_unit)
    assert {objective for *_, objective in expected} >= {"conversions", "leads", "traffic"}
    assert "April 2025" in opened.page.locator("table.campaigns caption").inner_text()


def test_campaign_totals_and_platform_subtotals(monthly_page, store_conn, open_report):
    """About 40 campaign rows had no total: the footer sums spend, leads, purchases and
    revenue per platform and over all, each ratio a ratio of those sums, all recomputed
    here from normalized.ad_daily."""
    opened = open_report(monthly_page, "monthly-review-campaign-totals")
    roas_unit = catalog()["return_on_ad_spend"].unit
    expected = store_conn.execute(CAMPAIGNS, [PERIOD.start, PERIOD.end]).fetchall()
    groups: dict[str, list[tuple]] = {}
    for row in expected:
        groups.setdefault(row[1], []).append(row)
    groups["all"] = expected
    totals = opened.page.locator("table.campaigns tfoot tr[data-total]")
    keys = [totals.nth(i).get_attribute("data-total") for i in range(totals.count())]
    platform_spend = {p: sum(r[2] or 0 for r in rows) for p, rows in groups.items()
                      if p != "all"}
    assert keys == [*sorted(platform_spend, key=platform_spend.get, reverse=True), "all"]
    for key, rows in groups.items():
        spend, leads, purchases, revenue = (sum(r[i] or 0 for r in rows) for i in (2, 3, 4, 5))
        row = opened.page.locator(f'table.campaigns tfoot tr[data-total="{key}"]')
        cells = [row.locator("th, td").nth(i).inner_text().strip() for i in range(11)]
        assert f"{len(rows)} campaign" in cells[0], cells
        assert cells[0].startswith("Total" if key == "all" else f"Subtotal: {key}")
        assert cells[3] == for_unit(spend, "currency")
        assert cells[4] == num0(leads)
        assert cells[5] == for_unit(ratio(spend, leads), "currency")
        assert cells[7] == num0(purchases)
        assert cells[8] == for_unit(ratio(spend, purchases), "currency")
        assert cells[9] == for_unit(revenue, "currency")
        assert cells[10] == for_unit(ratio(revenue, spend), roas_unit)


def _store_copy(report_store, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A writable copy of the report store (its WAL too), opened."""
    copy = tmp_path / "store_copy.duckdb"
    source = report_store.warehouse.path()
    shutil.copyfile(source, copy)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
    return duckdb.connect(str(copy))


def test_campaign_names_are_escaped(report_store, tmp_path, open_report):
    """A copy of the store where the month's largest campaign carries markup in its name:
    the browser shows it as text, runs nothing, and the HTML holds only entities."""
    conn = _store_copy(report_store, tmp_path)
    try:
        campaign_id, platform, *_ = conn.execute(CAMPAIGNS, [PERIOD.start, PERIOD.end]).fetchone()
        conn.execute("UPDATE normalized.ad_daily SET campaign_name = ? "
                     "WHERE campaign_id = ? AND platform = ?",
                     [UNTRUSTED, campaign_id, platform])
        path = render(conn, tmp_path / "reports")
    finally:
        conn.close()
    html = path.read_text(encoding="utf-8")
    assert "&lt;Promo&gt;" in html
    assert "<Promo>" not in html
    assert "<script>" not in html
    opened = open_report(path, "monthly-review-untrusted-name")
    cell = opened.page.locator(f'table.campaigns tr[data-campaign="{campaign_id}"] td').first
    assert cell.inner_text().strip() == UNTRUSTED
    assert "Black Friday <Promo> 2024" in opened.text()
    assert opened.page.locator("table.campaigns script").count() == 0
    assert opened.dialogs == []
    assert opened.console_errors == []
    assert opened.requests == []


def test_callouts_are_the_diagnostic_findings_of_the_month(monthly_page, store_conn,
                                                           open_report):
    """The page judges nothing itself: its warnings are the rules that fired across all
    platforms for the month, as the diagnostics page shows them."""
    fired = [rule for (rule,) in store_conn.execute(
        "SELECT rule FROM diagnostic.monthly WHERE period_start = ? AND scope = 'all' "
        "ORDER BY rule", [PERIOD.start]).fetchall()]
    opened = open_report(monthly_page, "monthly-review-findings")
    callouts = opened.page.locator("p.callout[data-finding]")
    shown = sorted(callouts.nth(i).get_attribute("data-finding")
                   for i in range(callouts.count()))
    assert shown == fired
    assert "Cost per lead rose" not in opened.text()


def test_a_cost_per_lead_finding_is_told_in_the_rule_s_words(report_store, tmp_path,
                                                             open_report):
    """A copy of the store where the cost-per-lead rule fired across all platforms: the
    callout carries the rule's title, diagnosis and action from diagnostic_rules.yaml and
    links to the diagnostics page."""
    conn = _store_copy(report_store, tmp_path)
    try:
        conn.execute("DELETE FROM diagnostic.monthly WHERE period_start = ? AND scope = 'all'",
                     [PERIOD.start])
        conn.execute("""INSERT INTO diagnostic.monthly BY NAME
                        SELECT 'month' AS grain, ?::DATE AS period_start,
                               'cost_per_lead_rising' AS rule,
                               'Cost per lead rising' AS title,
                               'Each lead costs more than it used to.' AS diagnosis,
                               'Refresh the creative.' AS action, 'all' AS scope,
                               'all' AS scope_key, '[]' AS evidence""", [PERIOD.start])
        path = render(conn, tmp_path / "reports")
    finally:
        conn.close()
    opened = open_report(path, "monthly-review-cpl-finding")
    callout = opened.page.locator('p.callout[data-finding="cost_per_lead_rising"]')
    assert callout.count() == 1
    text = " ".join(callout.inner_text().split())
    assert text.startswith("Cost per lead rising across all platforms in April 2025 "
                           "(against the baseline): Each lead costs more than it used to.")
    assert "Refresh the creative." in text
    assert callout.locator("a").get_attribute("href") == "diagnostics.html"


# ------------------------------------------------------------ attribution settings
SETTINGS = """
SELECT platform, ad_account_id, coalesce(attribution_setting, 'unknown') AS setting,
       min(report_date), max(report_date)
FROM normalized.ad_daily WHERE report_date BETWEEN ? AND ?
GROUP BY ALL ORDER BY ALL
"""


def _settings_rows(opened) -> list[tuple[str, str, str, str]]:
    rows = opened.page.locator("table.ad-attribution tbody tr[data-account]")
    return sorted((rows.nth(i).get_attribute("data-platform"),
                   rows.nth(i).get_attribute("data-account"),
                   rows.nth(i).get_attribute("data-setting"),
                   rows.nth(i).locator("td").nth(4).inner_text().strip())
                  for i in range(rows.count()))


def test_the_attribution_setting_of_each_ad_account_is_shown(monthly_page, store_conn,
                                                             open_report):
    """Each ad account's conversions in the month with the windows they were counted in:
    the demo's Meta advertisers ask 7d_click,7d_view (Meta served 7-day view until
    2026-01-12), the demo's LinkedIn accounts count in their website purchase rule's
    windows (30 days after a click, 7 after a view), its TikTok campaigns in their ad
    groups' (7 and 1). No setting changed, so nothing is flagged."""
    opened = open_report(monthly_page, "monthly-review-attribution")
    expected = store_conn.execute(SETTINGS, [PERIOD.start, PERIOD.end]).fetchall()
    assert {p for p, *_ in expected} == {"meta", "linkedin", "tiktok"}
    assert {(p, s) for p, _, s, *_ in expected} == {
        ("meta", "7d_click,7d_view"), ("linkedin", "30d_click,7d_view"),
        ("tiktok", "7d_click,1d_view")}
    assert _settings_rows(opened) == sorted(
        (p, a, s, f"{first.isoformat()} to {last.isoformat()}")
        for p, a, s, first, last in expected)
    assert opened.page.locator("[data-attribution-change]").count() == 0
    assert "(not named by the platform)" not in opened.text()


def test_a_change_of_attribution_window_is_flagged(report_store, tmp_path, open_report):
    """A copy of the store where Meta's conversions from 15 April are counted in 7d_click
    only, one LinkedIn account's from 20 March carry a setting with markup and one TikTok
    account's from 20 April have none (unknown): each change is flagged with its day, the
    settings before and after and the accounts, the month's table splits at the change,
    an unknown setting says so, and the markup shows as text."""
    untrusted = '<b>30d_click</b><script>alert("window")</script>'
    conn = _store_copy(report_store, tmp_path)
    try:
        conn.execute("UPDATE normalized.ad_daily SET attribution_setting = '7d_click' "
                     "WHERE platform = 'meta' AND report_date >= DATE '2025-04-15'")
        linkedin = conn.execute("SELECT min(ad_account_id) FROM normalized.ad_daily "
                                "WHERE platform = 'linkedin'").fetchone()[0]
        conn.execute("UPDATE normalized.ad_daily SET attribution_setting = ? "
                     "WHERE ad_account_id = ? AND report_date >= DATE '2025-03-20'",
                     [untrusted, linkedin])
        tiktok = conn.execute("SELECT min(ad_account_id) FROM normalized.ad_daily "
                              "WHERE platform = 'tiktok'").fetchone()[0]
        conn.execute("UPDATE normalized.ad_daily SET attribution_setting = NULL "
                     "WHERE ad_account_id = ? AND report_date >= DATE '2025-04-20'", [tiktok])
        meta_accounts = [a for (a,) in conn.execute(
            "SELECT DISTINCT ad_account_id FROM normalized.ad_daily WHERE platform = 'meta' "
            "AND report_date BETWEEN DATE '2025-04-14' AND DATE '2025-04-15' "
            "ORDER BY 1").fetchall()]
        path = render(conn, tmp_path / "reports")
    finally:
        conn.close()
    html = path.read_text(encoding="utf-8")
    assert "&lt;b&gt;30d_click&lt;/b&gt;" in html and "<b>30d_click" not in html
    opened = open_report(path, "monthly-review-attribution-change")
    meta = opened.page.locator('[data-attribution-change="meta"]')
    assert meta.count() == 1 and meta.get_attribute("data-changed-on") == "2025-04-15"
    text = " ".join(meta.inner_text().split())
    assert text.startswith("Meta's attribution setting changed on 2025-04-15 from "
                           "7d_click,7d_view to 7d_click ")
    assert f"({len(meta_accounts)} ad accounts: {', '.join(meta_accounts)})" in text
    assert "not comparable" in text and "April 2025 mixes two settings" in text
    assert "a change against March 2025 may be the window's" in text
    changed = " ".join(opened.page.locator(
        '[data-attribution-change="linkedin"]').inner_text().split())
    assert changed.startswith(f"LinkedIn's attribution setting changed on 2025-03-20 from "
                              f"30d_click,7d_view to {untrusted} (1 ad account: {linkedin})")
    assert "mixes two settings" not in changed  # the change was in March, before the month
    unknown = " ".join(opened.page.locator(
        '[data-attribution-change="tiktok"]').inner_text().split())
    assert unknown.startswith(f"TikTok's attribution setting changed on 2025-04-20 from "
                              f"7d_click,1d_view to unknown (1 ad account: {tiktok})")
    assert "unknown (not named by the platform)" in opened.page.locator(
        f'table.ad-attribution tr[data-account="{tiktok}"][data-setting="unknown"]'
    ).inner_text()
    shown = _settings_rows(opened)
    for account in meta_accounts:
        mine = [(s, days) for _, a, s, days in shown if a == account]
        assert [s for s, _ in mine] == ["7d_click", "7d_click,7d_view"]
        assert [days.split(" to ")[0] for s, days in sorted(mine, key=lambda m: m[1])] == \
            ["2025-04-01", "2025-04-15"]
    assert opened.page.locator("table.ad-attribution script, .callout script").count() == 0
    assert opened.dialogs == [] and opened.console_errors == [] and opened.requests == []
