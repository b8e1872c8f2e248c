"""Every page renders on a store that holds only what exists so far, and says what is not
there yet.

A store fills up layer by layer: two weeks in, there are weekly KPIs but no month has
closed, no baseline has been taken, the diagnostic rules and goal attainment have not run.
The pages read several of those tables in one query (``FROM kpi.weekly UNION ALL BY NAME
FROM kpi.monthly``); before, the first missing one failed the page (the diagnostics page:
``Table with name monthly does not exist``). Built here by the real chain on two weeks of
demo data (a few seconds), at two stages, and read in headless Chromium.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from kpi_pipeline.defs.attribution.assets import attribution_daily, ga4_events, web_events
from kpi_pipeline.defs.baselines.assets import baseline_weekly
from kpi_pipeline.defs.diagnostics.assets import diagnostic_weekly
from kpi_pipeline.defs.goals.assets import attainment, goal_definitions
from kpi_pipeline.defs.kpis.assets import kpi_weekly
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.reports.assets import report_weekly
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.availability import (
    BY_NAME,
    STORE_TABLES,
    StoreState,
    store_state,
)
from kpi_pipeline.lib.reports.pages import pages_for
from kpi_pipeline.lib.reports.render import ReportPeriod, render_period
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED
from kpi_pipeline_tests.reports.conftest import GOALS, PLAIN_CONTEXT

FIRST_WEEK, LAST_WEEK = "2025-01-06", "2025-01-13"  # two closed weeks, no closed month
WEEK = date(2025, 1, 13)
NO_MONTH = BY_NAME["kpi.monthly"].missing
NO_BASELINE = BY_NAME["baseline.weekly"].missing
NO_DIAGNOSTICS = BY_NAME["diagnostic.weekly"].missing
NO_ATTAINMENT = BY_NAME["goal.attainment"].missing
NO_GOALS_FILE = BY_NAME["goal.definitions_file"].missing
NO_ATTRIBUTION = BY_NAME["attribution.daily_reporting"].missing


@dataclass(frozen=True)
class YoungStore:
    """One stage of a young store: its DuckDB file and the goals file beside it."""

    database: Path
    goals: Path

    def resources(self, reports: Path) -> dict[str, object]:
        return {"warehouse": Warehouse(database=str(self.database)),
                "settings": Settings(landing_dir=str(self.database.parent / "landing"),
                                     goals_file=str(self.goals), reports_dir=str(reports),
                                     reporting_currency="USD")}


def _materialize(assets: list, resources: dict[str, object]) -> None:
    tags = {"dagster/asset_partition_range_start": FIRST_WEEK,
            "dagster/asset_partition_range_end": LAST_WEEK}
    assert dg.materialize(assets, resources=resources, tags=tags, raise_on_error=True).success


@pytest.fixture(scope="module")
def young_stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, YoungStore]:
    """``kpis``: two weeks pulled, normalized and turned into weekly KPIs, nothing else.
    ``weekly``: the same plus weekly baselines, diagnostics, the GA4 event export and its
    attribution, the goals file and attainment,
    but still no month closed (no monthly KPI rows, no monthly baseline or diagnostics)."""
    root = tmp_path_factory.mktemp("young_store")
    goals = root / "goals.yaml"
    goals.write_text(GOALS, encoding="utf-8")
    store = YoungStore(root / "warehouse.duckdb", goals)
    resources = {**store.resources(root / "reports"),
                 "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                            today="2025-01-20")}
    _materialize([*raw_assets, *normalized_assets], resources)  # the same ingest weeks
    _materialize([kpi_weekly], resources)
    stages = {"kpis": YoungStore(root / "kpis.duckdb", goals)}
    shutil.copyfile(store.database, stages["kpis"].database)
    _materialize([baseline_weekly, diagnostic_weekly], resources)
    _materialize([ga4_events, web_events, attribution_daily], resources)
    tags = {"dagster/asset_partition_range_start": FIRST_WEEK,
            "dagster/asset_partition_range_end": "2025-01-19"}
    assert dg.materialize([goal_definitions, attainment], resources=resources, tags=tags,
                          raise_on_error=True).success
    stages["weekly"] = store
    return stages


def _tables(database: Path) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as conn:
        return {row[0] for row in conn.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()}


@pytest.mark.parametrize(("stage", "expected"), [
    ("kpis", {"weekly_review": [NO_BASELINE, NO_DIAGNOSTICS], "platform_comparison": [NO_BASELINE],
              "diagnostics": [NO_DIAGNOSTICS], "goal_scorecard": [NO_GOALS_FILE,
                                                                   NO_ATTAINMENT],
              "attribution": [NO_ATTRIBUTION]}),
    ("weekly", {}),
])
def test_every_weekly_page_renders_and_says_what_is_not_there_yet(
        young_stores, stage, expected, tmp_path, open_report):
    store = young_stores[stage]
    tables = _tables(store.database)
    assert "diagnostic.monthly" not in tables  # its absence used to fail the diagnostics page
    if stage == "kpis":
        assert not {"baseline.weekly", "diagnostic.weekly", "goal.attainment"} & tables
    result = dg.materialize([report_weekly], resources=store.resources(tmp_path),
                            partition_key=WEEK.isoformat(), raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    for spec in pages_for("week", catalog()):
        opened = open_report(tmp_path / "week" / WEEK.isoformat() / f"{spec.name}.html",
                             f"young-{stage}-{spec.name}")
        assert opened.console_errors == [] and opened.requests == []
        assert opened.dialogs == []
        notes = opened.page.locator("section.not-yet li")
        shown = [notes.nth(i).inner_text() for i in range(notes.count())]
        assert shown == expected.get(spec.name, []), spec.name
        assert NO_MONTH not in opened.text()  # a weekly page never waits for a month


@pytest.mark.parametrize("grain", ["week", "month"])
def test_every_page_renders_on_an_empty_store(tmp_path, grain):
    """Not one table: every query reads stand-ins of the real shape, and each page lists
    the missing tables it reads, for its own grain only."""
    database = tmp_path / "empty.duckdb"
    duckdb.connect(str(database)).close()
    period = ReportPeriod(grain, date(2025, 1, 6) if grain == "week" else date(2025, 1, 1))
    with duckdb.connect(str(database), read_only=True) as conn:
        state = store_state(conn)
        rendered = render_period(conn, period, tmp_path / "out", catalog(), PLAIN_CONTEXT)
    assert state.absent == {table.name for table in STORE_TABLES}
    assert {page.spec.name for page in rendered} == {p.name for p in pages_for(grain, catalog())}
    other = "month" if grain == "week" else "week"
    for page in rendered:
        html = page.path.read_text()
        assert 'class="callout warn not-yet"' in html, page.spec.name
        assert BY_NAME["normalized.post_daily"].missing in html  # the quality footer's
        assert not any(table.missing in html for table in STORE_TABLES
                       if table.grain == other), page.spec.name


def test_stand_ins_replace_only_absent_tables():
    state = StoreState(frozenset({"kpi.weekly"}), frozenset({"kpi.weekly", "baseline.weekly"}))
    sql = "FROM kpi.weekly UNION ALL BY NAME FROM kpi.monthly -- kpi.weekly_x, xkpi.weekly"
    prepared = state.prepare(sql)
    assert "FROM kpi.monthly" in prepared and "kpi.weekly_x" in prepared
    assert "xkpi.weekly" in prepared and "FROM kpi.weekly " not in prepared
    with duckdb.connect(":memory:") as conn:
        conn.execute("CREATE SCHEMA kpi; CREATE TABLE kpi.monthly AS "
                     f"SELECT * FROM {state.prepare('kpi.weekly')}")
        assert conn.execute(state.prepare("SELECT count(*) FROM (FROM kpi.weekly UNION ALL "
                                          "BY NAME FROM kpi.monthly)")).fetchall() == [(0,)]
    assert state.not_yet(["FROM baseline.weekly"], "week") == [NO_BASELINE]
    assert state.not_yet(["FROM baseline.weekly"], "month") == []
