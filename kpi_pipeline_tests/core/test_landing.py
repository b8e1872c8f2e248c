"""Landing files: compressed, replaced atomically, and read back exactly."""

from __future__ import annotations

import gzip
import os
import stat
from datetime import date

import pytest

from kpi_pipeline.lib.core.landing import (
    LandingError,
    landed_days,
    landing_path,
    read_envelope,
    write_envelope,
)

DAY = date(2025, 3, 3)


def envelope(value: int) -> dict:
    return {"stream": "facebook_page", "platform": "facebook", "source": "demo",
            "api_version": "v24.0", "partition": DAY.isoformat(),
            "pulled_at": "2025-03-04T06:00:00Z",
            "accounts": [{"account_id": "1", "platform": "facebook",
                          "requests": [{"body": {"value": value, "caption": "café <b>"}}]}]}


def test_round_trip_is_exact_and_compressed(tmp_path):
    path = write_envelope(tmp_path, envelope(12))
    assert path == landing_path(tmp_path, "facebook_page", DAY)
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip magic
    assert read_envelope(tmp_path, "facebook_page", DAY) == envelope(12)


def test_rewrite_replaces_the_file_and_leaves_no_temporary_files(tmp_path):
    write_envelope(tmp_path, envelope(1))
    path = write_envelope(tmp_path, envelope(2))
    assert read_envelope(tmp_path, "facebook_page", DAY)["accounts"][0]["requests"][0][
        "body"]["value"] == 2
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_landing_files_get_the_mode_of_a_plain_write(tmp_path, umask):
    """0o666 less the umask, as open(..., "w") gives: a normalization run as another user
    reads them (mkstemp's 0600 did not let it)."""
    previous = os.umask(umask)
    try:
        path = write_envelope(tmp_path, envelope(1))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_failed_write_keeps_the_previous_file(tmp_path):
    write_envelope(tmp_path, envelope(1))
    broken = envelope(2)
    broken["accounts"][0]["requests"][0]["body"]["value"] = object()  # not JSON
    with pytest.raises(TypeError):
        write_envelope(tmp_path, broken)
    assert read_envelope(tmp_path, "facebook_page", DAY) == envelope(1)
    assert len(list(landing_path(tmp_path, "facebook_page", DAY).parent.iterdir())) == 1


def test_missing_file_names_stream_and_day(tmp_path):
    with pytest.raises(LandingError, match=r"facebook_page 2025-03-03: no landing file.*raw/"):
        read_envelope(tmp_path, "facebook_page", DAY)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = write_envelope(tmp_path, envelope(1))
    path.write_bytes(gzip.compress(b'{"stream": "facebook_page", "partit'))
    with pytest.raises(LandingError, match="unreadable"):
        read_envelope(tmp_path, "facebook_page", DAY)


def test_landed_days_are_the_files_of_the_stream_only(tmp_path):
    for day in (date(2024, 12, 31), date(2025, 1, 2)):
        write_envelope(tmp_path, {**envelope(1), "partition": day.isoformat()})
    folder = landing_path(tmp_path, "facebook_page", date(2025, 1, 2)).parent
    (folder / ".facebook_page_2025-01-03.json.gz.tmp").write_bytes(b"half")  # under way
    (folder / "facebook_page_notes.txt").write_text("not a landing file")
    assert landed_days(tmp_path, "facebook_page") == {date(2024, 12, 31), date(2025, 1, 2)}
    assert landed_days(tmp_path, "facebook_posts") == set()
