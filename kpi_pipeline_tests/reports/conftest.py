"""A store built by the real chain on demo data (January to April 2025), shared by the
report tests: raw pulls, normalized tables, GA4's event export and its attribution, weekly,
monthly and quarterly KPIs, baselines,
diagnostics and goal attainment for a goals file with one goal of each target type.

Built once per session (about half a minute); tests open it read-only and render into
their own temporary folders.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from filelock import FileLock

from kpi_pipeline.defs.attribution.assets import attribution_daily, ga4_events, web_events
from kpi_pipeline.defs.baselines.assets import (
    baseline_monthly,
    baseline_quarterly,
    baseline_weekly,
)
from kpi_pipeline.defs.diagnostics.assets import (
    diagnostic_monthly,
    diagnostic_quarterly,
    diagnostic_weekly,
)
from kpi_pipeline.defs.goals.assets import attainment, goal_definitions
from kpi_pipeline.defs.kpis.assets import kpi_monthly, kpi_quarterly, kpi_weekly
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline_tests.conftest import DEMO_BRANDS, DEMO_SEED

FIRST_DAY, LAST_DAY = "2025-01-01", "2025-04-30"
# the ingest weeks holding them (Mondays): the landing files and tables run to 4 May
FIRST_INGEST_WEEK, LAST_INGEST_WEEK = "2024-12-30", "2025-04-28"
FIRST_WEEK, LAST_WEEK = "2025-01-06", "2025-04-21"
FIRST_MONTH, LAST_MONTH = "2025-01-01", "2025-04-01"
FIRST_QUARTER, LAST_QUARTER = "2025-01-01", "2025-04-01"  # Q1 whole, Q2 its April
REPORT_WEEK = date(2025, 4, 14)  # week 16: twelve weeks of baseline behind it
REPORT_MONTH = date(2025, 4, 1)
SCRIPT = "<script>alert(1)</script>"

# One goal of each target type, active in the report week; one title carries a script.
GOALS = f"""
goals:
  - id: opt-ins-q2
    title: "600 e-mail opt-ins in April {SCRIPT}"
    objective: lead_generation
    stage: lead_generation
    kpi: email_opt_ins
    scope: {{kind: all}}
    target: {{type: total, value: 600}}
    window: {{start: 2025-04-01, end: 2025-04-30}}
    owner: CRM team
  - id: engagement-level
    title: Engagement rate at least 5 %
    objective: brand_awareness
    stage: engagement
    kpi: engagement_rate
    scope: {{kind: all}}
    target: {{type: level, at_least: 0.05}}
    window: {{start: 2025-03-01, end: 2025-05-31}}
  - id: sessions-up
    title: Social traffic up 20 %
    objective: product_demand
    stage: traffic
    kpi: landing_page_sessions
    scope: {{kind: all}}
    target: {{type: change, by: 0.2}}
    window: {{start: 2025-04-01, end: 2025-06-30}}
  - id: leads-weekly
    title: 40 leads a week
    objective: lead_generation
    stage: lead_generation
    kpi: leads
    scope: {{kind: all}}
    target: {{type: per_period, value: 40, period: week}}
    window: {{start: 2025-03-03, end: 2025-05-25}}
  - id: linkedin-impressions
    title: LinkedIn impressions up 10 %
    objective: brand_awareness
    stage: awareness
    kpi: impressions
    scope: {{kind: platform, key: linkedin}}
    target: {{type: change, by: 0.1}}
    window: {{start: 2025-04-01, end: 2025-04-30}}
