"""``kpi_running`` (one query for every day of a goal's window) against ``kpi_range``.

Why: goal attainment reads a KPI's value over [start, t] for every day t from
``kpi_running``, which accumulates daily sums and, for levels (followers, list members),
reads them on t and on the day before the range instead of adding them up. Its contract
is to equal ``kpi_range(start(t), t)`` on every day, the definition the weekly KPIs share;
this holds it to that on the hand fixture, for level KPIs and summed ones, plain, restarted
every week, and over a trailing window, with and without the scope's kind.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import kpi_range, kpi_running
from kpi_pipeline_tests.kpis.test_kpi_hand import Fixture

FIRST, LAST = date(2025, 2, 26), date(2025, 3, 11)
KPIS = ("reach", "followers", "follower_growth_rate", "email_list_growth_rate",
        "email_opt_ins", "engagement_rate", "views", "average_watch_time", "cost_per_lead",
        "bounce_rate", "customer_acquisition_cost")
SCOPES = {"all": "all", "acme": "brand", "instagram/ig-acme": "account"}  # key: its kind
VARIANTS = ({}, {"restart": "week"}, {"window": 5})


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(Path(tmp_path_factory.mktemp("running")) / "hand.duckdb"))
    Fixture().load(conn)
    yield conn
    conn.close()


def start_of(day: date, restart: str | None = None, window: int | None = None) -> date:
    """Where the value of ``day`` starts accumulating, read off the docstring."""
    if restart == "week":
        return max(FIRST, day - timedelta(days=day.weekday()))
    if restart == "month":
        return max(FIRST, day.replace(day=1))
    if window is not None:
        return max(FIRST, day - timedelta(days=window - 1))
    return FIRST


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("name", KPIS)
def test_running_values_equal_a_range_query_per_day(conn: duckdb.DuckDBPyConnection,
                                                    name: str) -> None:
    kpi = catalog()[name]
    filled = 0
    for key, kind in SCOPES.items():
        for variant in VARIANTS:
            running = kpi_running(conn, kpi, FIRST, LAST, key, **variant)
            assert list(running) == [FIRST + timedelta(days=i)
                                     for i in range((LAST - FIRST).days + 1)]
            # told the key's kind, it reads that scope only: the same values
            scoped = (kpi_running(conn, kpi, FIRST, LAST, key, scope=kind, **variant)
                      if kind in kpi.computed_scopes else running)
            for day, value in running.items():
                expected = kpi_range(conn, kpi, start_of(day, **variant), day, key)[2]
                assert same(value, expected), (name, key, variant, day, value, expected)
                assert same(scoped[day], expected), (name, key, kind, variant, day)
                filled += value is not None
    assert filled > 0, f"{name}: no value on any day, the comparison says nothing"
