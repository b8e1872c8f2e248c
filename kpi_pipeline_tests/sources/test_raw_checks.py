"""``landing_files_valid`` is decided as each pull arrives: clean pulls pass with their
metadata; a pull that does not cover its day or lacks a Meta metric fails naming the
stream, the file and the metric. What only the rows can show (a corrupt or missing file,
a metric another platform left empty) stops the normalized table, naming the same."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import LANDING_FILES_VALID, raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core.landing import landing_path, rejected_path
from kpi_pipeline.lib.core.platform_client import PlatformClient
from kpi_pipeline.lib.core.streams import STREAMS, STREAMS_BY_NAME, platforms
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline.lib.sources.landing_checks import envelope_problems
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY

WEEK = "2025-03-03"  # Monday to Sunday 9 March, all closed on the demo clock (20 March)
RAW = {asset.key.path[1]: asset for asset in raw_assets}
NORMALIZED = {asset.key.path[1]: asset for asset in normalized_assets}


def week(key: str = WEEK) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": key,
            "dagster/asset_partition_range_end": key}


def demo() -> DemoPlatforms:
    return DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS, today=DEMO_TODAY.isoformat())


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Path:
    """Every platform pulled for one demo week, with the landing checks in the same run."""
    root = tmp_path_factory.mktemp("landing")
    result = dg.materialize(raw_assets, tags=week(),
                            resources={"settings": Settings(landing_dir=str(root)),
                                       "platforms": demo()})
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(platforms())
    assert all(e.passed for e in evaluations), [e.description for e in evaluations
                                                if not e.passed]
    first = next(e for e in evaluations if e.asset_key.path[1] == "facebook")
    meta = {k: v.value for k, v in first.metadata.items()}
    assert meta["files_checked"] == 7 * 2 and meta["problem_count"] == 0  # 2 streams
    assert meta["partition_window"] == "2025-03-03..2025-03-09"
    return root


@pytest.fixture
def landing(landed: Path, tmp_path: Path) -> Path:
    shutil.copytree(landed, tmp_path / "landing")
    return tmp_path / "landing"


class DamagingPlatforms(DemoPlatforms):
    """The demo platforms, with one stream's answer for one day damaged by ``damage``."""

    stream: str
    day: str
    damage: str  # "drop_page_views" or "shift_window"

    def client(self) -> PlatformClient:
        stream, day, damage = self.stream, self.day, self.damage

        class Damaging(DemoClient):
            def pull_envelope(self, pulled, when):
                envelope = super().pull_envelope(pulled, when)
                if pulled.name == stream and when.isoformat() == day:
                    DAMAGES[damage](envelope)
                return envelope

        return Damaging(seed=DEMO_SEED, n_brands=DEMO_BRANDS, today=DEMO_TODAY)


def _drop_page_views(envelope: dict) -> None:
    body = envelope["accounts"][0]["requests"][0]["body"]
    body["data"] = [e for e in body["data"] if e["name"] != "page_views_total"]


def _shift_window(envelope: dict) -> None:
    envelope["accounts"][0]["window"] = {"start": "2025-03-06", "end": "2025-03-06"}


DAMAGES = {"drop_page_views": _drop_page_views, "shift_window": _shift_window}


def pull(landing: Path, platform: str, stream: str, day: str, damage: str,
         repull: bool = True) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [RAW[platform]], tags=week(), run_config={"ops": {f"raw__{platform}": {"config": {
            "repull": repull}}}},
        resources={"settings": Settings(landing_dir=str(landing)),
                   "platforms": DamagingPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                                  today=DEMO_TODAY.isoformat(),
                                                  stream=stream, day=day, damage=damage)},
        raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == LANDING_FILES_VALID and evaluation.blocking
    return evaluation


def test_a_metric_missing_from_a_meta_answer_is_named(landing):
    landed = landing_path(landing, "facebook_page", date(2025, 3, 4))
    before = landed.read_bytes()
    evaluation = pull(landing, "facebook", "facebook_page", "2025-03-04", "drop_page_views")
    assert not evaluation.passed
    (problem,) = evaluation.metadata["problems"].value
    assert problem["kind"] == "metric" and problem["day"] == "2025-03-04"
    aside = rejected_path(landing, "facebook_page", date(2025, 3, 4))
    assert problem["file"] == str(aside) and aside.exists()
    assert "'page_views_total' was requested but is missing" in problem["detail"]
    assert landed.read_bytes() == before  # the day's landed answer stays as it was


