"""Facts about KPIs live in the catalogue: which ratios are bounded to [0, 1] and which
KPIs are headlines. The sets below are written out by hand (they were constants in code
before the catalogue held them), so a change to either is a deliberate edit here too."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kpi_pipeline.lib.kpis.catalog import Kpi, catalog, is_sum_of_measures

BOUNDED = {"engagement_rate", "share_rate", "completion_rate", "organic_click_through_rate",
           "click_through_rate", "bounce_rate", "signup_conversion_rate", "lead_quality",
           "order_conversion_rate", "repeat_customer_rate"}
UNBOUNDED = {"follower_growth_rate", "email_list_growth_rate", "pages_per_session"}
# DOMAIN.md: follower count, total likes and impressions without engagement; views are
# Meta's impressions under a new name.
VANITY = {"views", "impressions", "followers", "likes"}
HEADLINES = {"engagement_rate", "click_through_rate", "landing_page_sessions",
             "social_revenue", "cost_per_lead", "return_on_ad_spend"}


def test_bounded_and_unbounded_ratios_are_the_hand_written_sets():
    kpis = catalog().values()
    assert {k.name for k in kpis if k.bounded} == BOUNDED
    assert {k.name for k in kpis if k.bounded is False} == UNBOUNDED


def test_every_ratio_kpi_is_classified_bounded_or_not():
    ratios = {k.name for k in catalog().values() if k.unit == "ratio"}
    assert ratios == BOUNDED | UNBOUNDED
    assert not BOUNDED & UNBOUNDED


def test_unbounded_ratios_say_how_they_read():
    """A growth rate reads as a percent, pages per session as a plain number."""
    assert {k.name: k.reads_as for k in catalog().values() if k.reads_as} == {
        "follower_growth_rate": "percent", "email_list_growth_rate": "percent",
        "pages_per_session": "number"}


def test_vanity_kpis_are_the_hand_written_set():
    assert {k.name for k in catalog().values() if k.vanity} == VANITY


def test_customer_acquisition_cost_says_it_is_blended():
    """CAC divides all social ad spend, awareness campaigns included: its label,
    description and definition say so, and name the conversion-campaign variant."""
    cac = catalog()["customer_acquisition_cost"]
    assert cac.label == "Customer acquisition cost (blended)"
    assert "awareness" in cac.description and "conversion_cac" in cac.description
    assert cac.definition_for(None).startswith("blended - all social ad spend")


def test_conversion_cac_says_which_campaigns_it_counts():
    """The conversion-campaign CAC reads the same source and denominator as the blended
    one, and its definition says the spend is that of conversion-objective campaigns."""
    kpis = catalog()
    conversion, blended = kpis["conversion_cac"], kpis["customer_acquisition_cost"]
    assert (conversion.source, conversion.denominator) == (blended.source, blended.denominator)
    assert conversion.numerator == "conversion_spend"
    assert conversion.definition_for(None).startswith("spend of conversion-objective")
    assert "objective" in conversion.description and conversion.unit == "currency"


def test_headline_kpis_are_the_hand_written_set():
    assert {k.name for k in catalog().values() if k.headline} == HEADLINES


def fields(name: str, **changes: object) -> dict[str, object]:
    return {**catalog()[name].model_dump(), **changes}


@pytest.mark.parametrize(("name", "changes", "message"), [
    ("engagement_rate", {"bounded": None}, "must say whether it is bounded"),
    ("reach", {"bounded": False}, "bounded applies to ratios only"),
    ("followers", {"vanity": True, "headline": True}, "never a headline"),
    ("pages_per_session", {"reads_as": None}, "must say how it reads"),
    ("engagement_rate", {"reads_as": "number"}, "reads_as applies to unbounded ratios"),
    ("reach", {"reads_as": "percent"}, "reads_as applies to unbounded ratios"),
    ("returning_customer_revenue", {"numerator": "revenue * (orders - new_customers)",
                                    "denominator": "orders", "additive": False},
     "not a sum of measures.*reaggregable: false"),
    ("lifetime_value", {"denominator": "cohort_customers + 1"}, "not a sum of measures"),
    ("lifetime_value", {"denominator": "new_customers"}, "source .cohorts. does not measure"),
])
def test_catalogue_fields_are_validated(name, changes, message):
    with pytest.raises(ValidationError, match=message):
        Kpi(**fields(name, **changes))


@pytest.mark.parametrize(("expression", "summable"), [
    ("spend", True), ("followers_end - followers_start", True), ("impressions / 1000", True),
    ("2 * (orders - new_customers)", True), ("-spend", True),
    ("revenue * (orders - new_customers)", False), ("revenue / orders", False),
    ("sessions + 1", False), ("1000", False),
])
def test_a_sum_of_measures_is_told_from_a_product_or_a_constant(expression, summable):
    assert is_sum_of_measures(expression) is summable


def test_a_kpi_marked_not_reaggregable_may_keep_a_product():
    kpi = Kpi(**fields("returning_customer_revenue", numerator="revenue * orders",
                       denominator="orders", additive=False, reaggregable=False))
    assert not kpi.reaggregable


def test_every_shipped_kpi_is_reaggregable():
    """No KPI is exempt from the roll-up test in test_kpi_reference.py today."""
    assert all(k.reaggregable for k in catalog().values())
