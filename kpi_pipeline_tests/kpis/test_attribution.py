"""Attribution models on hand-built journeys, with every credit computed by hand.

The store holds sessions and conversion events written directly (no export files), so
each test reads one rule: the models' credits, the lookback boundary, ties, direct-only
journeys, duplicate transactions, user stitching, assists; plus a property test that
every conversion's credits sum to 1 under every model for any journey.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_pipeline.lib.kpis.attribution import (
    KEYS,
    MODELS,
    AttributionSettings,
    credit_sum_problems,
    duplicate_keys,
    ensure_attribution_tables,
    replace_attribution_window,
    unattributed_conversions,
)
from kpi_pipeline.lib.normalized.web_events import ensure_web_tables

PROPERTY = "3107919"
DAY = date(2025, 3, 20)  # the conversions' day
NOON = datetime(2025, 3, 20, 12, 0)
CHANNEL_OF = {  # (source, medium, campaign) -> channel, platform, is_social, is_paid
    "instagram": ("ig", "social", "bio_link", "organic_social", "instagram", True, False),
    "google": ("google", "organic", "(organic)", "organic_search", None, False, False),
    "email": ("newsletter", "email", "digest", "email", None, False, False),
    "tiktok_paid": ("tiktok", "paid_social", "collab", "paid_social", "tiktok", True, True),
    "direct": ("(direct)", "(none)", "(direct)", "direct", None, False, False),
    "facebook": ("facebook", "social", "always_on", "organic_social", "facebook", True,
                 False),
    "linkedin": ("lnkd.in", "social", "thought", "organic_social", "linkedin", True, False),
}


def _session(conn, user: str, session_id: int, start: datetime, touch: str,
             user_id: str | None = None) -> None:
    source, medium, campaign, channel, platform, social, paid = CHANNEL_OF[touch]
    conn.execute("INSERT INTO normalized.web_sessions VALUES "
                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 0)",
                 [PROPERTY, user, session_id, user_id, start.date(), start, source, medium,
                  campaign, channel, platform, social, paid])


_records = iter(range(1, 10**6))


def _conversion(conn, user: str, session_id: int, at: datetime, kind: str,
                revenue: float | None = None, transaction: str | None = None) -> str:
    record = next(_records)
    name = {"purchase": "purchase", "sign_up": "sign_up", "lead": "generate_lead"}[kind]
    conn.execute("INSERT INTO normalized.web_events VALUES (?, ?, ?, ?, ?, NULL, ?, 1, "
                 "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, ?, ?, ?, 'f', ?)",
                 [PROPERTY, at.date(), at, name, user, session_id, kind, revenue,
                  transaction, record])
    return f"f:{record}"


def _days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture(scope="module")
def store():
    """Five users' journeys, attributed once for the module (read-only in the tests)."""
    conn = duckdb.connect()
    ensure_web_tables(conn)
    ids = {}
    # U1: Instagram, then Google 3 days later, buys from the newsletter on day 10.
    _session(conn, "u1", 1, NOON - _days(10), "instagram")
    _session(conn, "u1", 2, NOON - _days(7), "google")
    _session(conn, "u1", 3, NOON, "email")
    ids["u1"] = _conversion(conn, "u1", 3, NOON, "purchase", 100.0, "T1")
    _conversion(conn, "u1", 3, NOON + timedelta(seconds=5), "purchase", 100.0, "T1")  # dup
    # U2: TikTok ad, then direct 5 days later: signs up.
    _session(conn, "u2", 1, NOON - _days(5), "tiktok_paid")
    _session(conn, "u2", 2, NOON, "direct")
    ids["u2"] = _conversion(conn, "u2", 2, NOON, "sign_up")
    # U3: Facebook 31 days before (outside the window), LinkedIn exactly 30 days before
    # (inside: the boundary counts), direct the day before and on the day: a lead.
    _session(conn, "u3", 1, NOON - _days(31), "facebook")
    _session(conn, "u3", 2, NOON - _days(30), "linkedin")
    _session(conn, "u3", 3, NOON - _days(1), "direct")
    _session(conn, "u3", 4, NOON, "direct")
    ids["u3"] = _conversion(conn, "u3", 4, NOON, "lead")
    # U4: two sessions starting in the same second (ties: ga_session_id decides), the
    # second direct; the first email. And u5: a direct-only journey of one touch.
    _session(conn, "u4", 100, NOON, "email")
    _session(conn, "u4", 200, NOON, "direct")
    ids["u4"] = _conversion(conn, "u4", 200, NOON + timedelta(seconds=60), "sign_up")
    _session(conn, "u5", 1, NOON, "direct")
    ids["u5"] = _conversion(conn, "u5", 1, NOON, "lead")
    # U6: one person, two devices joined by user_id: Facebook on the phone, purchase on
    # the laptop through Google two days later.
    _session(conn, "phone", 1, NOON - _days(2), "facebook", user_id="c-42")
    _session(conn, "laptop", 2, NOON, "google", user_id="c-42")
    ids["u6"] = _conversion(conn, "laptop", 2, NOON, "purchase", 50.0, "T6")
    # A conversion the day after the window: not attributed by this window.
    _session(conn, "u7", 1, NOON + _days(1), "instagram")
    _conversion(conn, "u7", 1, NOON + _days(1), "lead")
    counts = replace_attribution_window(conn, DAY, DAY, AttributionSettings(30, 7.0))
    yield conn, ids, counts
    conn.close()


