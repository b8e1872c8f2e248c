"""Weekly, monthly and quarterly KPIs computed inside DuckDB, in a long format.

One row per (period, KPI, scope) keeps the numerator and denominator beside the value,
so any roll-up can be recomputed exactly (sum the numerators, sum the denominators,
divide). Next to each value: the previous period's value and the same period a year
earlier (52 weeks, 12 months, 4 quarters), computed in the same statement, and the
row's coverage: how many days of its period hold rows of every table the KPI reads, for
that scope, out of the period's days. A comparison is made only between two periods
covered enough (``MIN_COVERAGE_SHARE``): a first week the data covers for one day is not
a "last week" to compare with.

Nothing is loaded into pandas: the whole computation is one INSERT ... SELECT.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd

from kpi_pipeline.lib.core.periods import (
    TABLE_FOR_GRAIN,
    YEAR_PERIODS,
    first_period_from,
    period_first_day,
    period_last_day,
    shift_period,
    sql_step,
)
from kpi_pipeline.lib.kpis.attribution import ensure_attribution_tables
from kpi_pipeline.lib.kpis.catalog import Kpi, catalog, summed_formula
from kpi_pipeline.lib.kpis.facts import SOURCES, Source
from kpi_pipeline.lib.normalized.store import ensure_tables, transaction

SCHEMA = "kpi"
KPI_COLUMNS = (
    ("period_start", "DATE NOT NULL"), ("period_end", "DATE NOT NULL"),
    ("grain", "VARCHAR NOT NULL"), ("kpi", "VARCHAR NOT NULL"), ("scope", "VARCHAR NOT NULL"),
    ("scope_key", "VARCHAR NOT NULL"), ("brand", "VARCHAR"), ("platform", "VARCHAR"),
    ("account_id", "VARCHAR"), ("campaign_id", "VARCHAR"), ("media_type", "VARCHAR"),
    ("unit", "VARCHAR NOT NULL"), ("definition", "VARCHAR NOT NULL"),
    ("numerator", "DOUBLE"), ("denominator", "DOUBLE"), ("value", "DOUBLE"),
    ("previous_value", "DOUBLE"), ("change_vs_previous", "DOUBLE"),
    ("year_ago_value", "DOUBLE"), ("change_vs_year_ago", "DOUBLE"),
    # Coverage: the days of the period on which every table the KPI reads holds a row of
    # the scope (on the KPI's platforms), and the period's length. Last, because a store
    # made before them gains them with ALTER TABLE ... ADD COLUMN, which appends.
    ("coverage_days", "INTEGER"), ("period_days", "INTEGER"),
)
COVERAGE_COLUMNS = ("coverage_days", "period_days")
# A period is complete enough to be compared when its data covers at least this share of
# its days (1.0: every day). Previous-period and year-ago values and changes are computed
# only between two such periods; otherwise they are NULL.
MIN_COVERAGE_SHARE = 1.0
KPI_KEY = ("period_start", "kpi", "scope_key")
DIVISION_SETTINGS = ("ieee_floating_point_ops", "error_on_division_by_zero")

# The dimensions a scope groups by, and how its key reads.
SCOPE_DIMS = {
    "all": (),
    "brand": ("brand",),
    "platform": ("platform",),
    "account": ("platform", "account_id", "brand"),
    "campaign": ("platform", "account_id", "campaign_id", "brand"),
    "media_type": ("media_type",),
}
SCOPE_KEY = {
    "all": "'all'",
    "brand": "brand",
    "platform": "platform",
    "account": "platform || '/' || account_id",
    "campaign": "platform || '/' || account_id || '/' || campaign_id",
    "media_type": "media_type",
}
ALL_DIMS = ("brand", "platform", "account_id", "campaign_id", "media_type")


def kpi_ddl(grain: str) -> str:
    cols = ",\n  ".join(f"{name} {kind}" for name, kind in KPI_COLUMNS)
    return (f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE_FOR_GRAIN[grain]} (\n  {cols},\n"
            f"  PRIMARY KEY ({', '.join(KPI_KEY)})\n)")


def ensure_kpi_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the KPI tables, and give tables made before the coverage columns existed
    those columns (NULL on the rows already stored: their coverage is unknown until their
    periods are computed again)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    kinds = dict(KPI_COLUMNS)
    for grain, table in TABLE_FOR_GRAIN.items():
        conn.execute(kpi_ddl(grain))
        for column in COVERAGE_COLUMNS:
            conn.execute(f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS "
                         f"{column} {kinds[column]}")


def complete_sql(alias: str, min_share: float = MIN_COVERAGE_SHARE) -> str:
    """SQL true when the KPI row ``alias`` covers at least ``min_share`` of its period's
    days, enough to be compared; NULL coverage (a row stored before coverage existed)
    never does."""
    return f"({alias}.coverage_days >= {alias}.period_days * {float(min_share)!r})"


def fact_ranges(first: date, last: date, grain: str) -> list[tuple[date, date]]:
    """The days whose facts the KPIs of the periods starting in [first, last] read, as
    whole periods: those periods and the one before each (previous values), and the same
    periods a year earlier (year-ago values); one range when the two touch.

    The facts of a day depend on that day's rows only (post activity is stored as daily
    increments; a level's start is read from the day before its period), so a weekly run
    reads 3 weeks instead of the 54 from the year-ago week to its own.
    """
    lo, last_period = first_period_from(first, grain), period_first_day(last, grain)
    year = YEAR_PERIODS[grain]
    recent = (shift_period(lo, grain, -1), period_last_day(last, grain))
    year_ago = (shift_period(lo, grain, -year),
                period_last_day(shift_period(last_period, grain, -year), grain))
    if year_ago[1] + timedelta(days=1) >= recent[0]:
        return [(year_ago[0], recent[1])]
    return [year_ago, recent]


def _base(source: Source) -> str:
    """The source's facts summed per period and every dimension they carry (and the
    platform they came from): one pass over the facts, which the scopes then roll up
    (a sum of sums is the sum, NULLs included, and a group exists iff a fact does)."""
    columns = ", ".join(("period_start", *source.dims,
                         *(() if "platform" in source.dims else ("platform",))))
    measures = ", ".join([*(f"sum({expr}) AS {name}" for name, expr in source.measures.items()),
                          *(f"bit_or({mask}) AS {mask}" for mask in source.day_masks)])
    return (f"SELECT {columns}, {measures} FROM facts_{source.name} "
            f"GROUP BY {columns}")


def _aggregate(source: Source, grain: str, scopes: tuple[str, ...] | None = None) -> str:
    """Sums of every measure per period, scope and member platform, scopes stacked
    (``scopes``: only those), rolled up from ``base_<source>`` (``_base``).

    Rows stay split by the platform they came from (``member_platform``) even for the
    all, brand and media-type scopes, so each KPI can add up only the platforms it is
    defined on: Instagram reels have no completions and must not dilute the all-platform
    completion rate.
    """
    measures = ", ".join([*(f"sum({name}) AS {name}" for name in source.measures),
                          *(f"bit_or({mask}) AS {mask}" for mask in source.day_masks)])
    selects = []
    for scope in scopes or source.scopes:
        dims = SCOPE_DIMS[scope]
        dim_cols = ", ".join(d if d in dims else f"NULL::VARCHAR AS {d}" for d in ALL_DIMS)
        group = ", ".join(("period_start", *dims, "member_platform"))
        # rows without the scope's dimension (a social session from a platform we do not
        # track) count in the all and brand totals but have no platform row of their own
        known = " AND ".join(f"{d} IS NOT NULL" for d in dims) or "TRUE"
        selects.append(f"SELECT period_start, '{scope}' AS scope, {SCOPE_KEY[scope]} AS "
                       f"scope_key, {dim_cols}, member_platform, {measures} "
                       f"FROM (SELECT *, platform AS member_platform FROM base_{source.name}) "
                       f"WHERE {known} GROUP BY {group}")
    return "\n    UNION ALL ".join(selects)


def _member(platforms: str) -> str:
    return f"member_platform IS NULL OR member_platform IN ({platforms})"


def _member_flags(kpis: list[Kpi]) -> dict[tuple[str, ...], str]:
    """A column name per distinct set of platforms the KPIs are defined on: the wide
    table computes each set's membership test once per agg row as a boolean column,
    instead of spelling the test out in every KPI's filters (a shorter statement for
    DuckDB to parse and bind: about a tenth of its planning)."""
    flags: dict[tuple[str, ...], str] = {}
    for kpi in kpis:
        flags.setdefault(tuple(kpi.platforms), f"member__{len(flags)}")
    return flags


def _member_flag_columns(flags: dict[tuple[str, ...], str]) -> str:
    def quoted(platforms: tuple[str, ...]) -> str:
        return ", ".join(f"'{p}'" for p in platforms)

    return ", ".join(f"{_member(quoted(platforms))} AS {flag}"
                     for platforms, flag in flags.items())


def _kpi_columns(kpi: Kpi, member: str) -> str:
    """One KPI's numerator, denominator, member row count and covered days over a group
    of agg rows: its measures summed over the platforms it is defined on (and rows of no
    platform: email lists, CAC), the rows where the boolean column ``member`` holds, then
    its formula (checked at load) applied to those sums; the days are those whose bit is
    set in the day mask of every table its source reads, over the same platforms."""
    denominator = (f"({summed_formula(kpi.denominator, member)})"
                   if kpi.denominator else "NULL::DOUBLE")
    masks = " & ".join(f"coalesce(bit_or({mask}) FILTER (WHERE {member}), 0)"
                       for mask in SOURCES[kpi.source].day_masks)
    return (f"CAST(({summed_formula(kpi.numerator, member)}) AS DOUBLE) "
            f"AS num__{kpi.name}, CAST({denominator} AS DOUBLE) AS den__{kpi.name}, "
            f"count(*) FILTER (WHERE {member}) AS rows__{kpi.name}, "
            f"CAST(bit_count({masks}) AS INTEGER) AS cov__{kpi.name}")


def _kpi_select(kpi: Kpi) -> str:
    """One KPI's rows, from its source's wide table: a row for each period and scope it
    is computed for where a fact of its platforms exists."""
    scopes = ", ".join(f"'{s}'" for s in kpi.computed_scopes)
    keys = ", ".join(("period_start", "scope", "scope_key", *ALL_DIMS))
    return (f"SELECT {keys}, '{kpi.name}' AS kpi, num__{kpi.name} AS numerator, "
            f"den__{kpi.name} AS denominator, cov__{kpi.name} AS coverage_days "
            f"FROM wide_{kpi.source} "
            f"WHERE rows__{kpi.name} > 0 AND scope IN ({scopes})")


def _kpi_rows_ctes(grain: str, kpis: list[Kpi], ranges: int | None = None) -> str:
    """CTEs ending in ``kpi_rows``: each KPI's numerator and denominator per period and
    scope. The facts cover [$lo, $hi], or with ``ranges`` the disjoint day ranges
    [$from0, $to0], [$from1, $to1], ... (``fact_ranges``).

    Per source: its facts, summed once per period and dimension (``base``), rolled up to
    every scope (``agg``), then every KPI of the source computed in ONE pass over those
    groups (``wide``, a column trio per KPI) rather than a GROUP BY per KPI.
    """
    keys = ", ".join(("period_start", "scope", "scope_key", *ALL_DIMS))
    ctes = []
    for name in sorted({k.source for k in kpis}):
        facts = SOURCES[name].select(grain)
        if ranges is not None:
            facts = "\n    UNION ALL".join(
                facts.replace("$lo", f"$from{i}").replace("$hi", f"$to{i}")
                for i in range(ranges))
        of_source = [k for k in kpis if k.source == name]
        flags = _member_flags(of_source)
        columns = ",\n    ".join(_kpi_columns(k, flags[tuple(k.platforms)])
                                  for k in of_source)
        ctes.append(f"facts_{name} AS ({facts})")
        ctes.append(f"base_{name} AS MATERIALIZED ({_base(SOURCES[name])})")
        ctes.append(f"agg_{name} AS ({_aggregate(SOURCES[name], grain)})")
        ctes.append(f"wide_{name} AS MATERIALIZED (SELECT {keys},\n    {columns}\n"
                    f"  FROM (SELECT *, {_member_flag_columns(flags)} FROM agg_{name}) "
                    f"GROUP BY {keys})")
    rows = "\n  UNION ALL ".join(_kpi_select(k) for k in kpis)
    return ",\n".join([*ctes, f"kpi_rows AS ({rows})"])


def kpi_range_sql(kpi: Kpi) -> str:
    """One KPI over the single period [$lo, $hi] for every scope: numerator, denominator,
    value. The same facts and formulas as the weekly and monthly KPIs, so a goal's value
    over its window is computed exactly as its KPI is everywhere else."""
    value = ("CASE WHEN denominator = 0 THEN NULL WHEN denominator IS NULL THEN "
             f"{'NULL' if kpi.denominator else 'numerator'} "
             "ELSE numerator / denominator END")
    return f"""
