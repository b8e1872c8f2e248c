"""Who the pipeline pulls for: brands and the platform accounts that belong to them.

A *brand* is the business a marketing team reports on. Each brand owns one account
per platform (a Facebook Page, an Instagram business account, a LinkedIn organization,
a TikTok account, ad accounts, a GA4 property). Every account reports in its own time
zone and currency, which is why both travel with every reference to it.
"""

from __future__ import annotations

from dataclasses import dataclass

PLATFORMS = ("facebook", "instagram", "linkedin", "tiktok", "ga4", "mailchimp", "fx")
SOCIAL_PLATFORMS = ("facebook", "instagram", "linkedin", "tiktok")
AD_PLATFORMS = ("meta", "linkedin", "tiktok")


@dataclass(frozen=True)
class AccountRef:
    """One account on one platform, as the clients and parsers see it."""

    platform: str
    account_id: str
    brand: str
    timezone: str
    currency: str
    name: str = ""
