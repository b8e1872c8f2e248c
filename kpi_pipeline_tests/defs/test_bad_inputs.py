"""The bad-input corpus: each case breaks one input in one way, runs the real asset on it,
and asserts a clear error (source, partition or file, field, rule) or a documented
outcome, and that every stored table is byte-for-byte what it was before.

Landing files are damaged after a clean build of one day; the normalized table they
feed is then rebuilt for that day. Goals files are damaged and the attainment asset
run. The content hash of every table in the store is taken before and after.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.goals.assets import attainment, goal_definitions
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import Settings
from kpi_pipeline.lib.core.landing import landing_path
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline_tests.core.test_yaml_files import SECRET as LAUGH
from kpi_pipeline_tests.core.test_yaml_files import billion_laughs

DAY = date(2025, 3, 10)  # in the ingest week 10-16 March, closed on the demo clock
RANGE = {"dagster/asset_partition_range_start": "2025-03-10",
         "dagster/asset_partition_range_end": "2025-03-10"}
NORMALIZED = {a.key.path[1]: a for a in normalized_assets}

pytestmark = pytest.mark.slow


def store_hashes(warehouse) -> dict[str, str]:
    """sha256 of every table's rows in a stable order, by table name."""
    with warehouse.get_connection(read_only=True) as conn:
        tables = conn.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                              "ORDER BY 1").fetchall()
        out = {}
        for (table,) in tables:
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return out


@pytest.fixture(scope="module")
def built(tmp_path_factory, world):
    """One clean week of every stream and table, built once for the module."""
    root = tmp_path_factory.mktemp("bad_inputs")
    from kpi_pipeline.defs.resources import DemoPlatforms, Warehouse
    from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED, DEMO_TODAY

    resources = {
        "warehouse": Warehouse(database=str(root / "store.duckdb")),
        "settings": Settings(landing_dir=str(root / "landing"), reporting_currency="USD"),
        "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                   today=DEMO_TODAY.isoformat()),
    }
    assert dg.materialize([*raw_assets, *normalized_assets], resources=resources,
                          tags=RANGE).success
    return resources


@pytest.fixture(scope="module")
def world():
    return None


# ------------------------------------------------------------------ landing file cases
def _raw_bytes(path: Path) -> bytes:
    with gzip.open(path, "rb") as fh:
        return fh.read()


