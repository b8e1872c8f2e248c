"""The increments post_daily stores beside each lifetime snapshot.

Why: the KPIs sum ``<metric>_delta`` instead of re-deriving each day's activity from the
snapshots, so the stored increments must equal that derivation after ANY sequence of
writes: windows written in any order, re-run, shrunk, rows of another stream (the export
folder) in between, a store made before the columns existed. Each test compares with
``expected_increments`` below, a plain Python reading of the rule: a day's increment is
its lifetime value minus the post's previous stored snapshot's (a NULL value there: 0); a
post's first snapshot counts whole when the post was published that day (at or after the
day's first moment in any zone, 00:00 at UTC+14) and 0 when published before; a NULL value
gives a NULL increment; decreases stay negative.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_pipeline.lib.core.schemas import (
    INCREMENT_METRICS,
    INCREMENT_SUFFIX,
    POST_DAILY,
    Table,
    coerce_frame,
    ddl,
)
from kpi_pipeline.lib.normalized.store import (
    ensure_tables,
    refresh_post_increments,
    replace_exports,
    replace_window,
    replace_window_from,
)

D0 = date(2025, 3, 1)
API = "facebook_posts"
EXPORT = "export:meta_facebook_posts"
Snapshot = dict[str, Any]  # post_id, day (offset from D0), source, published, metric values
# When a snapshot does not say: on D0, so a first snapshot on D0 counts whole and one on
# a later day counts 0.
PUBLISHED = "2025-03-01T06:00:00Z"


def day(offset: int) -> date:
    return D0 + timedelta(days=offset)


def frame(snapshots: list[Snapshot]) -> pd.DataFrame:
    """post_daily rows typed as the normalized assets write them (increments NULL)."""
    rows = [{"report_date": day(s["day"]), "platform": "facebook", "account_id": "page1",
             "brand": "acme", "post_id": s["post_id"],
             "published_at": s.get("published", PUBLISHED),
             "media_type": "video", "source_stream": s.get("source", API),
             "api_version": "v0", "pulled_at": "2025-03-20T06:00:00Z",
             **{m: s.get(m) for m in INCREMENT_METRICS}} for s in snapshots]
    return coerce_frame(POST_DAILY, pd.DataFrame(rows, columns=[
        *POST_DAILY.parsed_columns]) if rows else pd.DataFrame(columns=POST_DAILY.column_names))


def write(conn: duckdb.DuckDBPyConnection, snapshots: list[Snapshot], first: int, last: int,
          sources: tuple[str, ...] | None = (API,)) -> None:
    """Replace days [first, last] the way a normalized asset does."""
    replace_window(conn, POST_DAILY, frame(snapshots), day(first), day(last), sources=sources)


def stored(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, date], dict[str, Any]]:
    """Every stored row: lifetime values and increments, keyed by (post, day)."""
    cursor = conn.execute("SELECT * FROM normalized.post_daily")
    names = [d[0] for d in cursor.description]
    return {(r["post_id"], r["report_date"]): r
            for r in (dict(zip(names, row, strict=True)) for row in cursor.fetchall())}


def expected_increments(rows: dict[tuple[str, date], dict[str, Any]]
                        ) -> dict[tuple[str, date], dict[str, Any]]:
    """The rule, in plain Python, over whatever snapshots are stored."""
    out: dict[tuple[str, date], dict[str, Any]] = {}
    previous: dict[str, dict[str, Any]] = {}
    for post, when in sorted(rows):
        now = rows[(post, when)]
        before = previous.get(post, {})
        # the first moment of day `when` anywhere is 14 hours before it begins in UTC
        new_that_day = now["published_at"] >= datetime.combine(when, datetime.min.time()) \
            - timedelta(hours=14)
        out[(post, when)] = {
            f"{m}{INCREMENT_SUFFIX}": None if now[m] is None
            else 0 if post not in previous and not new_that_day
            else now[m] - (before.get(m) or 0)
            for m in INCREMENT_METRICS}
        previous[post] = now
    return out


def assert_increments_right(conn: duckdb.DuckDBPyConnection) -> None:
    rows = stored(conn)
    got = {k: {c: r[c] for c in (f"{m}{INCREMENT_SUFFIX}" for m in INCREMENT_METRICS)}
           for k, r in rows.items()}
    assert got == expected_increments(rows)


@pytest.fixture
def conn(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "t.duckdb"))
    ensure_tables(conn)
    yield conn
    conn.close()


# ------------------------------------------------------------------ the rule, by hand
def test_first_snapshot_whole_gaps_decreases_and_nulls(conn: duckdb.DuckDBPyConnection) -> None:
    write(conn, [
        dict(post_id="p", day=0, views=10, likes=None, watch_time_seconds=1.5),
        dict(post_id="p", day=1, views=15, likes=3, watch_time_seconds=4.0),
        dict(post_id="p", day=3, views=12, likes=5, watch_time_seconds=4.0),  # after a gap
        dict(post_id="p", day=4, views=None, likes=5),
        dict(post_id="p", day=5, views=20, likes=4),
    ], 0, 5)
    rows = stored(conn)
    views = [rows[("p", day(d))]["views_delta"] for d in (0, 1, 3, 4, 5)]
    likes = [rows[("p", day(d))]["likes_delta"] for d in (0, 1, 3, 4, 5)]
    watch = [rows[("p", day(d))]["watch_time_seconds_delta"] for d in (0, 1, 3, 4, 5)]
    assert views == [10, 5, 12 - 15, None, 20]  # NULL before: the whole 20 counts
    assert likes == [None, 3, 2, 0, -1]  # a revised-down total stays negative
    assert watch == [1.5, 2.5, 0.0, None, None]


def test_a_post_first_seen_after_its_publication_day_counts_from_the_next_day(
        conn: duckdb.DuckDBPyConnection) -> None:
    """The first pull of a history meets posts with a lifetime behind them: that lifetime
    is not the first-seen day's activity. A post published that day counts from zero."""
    write(conn, [
        # published 20 days before it is first seen (day 2)
        dict(post_id="old", day=2, published="2025-02-11T12:00:00Z", views=5000, likes=40,
             watch_time_seconds=900.0),
        dict(post_id="old", day=3, published="2025-02-11T12:00:00Z", views=5100, likes=41,
             watch_time_seconds=950.0),
        # published on its first-seen day: its whole snapshot is that day's activity
        dict(post_id="new", day=2, published="2025-03-03T15:00:00Z", views=300, likes=7),
        dict(post_id="new", day=3, published="2025-03-03T15:00:00Z", views=420, likes=9),
        # the edges of day 2 in any zone: 00:00 at UTC+14 is 10:00 UTC the day before
        dict(post_id="edge_in", day=2, published="2025-03-02T10:00:00Z", views=80),
        dict(post_id="edge_out", day=2, published="2025-03-02T09:59:59Z", views=80),
    ], 0, 5)
    rows = stored(conn)
    assert [rows[("old", day(d))]["views_delta"] for d in (2, 3)] == [0, 100]
    assert [rows[("old", day(d))]["likes_delta"] for d in (2, 3)] == [0, 1]
    assert [rows[("old", day(d))]["watch_time_seconds_delta"] for d in (2, 3)] == [0.0, 50.0]
    assert rows[("old", day(2))]["saves_delta"] is None  # a NULL value stays NULL
    assert [rows[("new", day(d))]["views_delta"] for d in (2, 3)] == [300, 120]
    assert [rows[("new", day(d))]["likes_delta"] for d in (2, 3)] == [7, 2]
    assert rows[("edge_in", day(2))]["views_delta"] == 80
    assert rows[("edge_out", day(2))]["views_delta"] == 0
    # a snapshot of an earlier day appears (a backfill): it becomes the first one, counts
    # 0, and the day-2 snapshot now counts its growth over it
    write(conn, [dict(post_id="old", day=1, published="2025-02-11T12:00:00Z", views=4900)],
          1, 1)
    rows = stored(conn)
    assert [rows[("old", day(d))]["views_delta"] for d in (1, 2, 3)] == [0, 100, 100]
    write(conn, [], 1, 1)  # and gone again
    assert stored(conn)[("old", day(2))]["views_delta"] == 0
    assert_increments_right(conn)