def _credits(conn, conversion_id: str, model: str) -> list[tuple[str, float]]:
    return [(f"{c}:{p or ''}", round(v, 6)) for c, p, v in conn.execute(
        "SELECT channel, platform, credit FROM attribution.credits "
        "WHERE conversion_id = ? AND model = ? ORDER BY touch",
        [conversion_id, model]).fetchall()]


def test_three_touch_journey_by_hand(store):
    conn, ids, _ = store
    c = ids["u1"]
    ig, go, em = "organic_social:instagram", "organic_search:", "email:"
    assert _credits(conn, c, "last_click") == [(ig, 0), (go, 0), (em, 1)]
    assert _credits(conn, c, "last_non_direct") == [(ig, 0), (go, 0), (em, 1)]
    assert _credits(conn, c, "first_touch") == [(ig, 1), (go, 0), (em, 0)]
    assert _credits(conn, c, "linear") == [(ig, 0.333333), (go, 0.333333), (em, 0.333333)]
    assert _credits(conn, c, "position_based") == [(ig, 0.4), (go, 0.2), (em, 0.4)]
    # ages 10, 7 and 0 days, half-life 7: weights 2^(-10/7) = 0.37150, 0.5 and 1, of
    # 1.87150 in all: 0.19850, 0.26717, 0.53433
    decay = _credits(conn, c, "time_decay")
    assert [name for name, _ in decay] == [ig, go, em]
    assert [v for _, v in decay] == pytest.approx([0.19850, 0.26717, 0.53433], abs=1e-5)


def test_two_touch_journey_and_last_non_direct(store):
    conn, ids, _ = store
    c = ids["u2"]
    tt, dr = "paid_social:tiktok", "direct:"
    assert _credits(conn, c, "last_click") == [(tt, 0), (dr, 1)]
    assert _credits(conn, c, "last_non_direct") == [(tt, 1), (dr, 0)]
    assert _credits(conn, c, "position_based") == [(tt, 0.5), (dr, 0.5)]
    assert _credits(conn, c, "linear") == [(tt, 0.5), (dr, 0.5)]
    w = 2 ** (-5 / 7)  # 0.609507
    assert _credits(conn, c, "time_decay") == [(tt, round(w / (w + 1), 6)),
                                               (dr, round(1 / (w + 1), 6))]


def test_lookback_boundary(store):
    """31 days before: out; exactly 30 days before: in (and gets the non-direct click)."""
    conn, ids, _ = store
    c = ids["u3"]
    li, dr = "organic_social:linkedin", "direct:"
    assert _credits(conn, c, "first_touch") == [(li, 1), (dr, 0), (dr, 0)]
    assert _credits(conn, c, "last_non_direct") == [(li, 1), (dr, 0), (dr, 0)]
    assert _credits(conn, c, "position_based") == [(li, 0.4), (dr, 0.2), (dr, 0.4)]
    touches, days = conn.execute("SELECT touches, days_to_convert FROM "
                                 "attribution.conversions WHERE conversion_id = ?",
                                 [c]).fetchall()[0]
    assert (touches, days) == (3, 30.0)


def test_same_second_touches_and_direct_only(store):
    conn, ids, _ = store
    assert _credits(conn, ids["u4"], "last_click") == [("email:", 0), ("direct:", 1)]
    assert _credits(conn, ids["u4"], "last_non_direct") == [("email:", 1), ("direct:", 0)]
    assert _credits(conn, ids["u4"], "first_touch") == [("email:", 1), ("direct:", 0)]
    for model in MODELS:  # one direct touch: it gets everything under every model
        assert _credits(conn, ids["u5"], model) == [("direct:", 1)]


