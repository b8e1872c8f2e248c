"""The source streams: what is pulled, from which platform, into which normalized table.

One raw asset exists per stream (one landing file per stream and day); several streams
feed one normalized table. Keeping the list as data lets the raw and normalized layers
be built by one factory each instead of copy-pasted per platform.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stream:
    """A source stream: a family of API requests answered for one account and day."""

    name: str
    platform: str
    account_kind: str
    table: str
    api_version: str
    description: str
    # How many days, ending yesterday, the daily schedule pulls again: platforms revise
    # recent days (attribution windows, late events). Lifetime post snapshots are 1:
    # re-pulling a past day would return today's totals, not that day's.
    reread_days: int = 1
    # Days the platform takes to publish a day: a newer day lands as "pending" (no rows)
    # and its re-read window, which must reach back past the lag, pulls it once out.
    publish_lag_days: int = 0


STREAMS: tuple[Stream, ...] = (
    Stream("facebook_page", "facebook", "facebook_page", "account_daily", "v24.0",
           "Facebook Page insights (period=day, week and days_28) and follower totals.",
           reread_days=2),
    Stream("facebook_posts", "facebook", "facebook_page", "post_daily", "v24.0",
           "Facebook Page posts published in the last 28 days with their lifetime insights."),
    Stream("instagram_account", "instagram", "instagram_account", "account_daily", "v24.0",
           "Instagram user insights: reach, views, follower count and follows/unfollows.",
           reread_days=2),
    Stream("instagram_media", "instagram", "instagram_account", "post_daily", "v24.0",
           "Instagram media of the last 28 days with their lifetime insights by media type."),
    Stream("linkedin_organization", "linkedin", "linkedin_organization", "account_daily",
           "202511",
           "LinkedIn organization share and follower statistics and network size.",
           reread_days=3, publish_lag_days=2),
    Stream("linkedin_posts", "linkedin", "linkedin_organization", "post_daily", "202511",
           "LinkedIn organization posts of the last 28 days with lifetime share statistics."),
    Stream("tiktok_account", "tiktok", "tiktok_account", "account_daily", "v1.3",
           "TikTok business account daily metrics (followers, views, profile views).",
           reread_days=7),
    Stream("tiktok_videos", "tiktok", "tiktok_account", "post_daily", "v1.3",
           "TikTok videos of the last 28 days with their lifetime metrics."),
    Stream("meta_ads", "meta", "meta_ad_account", "ad_daily", "v24.0",
           "Meta Marketing API campaign insights per day (spend, actions, action values).",
           reread_days=28),
    Stream("linkedin_ads", "linkedin", "linkedin_ad_account", "ad_daily", "202511",
           "LinkedIn ad analytics per campaign and day.", reread_days=3),
    Stream("tiktok_ads", "tiktok", "tiktok_advertiser", "ad_daily", "v1.3",
           "TikTok Business API integrated campaign report per day.", reread_days=7),
    Stream("ga4_sessions", "ga4", "ga4_property", "web_daily", "v1beta",
           "GA4 Data API runReport: sessions and key events by source, medium, campaign.",
           reread_days=3),
    Stream("mailchimp_list", "mailchimp", "email_list", "email_daily", "3.0",
           "Mailchimp list activity (subscribes, unsubscribes, sends) and member count."),
    Stream("fx_rates", "fx", "fx_reference", "fx_daily", "v1",
           "Reference exchange rates (ECB, Frankfurter API shape) for each account currency."),
)

STREAMS_BY_NAME = {s.name: s for s in STREAMS}

# How many days after publishing a post is still re-read for its lifetime snapshot.
POST_LOOKBACK_DAYS = 28


def platforms() -> tuple[str, ...]:
    """The platforms streams come from, in stream order: one raw asset each."""
    return tuple(dict.fromkeys(s.platform for s in STREAMS))


def streams_for_platform(platform: str) -> tuple[Stream, ...]:
    """The streams one platform's pull lands."""
    return tuple(s for s in STREAMS if s.platform == platform)


def streams_for_table(table: str) -> tuple[Stream, ...]:
    """The streams that feed one normalized table."""
    return tuple(s for s in STREAMS if s.table == table)