WITH {_kpi_rows_ctes("range", [kpi])}
SELECT scope, scope_key, numerator, denominator, {value} AS value FROM kpi_rows"""


def kpi_range(conn: duckdb.DuckDBPyConnection, kpi: Kpi, first: date, last: date,
              scope_key: str) -> tuple[float | None, float | None, float | None]:
    """(numerator, denominator, value) of ``kpi`` over [first, last] at one scope; all
    None when the scope has no data in the range."""
    row = conn.execute(f"SELECT numerator, denominator, value FROM ({kpi_range_sql(kpi)}) "
                       "WHERE scope_key = $key",
                       {"lo": first, "hi": last, "key": scope_key}).fetchone()
    return row if row else (None, None, None)


def kpi_running_sql(kpi: Kpi, restart: str | None = None, window: int | None = None,
                    scope: str | None = None) -> str:
    """The SELECT of ``kpi_running``: (through, value) for every day of [$lo, $hi] at the
    scope key $key (see ``kpi_running`` for ``restart``, ``window`` and ``scope``)."""
    source = SOURCES[kpi.source]
    denominator = summed_formula(kpi.denominator) if kpi.denominator else "NULL"
    platforms = ", ".join(f"'{p}'" for p in kpi.platforms)
    scopes = ", ".join(f"'{s}'" for s in kpi.computed_scopes)
    picked = ", ".join(
        f"CASE WHEN a.period_start = d.through THEN a.{m} END AS {m}" if m in source.at_end
        else f"CASE WHEN a.period_start = d.lower THEN a.{m} END AS {m}"
        if m in source.at_start else f"a.{m}" for m in source.measures)
    lower = "CAST($lo AS DATE)"
    if restart is not None:
        lower = f"greatest({lower}, CAST(date_trunc('{restart}', through) AS DATE))"
    elif window is not None:
        lower = f"greatest({lower}, CAST(through - INTERVAL {int(window) - 1} day AS DATE))"
    scopes_read = (scope,) if scope is not None else None
    # one scope reads base once: left inline, the scope key's filter reaches the scan
    base = "" if scope is not None else "MATERIALIZED "
    return f"""
        WITH facts_{source.name} AS ({source.select("day")}),
        base_{source.name} AS {base}({_base(source)}),
        agg AS ({_aggregate(source, "day", scopes_read)}),
        days AS (SELECT through, {lower} AS lower
                 FROM (SELECT CAST(unnest(generate_series(CAST($lo AS DATE), CAST($hi AS DATE),
                                                          INTERVAL 1 day)) AS DATE) AS through)),
        picked AS (
          SELECT d.through, {picked}
          FROM days d JOIN agg a ON a.period_start BETWEEN d.lower AND d.through
          WHERE a.scope_key = $key AND a.scope IN ({scopes})
            AND (a.member_platform IS NULL OR a.member_platform IN ({platforms}))),
        running AS (
          SELECT through, CAST(({summed_formula(kpi.numerator)}) AS DOUBLE) AS numerator,
                 CAST(({denominator}) AS DOUBLE) AS denominator
          FROM picked GROUP BY through)
        SELECT through, CASE WHEN {'denominator = 0 OR denominator IS NULL' if kpi.denominator
                                   else 'FALSE'} THEN NULL
                        WHEN {'TRUE' if kpi.denominator else 'FALSE'}
                          THEN numerator / denominator ELSE numerator END
        FROM running"""


def kpi_running(conn: duckdb.DuckDBPyConnection, kpi: Kpi, first: date, last: date,
                scope_key: str, restart: str | None = None, window: int | None = None,
                scope: str | None = None) -> dict[date, float | None]:
    """The KPI's value over [first, t] for every day t in [first, last], at one scope.

    Measures are summed per day once and accumulated before the formula is applied, so
    the value on each day is exactly ``kpi_range(first, t)``; levels (followers, list
    members) are not accumulated but read on t (``Source.at_end``) or on the day before
    the range (``Source.at_start``). With ``restart`` ("week" or "month") the
    accumulation starts again at each period (recurring targets); with ``window`` it
    covers only the last ``window`` days up to t (trends). One query for all days.

    ``scope`` (the kind of ``scope_key``: brand, platform, ...) lets DuckDB read only that
    scope's facts (a brand's or a platform's rows) instead of rolling up every scope and
    keeping one; without it every scope the KPI is computed for is searched for the key.
    """
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    rows = conn.execute(kpi_running_sql(kpi, restart, window, scope),
                        {"lo": first, "hi": last, "key": scope_key}).fetchall()
    values = dict.fromkeys(days)
    values.update({through: value for through, value in rows})
    return values


def kpi_sql(grain: str, kpis: dict[str, Kpi] | None = None, ranges: int = 2,
            min_coverage_share: float = MIN_COVERAGE_SHARE) -> str:
    """The SELECT computing every KPI for periods starting in [$lo, $hi], with comparisons
    between periods both covered at least ``min_coverage_share`` (tests of the comparison
    arithmetic on sparse hand fixtures pass 0).

    Parameters: $lo, $hi (the target window) and, for each of the ``ranges`` day ranges of
    ``fact_ranges``, $from<i> and $to<i>: facts are aggregated over those days only, so
    each period has its previous and year-ago values and the last period is whole.
    """
    kpis = kpis or catalog()
    wanted = [k for k in kpis.values() if grain in k.grains]
    ctes = _kpi_rows_ctes(grain, wanted, ranges)
    step, year = sql_step(grain), sql_step(grain, YEAR_PERIODS[grain])
    end = f"CAST(period_start + {step} - INTERVAL 1 day AS DATE)"
    value = ("CASE WHEN r.denominator IS NULL AND k.has_denominator THEN NULL "
             "WHEN k.has_denominator AND r.denominator = 0 THEN NULL "
             "WHEN k.has_denominator THEN r.numerator / r.denominator ELSE r.numerator END")

    def compared(alias: str, shift: str) -> str:
        # The start of the period row ``alias`` is compared with, NULL (matching no row)
        # when ``alias`` is not complete enough. Tested in the join key rather than as a
        # condition of its own: a LEFT JOIN condition on the left side alone makes DuckDB
        # 1.4 join every row with every row (a blockwise nested-loop join, quadratic in
        # the KPI rows: two thirds of a weekly run at 10M post-days, and minutes per 13
        # weeks of history there), where an equality of both sides is a hash join.
        return (f"CASE WHEN {complete_sql(alias, min_coverage_share)} "
                f"THEN CAST({alias}.period_start - {shift} AS DATE) END")

    return f"""