def test_devices_stitched_by_user_id(store):
    conn, ids, _ = store
    assert _credits(conn, ids["u6"], "first_touch") == [("organic_social:facebook", 1),
                                                        ("organic_search:", 0)]


def test_duplicate_transactions_and_window(store):
    conn, _, counts = store
    assert counts["conversions"] == 6  # u1 once (its duplicate dropped) .. u6; not u7
    assert unattributed_conversions(conn, DAY, DAY) == 0
    revenue = conn.execute("SELECT sum(revenue) FROM attribution.daily WHERE model = "
                           "'linear'").fetchall()[0][0]
    assert revenue == pytest.approx(150.0)


def test_credits_sum_to_one_and_daily_totals(store):
    conn, _, _ = store
    assert credit_sum_problems(conn, DAY, DAY) == []
    totals = dict(conn.execute("SELECT model, sum(conversions) FROM attribution.daily "
                               "GROUP BY model").fetchall())
    assert totals == pytest.approx({m: 6.0 for m in MODELS})
    weekly = conn.execute("SELECT sum(conversions) FROM attribution.weekly WHERE model = "
                          "'time_decay'").fetchall()[0][0]
    assert weekly == pytest.approx(6.0)


def test_assists_and_social_share(store):
    conn, ids, _ = store
    rows = dict(conn.execute("SELECT conversion_id, social_assisted FROM "
                             "attribution.conversions").fetchall())
    # u1: Instagram touched, the newsletter took the last non-direct click: assisted.
    # u2: TikTok took the last non-direct click itself; u3 LinkedIn too; u6 Facebook not.
    assert rows[ids["u1"]] and rows[ids["u6"]]
    assert not rows[ids["u2"]] and not rows[ids["u3"]] and not rows[ids["u5"]]
    share, assisted = conn.execute(
        "SELECT sum(social_touched_conversions) / sum(conversions), "
        "sum(social_assisted_conversions) FROM attribution.journeys_monthly").fetchall()[0]
    assert (round(share, 4), assisted) == (round(4 / 6, 4), 2)
    instagram = conn.execute(
        "SELECT touched_conversions, assisted_conversions FROM attribution.assists_daily "
        "WHERE platform = 'instagram'").fetchall()
    assert instagram == [(1, 1)]
    path = conn.execute("SELECT path FROM attribution.conversions WHERE conversion_id = ?",
                        [ids["u2"]]).fetchall()[0][0]
    assert path == "tiktok (paid) > direct"


def test_rerun_gives_the_same_rows(store):
    conn, _, counts = store
    before = conn.execute("SELECT * FROM attribution.credits ORDER BY ALL").fetchall()
    again = replace_attribution_window(conn, DAY, DAY, AttributionSettings(30, 7.0))
    assert again == counts
    assert conn.execute("SELECT * FROM attribution.credits ORDER BY ALL").fetchall() == before


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="lookback_days 0"):
        AttributionSettings(lookback_days=0)
    with pytest.raises(ValueError, match="half_life_days"):
        AttributionSettings(half_life_days=0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40 * 24), st.sampled_from(sorted(CHANNEL_OF))),
                min_size=1, max_size=8),
       st.floats(0.5, 30))
def test_credits_sum_to_one_for_any_journey(touches, half_life):
    conn = duckdb.connect()
    ensure_web_tables(conn)
    for i, (hours_before, touch) in enumerate(touches):
        _session(conn, "u", i + 1, NOON - timedelta(hours=hours_before), touch)
    _session(conn, "u", 999, NOON, "direct")
    _conversion(conn, "u", 999, NOON, "purchase", 10.0)
    replace_attribution_window(conn, DAY, DAY, AttributionSettings(30, half_life))
    assert credit_sum_problems(conn, DAY, DAY) == []
    n = 1 + sum(1 for hours, _ in touches if hours <= 30 * 24)
    assert conn.execute("SELECT touches FROM attribution.conversions").fetchall() == [(n,)]
    assert math.isclose(conn.execute("SELECT sum(revenue) FROM attribution.daily WHERE "
                                     "model = 'position_based'").fetchall()[0][0], 10.0,
                        abs_tol=1e-5)
    conn.close()


