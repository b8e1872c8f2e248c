"""The demo world: the ground truth that the demo platforms report on.

A deterministic, seeded model of several brands, each with a Facebook Page, an Instagram
account, a LinkedIn organization, a TikTok account, ad accounts on Meta, LinkedIn and
TikTok, and a GA4 property. Values depend only on (seed, brand, platform, date) and, for
recent days, on the pull date: platforms restate the last days, so pulling them again
later returns different, settled values.

The payload builders (``payloads_*.py``) turn these canonical values into the exact
shapes the real APIs return; the parsers turn them back. The world never formats a
payload itself, so what the parsers see is only what a real API would send.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from kpi_pipeline.lib.core.accounts import AccountRef

T = TypeVar("T")

ORIGIN = date(2022, 1, 1)  # follower paths and FX walks start here, before any partition
UTC = UTC

# (key, display name, time zone, currency, follower scale)
BRAND_TEMPLATES = (
    ("northwind", "Northwind Coffee", "America/Los_Angeles", "USD", 1.0),
    ("alpenglow", "Alpenglow Outdoor", "Europe/Berlin", "EUR", 0.7),
    ("thames", "Thames & Co. Tailoring", "Europe/London", "GBP", 0.45),
    ("sakura", "Sakura Skin Lab", "Asia/Tokyo", "JPY", 1.3),
    ("kookaburra", "Kookaburra Surf", "Australia/Sydney", "AUD", 0.55),
    ("rio", "Rio Verde Market", "America/Sao_Paulo", "BRL", 0.8),
)

# Reference rates: units of currency per 1 EUR around the start of the history.
FX_BASE_PER_EUR = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "JPY": 158.0, "AUD": 1.64, "BRL": 5.6}

# Posts per day (mean) and media mix per platform.
POST_RATE = {"facebook": 0.9, "instagram": 1.1, "linkedin": 0.5, "tiktok": 0.8}
MEDIA_MIX = {
    "facebook": (("photo", 0.45), ("video", 0.2), ("link", 0.25), ("reel", 0.1)),
    "instagram": (("photo", 0.35), ("carousel", 0.3), ("reel", 0.35)),
    "linkedin": (("text", 0.3), ("photo", 0.35), ("video", 0.15), ("link", 0.2)),
    "tiktok": (("video", 1.0),),
}
VIDEO_TYPES = ("video", "reel")
FOLLOWER_START = {"facebook": 42_000, "instagram": 61_000, "linkedin": 9_500, "tiktok": 28_000}

# Entries a module-level memo of days keeps (local midnights, day bounds, day parameters):
# a pull reads a few days around the one it asks for, for at most six brands.
RECENT_DAYS = 64

# Days per brand and platform that a world's caches keep (posts, daily reach, list days):
# more than the 28-day windows read back from any day, so a run over consecutive days
# computes each day once, and few enough that a run of any length holds the same memory.
CACHED_DAYS = 64

# Days over which a platform still restates a day's numbers, by stream family.
SETTLE_DAYS = {"account": 2, "ads": 28, "tiktok_ads": 7, "web": 3}

CAPTIONS = (
    "New season, new blend. Tap the link to taste it first",
    "Behind the scenes with our makers",
    "3 tips you can use today",
    "Customer story: how {brand} fits a busy morning",
    "Weekend offer: 15% off with code SOCIAL15",
    "We asked you, you answered: the results",
    "Meet the team <3 & say hi",
    "Live Q&A on Thursday: bring your questions",
)


def _seed(*parts: object) -> int:
    """A stable 32-bit seed from any parts (Python's hash() is salted per process)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def rng_for(*parts: object) -> np.random.Generator:
    return np.random.default_rng(_seed(*parts))


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """``float(rng.uniform(low, high))`` for one draw: numpy computes it as ``low + (high -
    low) * u`` from one standard uniform double ``u``, which ``rng.random()`` draws alone
    at a fifth of ``Generator.uniform``'s per-call cost. A test pins the equality."""
    return low + (high - low) * rng.random()


def weekday_factor(day: date, platform: str) -> float:
    """Weekly rhythm: LinkedIn peaks mid-week, consumer platforms at the weekend."""
    if platform in ("linkedin", "ga4_b2b"):
        return (1.05, 1.15, 1.15, 1.1, 0.95, 0.55, 0.5)[day.weekday()]
    return (0.92, 0.95, 0.97, 1.0, 1.05, 1.12, 1.1)[day.weekday()]


def season_factor(day: date) -> float:
    """Yearly rhythm: a Q4 peak and a summer dip, plus slow growth over the years."""
    doy = day.toordinal() - date(day.year, 1, 1).toordinal() + 1
    yearly = 1.0 + 0.18 * math.cos(2 * math.pi * (doy - 340) / 365.25)
    growth = 1.0 + 0.12 * (day - ORIGIN).days / 365.25
    return yearly * growth


@lru_cache(maxsize=4)  # one length per clock in use
def _season_rhythm(n_days: int) -> np.ndarray:
    """``season_factor`` of each day from ORIGIN, as a read-only array."""
    rhythm = np.array([season_factor(ORIGIN + timedelta(days=i)) for i in range(n_days)])
    rhythm.flags.writeable = False
    return rhythm


@lru_cache(maxsize=8)
def _days_back(n: int) -> tuple[timedelta, ...]:
    """0, 1, ..., n - 1 days."""
    return tuple(timedelta(days=k) for k in range(n))


@lru_cache(maxsize=8)  # one per platform
def _media_cdf(platform: str) -> tuple[tuple[str, ...], list[float]]:
    """A platform's media kinds and their cumulative weights, normalized as numpy's
    ``Generator.choice`` normalizes ``p``."""
    kinds, weights = zip(*MEDIA_MIX[platform], strict=True)
    cdf = (np.array(weights) / sum(weights)).cumsum()
    cdf /= cdf[-1]
    return kinds, cdf.tolist()


def choice(rng: np.random.Generator, kinds: tuple[str, ...], cdf: list[float]) -> str:
    """``str(rng.choice(kinds, p=weights))`` for one draw: numpy draws one standard uniform
    double and takes the first kind whose cumulative weight exceeds it (``searchsorted``,
    side right); done here without the per-call checks of ``p`` (about 9 µs). A test pins
    the equality."""
    return kinds[bisect_right(cdf, rng.random())]


def restatement_factor(day: date, pulled_on: date, settle_days: int) -> float:
    """Share of the final value already reported when ``day`` is pulled on ``pulled_on``.

    A day pulled on or after day + settle_days is settled (1.0). Earlier pulls see less:
    the platform is still attributing late events.
    """
    lag = (pulled_on - day).days
    if lag >= settle_days:
        return 1.0
    lag = max(lag, 0)
    return 0.78 + 0.22 * (lag / settle_days)


@dataclass(frozen=True)
class Brand:
    key: str
    name: str
    timezone: str
    currency: str
    scale: float
    index: int

    def account(self, kind: str) -> AccountRef:
        """The brand's account of one kind (see ``Stream.account_kind``)."""
        return _account(self, kind)

    def local_midnight_utc(self, day: date) -> datetime:
        """The UTC instant at which ``day`` starts in the brand's time zone."""
        return _local_midnight_utc(self.timezone, day)


@lru_cache(maxsize=256)  # at most 6 brands x 9 kinds; AccountRef is immutable
def _account(brand: Brand, kind: str) -> AccountRef:
    base = 100_000 + 7919 * (brand.index + 1)
    platform, account_id, currency = {
        "facebook_page": ("facebook", f"1{base}0001", brand.currency),
        "instagram_account": ("instagram", f"178414{base}", brand.currency),
        "linkedin_organization": ("linkedin", f"{base // 10}", brand.currency),
        "tiktok_account": ("tiktok", f"7{base}02", brand.currency),
        "meta_ad_account": ("meta", f"act_{base}3", brand.currency),
        "linkedin_ad_account": ("linkedin", f"50{base}", brand.currency),
        "tiktok_advertiser": ("tiktok", f"69{base}11", brand.currency),
        "ga4_property": ("ga4", f"3{base}", brand.currency),
        "email_list": ("mailchimp", f"{_seed(brand.key, 'list') % 16**10:010x}",
                       brand.currency),
    }[kind]
    return AccountRef(platform, account_id, brand.key, brand.timezone, currency, brand.name)


@lru_cache(maxsize=RECENT_DAYS)  # datetimes are immutable
def _local_midnight_utc(timezone: str, day: date) -> datetime:
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Post:
    post_id: str
    platform: str
    brand: str
    published_at: datetime  # UTC
    publish_day: date  # the brand's local date
    media_type: str
    caption: str
    final: dict[str, float] = field(hash=False)  # lifetime totals once plateaued
    tau: float  # growth time constant in days
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                     compare=False, hash=False)

    def derived(self, key: str, build: Callable[[Post], T]) -> T:
        """What a payload builder derives from the post alone (a listing's fixed fields,
        formatted times, metric headers), built once and kept with the post: it goes when
        the world's cache drops the post, so it costs no memory of its own."""
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = build(self)
            return value

    def lifetime(self, as_of: date) -> dict[str, int | float]:
        """Lifetime totals as of the end of local day ``as_of`` (grows, then plateaus)."""
        age = (as_of - self.publish_day).days
        if age < 0:
            return {}
        share = 1.0 - math.exp(-(age + 1) / self.tau)
        final = self.final
        out: dict[str, int | float] = {name: int(total * share) for name, total in final.items()}
        # video posts: watch time grows with the share, the average watch time does not
        if "watch_time_seconds" in final:
            out["watch_time_seconds"] = round(final["watch_time_seconds"] * share, 3)
        if "avg_watch_seconds" in final:
            out["avg_watch_seconds"] = final["avg_watch_seconds"]
        return out


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    platform: str  # meta, linkedin, tiktok
    brand: str
    objective: str
    start: date
    end: date
    daily_budget: float  # account currency