WITH {ctes},
valued AS (
  SELECT r.*, {value} AS value, k.unit,
         CAST({end.replace('period_start', 'r.period_start')} - r.period_start + 1
              AS INTEGER) AS period_days
  FROM kpi_rows r JOIN kpi_meta k ON k.kpi = r.kpi
)
SELECT c.period_start, {end.replace('period_start', 'c.period_start')} AS period_end,
       '{grain}' AS grain, c.kpi, c.scope, c.scope_key, c.brand, c.platform, c.account_id,
       c.campaign_id, c.media_type, c.unit,
       coalesce(d.definition, g.definition) AS definition,
       c.numerator, c.denominator, c.value,
       p.value AS previous_value,
       CASE WHEN p.value IS NULL OR p.value = 0 THEN NULL
            ELSE c.value / p.value - 1 END AS change_vs_previous,
       y.value AS year_ago_value,
       CASE WHEN y.value IS NULL OR y.value = 0 THEN NULL
            ELSE c.value / y.value - 1 END AS change_vs_year_ago,
       c.coverage_days, c.period_days
FROM valued c
-- comparisons only between periods both complete enough (MIN_COVERAGE_SHARE)
LEFT JOIN valued p ON p.kpi = c.kpi AND p.scope_key = c.scope_key
     AND p.period_start = {compared('c', step)} AND {complete_sql('p', min_coverage_share)}