def test_the_session_holding_the_conversion_ends_the_journey():
    """One person on two devices: the purchase happens in the laptop's email session, the
    phone started an Instagram session in between. The journey ends at the session holding
    the conversion (the phone's later session is not a touch of it), so the last click is
    the email session, GA4's session source of the purchase."""
    conn = duckdb.connect()
    ensure_web_tables(conn)
    _session(conn, "laptop", 1, NOON - timedelta(days=3), "google", user_id="c-9")
    _session(conn, "laptop", 2, NOON - timedelta(minutes=30), "email", user_id="c-9")
    _session(conn, "phone", 3, NOON - timedelta(minutes=10), "instagram", user_id="c-9")
    sale = _conversion(conn, "laptop", 2, NOON, "purchase", 80.0, "T-9")
    replace_attribution_window(conn, DAY, DAY, AttributionSettings(30, 7.0))
    assert _credits(conn, sale, "last_click") == [("organic_search:", 0), ("email:", 1)]
    assert _credits(conn, sale, "linear") == [("organic_search:", 0.5), ("email:", 0.5)]
    assert credit_sum_problems(conn, DAY, DAY) == []
    conn.close()


def _keyed_store() -> tuple[duckdb.DuckDBPyConnection, list]:
    """A store attributed once, its tables then rebuilt the way they were made when they
    declared primary keys (same rows), as an older store holds them."""
    conn = duckdb.connect()
    ensure_web_tables(conn)
    _session(conn, "k1", 1, NOON - _days(4), "instagram")
    _session(conn, "k1", 2, NOON, "email")
    _conversion(conn, "k1", 2, NOON, "purchase", 40.0, "K1")
    replace_attribution_window(conn, DAY, DAY, AttributionSettings(30, 7.0))
    rows = [conn.execute(f"SELECT * FROM attribution.{t} ORDER BY ALL").fetchall()
            for t in KEYS]
    for table, key in KEYS.items():
        conn.execute(f"CREATE TABLE attribution.{table}_old AS "
                     f"SELECT * FROM attribution.{table}")
        conn.execute(f"DROP TABLE attribution.{table}")
        conn.execute(f"ALTER TABLE attribution.{table}_old RENAME TO {table}")
        conn.execute(f"ALTER TABLE attribution.{table} ADD PRIMARY KEY ({', '.join(key)})")
    return conn, rows


def _primary_keys(conn) -> list:
    return conn.execute("SELECT table_name FROM duckdb_constraints() WHERE schema_name = "
                        "'attribution' AND constraint_type = 'PRIMARY KEY'").fetchall()


def test_a_store_with_primary_keys_loses_them_and_keeps_its_rows():
    conn, rows = _keyed_store()
    assert len(_primary_keys(conn)) == len(KEYS)
    ensure_attribution_tables(conn)
    assert _primary_keys(conn) == []
    assert [conn.execute(f"SELECT * FROM attribution.{t} ORDER BY ALL").fetchall()
            for t in KEYS] == rows
    assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = "
                        "'attribution' AND table_name LIKE '%unkeyed'").fetchall() == [(0,)]
    # again: nothing left to do, the same rows; the views read the new tables
    ensure_attribution_tables(conn)
    assert [conn.execute(f"SELECT * FROM attribution.{t} ORDER BY ALL").fetchall()
            for t in KEYS] == rows
    assert conn.execute("SELECT sum(conversions) FROM attribution.weekly").fetchall() == [
        (6.0,)]
    conn.close()


def test_a_crash_before_the_swap_leaves_the_keyed_tables_and_the_next_run_finishes():
    conn, rows = _keyed_store()
    # a copy left half-built by an interrupted run
    conn.execute("CREATE TABLE attribution.touch_credits__unkeyed AS "
                 "SELECT * FROM attribution.touch_credits LIMIT 1")
    ensure_attribution_tables(conn)
    assert _primary_keys(conn) == []
    assert [conn.execute(f"SELECT * FROM attribution.{t} ORDER BY ALL").fetchall()
            for t in KEYS] == rows
    conn.close()


def test_a_row_written_twice_is_named_with_its_table_and_key(store):
    conn, _, _ = store
    assert duplicate_keys(conn, DAY, DAY) == []
    copy = duckdb.connect()
    ensure_web_tables(copy)
    ensure_attribution_tables(copy)
    copy.execute("INSERT INTO attribution.touch_credits VALUES ('f:1', ?, 1, ?, "
                 "'email', NULL, 'digest', 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)", [DAY, NOON])
    copy.execute("INSERT INTO attribution.touch_credits SELECT * FROM attribution.touch_credits")
    assert duplicate_keys(copy, DAY, DAY) == [
        ("attribution.touch_credits", "(conversion_id, touch)", 1)]
    assert duplicate_keys(copy, DAY + timedelta(days=1), DAY + timedelta(days=1)) == []
    copy.close()