def _write_bytes(path: Path, data: bytes, *, gz: bool = True) -> None:
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def _edit(envelope_edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        envelope = json.loads(_raw_bytes(path))
        envelope_edit(envelope)
        _write_bytes(path, json.dumps(envelope, allow_nan=True).encode())
    return damage


def _first_body(envelope: dict) -> dict:
    for account in envelope["accounts"]:
        for request in account["requests"]:
            if request.get("status") == 200 and request["body"].get("data"):
                return request["body"]
    raise AssertionError("no body with data")


def _first_row(envelope: dict) -> dict:
    return _first_body(envelope)["data"][0]


def _set_shares(value) -> Callable[[dict], None]:
    def edit(envelope: dict) -> None:
        _first_row(envelope)["shares"] = {"count": value}
    return edit


def _duplicate_first_post(envelope: dict) -> None:
    body = _first_body(envelope)
    body["data"].append(copy.deepcopy(body["data"][0]))


def _duplicate_ga4_row(envelope: dict) -> None:
    body = envelope["accounts"][0]["requests"][0]["body"]
    row = copy.deepcopy(body["rows"][0])
    row["metricValues"][0]["value"] = str(int(row["metricValues"][0]["value"]) + 7)
    body["rows"].append(row)  # the same source/medium/campaign twice, different sessions
    body["rowCount"] = len(body["rows"])


def _unknown_platform(envelope: dict) -> None:
    envelope["accounts"][0]["platform"] = "myspace"


def _currency_without_rate(envelope: dict) -> None:
    envelope["accounts"][0]["currency"] = "XTS"  # ISO's code for testing: no ECB rate


def _drop_data(envelope: dict) -> None:
    _first_body(envelope).pop("data")


def _drop_id(envelope: dict) -> None:
    _first_row(envelope).pop("id")


def _script_caption(envelope: dict) -> None:
    _first_row(envelope)["message"] = "<script>alert(1)</script><b>sale</b>"


@dataclass(frozen=True)
class LandingCase:
    name: str
    stream: str
    damage: Callable[[Path], None]
    expect: tuple[str, ...]  # substrings of the error message (lower-case compare)
    forbid: tuple[str, ...] = ()  # never in the message (the file's content)


LANDING_CASES = [
    LandingCase("empty_file", "facebook_posts",
                lambda p: _write_bytes(p, b"", gz=False), ("facebook_posts", "unreadable")),
    LandingCase("truncated_gzip", "facebook_posts",
                lambda p: p.write_bytes(p.read_bytes()[:40]), ("facebook_posts", "unreadable")),
    LandingCase("truncated_json", "facebook_posts",
                lambda p: _write_bytes(p, _raw_bytes(p)[:-200]),
                ("facebook_posts", "unreadable")),
    LandingCase("not_gzip", "facebook_posts",
                lambda p: _write_bytes(p, b'{"stream": "facebook_posts"}', gz=False),
                ("facebook_posts", "unreadable")),
    LandingCase("non_utf8", "facebook_posts",
                lambda p: _write_bytes(p, _raw_bytes(p).replace(b"Meet", b"M\xe9et")),
                ("facebook_posts", "unreadable", "utf-8")),
    LandingCase("accounts_not_a_list", "facebook_posts",
                _edit(lambda e: e.update(accounts={"token": "secret-in-the-file"})),
                ("facebook_posts", "2025-03-10", "envelope shape"),
                forbid=("secret-in-the-file",)),
    LandingCase("requests_not_a_list", "facebook_posts",
                _edit(lambda e: e["accounts"][0].update(requests="secret-in-the-file")),
                ("facebook_posts", "2025-03-10", "envelope shape", "expected array, got varchar"),
                forbid=("secret-in-the-file",)),
    LandingCase("wrong_stream_in_file", "facebook_posts",
                _edit(lambda e: e.update(stream="instagram_media")),
                ("facebook_posts", "instagram_media")),
    LandingCase("partition_of_another_day", "facebook_posts",
                _edit(lambda e: e.update(partition="2025-03-11")),
                ("facebook_posts", "2025-03-11")),
    LandingCase("missing_data_field", "facebook_posts", _edit(_drop_data),
                ("facebook_posts", "2025-03-10", "data")),
    LandingCase("missing_post_id", "facebook_posts", _edit(_drop_id),
                ("facebook_posts", "2025-03-10", "id")),
    LandingCase("thousands_separator_text", "facebook_posts", _edit(_set_shares("1,234")),
                ("facebook_posts", "2025-03-10", "shares")),
    LandingCase("number_as_text", "facebook_posts", _edit(_set_shares("twelve")),
                ("facebook_posts", "2025-03-10", "shares")),
    LandingCase("negative_count", "facebook_posts", _edit(_set_shares(-5)),
                ("facebook_posts", "2025-03-10", "shares", "negative")),
    LandingCase("nan_count", "facebook_posts", _edit(_set_shares(float("nan"))),
                ("facebook_posts", "2025-03-10", "shares")),
    LandingCase("infinite_count", "facebook_posts", _edit(_set_shares(float("inf"))),
                ("facebook_posts", "2025-03-10", "shares")),
    LandingCase("absurdly_large_count", "facebook_posts", _edit(_set_shares(10**30)),
                ("facebook_posts", "2025-03-10", "shares")),
    LandingCase("duplicate_key", "ga4_sessions", _edit(_duplicate_ga4_row),
                ("ga4_sessions", "2025-03-10", "appears on two pages")),
    LandingCase("unknown_platform", "facebook_posts", _edit(_unknown_platform),
                ("facebook_posts", "2025-03-10", "unknown platform", "myspace")),
    LandingCase("unknown_stream", "facebook_posts",
                _edit(lambda e: e.update(stream="myspace_posts")),
                ("facebook_posts", "myspace_posts")),
    LandingCase("currency_without_rate", "meta_ads", _edit(_currency_without_rate),
                ("xts",)),
]


@pytest.mark.parametrize("case", LANDING_CASES, ids=lambda c: c.name)
def test_a_damaged_landing_file_fails_clearly_and_changes_nothing(built, case):
    table = STREAMS_BY_NAME[case.stream].table
    path = landing_path(built["settings"].landing_root(), case.stream, DAY)
    original = path.read_bytes()
    before = store_hashes(built["warehouse"])
    try:
        case.damage(path)
        result = dg.materialize([NORMALIZED[table]], resources=built, tags=RANGE,
                                raise_on_error=False)
        assert not result.success, f"{case.name}: the bad input was accepted"
        [failure] = [e for e in result.all_events if e.is_step_failure]
        message = failure.step_failure_data.error.message.lower()
        for part in case.expect:
            assert part.lower() in message, (case.name, part, message[:600])
        everything = failure.step_failure_data.error.to_string().lower()  # with its causes
        for part in case.forbid:
            assert part.lower() not in everything, (case.name, part)
        assert store_hashes(built["warehouse"]) == before, case.name
    finally:
        path.write_bytes(original)


def test_a_post_listed_twice_by_paging_is_kept_once(built):
    """Graph paging can list a post twice when one is published mid-paging: the listing
    is keyed by post id, so the repeat collapses into the one row (documented outcome)."""
    path = landing_path(built["settings"].landing_root(), "facebook_posts", DAY)
    original = path.read_bytes()
    before = store_hashes(built["warehouse"])
    try:
        _edit(_duplicate_first_post)(path)
        assert dg.materialize([NORMALIZED["post_daily"]], resources=built, tags=RANGE).success
        assert store_hashes(built["warehouse"]) == before
    finally:
        path.write_bytes(original)


def test_a_bom_prefixed_landing_file_reads_as_without(built):
    """JSON readers may skip a byte order mark (RFC 8259): DuckDB does, and the rows are
    the same as without it, so the store does not change."""
    path = landing_path(built["settings"].landing_root(), "facebook_posts", DAY)
    original = path.read_bytes()
    before = store_hashes(built["warehouse"])
    try:
        _write_bytes(path, b"\xef\xbb\xbf" + _raw_bytes(path))
        assert dg.materialize([NORMALIZED["post_daily"]], resources=built, tags=RANGE).success
        assert store_hashes(built["warehouse"]) == before
    finally:
        path.write_bytes(original)


def test_script_in_a_caption_is_data_stored_untouched_and_escaped_when_rendered(built):
    path = landing_path(built["settings"].landing_root(), "facebook_posts", DAY)
    original = path.read_bytes()
    try:
        _edit(_script_caption)(path)
        assert dg.materialize([NORMALIZED["post_daily"]], resources=built, tags=RANGE).success
        with built["warehouse"].get_connection(read_only=True) as conn:
            stored = conn.execute("SELECT count(*) FROM normalized.post_daily WHERE caption = ?",
                                  ["<script>alert(1)</script><b>sale</b>"]).fetchone()[0]
        assert stored == 1  # kept as the platform sent it; every page escapes it
    finally:
        path.write_bytes(original)
        assert dg.materialize([NORMALIZED["post_daily"]], resources=built, tags=RANGE).success


# ---------------------------------------------------------------------- goals file cases
GOAL = """goals:
  - id: leads-q1
    title: Leads in March
    objective: lead_generation
    stage: lead_generation
    kpi: leads
    scope: {kind: all}
    target: {type: total, value: 100}
    window: {start: 2025-03-01, end: 2025-03-31}
"""

def _window(window: str) -> bytes:
    return GOAL.replace("{start: 2025-03-01, end: 2025-03-31}", window).encode()


GOALS_CASES = {
    "goal_without_window": (GOAL.replace("    window: {start: 2025-03-01, end: 2025-03-31}\n",
                                         "").encode(), ("leads-q1", "window", "time_bound")),
    "goal_without_target": (GOAL.replace("    target: {type: total, value: 100}\n",
                                         "").encode(), ("leads-q1", "target", "measurable")),
    "unknown_kpi": (GOAL.replace("kpi: leads", "kpi: vibes").encode(),
                    ("leads-q1", "kpi", "unknown_kpi")),
    "yaml_syntax_error": (GOAL.replace("scope: {kind: all}", "scope: {kind: all").encode(),
                          ("goals", "yaml")),
    "empty_goals_file": (b"", ("goals",)),
    "duplicate_goal_ids": ((GOAL + GOAL.split("goals:\n", 1)[1]).encode(),
                           ("leads-q1", "duplicate_id")),
    "non_utf8_goals_file": (GOAL.replace("Leads", "L\u00e9ads").encode("latin-1"),
                            ("goals", "utf-8")),
    # Hostile values: each a problem naming the goal, the field and the rule, never a
    # bare OverflowError / ValueError, and never a goal that can get no row.
    "window_days_overflow": (_window("{start: 2025-03-01, days: 99999999}"),
                             ("leads-q1", "window.days", "36525")),
    "window_start_not_a_day": (_window("{start: 2026-02-30, end: 2026-03-31}"),
                               ("leads-q1", "window.start", "date")),
    "window_in_1900": (_window("{start: 1900-03-01, end: 1900-03-31}"),
                       ("leads-q1", "window.start", "window_bounds", "2000-01-01")),
    "window_in_2100": (_window("{start: 2100-03-01, end: 2100-03-31}"),
                       ("leads-q1", "window.end", "window_bounds", "2099-12-31")),
    "window_days_past_2099": (_window("{start: 2025-03-01, days: 36000}"),
                              ("leads-q1", "window", "start + days", "window_bounds")),
    "relative_window_too_long": (_window("{relative: next_99999999_days}"),
                                 ("leads-q1", "window.relative", "relative_window")),
    "as_of_in_1850": (_window("{relative: this_month, as_of: 1850-01-01}"),
                      ("leads-q1", "window.as_of", "window_bounds")),
    "infinite_target": (GOAL.replace("value: 100", "value: .inf").encode(),
                        ("leads-q1", "target.value", "finite_number")),
    "nan_target": (GOAL.replace("value: 100", "value: .nan").encode(),
                   ("leads-q1", "target.value", "finite_number")),
    "aliases_bomb": (billion_laughs("goals").encode(), ("goals.yaml", "yaml", "100,000")),
}


@pytest.mark.parametrize("name", sorted(GOALS_CASES))
def test_a_bad_goals_file_fails_clearly_and_changes_nothing(built, tmp_path, name):
    content, expect = GOALS_CASES[name]
    goals = tmp_path / "goals.yaml"
    goals.write_bytes(content)
    settings = Settings(landing_dir=built["settings"].landing_dir, goals_file=str(goals))
    before = store_hashes(built["warehouse"])
    instance = dg.DagsterInstance.ephemeral()
    started = time.monotonic()
    result = dg.materialize([goal_definitions, attainment],
                            resources={**built, "settings": settings}, instance=instance,
                            tags=RANGE, raise_on_error=False)
    assert time.monotonic() - started < 30, name
    assert not result.success, name
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message.lower()
    for part in expect:
        assert part.lower() in message, (name, part, message[:600])
    chain = failure.step_failure_data.error.to_string()
    assert "GoalsError" in chain, name  # never a bare OverflowError or ValueError
    stored = "\n".join([chain,
                        *(repr(entry) for entry in instance.all_logs(result.run_id))])
    assert LAUGH not in stored, name  # the expanded value is never rendered
    assert store_hashes(built["warehouse"]) == before, name


def test_the_corpus_has_at_least_25_distinct_cases():
    assert len(LANDING_CASES) + len(GOALS_CASES) + 2 >= 25
    assert len({c.name for c in LANDING_CASES}) == len(LANDING_CASES)