LEFT JOIN valued y ON y.kpi = c.kpi AND y.scope_key = c.scope_key
     AND y.period_start = {compared('c', year)} AND {complete_sql('y', min_coverage_share)}
LEFT JOIN kpi_definitions d ON d.kpi = c.kpi AND d.platform = c.platform
JOIN kpi_definitions g ON g.kpi = c.kpi AND g.platform IS NULL
WHERE c.period_start BETWEEN $lo AND $hi
"""


def kpi_insert_sql(grain: str, kpis: dict[str, Kpi] | None = None, ranges: int = 2,
                   min_coverage_share: float = MIN_COVERAGE_SHARE) -> str:
    """The INSERT of ``replace_kpis``: ``kpi_sql``'s rows into the grain's table, every
    column named on both sides (what DuckDB's INSERT ... BY NAME does, in SQL other
    warehouses read too), so a table that gained the coverage columns late is filled by
    name."""
    columns = ", ".join(name for name, _ in KPI_COLUMNS)
    return (f"INSERT INTO {SCHEMA}.{TABLE_FOR_GRAIN[grain]} ({columns})\n"
            f"SELECT {columns} FROM ({kpi_sql(grain, kpis, ranges, min_coverage_share)}) "
            "AS computed")


# In a definition, the cohort window the stored cohorts were built with (days).
WINDOW_PLACEHOLDER = "{window_days}"


def cohort_window_days(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The window of the stored customer cohorts (``attribution.cohort_purchases``), None
    when none is stored."""
    found = conn.execute("SELECT max(window_days) FROM attribution.cohort_purchases").fetchall()
    return None if found[0][0] is None else int(found[0][0])


