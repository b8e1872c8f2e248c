"""Production KPIs against an independent formulation in plain SQL, on the demo data.

``kpi_pipeline_tests/kpis/kpi_reference.sql`` computes every catalogue KPI by hand-written
formulas, without reusing the production fact sources or query generator. Two
formulations written separately rarely make the same mistake, so agreement on every KPI,
scope and period is strong evidence that both are right, and a disagreement points at a
precise (period, kpi, scope_key) to look at.

The data is built once per module through the real raw -> normalized chain. It is compared
twice: as built (seven weeks, so year-ago values are all NULL) and with a copy of the same
data moved 53 weeks back, so that year-ago values exist and differ from the current ones
(a copy moved exactly 52 weeks back would make a year-ago bug that returns the current
value pass unnoticed).
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import duckdb
import pytest

from kpi_pipeline.defs.resources import DemoPlatforms, Settings, Warehouse
from kpi_pipeline.lib.kpis.attribution import replace_cohort_purchases
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.kpis.compute import replace_kpis
from kpi_pipeline_tests.conftest import INGEST_ASSETS

pytestmark = pytest.mark.slow  # one raw -> normalized build of seven weeks (~15 s)

REFERENCE_SQL = Path(__file__).resolve().with_name("kpi_reference.sql")
DEMO_FIRST_DAY, DEMO_LAST_DAY = date(2025, 1, 27), date(2025, 3, 16)
DEMO_TODAY = "2025-03-20"
# The lifetime-value window the chain runs with: short enough that the cohorts of the first
# weeks close within the data (the export reaches 19 March: the days up to 6 March) and the
# last ones do not, so both complete and open cohorts are compared.
LTV_WINDOW_DAYS = 14

# The periods compared: (first period start, last period start, last day of the last one).
# The week of 27 January is not compared itself: it is the previous week of 3 February.
PERIODS = {
    "week": (date(2025, 2, 3), date(2025, 3, 10), date(2025, 3, 16)),
    "month": (date(2025, 2, 1), date(2025, 2, 1), date(2025, 2, 28)),
}
TABLES = {"week": "kpi.weekly", "month": "kpi.monthly"}
HISTORY_SHIFT = timedelta(weeks=53)
MIN_ROWS = {"week": 1000, "month": 150}
# The KPIs without a previous value in the compared periods. The data begins on Monday
# 27 January 2025, so January is covered 5 of its 31 days: February is compared with no
# month (None: every KPI), as the comparison rule says. Every week is complete.
NO_PREVIOUS: dict[str, set[str] | None] = {"week": set(), "month": None}

KEY = ("period_start", "kpi", "scope_key")
EXACT_COLUMNS = ("period_end", "grain", "scope", "brand", "platform", "account_id",
                 "campaign_id", "media_type", "unit", "coverage_days", "period_days")
NUMERIC_COLUMNS = ("numerator", "denominator", "value", "previous_value",
                   "change_vs_previous", "year_ago_value", "change_vs_year_ago")

Row = dict[str, Any]
Key = tuple[date, str, str]


# --------------------------------------------------------------------------- building
@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven weeks of demo data through the real raw -> normalized assets, built once."""
    root = tmp_path_factory.mktemp("kpi_reference")
    resources = {
        "warehouse": Warehouse(database=str(root / "warehouse.duckdb")),
        "settings": Settings(landing_dir=str(root / "landing"), reporting_currency="USD",
                             ltv_window_days=LTV_WINDOW_DAYS),
        "platforms": DemoPlatforms(seed=7, brands=2, today=DEMO_TODAY),
    }
    result = dg.materialize(
        INGEST_ASSETS, resources=resources,
        tags={"dagster/asset_partition_range_start": DEMO_FIRST_DAY.isoformat(),
              "dagster/asset_partition_range_end": DEMO_LAST_DAY.isoformat()})
    assert result.success
    return root / "warehouse.duckdb"


