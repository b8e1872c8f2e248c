"""The increments post_daily stores beside each lifetime snapshot.

Why: the KPIs sum ``<metric>_delta`` instead of re-deriving each day's activity from the
snapshots, so the stored increments must equal that derivation after ANY sequence of
writes: windows written in any order, re-run, shrunk, rows of another stream (the export
folder) in between, a store made before the columns existed. Each test compares with
``expected_increments`` below, a plain Python reading of the rule: a day's increment is
its lifetime value minus the post's previous stored snapshot's (none, or a NULL value:
0, so the first snapshot counts whole); a NULL value gives a NULL increment; decreases
stay negative.
"""

from __future__ import annotations

from datetime import date, timedelta
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
Snapshot = dict[str, Any]  # post_id, day (offset from D0), source, metric values


def day(offset: int) -> date:
    return D0 + timedelta(days=offset)


def frame(snapshots: list[Snapshot]) -> pd.DataFrame:
    """post_daily rows typed as the normalized assets write them (increments NULL)."""
    rows = [{"report_date": day(s["day"]), "platform": "facebook", "account_id": "page1",
             "brand": "acme", "post_id": s["post_id"], "published_at": "2025-02-27T10:00:00Z",
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
        out[(post, when)] = {
            f"{m}{INCREMENT_SUFFIX}": None if now[m] is None else now[m] - (before.get(m) or 0)
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
        snaps = [dict(post_id=post, day=d, source=source, views=draw(values),
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
