"""LinkedIn Marketing REST API (``Linkedin-Version`` as the streams pin it): what is asked.

The real client and the demo simulator send exactly these paths, headers and fields, so
the demo exercises the real requests and parsers.
"""

from __future__ import annotations

from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME

API_VERSION = STREAMS_BY_NAME["linkedin_organization"].api_version
#: Sent with every request and kept in the records (no credential in them).
HEADERS = {"Linkedin-Version": API_VERSION, "X-Restli-Protocol-Version": "2.0.0"}

SHARE_STATISTICS_PATH = "/rest/organizationalEntityShareStatistics"
FOLLOWER_STATISTICS_PATH = "/rest/organizationalEntityFollowerStatistics"
NETWORK_SIZES_PATH = "/rest/networkSizes/"
POSTS_PATH = "/rest/posts"
AD_ANALYTICS_PATH = "/rest/adAnalytics"
#: The ad account's conversion rules (``q=account``): each rule counts its website
#: conversions within its own windows after a click and after a view
#: (``postClickAttributionWindowSize``, ``viewThroughAttributionWindowSize``, in days);
#: adAnalytics takes no window, so these are what its conversions were counted in.
CONVERSIONS_PATH = "/rest/conversions"
CONVERSIONS_PAGE_SIZE = 100

#: The posts finder's ``count``; a module constant so tests can shrink it.
POSTS_PAGE_SIZE = 25
AD_FIELDS = (
    "pivotValues", "dateRange", "costInLocalCurrency", "impressions", "clicks",
    "landingPageClicks", "oneClickLeads", "externalWebsiteConversions",
    "conversionValueInLocalCurrency", "videoViews",
)
CAMPAIGN_URN = "urn:li:sponsoredCampaign:"