def add_year_ago_history(conn: duckdb.DuckDBPyConnection, shift: timedelta) -> None:
    """Copy the KPI sources ``shift`` earlier (posts under new ids, so no post spans both)."""
    days = shift.days
    conn.execute(f"""
        INSERT INTO normalized.post_daily
        SELECT * REPLACE (report_date - {days} AS report_date,
                          published_at - INTERVAL {days} DAY AS published_at,
                          post_id || '~history' AS post_id)
        FROM normalized.post_daily""")
    for table in ("account_daily", "ad_daily", "web_daily", "email_daily", "fx_daily"):
        conn.execute(f"""INSERT INTO normalized.{table}
                         SELECT * REPLACE (report_date - {days} AS report_date)
                         FROM normalized.{table}""")
    # the GA4 export's days and their attributed purchases, the same stretch earlier
    conn.execute(f"""INSERT INTO normalized.web_events
                     SELECT * REPLACE (event_date - {days} AS event_date,
                                       source_file || '~history' AS source_file)
                     FROM normalized.web_events""")
    conn.execute(f"""INSERT INTO attribution.daily
                     SELECT * REPLACE (day - {days} AS day) FROM attribution.daily""")
    # ... and their purchases by other customers (a customer of the history is not one of
    # today's), with the cohorts built again from all of them
    conn.execute(f"""INSERT INTO attribution.conversions
                     SELECT * REPLACE (conversion_id || '~history' AS conversion_id,
                                       conversion_date - {days} AS conversion_date,
                                       conversion_ts - INTERVAL {days} DAY AS conversion_ts,
                                       user_key || '~history' AS user_key)
                     FROM attribution.conversions""")
    conn.execute(f"""INSERT INTO attribution.touch_credits
                     SELECT * REPLACE (conversion_id || '~history' AS conversion_id,
                                       conversion_date - {days} AS conversion_date,
                                       session_start - INTERVAL {days} DAY AS session_start)
                     FROM attribution.touch_credits""")
    replace_cohort_purchases(conn, LTV_WINDOW_DAYS)


def production_kpis(conn: duckdb.DuckDBPyConnection, last: Literal["start", "day"]) -> None:
    """Both grains through the production ``replace_kpis``.

    ``last="start"`` passes the last period's start, as its docstring allows ("every period
    starting in [first, last]"); ``last="day"`` passes the window's last day, as the Dagster
    assets do (``window_bounds``). Both must compute every period from all of its days.
    """
    for grain, (first, last_start, last_day) in PERIODS.items():
        replace_kpis(conn, grain, first, last_start if last == "start" else last_day)


