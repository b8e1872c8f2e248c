"""The report number formats and period labels, by hand."""

from __future__ import annotations

from datetime import date

import pytest

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports import formats as f
from kpi_pipeline.lib.reports.charts import bar_chart, line_chart
from kpi_pipeline.lib.reports.render import environment

MINUS = "\u2212"


@pytest.mark.parametrize(("value", "unit", "text"), [
    (12345.4, "count", "12,345"),
    (0.0342, "ratio", "3.4 %"),
    (0.00249, "ratio", "0.25 %"),
    (0.0, "ratio", "0.0 %"),
    (1.0, "ratio", "100.0 %"),
    (3.274, "currency", "$3.27"),
    (12345.6, "currency", "$12,346"),
    (-5.5, "currency", "\u2212$5.50"),
    (42.34, "seconds", "42.3 s"),
    (1.6532, "multiple", "1.65\u00d7"),
    (125.0, "seconds", "2 min 5 s"),
    (2.45, "count", "2.5"),
    (None, "count", "\u2013"),
    (float("nan"), "ratio", "\u2013"),
    (float("inf"), "currency", "\u2013"),
])
def test_for_unit(value, unit, text):
    assert f.for_unit(value, unit) == text


def test_money_in_other_currencies():
    assert f.usd0(1234.5, "EUR") == "\u20ac1,234"  # rounds half to even: 1234.5 -> 1,234
    assert f.usd2(3.5, "CHF") == "3.50 CHF"


@pytest.mark.parametrize(("value", "text"), [
    (0.052, "+5.2 %"), (-0.1, "\u221210.0 %"), (0.0, "0.0 %"), (-0.0004, "0.0 %"),
    (0.0004, "0.0 %"), (-1.0, "\u2212100.0 %"), (None, "\u2013")])
def test_delta_pct(value, text):
    assert f.delta_pct(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0.037 - 0.041, "\u22120.4 pp"), (0.012, "+1.2 pp"), (-0.0003, "\u22120.03 pp"),
    (0.0, "\u00b10 pp"), (-0.00001, "\u00b10 pp"), (0.00004, "\u00b10 pp"), (None, "\u2013")])
def test_delta_pp(value, text):
    assert f.delta_pp(value) == text


# One value per display unit, and what every page prints for it, KPI by KPI. Written out
# by hand: a KPI added to the catalogue must be added here, with how it reads.
SHARE, GROWTH, PER, COUNT, MONEY, TIMES, SECS = 0.0342, -0.0131, 2.5612, 12345.4, 3.274, 3.1, 42.34
BY_KPI = {
    "reach": (COUNT, "12,345"), "views": (COUNT, "12,345"), "impressions": (COUNT, "12,345"),
    "share_rate": (SHARE, "3.4 %"), "followers": (COUNT, "12,345"),
    "follower_growth_rate": (GROWTH, f"{MINUS}1.3 %"), "engagement_rate": (SHARE, "3.4 %"),
    "likes": (COUNT, "12,345"), "saves": (COUNT, "12,345"), "shares": (COUNT, "12,345"),
    "comments": (COUNT, "12,345"), "average_watch_time": (SECS, "42.3 s"),
    "completion_rate": (SHARE, "3.4 %"), "organic_click_through_rate": (SHARE, "3.4 %"),
    "click_through_rate": (SHARE, "3.4 %"), "landing_page_sessions": (COUNT, "12,345"),
    "bounce_rate": (SHARE, "3.4 %"), "time_on_page": (SECS, "42.3 s"),
    "pages_per_session": (PER, "2.56"), "ad_link_clicks": (COUNT, "12,345"),
    "cost_per_click": (MONEY, "$3.27"), "cost_per_mille": (MONEY, "$3.27"),
    "ad_spend": (MONEY, "$3.27"), "signup_conversion_rate": (SHARE, "3.4 %"),
    "email_signups": (COUNT, "12,345"), "leads": (COUNT, "12,345"),
    "qualified_leads": (COUNT, "12,345"), "lead_quality": (SHARE, "3.4 %"),
    "booked_calls": (COUNT, "12,345"), "email_list_growth_rate": (0.0131, "1.3 %"),
    "email_opt_ins": (COUNT, "12,345"), "cost_per_lead": (MONEY, "$3.27"),
    "order_conversion_rate": (SHARE, "3.4 %"), "social_revenue": (MONEY, "$3.27"),
    "average_order_value": (MONEY, "$3.27"), "return_on_ad_spend": (TIMES, "3.10\u00d7"),
    "cost_per_purchase": (MONEY, "$3.27"), "customer_acquisition_cost": (MONEY, "$3.27"),
    "conversion_cac": (MONEY, "$3.27"),
    **{f"attributed_social_revenue_{model}": (MONEY, "$3.27") for model in (
        "last_click", "last_non_direct", "first_touch", "linear", "position_based",
        "time_decay")},
    "lifetime_value": (MONEY, "$3.27"), "repeat_customer_rate": (SHARE, "3.4 %"),
    "returning_customer_revenue": (MONEY, "$3.27"),
}


