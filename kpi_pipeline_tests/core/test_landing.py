"""Landing files: compressed, replaced atomically, and read back exactly."""

from __future__ import annotations

import gzip
import os
import stat
from datetime import date

import fsspec
import pytest

from kpi_pipeline.lib.core import landing
from kpi_pipeline.lib.core.landing import (
    LandingError,
    LandingStore,
    landed_days,
    landing_path,
    read_envelope,
    rejected_path,
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


# ------------------------------------------------------------------ fsspec locations
@pytest.fixture
def bucket(tmp_path):
    """A folder in fsspec's memory filesystem (a bucket-like store), emptied afterwards."""
    fs = fsspec.filesystem("memory")
    folder = f"/bucket-{tmp_path.name}"
    yield f"memory://{folder}"
    if fs.exists(folder):
        fs.rm(folder, recursive=True)


@pytest.fixture(params=["one_put", "rename"])
def store(request, bucket, monkeypatch):
    """The memory bucket written as an object store (one PUT of the whole file) and as a
    filesystem with a rename (a temporary file, then ``mv``)."""
    if request.param == "rename":
        monkeypatch.setattr(landing, "OBJECT_STORES", frozenset())
    store = LandingStore(bucket)
    assert store.in_one_put is (request.param == "one_put")
    return store


def test_a_url_round_trips_and_names_files_by_their_url(store, bucket):
    path = write_envelope(store, envelope(12))
    assert path == f"memory://{bucket.removeprefix('memory://')}/facebook_page/2025/" \
        "facebook_page_2025-03-03.json.gz"
    assert path == landing_path(bucket, "facebook_page", DAY)  # a URL names the same file
    assert store.read(path)[:2] == b"\x1f\x8b"
    assert read_envelope(bucket, "facebook_page", DAY) == envelope(12)
    assert landed_days(bucket, "facebook_page") == {DAY}
    assert store.files() == [(path, store.size(path))]


def test_a_rewrite_at_a_url_replaces_the_file_whole(store):
    write_envelope(store, envelope(1))
    path = write_envelope(store, envelope(2))
    assert read_envelope(store, "facebook_page", DAY) == envelope(2)
    folder = path.rsplit("/", 1)[0]
    assert store.fs.ls(folder, detail=False) == [path.removeprefix("memory://")]


def test_a_writer_interrupted_at_a_url_leaves_the_previous_file(store, monkeypatch):
    """A reader during the write sees the previous file, and so does everyone after a
    write that fails half way: the object is put whole or not at all; the temporary file
    of a rename is neither read nor listed as landed, and is removed."""
    path = write_envelope(store, envelope(1))
    seen = []
    fs = store.fs
    original = fs.pipe_file

    def interrupted(target, data, **kwargs):
        seen.append(read_envelope(store, "facebook_page", DAY))
        seen.append(landed_days(store, "facebook_page"))
        if target == path:  # the object itself: the store takes all of it or nothing
            raise OSError("connection reset")
        original(target, data, **kwargs)
        seen.append(read_envelope(store, "facebook_page", DAY))
        seen.append(landed_days(store, "facebook_page"))
        raise OSError("interrupted before the rename")

    monkeypatch.setattr(fs, "pipe_file", interrupted)
    with pytest.raises(OSError):
        write_envelope(store, envelope(2))
    monkeypatch.undo()
    assert seen and all(s in (envelope(1), {DAY}) for s in seen)
    assert read_envelope(store, "facebook_page", DAY) == envelope(1)
    assert fs.ls(path.rsplit("/", 1)[0], detail=False) == [path.removeprefix("memory://")]


def test_a_failed_envelope_at_a_url_touches_nothing(store):
    write_envelope(store, envelope(1))
    broken = envelope(2)
    broken["accounts"][0]["requests"][0]["body"]["value"] = object()  # not JSON
    with pytest.raises(TypeError):
        write_envelope(store, broken)
    assert read_envelope(store, "facebook_page", DAY) == envelope(1)


def test_errors_at_a_url_name_the_url(bucket):
    with pytest.raises(LandingError, match=r"no landing file at memory:///bucket-.*"
                                           r"facebook_page_2025-03-03\.json\.gz"):
        read_envelope(bucket, "facebook_page", DAY)
    store = LandingStore(bucket)
    path = write_envelope(store, envelope(1))
    store.write(path, gzip.compress(b'{"stream": "facebook_page", "partit'))
    with pytest.raises(LandingError, match=f"landing file {path} is unreadable"):
        read_envelope(bucket, "facebook_page", DAY)


def test_a_pull_set_aside_at_a_url_is_not_landed_and_a_clean_one_clears_it(bucket):
    store = LandingStore(bucket)
    aside = write_envelope(store, envelope(1), rejected=True)
    assert aside == rejected_path(bucket, "facebook_page", DAY)
    assert "/_rejected/facebook_page/2025/" in aside
    assert landed_days(store, "facebook_page") == set()
    assert store.files() == []
    write_envelope(store, envelope(2))
    assert not store.exists(aside)
    assert landed_days(store, "facebook_page") == {DAY}


def test_a_file_url_is_the_local_folder(tmp_path):
    store = LandingStore(tmp_path.as_uri())
    assert store.local == tmp_path and store.fs is None
    path = write_envelope(store, envelope(1))
    assert path == landing_path(tmp_path, "facebook_page", DAY)  # a Path, written locally
    assert read_envelope(tmp_path, "facebook_page", DAY) == envelope(1)
    assert str(store) == str(tmp_path)
