"""export_folder_sensor: a run when the drop folder's files change, none otherwise."""

from __future__ import annotations

import os

import dagster as dg

from kpi_pipeline.defs.exports import export_folder_sensor
from kpi_pipeline.defs.resources import Settings


def tick(settings: Settings, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor, resources={"settings": settings})
    return export_folder_sensor(context)


def test_the_sensor_runs_the_load_when_a_file_is_dropped_changed_or_removed(drop):
    settings = Settings(exports_dir=str(drop))
    empty = tick(settings, None)
    assert len(empty.run_requests) == 1  # first look at an (empty) folder: load it once
    cursor = empty.cursor
    assert isinstance(tick(settings, cursor), dg.SkipReason)

    (drop / "posts.csv").write_text("a,b\n1,2\n")
    dropped = tick(settings, cursor)
    assert len(dropped.run_requests) == 1 and dropped.cursor != cursor
    assert dropped.run_requests[0].run_key == dropped.cursor
    assert isinstance(tick(settings, dropped.cursor), dg.SkipReason)

    (drop / ".DS_Store").write_text("finder")  # hidden files are not exports
    assert isinstance(tick(settings, dropped.cursor), dg.SkipReason)

    (drop / "posts.csv").write_text("a,b\n1,2\n3,4\n")
    os.utime(drop / "posts.csv", ns=(1, 1))
    rewritten = tick(settings, dropped.cursor)
    assert len(rewritten.run_requests) == 1

    (drop / "posts.csv").unlink()
    removed = tick(settings, rewritten.cursor)
    assert len(removed.run_requests) == 1 and removed.cursor == cursor


def test_a_missing_folder_is_skipped_with_its_path(tmp_path):
    result = tick(Settings(exports_dir=str(tmp_path / "nowhere")), None)
    assert isinstance(result, dg.SkipReason) and "nowhere" in result.skip_message