def test_every_catalogue_kpi_reads_by_its_unit_through_the_page_filter():
    """The filter the page templates use (``kpi_value``), rendered by the report
    environment, for every KPI of the catalogue: pages per session is 2.56, not 256 %."""
    kpis = catalog()
    assert set(BY_KPI) == set(kpis), "every catalogue KPI needs its hand-written reading"
    template = environment().from_string("{{ v | kpi_value(kpi, 'USD') }}")
    shown = {name: template.render(v=value, kpi=kpis[name]) for name, (value, _) in BY_KPI.items()}
    assert shown == {name: text for name, (_, text) in BY_KPI.items()}
    assert template.render(v=None, kpi=kpis["pages_per_session"]) == "\u2013"


def test_changes_of_shares_are_points_and_of_the_rest_percent():
    kpis = catalog()
    engagement = f.kpi_change(0.037, 0.041, kpis["engagement_rate"], "last week", 410, 10_000)
    assert (engagement.text, engagement.tone) == (f"{MINUS}0.4 pp", "bad")
    bounce = f.kpi_change(0.45, 0.40, kpis["bounce_rate"], "last week", 400, 1000)
    assert (bounce.text, bounce.tone) == ("+5.0 pp", "bad")  # lower is better
    growth = f.kpi_change(0.02, 0.015, kpis["follower_growth_rate"], "", 30, 2000)
    assert growth.text == "+0.5 pp"
    sessions = f.kpi_change(1150, 1000, kpis["landing_page_sessions"], "last week", 1000)
    assert (sessions.text, sessions.tone) == ("+15.0 %", "good")
    pages = f.kpi_change(2.56, 2.5, kpis["pages_per_session"], "", 2500, 1000)
    assert pages.text == "+2.4 %"
    revenue = f.kpi_change(4000, 4000.2, kpis["social_revenue"], "", 4000.2)
    assert (revenue.text, revenue.tone) == ("0.0 %", "flat")
    flat_rate = f.kpi_change(0.03701, 0.037, kpis["engagement_rate"], "", 370, 10_000)
    assert (flat_rate.text, flat_rate.tone) == ("\u00b10 pp", "flat")
    assert f.kpi_change(None, 0.04, kpis["engagement_rate"]).text == "\u2013"


def test_a_change_on_a_small_base_is_not_a_figure():
    kpis = catalog()
    # LinkedIn ROAS: last week's revenue came from one order, this week none
    roas = f.kpi_change(0.0, 0.08, kpis["return_on_ad_spend"], "last week", 80.0, 1000.0)
    assert roas.text == "n/a (small base)" and roas.small_base and roas.tone == "flat"
    assert roas.title == (f"{MINUS}100.0 % against last week (0.08\u00d7), but it rests on "
                          "only $80 of revenue: too few for the change to mean much")
    leads = f.kpi_change(0, 3, kpis["leads"], "last month", 3)
    assert leads.title.startswith(f"{MINUS}100.0 % against last month (3), but it rests on only "
                                  "3 leads")
    # a share judged on its denominator: 2 of 8 sessions bounced
    bounce = f.kpi_change(0.5, 0.25, kpis["bounce_rate"], "last week", 2, 8)
    assert bounce.text == "n/a (small base)"
    # enough events: the figure, whatever the size of the move
    assert f.kpi_change(0, 30, kpis["leads"], "", 30).text == f"{MINUS}100.0 %"
    assert f.kpi_change(0.5, 0.25, kpis["bounce_rate"], "", 20, 80).text == "+25.0 pp"
    # no reference base known (a baseline): the figure
    assert f.kpi_change(0, 3, kpis["leads"], "the baseline").text == f"{MINUS}100.0 %"


def test_relative_change_and_tone():
    assert f.relative_change(110, 100) == pytest.approx(0.10)
    assert f.relative_change(-90, -100) == pytest.approx(0.10)  # against |reference|
    assert f.relative_change(5, 0) is None
    assert f.relative_change(None, 3) is None
    assert f.tone(0.10, "higher") == "good"
    assert f.tone(0.10, "lower") == "bad"
    assert f.tone(-0.004, "higher") == "flat"
    assert f.tone(None, "lower") == "flat"


def test_period_labels():
    assert f.period_label(date(2026, 11, 16), "week") == "Week 47 2026 (16\u201322 Nov)"
    assert f.period_label(date(2025, 3, 31), "week") == "Week 14 2025 (31 Mar\u20136 Apr)"
    assert f.period_label(date(2025, 4, 1), "month") == "April 2025"


def test_charts_escape_untrusted_labels_and_keep_dollar_signs():
    svg = bar_chart(["<script>alert(1)</script>", "$5 off $10"], [1.0, 2.0], unit="count")
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "$5 off $10" in svg  # math text is off: not typeset as TeX
    assert svg.startswith("<svg")


def test_line_chart_is_deterministic_and_marks_missing_values_as_gaps():
    x = [date(2025, 1, 6), date(2025, 1, 13), date(2025, 1, 20)]
    first = line_chart(x, {"Sessions": [10, None, 12]}, unit="count", reference=[9, 9, 9])
    again = line_chart(x, {"Sessions": [10, None, 12]}, unit="count", reference=[9, 9, 9])
    assert first == again
    assert "6 Jan" in first and "Sessions" in first and "baseline" in first
