"""The demo's GA4 export: deterministic, independent of the window asked, spanning every
channel, with multi-session journeys over days and a volume in line with the demo's
aggregate GA4 sessions (times the simulated share)."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from kpi_pipeline.lib.core.platforms.ga4_export import DATASET_PATTERN, FILE_PATTERN
from kpi_pipeline.lib.sources.demo.ga4_events import (
    CHANNELS,
    DEFAULT_SHARE,
    sessions,
    write_export,
)
from kpi_pipeline.lib.sources.demo.world import World

WORLD = World(seed=7, n_brands=2, today=date(2025, 6, 1))


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    a, b, c = (tmp_path_factory.mktemp(n) for n in "abc")
    files_a = write_export(WORLD, a, date(2025, 3, 1), date(2025, 3, 14))
    # another world object, same window: the same bytes
    other = World(seed=7, n_brands=2, today=date(2025, 6, 1))
    write_export(other, b, date(2025, 3, 1), date(2025, 3, 14))
    # a wider window that holds the same days: the same records
    files_c = write_export(other, c, date(2025, 2, 20), date(2025, 3, 20))
    return a, files_a, b, c, files_c


def _lines(path: Path) -> list[bytes]:
    return sorted(gzip.decompress(path.read_bytes()).splitlines())


def test_same_seed_same_files_whatever_the_window(three_runs):
    a, files_a, b, c, files_c = three_runs
    assert len(files_a) == 2 * 14 and len(files_c) == 2 * 29
    for path in files_a:
        assert path.read_bytes() == (b / path.relative_to(a)).read_bytes()
        assert _lines(path) == _lines(c / path.relative_to(a))


def test_a_users_sessions_follow_each_other():
    frame = sessions(WORLD, "alpenglow", date(2025, 1, 1), date(2025, 3, 31))
    start = frame["day"] + pd.to_timedelta(frame["start_second"], unit="s")
    first = frame["first_day"] + pd.to_timedelta(frame["first_visit_second"], unit="s")
    assert (start >= first).all()
    keys = frame[["cohort", "user_index", "day", "start_second"]]
    assert not keys.duplicated().any()  # one ga_session_id per session of a user
    ordered = frame.assign(start=start).groupby(["cohort", "user_index"])["start"]
    assert ordered.apply(lambda s: s.is_monotonic_increasing).all()


def test_files_in_the_export_layout(three_runs):
    _, files_a, _, _, _ = three_runs
    for path in files_a:
        assert DATASET_PATTERN.match(path.parent.name) and FILE_PATTERN.match(path.name)


def test_journeys_span_channels_and_days():
    frame = sessions(WORLD, "northwind", date(2025, 1, 1), date(2025, 3, 31))
    assert set(frame["channel"]) == set(range(len(CHANNELS)))
    per_user = frame.groupby(["cohort", "user_index"])
    spans = (per_user["day"].max() - per_user["day"].min()).dt.days
    assert (per_user.size() > 1).mean() > 0.3  # many users come back
    assert spans.max() > 20  # journeys over weeks
    firsts = frame[frame["rank"] == 0]["channel"].map(lambda i: CHANNELS[i].medium)
    later = frame[frame["rank"] > 0]["channel"].map(lambda i: CHANNELS[i].medium)
    social = ("social", "paid_social")
    assert firsts.isin(social).mean() > later.isin(social).mean()  # social finds, search returns
    assert later.eq("email").mean() > 0.1


def test_volume_follows_the_aggregate_demo():
    brand = WORLD.brand("northwind")
    first, last = date(2025, 2, 3), date(2025, 3, 2)
    frame = sessions(WORLD, brand.key, first, last)
    aggregate = sum(r["sessions"] for d in range((last - first).days + 1)
                    for r in WORLD.web_day(brand, first.fromordinal(first.toordinal() + d),
                                           date(2025, 6, 1)))
    assert len(frame) / (aggregate * DEFAULT_SHARE) == pytest.approx(1.0, abs=0.15)