def test_a_store_written_before_the_first_seen_rule_is_corrected_once(
        tmp_path: Path) -> None:
    """A post_daily whose first snapshots counted whole (the earlier rule) gets them
    corrected the first time the pipeline opens it; later snapshots do not change."""
    conn = duckdb.connect(str(tmp_path / "old_rule.duckdb"))
    ensure_tables(conn)
    write(conn, [dict(post_id="old", day=d, published="2025-02-11T12:00:00Z", views=v)
                 for d, v in ((0, 5000), (1, 5100))]
          + [dict(post_id="new", day=d, views=v) for d, v in ((0, 30), (1, 45))], 0, 1)
    # as the earlier rule stored it, and without the mark of the new one
    conn.execute("UPDATE normalized.post_daily SET views_delta = views "
                 "WHERE post_id = 'old' AND report_date = ?", [day(0)])
    conn.execute("COMMENT ON COLUMN normalized.post_daily.views_delta IS NULL")
    conn.execute("DELETE FROM normalized.migrations")
    assert stored(conn)[("old", day(0))]["views_delta"] == 5000
    ensure_tables(conn)
    rows = stored(conn)
    assert [rows[("old", day(d))]["views_delta"] for d in (0, 1)] == [0, 100]
    assert [rows[("new", day(d))]["views_delta"] for d in (0, 1)] == [30, 15]
    assert_increments_right(conn)
    # marked: opening it again changes nothing, even a value set by hand
    conn.execute("UPDATE normalized.post_daily SET views_delta = 1 "
                 "WHERE post_id = 'old' AND report_date = ?", [day(0)])
    ensure_tables(conn)
    assert stored(conn)[("old", day(0))]["views_delta"] == 1
    conn.close()