"""


SLOW_FIXTURES = {"report_store", "store_conn", "browser", "open_report"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the built store (about half a minute to build) or in the browser are
    marked slow: ``make test-fast`` leaves them out, CI runs them."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@dataclass(frozen=True)
class ReportStore:
    """The built store and the resources that built it."""

    warehouse: Warehouse
    settings: Settings
    root: Path

    def resources(self, reports_dir: Path) -> dict[str, object]:
        """Resources for a report run writing into ``reports_dir``."""
        settings = Settings(landing_dir=self.settings.landing_dir,
                            goals_file=self.settings.goals_file, reports_dir=str(reports_dir),
                            reporting_currency=self.settings.reporting_currency)
        return {"warehouse": self.warehouse, "settings": settings}


def _range(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last}


def _build_report_store(root: Path) -> None:
    """The real chain over the demo, January to May 2025, into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    goals = root / "goals.yaml"
    goals.write_text(GOALS, encoding="utf-8")
    warehouse = Warehouse(database=str(root / "warehouse.duckdb"))
    settings = Settings(landing_dir=str(root / "landing"), goals_file=str(goals),
                        reports_dir=str(root / "reports"), reporting_currency="USD")
    resources = {"warehouse": warehouse, "settings": settings,
                 "platforms": DemoPlatforms(seed=DEMO_SEED, brands=DEMO_BRANDS,
                                            today="2025-05-10")}
    steps = [([*raw_assets, *normalized_assets], FIRST_INGEST_WEEK, LAST_INGEST_WEEK),
             ([ga4_events, web_events, attribution_daily], FIRST_INGEST_WEEK,
              LAST_INGEST_WEEK),
             ([kpi_weekly, baseline_weekly, diagnostic_weekly], FIRST_WEEK, LAST_WEEK),
             ([kpi_monthly, baseline_monthly, diagnostic_monthly], FIRST_MONTH, LAST_MONTH),
             ([kpi_quarterly, baseline_quarterly, diagnostic_quarterly], FIRST_QUARTER,
              LAST_QUARTER),
             ([goal_definitions, attainment], FIRST_DAY, LAST_DAY)]
    for assets, first, last in steps:
        result = dg.materialize(assets, resources=resources, tags=_range(first, last),
                                raise_on_error=True)
        assert result.success


@pytest.fixture(scope="session")
def report_store(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> ReportStore:
    """Built once per test session: under pytest-xdist the first worker builds it in the
    session's shared temporary folder while the other waits on a file lock, then each
    worker works on its own copy (the store lock admits one process at a time)."""
    root = tmp_path_factory.mktemp("report_store")
    if worker_id == "master":
        _build_report_store(root)
    else:
        shared = tmp_path_factory.getbasetemp().parent / "report_store_built"
        with FileLock(f"{shared}.lock"):
            if not (shared / ".built").exists():
                _build_report_store(shared)
                (shared / ".built").touch()
        shutil.copytree(shared, root, dirs_exist_ok=True)
    warehouse = Warehouse(database=str(root / "warehouse.duckdb"))
    settings = Settings(landing_dir=str(root / "landing"), goals_file=str(root / "goals.yaml"),
                        reports_dir=str(root / "reports"), reporting_currency="USD")
    return ReportStore(warehouse, settings, root)


# What the report assets pass to the pages besides the catalogue: without goals, and
# with the goals of the store's goals file (as of a fixed day after the data).
PLAIN_CONTEXT = {"currency": "USD", "quality_notes": [], "goals": {}, "goal_warnings": []}
GOALS_TODAY = date(2025, 5, 10)


def goals_context(conn, store: ReportStore) -> dict[str, object]:
    from kpi_pipeline.lib.goals.stored import stored_goals
    from kpi_pipeline.lib.kpis.catalog import catalog
    from kpi_pipeline.lib.reports.context import goal_context

    return {**PLAIN_CONTEXT, **goal_context(conn, stored_goals(conn), GOALS_TODAY,
                                            catalog(), "USD")}


@pytest.fixture
def store_conn(report_store: ReportStore):
    with report_store.warehouse.get_connection(read_only=True) as conn:
        yield conn


# ------------------------------------------------------------------------- browser
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright. Skips with the reason when the
    browser is absent, except under CI=true, where it must run."""
    executable = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing: .ci/run installs it")
        pytest.skip("headless Chromium not found (apt-get install chromium); "
                    "the browser tests run in CI")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable,
                                              args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@dataclass
class OpenedPage:
    """A report opened in the browser, with what it asked for and what it logged."""

    page: object
    requests: list[str]
    console_errors: list[str]
    dialogs: list[str]

    def text(self) -> str:
        return self.page.inner_text("body")


@pytest.fixture
def open_report(browser, request):
    """Open a rendered HTML file; every request that is not the file itself is recorded
    and refused, console errors and JavaScript dialogs are recorded, and a full-page
    screenshot is kept under test-artifacts/screenshots/."""
    contexts = []

    def _open(path: Path, shot_name: str | None = None) -> OpenedPage:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(context)
        page = context.new_page()
        opened = OpenedPage(page, [], [], [])
        target = path.resolve().as_uri()
        page.on("request", lambda r: opened.requests.append(r.url)
                if r.url != target else None)
        page.on("console", lambda m: opened.console_errors.append(m.text)
                if m.type == "error" else None)
        page.on("pageerror", lambda e: opened.console_errors.append(str(e)))

        def _dialog(dialog) -> None:
            opened.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", _dialog)
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url == target else route.abort())
        page.goto(target)
        page.wait_for_load_state("load")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = shot_name or f"{request.node.name}-{path.stem}"
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        return opened

    yield _open
    for context in contexts:
        context.close()