def test_a_store_with_the_credits_table_one_row_per_model_moves_them_to_columns():
    """A store made when ``credits`` was a table of one row per touch and model (with its
    key, as the oldest stores have it) gets those rows as ``touch_credits``, one row per
    touch, and the view ``credits`` shows them as before; a second run has nothing to do."""
    conn = duckdb.connect()
    ensure_web_tables(conn)
    _session(conn, "m1", 1, NOON - _days(4), "instagram")
    _session(conn, "m1", 2, NOON - _days(1), "direct")
    _session(conn, "m1", 3, NOON, "email")
    _conversion(conn, "m1", 3, NOON, "purchase", 40.0, "M1")
    replace_attribution_window(conn, DAY, DAY, AttributionSettings(30, 7.0))
    long_rows = conn.execute("SELECT * FROM attribution.credits ORDER BY ALL").fetchall()
    wide_rows = conn.execute("SELECT * FROM attribution.touch_credits ORDER BY ALL").fetchall()
    assert (len(long_rows), len(wide_rows)) == (3 * len(MODELS), 3)
    conn.execute("CREATE TABLE attribution.credits_old AS SELECT * FROM attribution.credits")
    conn.execute("DROP VIEW attribution.credits")
    conn.execute("ALTER TABLE attribution.credits_old RENAME TO credits")
    conn.execute("ALTER TABLE attribution.credits ADD PRIMARY KEY (conversion_id, model, touch)")
    conn.execute("DELETE FROM attribution.touch_credits")
    ensure_attribution_tables(conn)
    assert conn.execute("SELECT table_type FROM information_schema.tables WHERE table_schema "
                        "= 'attribution' AND table_name = 'credits'").fetchall() == [("VIEW",)]
    assert conn.execute("SELECT * FROM attribution.touch_credits ORDER BY ALL").fetchall() == (
        wide_rows)
    assert conn.execute("SELECT * FROM attribution.credits ORDER BY ALL").fetchall() == long_rows
    ensure_attribution_tables(conn)
    assert conn.execute("SELECT * FROM attribution.credits ORDER BY ALL").fetchall() == long_rows
    assert credit_sum_problems(conn, DAY, DAY) == []
    conn.close()


def test_a_store_with_the_assists_table_gets_the_view_with_the_same_rows():
    """A store made when ``assists_daily`` was a table written on every run (with its key,
    as the oldest stores have it) loses the table and reads the same rows from the view,
    derived from the stored touches and conversions; a second run has nothing to do."""
    conn = duckdb.connect()
    ensure_web_tables(conn)
    _session(conn, "a1", 1, NOON - _days(4), "instagram")
    _session(conn, "a1", 2, NOON - _days(1), "direct")
    _session(conn, "a1", 3, NOON, "email")
    _conversion(conn, "a1", 3, NOON, "purchase", 40.0, "A1")
    _session(conn, "a2", 1, NOON - _days(2), "tiktok_paid")
    _session(conn, "a2", 2, NOON, "direct")
    _conversion(conn, "a2", 2, NOON, "sign_up")
    replace_attribution_window(conn, DAY, DAY, AttributionSettings(30, 7.0))
    rows = conn.execute("SELECT * FROM attribution.assists_daily ORDER BY ALL").fetchall()
    # (type, channel, platform, touched, assisted): the purchase's last non-direct click
    # is the newsletter, the sign-up's the paid TikTok one
    assert [(r[2], r[3], r[4], r[6], r[7]) for r in rows] == [
        ("purchase", "direct", "", 1, 1), ("purchase", "email", "", 1, 0),
        ("purchase", "organic_social", "instagram", 1, 1), ("sign_up", "direct", "", 1, 1),
        ("sign_up", "paid_social", "tiktok", 1, 0)]
    conn.execute("CREATE TABLE attribution.assists_old AS "
                 "SELECT * FROM attribution.assists_daily")
    conn.execute("DROP VIEW attribution.assists_daily")
    conn.execute("ALTER TABLE attribution.assists_old RENAME TO assists_daily")
    conn.execute("ALTER TABLE attribution.assists_daily ADD PRIMARY KEY "
                 "(day, property_id, conversion_type, channel, platform, campaign)")
    ensure_attribution_tables(conn)
    assert conn.execute("SELECT table_type FROM information_schema.tables WHERE table_schema "
                        "= 'attribution' AND table_name = 'assists_daily'").fetchall() == [
        ("VIEW",)]
    assert conn.execute("SELECT * FROM attribution.assists_daily ORDER BY ALL").fetchall() == (
        rows)
    ensure_attribution_tables(conn)
    assert conn.execute("SELECT * FROM attribution.assists_daily ORDER BY ALL").fetchall() == (
        rows)
    conn.close()
