"""Campaign objectives: each platform's own values mapped to one small vocabulary.

A campaign's objective says what the platform optimised its delivery for, so it decides
which spend belongs to which funnel stage: a customer acquisition cost over the spend of
sales campaigns only is the cost of acquisition, while one over all spend (awareness and
traffic included) is a blended cost. Each platform spells objectives its own way:

- Meta Marketing API insights, field ``objective`` (level=campaign): the outcome-based
  objectives (``OUTCOME_*``, since 2022) and the older ones still returned for old
  campaigns (``CONVERSIONS``, ``LINK_CLICKS``, ``REACH``...).
- TikTok integrated report, attribute metric ``objective_type`` (data_level
  AUCTION_CAMPAIGN).
- LinkedIn ``adCampaigns`` resource, field ``objectiveType``.

``ad_daily.objective`` holds the normalized value: one of ``OBJECTIVES``, ``other`` for a
value the table does not know (a new objective, an app-promotion or recruiting campaign),
NULL when the platform sent none (rows pulled before objectives were requested, or an
answer without the field). Unknown values are kept out of the conversion figures rather
than guessed into them; add a line here when a platform adds an objective.
"""

from __future__ import annotations

import re

#: The normalized vocabulary, funnel order; ``other`` is any value not mapped below.
OBJECTIVES = ("conversions", "leads", "traffic", "awareness", "engagement", "other")

#: platform -> {the platform's objective value -> normalized objective}.
OBJECTIVE_MAP: dict[str, dict[str, str]] = {
    "meta": {
        "OUTCOME_SALES": "conversions", "CONVERSIONS": "conversions",
        "PRODUCT_CATALOG_SALES": "conversions",
        "OUTCOME_LEADS": "leads", "LEAD_GENERATION": "leads",
        "OUTCOME_TRAFFIC": "traffic", "LINK_CLICKS": "traffic",
        "OUTCOME_AWARENESS": "awareness", "BRAND_AWARENESS": "awareness",
        "REACH": "awareness", "VIDEO_VIEWS": "awareness",
        "OUTCOME_ENGAGEMENT": "engagement", "POST_ENGAGEMENT": "engagement",
        "PAGE_LIKES": "engagement", "EVENT_RESPONSES": "engagement",
        "MESSAGES": "engagement",
        "OUTCOME_APP_PROMOTION": "other", "APP_INSTALLS": "other",
    },
    "tiktok": {
        "CONVERSIONS": "conversions", "WEB_CONVERSIONS": "conversions",
        "PRODUCT_SALES": "conversions", "SHOP_PURCHASES": "conversions",
        "LEAD_GENERATION": "leads",
        "TRAFFIC": "traffic",
        "REACH": "awareness", "RF_REACH": "awareness", "VIDEO_VIEWS": "awareness",
        "ENGAGEMENT": "engagement", "COMMUNITY_INTERACTION": "engagement",
        "APP_PROMOTION": "other", "APP_INSTALL": "other",
    },
    "linkedin": {
        "WEBSITE_CONVERSION": "conversions",
        "LEAD_GENERATION": "leads",
        "WEBSITE_VISIT": "traffic", "WEBSITE_TRAFFIC": "traffic",
        "BRAND_AWARENESS": "awareness", "VIDEO_VIEW": "awareness",
        "ENGAGEMENT": "engagement", "CREATIVE_ENGAGEMENT": "engagement",
        "JOB_APPLICANT": "other", "TALENT_LEAD": "other",
    },
}

_NAME = re.compile(r"[A-Z_]+")


def normalize_objective(platform: str, value: str | None) -> str | None:
    """The normalized objective of one platform value (the rule the SQL applies too)."""
    if value is None or not value.strip():
        return None
    return OBJECTIVE_MAP[platform].get(value.strip().upper(), "other")


def objective_sql(platform: str, expr: str) -> str:
    """SQL turning ``expr`` (the platform's objective text) into the normalized objective:
    NULL when absent or blank, ``other`` when not in the table. The table's values are
    checked to be plain upper-case names, so spelling them into the SQL is safe."""
    mapping = OBJECTIVE_MAP[platform]
    for raw, normalized in mapping.items():
        if not _NAME.fullmatch(raw) or normalized not in OBJECTIVES:
            raise ValueError(f"{platform} objective {raw!r} -> {normalized!r} is not a plain "
                             f"name mapped to one of {OBJECTIVES}")
    cases = " ".join(f"WHEN '{raw}' THEN '{normalized}'" for raw, normalized in mapping.items())
    value = f"upper(trim(CAST({expr} AS VARCHAR)))"
    return (f"CASE WHEN nullif({value}, '') IS NULL THEN NULL "
            f"ELSE CASE {value} {cases} ELSE 'other' END END")