def test_a_rejected_day_is_not_landed_and_is_pulled_again(landing, tmp_path):
    day = date(2025, 3, 5)
    landing_path(landing, "mailchimp_list", day).unlink()  # a day not landed yet
    evaluation = pull(landing, "mailchimp", "mailchimp_list", "2025-03-05", "shift_window",
                      repull=False)
    assert not evaluation.passed and evaluation.metadata["files_checked"].value == 1
    assert not landing_path(landing, "mailchimp_list", day).exists()
    assert rejected_path(landing, "mailchimp_list", day).exists()
    # the next run pulls the missing day again; a clean answer lands and clears the aside
    clean = pull(landing, "mailchimp", "mailchimp_list", "2025-03-01", "shift_window",
                 repull=False)
    assert clean.passed and clean.metadata["files_checked"].value == 1
    assert landing_path(landing, "mailchimp_list", day).exists()
    assert not rejected_path(landing, "mailchimp_list", day).exists()


def test_a_pull_that_does_not_cover_its_day_is_named(landing):
    evaluation = pull(landing, "mailchimp", "mailchimp_list", "2025-03-05", "shift_window")
    assert not evaluation.passed
    kinds = {p["kind"] for p in evaluation.metadata["problems"].value}
    assert kinds == {"window"}
    assert "does not hold the file's day 2025-03-05" in evaluation.description


def test_a_retired_meta_metric_is_named_with_its_replacement(tmp_path):
    day = date(2025, 12, 1)  # after page_impressions retired (2025-11-15)
    client = DemoClient(seed=DEMO_SEED, n_brands=DEMO_BRANDS, today=date(2025, 12, 10))
    envelope = client.pull_envelope(STREAMS_BY_NAME["facebook_page"], day)
    request = envelope["accounts"][0]["requests"][0]
    for entry in request["body"]["data"]:
        if entry["name"] == "page_media_view":
            entry["name"] = "page_impressions"
    request["params"]["metric"] = request["params"]["metric"].replace("page_media_view",
                                                                      "page_impressions")
    problems = envelope_problems(STREAMS_BY_NAME["facebook_page"], envelope, day,
                                 tmp_path / "page.json.gz")
    details = [p.detail for p in problems]
    assert any("'page_impressions' (page) is retired" in d and "'page_media_view'" in d
               for d in details), details
    assert any("'page_media_view' (fills views) is missing" in d for d in details), details


# ------------------------------------------------- what the rows show, where they are read
def normalize(landing: Path, tmp_path: Path, table: str) -> str:
    """Materialize one normalized table over the week; the step failure's message."""
    result = dg.materialize(
        [NORMALIZED[table]], tags=week(), raise_on_error=False,
        resources={"settings": Settings(landing_dir=str(landing)),
                   "warehouse": Warehouse(database=str(tmp_path / "store.duckdb"))})
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.error.message


def rewrite(path: Path, change) -> None:
    with gzip.open(path, "rb") as fh:
        envelope = json.loads(fh.read())
    change(envelope)
    with gzip.open(path, "wb") as fh:
        fh.write(json.dumps(envelope).encode())


def test_a_corrupt_file_is_named(landing, tmp_path):
    corrupt = landing_path(landing, "ga4_sessions", date(2025, 3, 4))
    corrupt.write_bytes(b"\x1f\x8b not really gzip")
    message = normalize(landing, tmp_path, "web_daily")
    assert "ga4_sessions 2025-03-04" in message and "unreadable" in message
    assert str(corrupt) in message


def test_a_missing_file_is_named(landing, tmp_path):
    missing = landing_path(landing, "ga4_sessions", date(2025, 3, 5))
    missing.unlink()
    message = normalize(landing, tmp_path, "web_daily")
    assert f"ga4_sessions 2025-03-05: no landing file at {missing}" in message
    assert "raw/ga4" in message


def test_a_metric_left_empty_by_another_platform_is_named(landing, tmp_path):
    path = landing_path(landing, "tiktok_account", date(2025, 3, 3))

    def drop(envelope):
        for account in envelope["accounts"]:
            for row in account["requests"][0]["body"]["data"]["metrics"]:
                row.pop("profile_views")

    rewrite(path, drop)
    message = normalize(landing, tmp_path, "account_daily")
    assert "tiktok_account 2025-03-03" in message
    assert "metric column 'profile_views' is missing" in message
    assert "nothing was written" in message


def test_every_stream_has_a_platform_asset():
    assert {s.platform for s in STREAMS} == set(RAW)