class World:
    """Ground truth for the demo platforms. Cheap to build; values are computed lazily.

    Values that several requests read (a day's posts, an account's daily reach, a list's
    day) are memoized per world in bounded caches sized for a window of recent days per
    brand, so a backfill of any length holds a constant amount of memory; a value that
    falls out is computed again, identically, from its seed.
    """

    def __init__(self, seed: int = 7, n_brands: int = 4, today: date | None = None):
        if not 1 <= n_brands <= len(BRAND_TEMPLATES):
            raise ValueError(f"n_brands must be between 1 and {len(BRAND_TEMPLATES)}")
        self.seed = seed
        self.today = today or datetime.now(UTC).date()
        self.brands = [
            Brand(key, name, tz, cur, scale, i)
            for i, (key, name, tz, cur, scale) in enumerate(BRAND_TEMPLATES[:n_brands])
        ]
        self._by_key = {b.key: b for b in self.brands}
        # Per world, not per class (a class-level cache would keep every world alive), and
        # per platform, so a run over one platform keeps CACHED_DAYS of it, not more.
        per_day = len(self.brands) * CACHED_DAYS
        self._posts_published = {platform: lru_cache(maxsize=per_day)(self._day_posts)
                                 for platform in POST_RATE}
        self._account_reach_cached = {
            platform: lru_cache(maxsize=per_day)(self._day_account_reach)
            for platform in FOLLOWER_START}
        self._email_values = lru_cache(maxsize=per_day)(self._day_email)
        self._campaigns = lru_cache(maxsize=64)(self._brand_campaigns)
        self._follower_paths: dict[tuple[str, str], tuple[np.ndarray, ...]] = {}

    def brand(self, key: str) -> Brand:
        return self._by_key[key]

    def accounts(self, kind: str) -> list[AccountRef]:
        return [b.account(kind) for b in self.brands]

    # ----------------------------------------------------------------- posts
    def posts_published(self, brand: Brand, platform: str, day: date) -> list[Post]:
        """The posts a brand published on one platform on one local day."""
        return list(self._posts_published[platform](brand.key, platform, day))

    def _day_posts(self, brand_key: str, platform: str, day: date) -> tuple[Post, ...]:
        brand = self.brand(brand_key)
        rng = rng_for(self.seed, "posts", brand_key, platform, day.isoformat())
        n = rng.poisson(POST_RATE[platform] * (1.3 if day.weekday() < 5 else 0.8))
        kinds, cdf = _media_cdf(platform)
        followers = self.followers(brand, platform, day)
        posts = []
        for i in range(n):
            media = choice(rng, kinds, cdf)
            hour, minute = int(rng.integers(7, 21)), int(rng.integers(0, 60))
            local = datetime(day.year, day.month, day.day, hour, minute,
                             tzinfo=ZoneInfo(brand.timezone))
            quality = float(rng.lognormal(0.0, 0.45))
            viral = rng.random() < 0.025
            if viral:
                quality *= uniform(rng, 8, 25)
            reach = followers * 0.09 * quality * season_factor(day) * weekday_factor(day, platform)
            reach *= {"reel": 2.2, "video": 1.4, "carousel": 1.25}.get(media, 1.0)
            final = self._post_totals(platform, media, reach, rng)
            post_id = self._post_id(brand, platform, day, i)
            caption = CAPTIONS[int(rng.integers(len(CAPTIONS)))].format(brand=brand.name)
            posts.append(Post(post_id, platform, brand_key, local.astimezone(UTC), day, media,
                              caption, final, uniform(rng, 0.8, 2.5)))
        return tuple(posts)

    @staticmethod
    def _post_totals(platform: str, media: str, reach: float,
                     rng: np.random.Generator) -> dict[str, float]:
        frequency = uniform(rng, 1.15, 1.6)
        impressions = reach * frequency
        like_rate = uniform(rng, 0.02, 0.06) * (1.4 if platform == "tiktok" else 1.0)
        totals = {
            "impressions": impressions,
            "views": impressions * uniform(rng, 1.0, 1.12),  # views count replays
            "reach": reach,
            "likes": reach * like_rate,
            "comments": reach * like_rate * uniform(rng, 0.04, 0.12),
            "shares": reach * like_rate * uniform(rng, 0.05, 0.2),
            "saves": reach * like_rate * uniform(rng, 0.05, 0.25),
            "link_clicks": impressions * (uniform(rng, 0.004, 0.015)
                                          if media == "link" else uniform(rng, 0, 0.003)),
        }
        if media in VIDEO_TYPES:
            video_views = impressions * uniform(rng, 0.55, 0.85)
            avg_watch = uniform(rng, 4, 18) if media == "reel" else uniform(rng, 8, 45)
            totals.update(
                video_views=video_views,
                completions=video_views * uniform(rng, 0.08, 0.35),
                watch_time_seconds=video_views * avg_watch,
                avg_watch_seconds=avg_watch,
            )
        return totals

    def _post_id(self, brand: Brand, platform: str, day: date, i: int) -> str:
        n = (day - ORIGIN).days * 10 + i
        if platform == "facebook":
            return f"{brand.account('facebook_page').account_id}_{9_000_000_000 + n}"
        if platform == "instagram":
            return str(17_900_000_000_000_000 + brand.index * 10_000_000 + n)
        if platform == "linkedin":
            return f"urn:li:share:{7_100_000_000_000_000_000 + brand.index * 10_000_000 + n}"
        return str(7_300_000_000_000_000_000 + brand.index * 10_000_000 + n)

    def posts_live(self, brand: Brand, platform: str, as_of: date,
                   lookback_days: int) -> list[Post]:
        """Posts published within ``lookback_days`` up to and including ``as_of``."""
        out: list[Post] = []
        posts_published, key = self._posts_published[platform], brand.key
        for back in _days_back(lookback_days):
            out.extend(posts_published(key, platform, as_of - back))
        return out

    # ------------------------------------------------------------- followers
    @property
    def _n_days(self) -> int:
        """Length of the daily paths: from ORIGIN to well past today."""
        return (self.today - ORIGIN).days + 400

    def _follower_path(self, brand: Brand, platform: str) -> tuple[np.ndarray, ...]:
        """Daily gains, losses and net change from ORIGIN, of one brand on one platform.

        Each path has its own seed, so it is built when first asked for: a stream reads
        one platform's paths only.
        """
        key = (brand.key, platform)
        path = self._follower_paths.get(key)
        if path is None:
            n_days = self._n_days
            rng = rng_for(self.seed, "followers", brand.key, platform)
            base = FOLLOWER_START[platform] * brand.scale * 0.0012
            gains = rng.poisson(base * _season_rhythm(n_days) * rng.uniform(0.7, 1.3, n_days))
            losses = rng.poisson(base * 0.45 * rng.uniform(0.6, 1.4, n_days))
            # a few viral days bring a burst of follows
            bursts = rng.random(n_days) < 0.01
            gains = gains + bursts * rng.poisson(base * 12, n_days)
            path = self._follower_paths[key] = (gains, losses, np.cumsum(gains - losses))
        return path

    def follower_day(self, brand: Brand, platform: str, day: date) -> tuple[int, int, int]:
        """(followers at the end of ``day``, gains on ``day``, losses on ``day``)."""
        gains, losses, net = self._follower_path(brand, platform)
        i = (day - ORIGIN).days
        total = int(FOLLOWER_START[platform] * brand.scale) + int(net[i])
        return total, int(gains[i]), int(losses[i])

    def followers(self, brand: Brand, platform: str, day: date) -> int:
        return self.follower_day(brand, platform, day)[0]

    # ------------------------------------------------------ account activity
    def account_day(self, brand: Brand, platform: str, day: date,
                    pulled_on: date) -> dict[str, int]:
        """Account-level daily totals as the platform reports them when pulled on ``pulled_on``.

        ``reach_week`` and ``reach_28d`` are the platform's own unique counts over the 7 and
        28 days ending on ``day``: always less than the sum of the daily reach.
        """
        followers, gains, losses = self.follower_day(brand, platform, day)
        factor = restatement_factor(day, pulled_on, SETTLE_DAYS["account"])
        reach_of, key = self._account_reach_cached[platform], brand.key
        daily = [reach_of(key, platform, day - back) for back in _days_back(28)]
        reach = daily[0]
        rng = rng_for(self.seed, "account", brand.key, platform, day.isoformat())
        impressions = reach * uniform(rng, 1.3, 1.9)
        engaged = reach * uniform(rng, 0.02, 0.05)
        return {
            "followers": followers,
            "follower_gains": gains,
            "follower_losses": losses,
            "reach": int(reach * factor),
            "impressions": int(impressions * factor),
            "views": int(impressions * 1.07 * factor),
            "reach_week": int(sum(daily[:7]) * 0.62 * factor),
            "reach_28d": int(sum(daily) * 0.41 * factor),
            "profile_views": int(reach * uniform(rng, 0.01, 0.03) * factor),
            "clicks": int(impressions * uniform(rng, 0.004, 0.012) * factor),
            "likes": int(engaged * 0.8 * factor) - int(rng.poisson(1.5)),  # un-likes
            "comments": int(engaged * 0.08 * factor),
            "shares": int(engaged * 0.1 * factor),
        }

    def _day_account_reach(self, brand_key: str, platform: str, day: date) -> float:
        brand = self.brand(brand_key)
        rng = rng_for(self.seed, "reach", brand_key, platform, day.isoformat())
        followers = self.followers(brand, platform, day)
        return (followers * 0.22 * season_factor(day) * weekday_factor(day, platform)
                * float(rng.lognormal(0, 0.15)))

    # ------------------------------------------------------------------ ads
    def campaigns(self, brand: Brand, platform: str) -> list[Campaign]:
        """Campaigns of a brand's ad account on ``platform`` (meta, linkedin or tiktok)."""
        return list(self._campaigns(brand.key, platform))

    def _brand_campaigns(self, brand_key: str, platform: str) -> tuple[Campaign, ...]:
        brand = self.brand(brand_key)
        rng = rng_for(self.seed, "campaigns", brand_key, platform)
        budget_scale = FX_BASE_PER_EUR[brand.currency] / FX_BASE_PER_EUR["EUR"]
        objectives = {
            "meta": ("OUTCOME_SALES", "OUTCOME_LEADS", "OUTCOME_TRAFFIC"),
            "linkedin": ("LEAD_GENERATION", "WEBSITE_VISIT"),
            "tiktok": ("CONVERSIONS", "TRAFFIC"),
        }[platform]
        campaigns = []
        first = ORIGIN + timedelta(days=int(rng.integers(0, 30)))
        # always-on prospecting campaigns plus seasonal bursts
        for i, objective in enumerate(objectives):
            name = f"{brand.name} | {objective.replace('OUTCOME_', '').title()} | always-on"
            cid = str(23_850_000_000_000 + _seed(brand_key, platform, i) % 10**9)
            campaigns.append(Campaign(cid, name, platform, brand_key, objective, first,
                                      self.today + timedelta(days=365),
                                      uniform(rng, 40, 140) * budget_scale))
        year = ORIGIN.year
        while date(year, 1, 1) <= self.today + timedelta(days=365):
            for season, month in (("Spring Sale", 3), ("Black Friday <Promo>", 11)):
                start = date(year, month, int(rng.integers(1, 15)))
                cid = str(23_860_000_000_000 + _seed(brand_key, platform, year, month) % 10**9)
                campaigns.append(Campaign(cid, f"{brand.name} | {season} {year}", platform,
                                          brand_key, objectives[0], start,
                                          start + timedelta(days=int(rng.integers(14, 28))),
                                          uniform(rng, 150, 400) * budget_scale))
            year += 1
        return tuple(campaigns)

    def ad_day(self, campaign: Campaign, day: date, pulled_on: date) -> dict[str, float] | None:
        """A campaign's delivery on one local day, or None when it did not run."""
        if not campaign.start <= day <= campaign.end:
            return None
        brand = self.brand(campaign.brand)
        rng = rng_for(self.seed, "ad", campaign.campaign_id, day.isoformat())
        settle = SETTLE_DAYS["tiktok_ads" if campaign.platform == "tiktok" else "ads"]
        late = restatement_factor(day, pulled_on, settle)
        spend = campaign.daily_budget * uniform(rng, 0.75, 1.05) * weekday_factor(
            day, campaign.platform)
        eur_spend = spend / FX_BASE_PER_EUR[brand.currency]
        cpm_eur = {"meta": 7.5, "linkedin": 28.0, "tiktok": 5.5}[campaign.platform]
        impressions = eur_spend / cpm_eur * 1000 * float(rng.lognormal(0, 0.12))
        ctr = {"meta": 0.012, "linkedin": 0.006, "tiktok": 0.009}[campaign.platform]
        clicks = impressions * ctr * float(rng.lognormal(0, 0.2)) * season_factor(day)
        link_clicks = clicks * uniform(rng, 0.55, 0.8)
        lead_rate = 0.09 if "LEAD" in campaign.objective else 0.02
        purchase_rate = 0.035 if campaign.objective in ("OUTCOME_SALES", "CONVERSIONS") else 0.008
        aov = 62.0 * FX_BASE_PER_EUR[brand.currency] * uniform(rng, 0.8, 1.25)
        purchases = int(link_clicks * purchase_rate * float(rng.lognormal(0, 0.3)) * late)
        return {
            "spend": round(spend, 2),
            "impressions": int(impressions),
            "reach": int(impressions / uniform(rng, 1.2, 1.8)),
            "clicks": int(clicks),
            "link_clicks": int(link_clicks),
            "leads": int(link_clicks * lead_rate * float(rng.lognormal(0, 0.3)) * late),
            "purchases": purchases,
            "revenue": round(purchases * aov, 2),
            "video_views": int(impressions * 0.3) if campaign.platform == "tiktok" else 0,
        }

    # ------------------------------------------------------------------ web
    def web_day(self, brand: Brand, day: date, pulled_on: date) -> list[dict[str, object]]:
        """GA4 sessions of one local day by (source, medium, campaign) as GA4 reports them."""
        rng = rng_for(self.seed, "web", brand.key, day.isoformat())
        late = restatement_factor(day, pulled_on, SETTLE_DAYS["web"])
        season = season_factor(day)
        base = 900 * brand.scale * season
        mixes = [
            ("google", "organic", "(organic)", 0.32, 0.014),
            ("(direct)", "(none)", "(direct)", 0.2, 0.018),
            ("newsletter", "email", "weekly_digest", 0.06, 0.03),
            ("facebook.com", "referral", "(referral)", 0.03, 0.008),
            ("facebook", "social", "always_on", 0.07, 0.011),
            ("ig", "social", "bio_link", 0.08, 0.012),
            ("instagram", "paid_social", "spring_sale", 0.05, 0.016),
            ("lnkd.in", "social", "thought_leadership", 0.03, 0.01),
            ("linkedin", "paid_social", "lead_gen", 0.03, 0.009),
            ("tiktok", "paid_social", "creator_collab", 0.06, 0.007),
            ("l.facebook.com", "referral", "(referral)", 0.02, 0.008),
        ]
        rows = []
        for source, medium, campaign, share, conv in mixes:
            social_weekday = weekday_factor(day, "linkedin" if "lnkd" in source or
                                            source == "linkedin" else "facebook")
            sessions = int(base * share * social_weekday * float(rng.lognormal(0, 0.18)) * late)
            if sessions == 0:
                continue
            engaged = int(sessions * uniform(rng, 0.45, 0.72))
            orders = int(rng.binomial(sessions, conv * 0.6))
            first_time = int(rng.binomial(orders, 0.55)) if orders else 0
            aov = 58.0 * FX_BASE_PER_EUR[brand.currency] * uniform(rng, 0.85, 1.2)
            leads = int(rng.binomial(sessions, conv * 1.4))
            rows.append({
                "source": source,
                "medium": medium,
                "campaign": campaign,
                "sessions": sessions,
                "engaged_sessions": engaged,
                "page_views": int(sessions * uniform(rng, 1.6, 3.4)),
                "engagement_time_seconds": int(engaged * uniform(rng, 35, 110)),
                "sign_ups": int(rng.binomial(sessions, conv * 0.9)),
                "leads": leads,
                "qualified_leads": int(rng.binomial(leads, 0.35)) if leads else 0,
                "booked_calls": int(rng.binomial(leads, 0.12)) if leads else 0,
                "orders": orders,
                "new_customers": first_time,
                "purchasers": max(orders - int(rng.binomial(orders, 0.1)), 0) if orders else 0,
                "revenue": round(orders * aov, 2),
            })
        return rows

    # ---------------------------------------------------------------- email
    @cached_property
    def _email_paths(self) -> dict[str, tuple[np.ndarray, ...]]:
        """Daily subscribes, unsubscribes, imports and removals per brand, from ORIGIN."""
        n_days = self._n_days
        rhythm = _season_rhythm(n_days)
        paths = {}
        for brand in self.brands:
            rng = rng_for(self.seed, "email", brand.key)
            subs = rng.poisson(14 * brand.scale * rhythm)
            unsubs = rng.poisson(5 * brand.scale, n_days)
            imports = np.where(rng.random(n_days) < 0.02, rng.poisson(120, n_days), 0)
            removals = rng.poisson(1.5, n_days)
            paths[brand.key] = (subs, unsubs, imports, removals,
                                np.cumsum(subs + imports - unsubs - removals))
        return paths

    def email_day(self, brand: Brand, day: date) -> dict[str, int]:
        """An email list's day: list activity and the member count at the end of the day."""
        return dict(self._email_values(brand.key, day))  # a copy: the cached dict stays intact

    def _day_email(self, brand_key: str, day: date) -> dict[str, int]:
        brand = self.brand(brand_key)
        subs, unsubs, imports, removals, net = self._email_paths[brand_key]
        i = (day - ORIGIN).days
        rng = rng_for(self.seed, "email-sends", brand_key, day.isoformat())
        members = int(6_000 * brand.scale) + int(net[i])
        sent = members if day.weekday() == 1 else 0  # a Tuesday newsletter
        opens = int(rng.binomial(sent, 0.38)) if sent else 0
        return {
            "members": members, "subs": int(subs[i]), "unsubs": int(unsubs[i]),
            "other_adds": int(imports[i]), "other_removes": int(removals[i]),
            "emails_sent": sent, "unique_opens": opens,
            "recipient_clicks": int(rng.binomial(opens, 0.09)) if opens else 0,
            "hard_bounce": int(rng.binomial(sent, 0.002)) if sent else 0,
            "soft_bounce": int(rng.binomial(sent, 0.006)) if sent else 0,
        }

    # ------------------------------------------------------------------- fx
    @cached_property
    def _fx_walks(self) -> dict[str, np.ndarray]:
        n_days = self._n_days
        walks = {}
        for currency, base in FX_BASE_PER_EUR.items():
            if currency == "EUR":
                walks[currency] = np.ones(n_days)
                continue
            rng = rng_for(self.seed, "fx", currency)
            walks[currency] = base * np.exp(np.cumsum(rng.normal(0, 0.004, n_days)))
        return walks

    def fx_business_day(self, day: date) -> date:
        """The last ECB business day on or before ``day`` (no fixing at weekends)."""
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        return day

    def fx_per_eur(self, currency: str, day: date) -> float:
        """Reference rate: units of ``currency`` per 1 EUR fixed on ``day`` (a business day)."""
        return round(float(self._fx_walks[currency][(day - ORIGIN).days]), 4)
