"""The layers after the pull run on the asset graph's conditions, not on hours.

Each period's assets wait from the period's end until their upstream data has been
updated since, so a late pull delays the KPIs instead of letting them run on stale data;
the report pages also wait for every blocking check upstream to pass. The conditions
are evaluated here the way the automation sensor evaluates them, tick by tick, with the
materializations a run would record reported in between.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import dagster as dg
import pytest

from kpi_pipeline.definitions import defs
from kpi_pipeline.defs.schedules import TIMEZONE_ENV

WEEK = "2025-02-24"  # Monday 24 February .. Sunday 2 March 2025
SUNDAY = "2025-03-02"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


class Ticks:
    """The automation sensor's ticks over one instance, and what runs would record."""

    def __init__(self, loaded: dg.Definitions) -> None:
        self.defs = loaded
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def tick(self, when: datetime) -> dict[str, list[str | None]]:
        """What the tick at ``when`` requests: asset -> partitions."""
        def evaluate() -> dg.EvaluateAutomationConditionsResult:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return dg.evaluate_automation_conditions(
                    defs=self.defs, instance=self.instance, evaluation_time=when,
                    cursor=self.cursor)

        # in a thread of its own: the evaluation runs an event loop, and a browser test
        # earlier in the same worker may leave one running on this thread (as the sensor
        # daemon, a process of its own, never would)
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(evaluate).result()
        self.cursor = result.cursor
        return {key.to_user_string(): sorted(result.get_requested_partitions(key),
                                             key=str)
                for key in (r.key for r in result.results)
                if isinstance(key, dg.AssetKey) and result.get_requested_partitions(key)}

    def materialized(self, assets: dict[str, list[str | None]]) -> None:
        for key, partitions in assets.items():
            for partition in partitions:
                self.instance.report_runless_asset_event(dg.AssetMaterialization(
                    asset_key=dg.AssetKey.from_user_string(key), partition=partition))

    def pull(self, week: str) -> None:
        """The morning pull: every normalized table the weekly KPIs read and the week's
        attribution (the ingest job computes it after the web events), for ``week``."""
        graph = self.defs.resolve_asset_graph()
        tables = graph.get(dg.AssetKey(["kpi", "weekly"])).parent_keys
        self.materialized({key.to_user_string(): [week]
                           for key in {*tables, dg.AssetKey(["attribution", "daily"])}})
        self.check("attribution/daily", "credits_sum_to_one", True, week)

    def check(self, asset: str, name: str, passed: bool, partition: str) -> None:
        self.instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey.from_user_string(asset), check_name=name, passed=passed,
            partition=partition))


@pytest.fixture(scope="module")
def loaded() -> dg.Definitions:
    return defs()


def closed_week(ticks: Ticks) -> None:
    """Up to the pull of the week's last day, which comes late."""
    assert ticks.tick(at(2, 23)) == {}  # Sunday night: the week is still open
    opened = ticks.tick(at(3, 0, 30))
    # the week closed: the baseline snapshot as of its start and the day's definitions
    assert opened == {"baseline/weekly": [WEEK], "goal/definitions": [None]}
    ticks.materialized(opened)
    # 08:00, when a clock chain would have computed the week's KPIs: the pull is late
    assert ticks.tick(at(3, 8)) == {}


def test_a_late_pull_delays_the_period_assets_and_the_chain_follows_it(loaded):
    ticks = Ticks(loaded)
    closed_week(ticks)
    ticks.pull(WEEK)
    after_pull = ticks.tick(at(3, 9))
    assert after_pull == {"diagnostic/weekly": [WEEK], "goal/attainment": [SUNDAY],
                          "kpi/weekly": [WEEK]}
    ticks.materialized(after_pull)
    ticks.check("kpi/weekly", "kpi_expectations", True, WEEK)
    assert ticks.tick(at(3, 9, 5)) == {"report/weekly": [WEEK]}
    ticks.materialized({"report/weekly": [WEEK]})
    assert ticks.tick(at(3, 9, 10)) == {}  # once per period
    tuesday = ticks.tick(at(4, 9))  # a new day: its definitions, no attainment before the pull
    assert tuesday == {"goal/definitions": [None]}
    ticks.materialized(tuesday)
    ticks.pull("2025-03-03")
    assert ticks.tick(at(4, 9, 5)) == {"goal/attainment": ["2025-03-03"]}


def test_a_failed_blocking_check_holds_the_report(loaded):
    ticks = Ticks(loaded)
    closed_week(ticks)
    ticks.pull(WEEK)
    ticks.materialized(ticks.tick(at(3, 9)))
    ticks.check("kpi/weekly", "kpi_expectations", False, WEEK)
    assert ticks.tick(at(3, 9, 5)) == {}
    assert ticks.tick(at(3, 12)) == {}


def test_periods_close_in_the_schedules_time_zone(monkeypatch):
    monkeypatch.setenv(TIMEZONE_ENV, "America/Los_Angeles")
    ticks = Ticks(defs())
    assert ticks.tick(at(3, 5)) == {}  # 05:00 UTC is Sunday 21:00 in Los Angeles
    assert ticks.tick(at(3, 8, 30)) == {"baseline/weekly": [WEEK],
                                        "goal/definitions": [None]}


def test_a_month_closes_with_the_pull_of_its_last_day(loaded):
    """The monthly KPIs read every ingest week overlapping the month; the pull of the
    month's last day updates the last of them, and that is the update they wait for."""
    ticks = Ticks(loaded)
    assert ticks.tick(datetime(2025, 2, 28, 23, tzinfo=UTC)) == {}
    opened = ticks.tick(at(1, 0, 30))
    assert opened == {"baseline/monthly": ["2025-02-01"], "goal/definitions": [None]}
    ticks.materialized(opened)
    ticks.pull(WEEK)  # the week holding 28 February
    assert ticks.tick(at(1, 7)) == {"diagnostic/monthly": ["2025-02-01"],
                                    "goal/attainment": ["2025-02-28"],
                                    "kpi/monthly": ["2025-02-01"]}