def test_the_columns_are_added_after_parsing() -> None:
    added = [f"{m}{INCREMENT_SUFFIX}" for m in INCREMENT_METRICS]
    assert POST_DAILY.column_names[-len(added):] == added
    assert not set(added) & set(POST_DAILY.parsed_columns)


# ------------------------------------------------------------------ writes and re-writes
def test_rewriting_a_day_moves_the_base_of_the_next_snapshot(
        conn: duckdb.DuckDBPyConnection) -> None:
    write(conn, [dict(post_id="p", day=d, views=10 * (d + 1)) for d in (0, 1, 2, 6)], 0, 6)
    write(conn, [dict(post_id="p", day=1, views=25)], 1, 1)  # a restated day
    assert stored(conn)[("p", day(2))]["views_delta"] == 30 - 25
    write(conn, [], 2, 2)  # the day is gone: the snapshot after the gap subtracts day 1
    assert stored(conn)[("p", day(6))]["views_delta"] == 70 - 25
    assert_increments_right(conn)


def test_rerunning_a_window_changes_nothing(conn: duckdb.DuckDBPyConnection) -> None:
    snapshots = [dict(post_id=p, day=d, views=d * 7 + len(p), likes=d)
                 for p in ("a", "bb") for d in range(6)]
    write(conn, snapshots, 0, 5)
    before = stored(conn)
    for _ in range(2):
        write(conn, [s for s in snapshots if 2 <= s["day"] <= 3], 2, 3)
        assert refresh_post_increments(conn, day(0), day(5)) == 0
    assert stored(conn) == before


def test_a_window_written_from_a_staging_table_gets_its_increments(
        conn: duckdb.DuckDBPyConnection) -> None:
    write(conn, [dict(post_id="p", day=d, views=10 * (d + 1)) for d in (0, 1, 3)], 0, 3)
    conn.register("staged", frame([dict(post_id="p", day=d, views=v)
                                   for d, v in ((1, 25), (2, 28))]))
    conn.execute("CREATE TEMP TABLE staging AS SELECT * FROM staged")
    assert replace_window_from(conn, POST_DAILY, "staging", day(1), day(2),
                               sources=(API,)) == 2
    rows = stored(conn)
    assert [rows[("p", day(d))]["views_delta"] for d in (0, 1, 2, 3)] == [10, 15, 3, 12]
    assert_increments_right(conn)


