"""The demo's landing files stay byte-for-byte what they were, and its memory stays bounded.

The expected hashes were computed from the demo and landing code as they stood before the
demo generation was made cheaper (commit 85278f2), by pulling and writing these days, so a
change to the demo's speed cannot quietly change what it says. A change that is MEANT to
change the demo data updates them, saying so.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import date, timedelta

import numpy as np
import pytest

from kpi_pipeline.lib.core.landing import write_envelope
from kpi_pipeline.lib.core.streams import POST_LOOKBACK_DAYS, STREAMS
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline.lib.sources.demo.world import (
    CACHED_DAYS,
    MEDIA_MIX,
    World,
    _media_cdf,
    choice,
    uniform,
)

TODAY = date(2025, 3, 20)
# Black Friday campaigns; the US change to summer time; a newsletter Tuesday still
# restating; yesterday.
DAYS = (date(2024, 11, 29), date(2025, 3, 9), date(2025, 3, 18), date(2025, 3, 19))

# sha256 (first 16 hex digits) of the decompressed landing file, seed 7, 4 brands.
EXPECTED = {
    ("facebook_page", "2024-11-29"): "56a41756ee611132",
    ("facebook_page", "2025-03-09"): "14fd2a9bdcb6f384",
    ("facebook_page", "2025-03-18"): "ffb768c2abf87e21",
    ("facebook_page", "2025-03-19"): "77ab0142f2c213e4",
    ("facebook_posts", "2024-11-29"): "34f4e69d186ba155",
    ("facebook_posts", "2025-03-09"): "c6fb34129aa44037",
    ("facebook_posts", "2025-03-18"): "31661a12b75cb375",
    ("facebook_posts", "2025-03-19"): "c28f34eb81249c0e",
    ("instagram_account", "2024-11-29"): "ea51149b570dfd6e",
    ("instagram_account", "2025-03-09"): "af07e49a019422ba",
    ("instagram_account", "2025-03-18"): "aace5a5aa094873a",
    ("instagram_account", "2025-03-19"): "4f1c0a5f3c6b90bf",
    ("instagram_media", "2024-11-29"): "54821c1023b925fd",
    ("instagram_media", "2025-03-09"): "946aab423101c556",
    ("instagram_media", "2025-03-18"): "c1ae8a541c40f5d5",
    ("instagram_media", "2025-03-19"): "e04c4215fa44c487",
    ("linkedin_organization", "2024-11-29"): "c7be0bf232a66f54",
    ("linkedin_organization", "2025-03-09"): "c0f03214a8be9f84",
    ("linkedin_organization", "2025-03-18"): "472b98b2f9b25212",
    ("linkedin_organization", "2025-03-19"): "74b40a1d7a60d080",
    ("linkedin_posts", "2024-11-29"): "c57d2a0ebecc6ba7",
    ("linkedin_posts", "2025-03-09"): "c498a959aaa8a401",
    ("linkedin_posts", "2025-03-18"): "b15afce122f6df26",
    ("linkedin_posts", "2025-03-19"): "b776c7e2a44e70a4",
    ("tiktok_account", "2024-11-29"): "8a13cca5e17d4234",
    ("tiktok_account", "2025-03-09"): "17408357ad38dcd3",
    ("tiktok_account", "2025-03-18"): "4ae75ca8ee436c1e",
    ("tiktok_account", "2025-03-19"): "76d2fb52be785947",
    ("tiktok_videos", "2024-11-29"): "de063d81f1d09822",
    ("tiktok_videos", "2025-03-09"): "b8cf596a53a16288",
    ("tiktok_videos", "2025-03-18"): "5f1719c1fc46cd3e",
    ("tiktok_videos", "2025-03-19"): "299df62e2802971c",
    ("meta_ads", "2024-11-29"): "04bd63e861e6c6f0",
    ("meta_ads", "2025-03-09"): "96fadcd3f82ae02a",
    ("meta_ads", "2025-03-18"): "c6086099d4efc696",
    ("meta_ads", "2025-03-19"): "4d7e6f9719263939",
    ("linkedin_ads", "2024-11-29"): "c020b5f5e6f0be46",
    ("linkedin_ads", "2025-03-09"): "7e233706d6799a43",
    ("linkedin_ads", "2025-03-18"): "200835ee8d5b7843",
    ("linkedin_ads", "2025-03-19"): "d4451d8c11f08342",
    ("tiktok_ads", "2024-11-29"): "f29a94097a1d7442",
    ("tiktok_ads", "2025-03-09"): "0d8fe4a8b9ddd99f",
    ("tiktok_ads", "2025-03-18"): "0d1eaa2fe8e1044c",
    ("tiktok_ads", "2025-03-19"): "c19ea650d22a3bae",
    ("ga4_sessions", "2024-11-29"): "49e8ebd3f211a254",
    ("ga4_sessions", "2025-03-09"): "281ee6672eedf82f",
    ("ga4_sessions", "2025-03-18"): "62056f1f3234e30d",
    ("ga4_sessions", "2025-03-19"): "3f5073e169bcaeae",
    ("mailchimp_list", "2024-11-29"): "faa7ca4495a78af7",
    ("mailchimp_list", "2025-03-09"): "937b26704bf6ab6e",
    ("mailchimp_list", "2025-03-18"): "a1b49c1aa118b51e",
    ("mailchimp_list", "2025-03-19"): "8b2bb3ce5eff13e9",
    ("fx_rates", "2024-11-29"): "c2c727eccd90cf22",
    ("fx_rates", "2025-03-09"): "d2414edf639c3e1a",
    ("fx_rates", "2025-03-18"): "26aad0bb3bea4536",
    ("fx_rates", "2025-03-19"): "91ef2fb71597bf6a",
}


def test_landing_files_are_unchanged(tmp_path):
    client = DemoClient(seed=7, n_brands=4, today=TODAY)
    got = {}
    for stream in STREAMS:
        for day in DAYS:
            path = write_envelope(tmp_path, client.pull_envelope(stream, day))
            got[(stream.name, day.isoformat())] = hashlib.sha256(
                gzip.decompress(path.read_bytes())).hexdigest()[:16]
    assert got == EXPECTED


def test_landing_files_do_not_depend_on_the_order_of_pulls(tmp_path):
    """The caches only remember: a world that pulls the days backwards, one that pulls
    the streams interleaved, and a fresh world per pull all land the same bytes."""
    def landed(order: list[tuple[int, date]], fresh: bool) -> dict[tuple[str, date], bytes]:
        client = DemoClient(seed=7, n_brands=2, today=TODAY)
        out = {}
        for i, day in order:
            if fresh:
                client = DemoClient(seed=7, n_brands=2, today=TODAY)
            path = write_envelope(tmp_path, client.pull_envelope(STREAMS[i], day))
            out[(STREAMS[i].name, day)] = gzip.decompress(path.read_bytes())
        return out

    days = [TODAY - timedelta(days=k) for k in range(1, 4)]
    forwards = [(i, d) for i in range(len(STREAMS)) for d in sorted(days)]
    backwards = [(i, d) for d in sorted(days, reverse=True) for i in range(len(STREAMS))]
    reference = landed(forwards, fresh=False)
    assert landed(backwards, fresh=False) == reference
    one_world_per_pull = landed(forwards[::5], fresh=True)
    assert one_world_per_pull == {k: reference[k] for k in one_world_per_pull}


@pytest.mark.parametrize(("low", "high"), [(0.75, 1.05), (0, 0.003), (8, 25), (35, 110)])
def test_uniform_draws_what_numpy_draws(low, high):
    ours, numpy = np.random.default_rng(11), np.random.default_rng(11)
    assert [uniform(ours, low, high) for _ in range(20_000)] == [
        float(numpy.uniform(low, high)) for _ in range(20_000)]


@pytest.mark.parametrize("platform", list(MEDIA_MIX))
def test_choice_draws_what_numpy_draws(platform):
    kinds, weights = zip(*MEDIA_MIX[platform], strict=True)
    p = np.array(weights) / sum(weights)
    ours, numpy = np.random.default_rng(5), np.random.default_rng(5)
    assert [choice(ours, *_media_cdf(platform)) for _ in range(5_000)] == [
        str(numpy.choice(kinds, p=p)) for _ in range(5_000)]
    assert ours.random() == numpy.random()  # both drew the same number of doubles


def test_world_caches_are_bounded_and_per_world():
    """A long backfill keeps a constant number of cached days; worlds do not share them."""
    world = World(seed=7, n_brands=2, today=TODAY)
    brand = world.brands[0]
    start = TODAY - timedelta(days=400)
    for k in range(400):
        day = start + timedelta(days=k)
        world.posts_live(brand, "instagram", day, POST_LOOKBACK_DAYS)
        world.account_day(brand, "instagram", day, TODAY)
        world.email_day(brand, day)
    for cache in (world._posts_published["instagram"],
                  world._account_reach_cached["instagram"], world._email_values):
        info = cache.cache_info()
        assert info.currsize == info.maxsize == len(world.brands) * CACHED_DAYS
    other = World(seed=7, n_brands=2, today=TODAY)
    assert other._posts_published["instagram"].cache_info().currsize == 0
