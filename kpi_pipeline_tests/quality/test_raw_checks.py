"""``landing_files_valid`` on demo landing files: clean files pass with their metadata;
a corrupt, missing, out-of-window or incomplete file fails naming the stream, the file
and the metric."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.raw.checks import LANDING_FILES_VALID, landing_checks
from kpi_pipeline.defs.resources import DemoPlatforms, Settings
from kpi_pipeline.lib.demo.client import DemoClient
from kpi_pipeline.lib.landing import landing_path, write_envelope
from kpi_pipeline.lib.quality.landing_checks import landing_file_problems
from kpi_pipeline.lib.streams import STREAMS, STREAMS_BY_NAME
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY

FIRST, LAST = "2025-03-03", "2025-03-05"
CHECKS = {next(iter(check.check_keys)).asset_key.path[1]: check for check in landing_checks}
RAW = {asset.key.path[1]: asset for asset in raw_assets}


def days(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last}


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Path:
    """Every stream pulled for three demo days, with the landing checks in the same run."""
    root = tmp_path_factory.mktemp("landing")
    result = dg.materialize(
        [*raw_assets, *landing_checks], tags=days(FIRST, LAST),
        resources={"settings": Settings(landing_dir=str(root)),
                   "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                              today=DEMO_TODAY.isoformat())})
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(STREAMS)
    assert all(e.passed for e in evaluations), [e.description for e in evaluations
                                                if not e.passed]
    first = next(e for e in evaluations if e.asset_key.path[1] == "facebook_page")
    meta = {k: v.value for k, v in first.metadata.items()}
    assert meta["files_checked"] == 3 and meta["problem_count"] == 0
    assert meta["partition_window"] == f"{FIRST}..{LAST}"
    return root


@pytest.fixture
def landing(landed: Path, tmp_path: Path) -> Path:
    shutil.copytree(landed, tmp_path / "landing")
    return tmp_path / "landing"


def check(landing: Path, stream: str) -> dg.AssetCheckEvaluation:
    result = dg.materialize([RAW[stream], CHECKS[stream]], tags=days(FIRST, LAST),
                            selection=dg.AssetSelection.checks(CHECKS[stream]),
                            resources={"settings": Settings(landing_dir=str(landing)),
                                       "platforms": DemoPlatforms()},
                            raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == LANDING_FILES_VALID and evaluation.blocking
    return evaluation


def rewrite(path: Path, change) -> None:
    with gzip.open(path, "rb") as fh:
        envelope = json.loads(fh.read())
    change(envelope)
    with gzip.open(path, "wb") as fh:
        fh.write(json.dumps(envelope).encode())


def test_a_corrupt_and_a_missing_file_are_named(landing):
    corrupt = landing_path(landing, "ga4_sessions", date(2025, 3, 4))
    corrupt.write_bytes(b"\x1f\x8b not really gzip")
    landing_path(landing, "ga4_sessions", date(2025, 3, 5)).unlink()
    evaluation = check(landing, "ga4_sessions")
    assert not evaluation.passed
    problems = evaluation.metadata["problems"].value
    assert [(p["day"], p["kind"]) for p in problems] == [("2025-03-04", "unreadable"),
                                                         ("2025-03-05", "missing")]
    assert problems[0]["file"] == str(corrupt)
    assert "ga4_sessions_2025-03-04.json.gz" in evaluation.description
    assert evaluation.metadata["files_with_problems"].value == 2


def test_a_metric_dropped_from_a_meta_payload_is_named(landing):
    path = landing_path(landing, "facebook_page", date(2025, 3, 4))

    def drop(envelope):
        body = envelope["accounts"][0]["requests"][0]["body"]
        body["data"] = [e for e in body["data"] if e["name"] != "page_views_total"]

    rewrite(path, drop)
    evaluation = check(landing, "facebook_page")
    assert not evaluation.passed
    (problem,) = evaluation.metadata["problems"].value
    assert problem["kind"] == "metric" and problem["day"] == "2025-03-04"
    assert "'page_views_total' was requested but is missing" in problem["detail"]


def test_a_metric_dropped_from_another_stream_is_named(landing):
    path = landing_path(landing, "tiktok_account", date(2025, 3, 3))

    def drop(envelope):
        for account in envelope["accounts"]:
            for row in account["requests"][0]["body"]["data"]["metrics"]:
                row.pop("profile_views")

    rewrite(path, drop)
    evaluation = check(landing, "tiktok_account")
    assert not evaluation.passed
    details = [p["detail"] for p in evaluation.metadata["problems"].value]
    assert any("'profile_views'" in d for d in details), details


def test_a_file_that_does_not_cover_its_day_is_named(landing):
    path = landing_path(landing, "mailchimp_list", date(2025, 3, 5))

    def shift(envelope):
        envelope["accounts"][0]["window"] = {"start": "2025-03-06", "end": "2025-03-06"}

    rewrite(path, shift)
    evaluation = check(landing, "mailchimp_list")
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
    write_envelope(tmp_path, envelope)
    problems = landing_file_problems(tmp_path, STREAMS_BY_NAME["facebook_page"], day)
    details = [p.detail for p in problems]
    assert any("'page_impressions' (page) is retired" in d and "'page_media_view'" in d
               for d in details), details
    assert any("'page_media_view' (fills views) is missing" in d for d in details), details