def test_an_export_snapshot_between_api_snapshots(conn: duckdb.DuckDBPyConnection) -> None:
    write(conn, [dict(post_id="p", day=d, views=v) for d, v in ((0, 10), (1, 20), (3, 50))],
          0, 3)
    replace_exports(conn, {"post_daily": frame([dict(post_id="p", day=2, views=35,
                                                     source=EXPORT)])})
    rows = stored(conn)
    assert [rows[("p", day(d))]["views_delta"] for d in (2, 3)] == [15, 15]
    # the API window around the export row is rebuilt: the export row keeps a right base
    write(conn, [dict(post_id="p", day=d, views=v) for d, v in ((0, 10), (1, 30), (3, 50))],
          0, 3)
    assert stored(conn)[("p", day(2))]["views_delta"] == 5
    replace_exports(conn, {"post_daily": frame([])})  # the export file was removed
    assert stored(conn)[("p", day(3))]["views_delta"] == 20
    assert_increments_right(conn)


def test_a_store_made_before_the_increments_gains_them(tmp_path: Path) -> None:
    old = Table(POST_DAILY.name, tuple(c for c in POST_DAILY.columns
                                       if c.name in POST_DAILY.parsed_columns),
                POST_DAILY.key, POST_DAILY.description)
    conn = duckdb.connect(str(tmp_path / "old.duckdb"))
    conn.execute("CREATE SCHEMA normalized")
    conn.execute(ddl(old))
    rows = frame([dict(post_id="p", day=d, views=10 * d * d) for d in (0, 1, 3)])
    conn.register("old_rows", rows[old.column_names])
    conn.execute("INSERT INTO normalized.post_daily SELECT * FROM old_rows")
    ensure_tables(conn)
    columns = [c for (c,) in conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'post_daily' "
        "ORDER BY column_index").fetchall()]
    assert columns == POST_DAILY.column_names
    assert [r["views_delta"] for _, r in sorted(stored(conn).items())] == [0, 10, 80]
    assert_increments_right(conn)
    write(conn, [dict(post_id="p", day=2, views=30)], 2, 2)  # the table takes new windows
    assert_increments_right(conn)
    conn.close()


# ------------------------------------------------------------------ any sequence of writes
values = st.one_of(st.none(), st.integers(min_value=0, max_value=50))
window = st.tuples(st.integers(0, 7), st.integers(0, 3))  # first day, length - 1


@st.composite
def write_sequences(draw: st.DrawFn) -> list[tuple[int, int, str, list[Snapshot]]]:
    """Several window writes (API or export), each with whatever snapshots it carries."""
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        first, extra = draw(window)
        last = first + extra
        source = draw(st.sampled_from([API, API, EXPORT]))
        # post a is published on D0, b on day 3: a first snapshot counts whole or not
        snaps = [dict(post_id=post, day=d, source=source,
                      published=PUBLISHED if post == "a" else "2025-03-04T12:00:00Z",
                      views=draw(values),
                      likes=draw(values), watch_time_seconds=draw(values))
                 for post in ("a", "b") for d in range(first, last + 1) if draw(st.booleans())]
        steps.append((first, last, source, snaps))
    return steps


@settings(max_examples=30, deadline=None)
@given(steps=write_sequences())
def test_any_sequence_of_writes_leaves_the_increments_right(
        tmp_path_factory: pytest.TempPathFactory, steps) -> None:
    conn = duckdb.connect(str(tmp_path_factory.mktemp("seq") / "t.duckdb"))
    ensure_tables(conn)
    try:
        for first, last, source, snaps in steps:
            if source == EXPORT:
                # an export snapshot may not share a key with an API one: keep the free days
                taken = {(k[0], k[1]) for k, r in stored(conn).items()
                         if r["source_stream"] != EXPORT}
                snaps = [s for s in snaps if (s["post_id"], day(s["day"])) not in taken]
                replace_exports(conn, {"post_daily": frame(snaps)})
            else:
                taken = {k for k, r in stored(conn).items() if r["source_stream"] == EXPORT}
                snaps = [s for s in snaps if (s["post_id"], day(s["day"])) not in taken]
                write(conn, snaps, first, last)
            assert_increments_right(conn)
    finally:
        conn.close()