def kpi_meta_frames(kpis: dict[str, Kpi] | None = None, window_days: int | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lookup tables the SQL joins: units and whether a KPI is a ratio; definitions, with
    the cohort window (``window_days``) written into the cohort KPIs' wording."""
    kpis = kpis or catalog()
    meta = pd.DataFrame({"kpi": list(kpis), "unit": [k.unit for k in kpis.values()],
                         "has_denominator": [k.denominator is not None for k in kpis.values()]})
    window = str(window_days) if window_days is not None else "N (no cohort stored yet)"
    rows = []
    for k in kpis.values():
        rows.append({"kpi": k.name, "platform": None, "definition": k.definition_for(None)})
        rows += [{"kpi": k.name, "platform": p, "definition": k.definition_for(p)}
                 for p in k.platforms]
    for row in rows:
        row["definition"] = row["definition"].replace(WINDOW_PLACEHOLDER, window)
    definitions = pd.DataFrame(rows).astype({"platform": "string"})
    return meta, definitions


def replace_kpis(conn: duckdb.DuckDBPyConnection, grain: str, first: date, last: date,
                 kpis: dict[str, Kpi] | None = None,
                 min_coverage_share: float = MIN_COVERAGE_SHARE) -> int:
    """Recompute the KPIs of every period starting in [first, last] in one transaction
    (comparisons as ``kpi_sql`` makes them)."""
    ensure_tables(conn)  # a source added since the last pull reads as empty, not missing
    ensure_attribution_tables(conn)  # the attributed revenue reads attribution's view
    ensure_kpi_tables(conn)
    meta, definitions = kpi_meta_frames(kpis, cohort_window_days(conn))
    conn.register("kpi_meta", meta)
    conn.register("kpi_definitions", definitions)
    table = f"{SCHEMA}.{TABLE_FOR_GRAIN[grain]}"
    ranges = fact_ranges(first, last, grain)
    params = {"lo": first, "hi": last,
              **{f"from{i}": lo for i, (lo, _) in enumerate(ranges)},
              **{f"to{i}": hi for i, (_, hi) in enumerate(ranges)}}
    # A division by zero anywhere in a formula gives NULL, never infinity or NaN; the
    # caller's own settings come back afterwards.
    # (DuckDB 1.4 has only the first setting; 2.0 added the second.)
    saved = dict(conn.execute(
        "SELECT name, value = 'true' FROM duckdb_settings() WHERE list_contains(?, name)",
        [list(DIVISION_SETTINGS)]).fetchall())
    for name in saved:
        conn.execute(f"SET {name} = false")
    try:
        with transaction(conn):
            conn.execute(f"DELETE FROM {table} WHERE period_start BETWEEN ? AND ?",
                         [first, last])
            conn.execute(kpi_insert_sql(grain, kpis, len(ranges), min_coverage_share),
                         params)
            count = conn.execute(f"SELECT count(*) FROM {table} WHERE period_start "
                                 "BETWEEN ? AND ?", [first, last]).fetchone()[0]
    finally:
        conn.unregister("kpi_meta")
        conn.unregister("kpi_definitions")
        for name, value in saved.items():
            conn.execute(f"SET {name} = {bool(value)}")
    return count