@pytest.fixture(scope="module", params=["demo", "demo_with_history"])
def dataset(request: pytest.FixtureRequest, demo_db: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A private copy of the demo database, optionally with history, holding production KPIs."""
    path = tmp_path_factory.mktemp(request.param) / "warehouse.duckdb"
    shutil.copy(demo_db, path)
    with duckdb.connect(str(path)) as conn:
        if request.param == "demo_with_history":
            add_year_ago_history(conn, HISTORY_SHIFT)
        production_kpis(conn, last="start")
    yield request.param, path


# --------------------------------------------------------------------------- comparing
def reference_rows(conn: duckdb.DuckDBPyConnection, grain: str) -> dict[Key, Row]:
    """The reference formulation's rows for the compared periods of ``grain``."""
    first, last_start, _ = PERIODS[grain]
    cursor = conn.execute(REFERENCE_SQL.read_text(encoding="utf-8"),
                          {"grain": grain, "first": first, "last": last_start,
                           "ltv_window_days": LTV_WINDOW_DAYS})
    return _keyed(cursor)


def production_rows(conn: duckdb.DuckDBPyConnection, grain: str) -> dict[Key, Row]:
    """Production's stored rows for the compared periods of ``grain``."""
    first, last_start, _ = PERIODS[grain]
    cursor = conn.execute(f"SELECT * FROM {TABLES[grain]} WHERE period_start BETWEEN ? AND ?",
                          [first, last_start])
    return _keyed(cursor)


def _keyed(cursor: duckdb.DuckDBPyConnection) -> dict[Key, Row]:
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    keyed = {tuple(row[k] for k in KEY): row for row in rows}
    assert len(keyed) == len(rows), "duplicate (period_start, kpi, scope_key) rows"
    return keyed  # type: ignore[return-value]


def same_number(a: float | None, b: float | None) -> bool:
    """Equal within 1e-9 relative, NULL equal to NULL only (NaN equals nothing)."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@dataclass
class Comparison:
    """What differs between production and reference rows, grouped by KPI."""

    compared: list[Row] = field(default_factory=list)  # reference rows present in both
    only_reference: dict[str, list[Key]] = field(default_factory=lambda: defaultdict(list))
    only_production: dict[str, list[Key]] = field(default_factory=lambda: defaultdict(list))
    differences: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def agrees(self) -> bool:
        return not (self.only_reference or self.only_production or self.differences)

    def report(self, examples: int = 3) -> str:
        """A readable account of the disagreement: per KPI, counts and a few examples."""
        kpis = sorted({*self.only_reference, *self.only_production, *self.differences})
        lines = [f"{len(kpis)} KPI(s) disagree ({len(self.compared)} rows compared):"]
        for kpi in kpis:
            lines.append(f"  {kpi}:")
            for label, keys in (("only in reference", self.only_reference.get(kpi, [])),
                                ("only in production", self.only_production.get(kpi, []))):
                if keys:
                    shown = ", ".join(f"{p} {s}" for p, _, s in sorted(keys)[:examples])
                    lines.append(f"    {len(keys)} row(s) {label}, e.g. {shown}")
            diffs = self.differences.get(kpi, [])
            if diffs:
                lines.append(f"    {len(diffs)} differing value(s):")
                lines += [f"      {d}" for d in diffs[:examples]]
        return "\n".join(lines)


def compare(production: dict[Key, Row], reference: dict[Key, Row]) -> Comparison:
    """Compare keys, exact columns and numbers of every row."""
    result = Comparison()
    for key in reference.keys() - production.keys():
        result.only_reference[key[1]].append(key)
    for key in production.keys() - reference.keys():
        result.only_production[key[1]].append(key)
    for key in sorted(reference.keys() & production.keys()):
        ref, prod = reference[key], production[key]
        result.compared.append(ref)
        where = f"{key[0]} {key[2]}"
        for column in EXACT_COLUMNS:
            if ref[column] != prod[column]:
                result.differences[key[1]].append(
                    f"{where} {column}: production {prod[column]!r} != reference "
                    f"{ref[column]!r}")
        for column in NUMERIC_COLUMNS:
            if not same_number(prod[column], ref[column]):
                result.differences[key[1]].append(
                    f"{where} {column}: production {prod[column]!r} != reference "
                    f"{ref[column]!r}")
    return result


@pytest.fixture(scope="module")
def rows(dataset: tuple[str, Path]) -> dict[str, tuple[dict[Key, Row], dict[Key, Row]]]:
    """(production, reference) rows per grain for one data set, read once."""
    _, path = dataset
    with duckdb.connect(str(path), read_only=True) as conn:
        return {grain: (production_rows(conn, grain), reference_rows(conn, grain))
                for grain in PERIODS}


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("grain", list(PERIODS))
def test_reference_agrees_with_production(rows, grain: str) -> None:
    """Every KPI, scope and period: same rows, same numbers, same comparisons."""
    production, reference = rows[grain]
    result = compare(production, reference)
    assert result.agrees, result.report()


@pytest.mark.parametrize("grain", list(PERIODS))
def test_the_comparison_is_not_vacuous(rows, dataset: tuple[str, Path], grain: str) -> None:
    """Enough rows, every catalogue KPI of the grain present with real values."""
    name, _ = dataset
    production, reference = rows[grain]
    compared = compare(production, reference).compared
    assert len(compared) > MIN_ROWS[grain], f"only {len(compared)} rows compared"
    wanted = {kpi for kpi, spec in catalog().items() if grain in spec.grains}
    assert {row["kpi"] for row in reference.values()} == wanted
    no_previous = NO_PREVIOUS[grain]
    expected = {"value": wanted,
                "previous_value": set() if no_previous is None else wanted - no_previous}
    if name == "demo_with_history":
        expected["year_ago_value"] = wanted
    for column, kpis in expected.items():
        filled = {row["kpi"] for row in compared if row[column] is not None}
        assert filled == kpis, f"{column} filled for {sorted(filled ^ kpis)}"
    if name == "demo_with_history":  # the history is a different stretch of data
        assert any(row["year_ago_value"] != row["value"] for row in compared)


def test_the_comparison_catches_a_changed_value(rows) -> None:
    """One production value moved by one part in a million is reported, with its KPI."""
    production, reference = rows["week"]
    key = next(k for k, r in sorted(production.items()) if r["value"])
    tampered = {**production, key: {**production[key],
                                    "value": production[key]["value"] * (1 + 1e-6)}}
    del tampered[next(k for k in sorted(production) if k != key)]
    result = compare(tampered, reference)
    assert set(result.differences) == {key[1]}
    assert sum(map(len, result.only_reference.values())) == 1
    assert key[1] in result.report()


def test_replace_kpis_called_like_the_assets_agrees_too(demo_db: Path, tmp_path: Path) -> None:
    """The assets pass the window's last DAY as ``last``: the same rows come out."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_db, path)
    with duckdb.connect(str(path)) as conn:
        production_kpis(conn, last="day")
        report = []
        for grain in PERIODS:
            result = compare(production_rows(conn, grain), reference_rows(conn, grain))
            if not result.agrees:
                report.append(f"{grain}: {result.report()}")
    assert not report, "\n".join(report)


# The all-scope row of each KPI against its brand rows, in plain SQL over the stored table:
# sum(numerator) / sum(denominator) of the brands (their sum alone for a KPI without a
# denominator) must give the all-scope numerator, denominator and value.
ROLL_UP_SQL = """
WITH parts AS (
    SELECT period_start, kpi, sum(numerator) AS numerator, sum(denominator) AS denominator
    FROM {table} WHERE scope = 'brand' AND period_start BETWEEN $first AND $last
    GROUP BY period_start, kpi
)
SELECT w.period_start, w.kpi, w.numerator, w.denominator, w.value,
       p.numerator, p.denominator,
       CASE WHEN w.denominator IS NULL AND p.denominator IS NULL THEN p.numerator
            WHEN p.denominator = 0 THEN NULL
            ELSE p.numerator / p.denominator END AS recomputed
FROM {table} AS w JOIN parts AS p USING (period_start, kpi)
WHERE w.scope = 'all' AND w.period_start BETWEEN $first AND $last
ORDER BY w.period_start, w.kpi
"""


@pytest.mark.parametrize("grain", list(PERIODS))
def test_every_all_scope_value_recomputes_from_its_brand_rows(dataset, grain: str) -> None:
    """What the README promises of the numerator and denominator: any roll-up can be
    recomputed exactly. Every KPI computed for the all and brand scopes is checked, except
    those the catalogue marks ``reaggregable: false``."""
    _, path = dataset
    first, last_start, _ = PERIODS[grain]
    exempt = {name for name, kpi in catalog().items() if not kpi.reaggregable}
    checked, wrong = set(), []
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(ROLL_UP_SQL.format(table=TABLES[grain]),
                            {"first": first, "last": last_start}).fetchall()
    for period, kpi, num, den, value, part_num, part_den, recomputed in rows:
        if kpi in exempt:
            continue
        checked.add(kpi)
        if not (same_number(num, part_num) and same_number(den, part_den)
                and same_number(value, recomputed)):
            wrong.append(f"{period} {kpi}: all ({num}, {den}, {value}) != brands "
                         f"({part_num}, {part_den}, {recomputed})")
    assert not wrong, f"{len(wrong)} all-scope row(s) do not roll up:\n" + "\n".join(wrong[:10])
    wanted = {name for name, kpi in catalog().items() if grain in kpi.grains
              and {"all", "brand"} <= set(kpi.computed_scopes)} - exempt
    assert checked == wanted


# --------------------------------------------------------------------------- coverage
def kpi_row(conn: duckdb.DuckDBPyConnection, table: str, start: date, kpi: str,
            scope_key: str = "all") -> Row:
    cursor = conn.execute(f"SELECT * FROM {table} WHERE period_start = ? AND kpi = ? "
                          "AND scope_key = ?", [start, kpi, scope_key])
    names = [d[0] for d in cursor.description]
    found = cursor.fetchone()
    assert found is not None, f"no {kpi} {scope_key} row for {start}"
    return dict(zip(names, found, strict=True))


def test_a_period_the_data_covers_partly_says_so_and_is_not_compared(
        demo_db: Path, tmp_path: Path) -> None:
    """Days taken out of one source: the KPIs reading it say how many days of the period
    they cover, and are compared with no period, nor any period with them; KPIs of the
    other sources stay whole and compared. Counts by hand from the days removed."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_db, path)
    with duckdb.connect(str(path)) as conn:
        # the web data of the week of 10 March stops after Wednesday 12 March (3 of 7 days)
        conn.execute("DELETE FROM normalized.web_daily WHERE report_date >= ?",
                     [date(2025, 3, 13)])
        # the posts of Monday 3 February are missing (6 of 7 days)
        conn.execute("DELETE FROM normalized.post_daily WHERE report_date = ?",
                     [date(2025, 2, 3)])
        replace_kpis(conn, "week", date(2025, 2, 3), date(2025, 3, 16))
        replace_kpis(conn, "month", date(2025, 1, 1), date(2025, 2, 28))
        week = lambda start, kpi, key="all": kpi_row(conn, "kpi.weekly", start, kpi, key)  # noqa: E731

        sessions = week(date(2025, 3, 10), "landing_page_sessions")
        assert (sessions["coverage_days"], sessions["period_days"]) == (3, 7)
        assert sessions["value"] is not None  # the partial total is kept, and marked
        assert sessions["previous_value"] is None and sessions["change_vs_previous"] is None
        assert week(date(2025, 3, 10), "bounce_rate", "instagram")["coverage_days"] == 3
        # customer acquisition cost reads ads and web: the days holding both
        assert week(date(2025, 3, 10), "customer_acquisition_cost")["coverage_days"] == 3
        views = week(date(2025, 3, 10), "views")
        assert (views["coverage_days"], views["period_days"]) == (7, 7)
        assert views["previous_value"] is not None
        assert week(date(2025, 3, 3), "landing_page_sessions")["previous_value"] is not None

        # posts: no rows on 3 February, and the 4th's growth spans two days (no pull on
        # the 3rd): 5 days of the week are measured
        likes = week(date(2025, 2, 3), "likes")
        assert (likes["coverage_days"], likes["previous_value"]) == (5, None)
        # the week after is whole but its previous week is not: no comparison either
        after = week(date(2025, 2, 10), "likes")
        assert (after["coverage_days"], after["previous_value"]) == (7, None)
        assert after["change_vs_previous"] is None
        assert week(date(2025, 2, 17), "likes")["previous_value"] is not None

        # January 2025: the data begins on Monday 27 January, 5 of its 31 days; post
        # activity is measured from the 28th (the 27th has no day before to grow from)
        january = kpi_row(conn, "kpi.monthly", date(2025, 1, 1), "views")
        assert (january["coverage_days"], january["period_days"]) == (4, 31)
        assert kpi_row(conn, "kpi.monthly", date(2025, 1, 1),
                       "landing_page_sessions")["coverage_days"] == 5
        assert kpi_row(conn, "kpi.monthly", date(2025, 2, 1), "views")["coverage_days"] == 26
        february = kpi_row(conn, "kpi.monthly", date(2025, 2, 1), "landing_page_sessions")
        assert (february["coverage_days"], february["period_days"]) == (28, 28)
        # whole, but January is not: no "vs last month"
        assert february["previous_value"] is None and february["change_vs_previous"] is None


def test_conversion_cac_counts_sales_campaigns_only(dataset) -> None:
    """On the demo, conversion_cac's numerator is the spend of the sales campaigns alone (a
    share of the blended CAC's, which is all spend), over the same first-time purchasers."""
    _, path = dataset
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute("""
            SELECT c.period_start, c.scope_key, c.numerator, c.denominator, c.value,
                   b.numerator, b.denominator, b.value
            FROM kpi.monthly AS c JOIN kpi.monthly AS b USING (period_start, scope_key)
            WHERE c.kpi = 'conversion_cac' AND b.kpi = 'customer_acquisition_cost'
              AND c.period_start = $month""", {"month": PERIODS["month"][0]}).fetchall()
        first, last = PERIODS["month"][0], PERIODS["month"][2]
        by_hand = dict(conn.execute("""
            SELECT brand, sum(spend_reporting) FROM normalized.ad_daily
            WHERE objective = 'conversions' AND report_date BETWEEN $first AND $last
            GROUP BY brand""", {"first": first, "last": last}).fetchall())
    assert {key for _, key, *_ in rows} == {"all", *by_hand}
    for _, key, num, den, value, blended_num, blended_den, blended in rows:
        expected = sum(by_hand.values()) if key == "all" else by_hand[key]
        assert num == pytest.approx(expected, rel=1e-12)
        assert 0 < num < blended_num and den == blended_den > 0
        assert value == pytest.approx(num / den) and value < blended


def test_a_store_pulled_before_objectives_keeps_its_blended_cac(demo_db: Path,
                                                                 tmp_path: Path) -> None:
    """ad_daily without the objective column (a store written before it existed): the KPIs
    still compute, the blended CAC is unchanged and the conversion CAC is missing (no
    objective known), not 0 and not the blended figure."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_db, path)
    month = PERIODS["month"][0]
    query = ("SELECT kpi, scope_key, value FROM kpi.monthly WHERE period_start = $month "
             "AND kpi IN ('customer_acquisition_cost', 'conversion_cac') ORDER BY ALL")
    with duckdb.connect(str(path)) as conn:
        production_kpis(conn, last="start")
        before = conn.execute(query, {"month": month}).fetchall()
        conn.execute("ALTER TABLE normalized.ad_daily DROP COLUMN objective")
        production_kpis(conn, last="start")
        after = conn.execute(query, {"month": month}).fetchall()
    blended = [row for row in before if row[0] == "customer_acquisition_cost"]
    assert blended and [row for row in after if row[0] == "customer_acquisition_cost"] == blended
    conversion = [row for row in after if row[0] == "conversion_cac"]
    assert conversion and all(value is None for *_, value in conversion)


def test_lifetime_value_compares_closed_and_open_cohorts(rows) -> None:
    """The demo's GA4 export reaches 19 March (the days before its "today", 20 March) and
    the window is 14 days: the cohorts of the days up to 6 March are closed (6 + 13 = 19),
    so the weeks up to that of 24 February are complete, the week of 3 March covers 4 of
    its days, the week of 10 March none; every week holds customers. Only complete weeks
    are compared. (The numbers themselves are the reference's, above.)"""
    production, _ = rows["week"]
    ltv = {start: row for (start, kpi, key), row in production.items()
           if kpi == "lifetime_value" and key == "all"}
    coverage = {start: row["coverage_days"] for start, row in ltv.items()}
    assert coverage == {date(2025, 2, 3): 7, date(2025, 2, 10): 7, date(2025, 2, 17): 7,
                        date(2025, 2, 24): 7, date(2025, 3, 3): 4, date(2025, 3, 10): 0}
    assert all(row["denominator"] and row["denominator"] > 0 for row in ltv.values())
    assert all(row["value"] > 0 for row in ltv.values())
    # the week of 3 February's previous one, from 27 January, is complete too
    assert {start for start, row in ltv.items() if row["previous_value"] is not None} == {
        date(2025, 2, 3), date(2025, 2, 10), date(2025, 2, 17), date(2025, 2, 24)}
    assert "within 14 days of the first purchase" in ltv[date(2025, 2, 3)]["definition"]
