"""The GA4 Data API request definition for ``ga4_sessions``: dimensions, metric groups and
the web_daily column each metric fills.

GA4 allows at most 10 metrics per ``runReport`` request and we need 12, so each
property-day is asked twice with the same dimensions and two metric groups that both
carry the anchor metric. The definition lives apart from the parser (``ga4_sql``) and the
clients (the demo builder, the real HTTP client) so that all of them import one copy:
what is asked and what is read can never drift apart.
"""

from __future__ import annotations

# GA4 dimension name -> web_daily column, in the order they are requested.
GA4_DIMENSIONS: dict[str, str] = {
    "date": "report_date",
    "sessionSource": "source",
    "sessionMedium": "medium",
    "sessionCampaignName": "campaign",
}

# GA4 metric name -> web_daily column.
GA4_METRIC_COLUMNS: dict[str, str] = {
    "sessions": "sessions",
    "engagedSessions": "engaged_sessions",
    "screenPageViews": "page_views",
    "userEngagementDuration": "engagement_time_seconds",
    "ecommercePurchases": "orders",
    "purchaseRevenue": "revenue",
    "firstTimePurchasers": "new_customers",
    "totalPurchasers": "purchasers",
    "keyEvents:sign_up": "sign_ups",
    "keyEvents:generate_lead": "leads",
    "keyEvents:qualify_lead": "qualified_leads",
    "keyEvents:book_appointment": "booked_calls",
}

# The metric that both groups carry: it keeps a session-carrying row from being dropped as
# "all metrics zero" in the key-events group and lets the parser check that both requests
# saw the same data.
ANCHOR_METRIC = "sessions"

# Two requests of at most 10 metrics each (GA4's limit), both starting with the anchor.
GA4_METRIC_GROUPS: tuple[tuple[str, ...], ...] = (
    ("sessions", "engagedSessions", "screenPageViews", "userEngagementDuration",
     "ecommercePurchases", "purchaseRevenue", "firstTimePurchasers", "totalPurchasers"),
    ("sessions", "keyEvents:sign_up", "keyEvents:generate_lead", "keyEvents:qualify_lead",
     "keyEvents:book_appointment"),
)

GA4_MAX_METRICS_PER_REQUEST = 10
