"""TikTok API for Business v1.3 (Accounts API and Reporting API): what is asked.

The real client and the demo simulator send exactly these paths and fields; the parser
reads the note a client leaves when it stops paging at the look-back.
"""

from __future__ import annotations

API = "/open_api/v1.3"
REPORT_PATH = f"{API}/report/integrated/get/"
BUSINESS_PATH = f"{API}/business/get/"
VIDEO_LIST_PATH = f"{API}/business/video/list/"
#: The ad groups of the campaigns a report names: each counts its conversions within its
#: own click, view and engaged-view windows (the report takes no window), as
#: ``ONE_DAY``, ``SEVEN_DAYS``... or ``OFF``.
ADGROUP_PATH = f"{API}/adgroup/get/"
ADGROUP_FIELDS = ("adgroup_id", "campaign_id", "click_attribution_window",
                  "view_attribution_window", "engaged_view_attribution_window")
#: TikTok's window values -> days (``OFF``: that window counts nothing).
ATTRIBUTION_DAYS = {"ONE_DAY": 1, "SEVEN_DAYS": 7, "FOURTEEN_DAYS": 14,
                    "TWENTY_EIGHT_DAYS": 28, "THIRTY_DAYS": 30}

ACCOUNT_FIELDS = ("followers_count", "video_views", "profile_views", "likes", "comments",
                  "shares")
VIDEO_FIELDS = ("item_id", "create_time", "caption", "video_views", "likes", "comments",
                "shares", "reach", "average_time_watched", "total_time_watched",
                "full_video_watched_rate")
REPORT_DIMENSIONS = ("campaign_id", "stat_time_day")
#: ``campaign_name`` and ``objective_type`` are attribute metrics of the AUCTION_CAMPAIGN
#: level: the campaign's name and objective beside its day's numbers.
REPORT_METRICS = ("campaign_name", "objective_type", "spend", "impressions", "reach",
                  "clicks", "ctr", "onsite_form", "complete_payment",
                  "total_complete_payment_rate", "video_play_actions")

#: The key a client adds to the last page it asked when it stopped at the look-back.
LOOKBACK_NOTE = "stopped_at_lookback"
