"""Partition writes: idempotent, transactional, and a failed write keeps the old rows."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

import kpi_pipeline.lib.normalized.store as store
from kpi_pipeline.lib.core.schemas import FX_DAILY, coerce_frame
from kpi_pipeline.lib.normalized.store import ensure_tables, replace_window


def fx_rows(day: str, rate: float) -> pd.DataFrame:
    return coerce_frame(FX_DAILY, pd.DataFrame({
        "report_date": [day], "currency": ["EUR"], "reporting_currency": ["USD"],
        "rate": [rate], "fixing_date": [day], "source_stream": ["fx_rates"],
        "api_version": ["v1"], "pulled_at": ["2025-03-04T06:00:00Z"],
    }))


@pytest.fixture
def conn(tmp_path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "t.duckdb"))
    ensure_tables(conn)
    yield conn
    conn.close()


def rates(conn) -> list[tuple]:
    return conn.execute("SELECT report_date, rate FROM normalized.fx_daily ORDER BY 1").fetchall()


def test_replace_window_twice_leaves_one_copy(conn):
    for _ in range(3):
        replace_window(conn, FX_DAILY, fx_rows("2025-03-03", 1.05), date(2025, 3, 3),
                       date(2025, 3, 3))
    assert rates(conn) == [(date(2025, 3, 3), 1.05)]


def test_replace_window_only_touches_its_window(conn):
    replace_window(conn, FX_DAILY, fx_rows("2025-03-03", 1.05), date(2025, 3, 3), date(2025, 3, 3))
    replace_window(conn, FX_DAILY, fx_rows("2025-03-04", 1.07), date(2025, 3, 4), date(2025, 3, 4))
    replace_window(conn, FX_DAILY, fx_rows("2025-03-04", 1.08), date(2025, 3, 4), date(2025, 3, 4))
    assert rates(conn) == [(date(2025, 3, 3), 1.05), (date(2025, 3, 4), 1.08)]


def test_failed_insert_rolls_back_the_delete(conn):
    replace_window(conn, FX_DAILY, fx_rows("2025-03-03", 1.05), date(2025, 3, 3), date(2025, 3, 3))
    duplicate = pd.concat([fx_rows("2025-03-03", 1.2), fx_rows("2025-03-03", 1.3)])
    with pytest.raises(duckdb.ConstraintException):
        replace_window(conn, FX_DAILY, duplicate, date(2025, 3, 3), date(2025, 3, 3))
    assert rates(conn) == [(date(2025, 3, 3), 1.05)]


def test_columns_must_match_the_table(conn):
    with pytest.raises(ValueError, match="do not match"):
        replace_window(conn, FX_DAILY, fx_rows("2025-03-03", 1.0).iloc[:, ::-1],
                       date(2025, 3, 3), date(2025, 3, 3))


def test_a_store_made_before_the_objective_gains_it(tmp_path):
    """An ad_daily written before campaign objectives and attribution settings were stored
    gains the columns as its last ones (NULL on the old rows: not reported, unknown), and
    takes new rows with them."""
    from dataclasses import replace

    from kpi_pipeline.lib.core.schemas import AD_DAILY, ddl

    old = replace(AD_DAILY, columns=tuple(c for c in AD_DAILY.columns
                                          if c.name not in ("objective", "attribution_setting")))
    conn = duckdb.connect(str(tmp_path / "old.duckdb"))
    conn.execute("CREATE SCHEMA normalized")
    conn.execute(ddl(old))
    row = {"report_date": "2025-03-03", "platform": "meta", "ad_account_id": "act_1",
           "brand": "b", "campaign_id": "1", "campaign_name": "C", "currency": "EUR",
           "spend": 10.0, "reporting_currency": "EUR", "fx_rate": 1.0, "spend_reporting": 10.0,
           "source_stream": "meta_ads", "api_version": "v24.0",
           "pulled_at": "2025-03-04T06:00:00Z"}
    conn.execute(f"INSERT INTO normalized.ad_daily BY NAME SELECT "
                 f"{', '.join(f'${k} AS {k}' for k in row)}", row)

    for _ in range(2):  # idempotent
        ensure_tables(conn)
    columns = [name for (name,) in conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'normalized' "
        "AND table_name = 'ad_daily' ORDER BY column_index").fetchall()]
    assert columns == AD_DAILY.column_names
    assert conn.execute("SELECT objective, attribution_setting "
                        "FROM normalized.ad_daily").fetchall() == [(None, None)]

    new = coerce_frame(AD_DAILY, pd.DataFrame([{**row, "report_date": "2025-03-04",
                                                 "objective": "conversions",
                                                 "attribution_setting": "7d_click,1d_view"}]))
    replace_window(conn, AD_DAILY, new, date(2025, 3, 4), date(2025, 3, 4))
    assert conn.execute("SELECT report_date, objective, attribution_setting "
                        "FROM normalized.ad_daily ORDER BY 1").fetchall() == [
        (date(2025, 3, 3), None, None), (date(2025, 3, 4), "conversions", "7d_click,1d_view")]
    conn.close()


def test_a_serialization_failure_is_rolled_back_and_run_again(conn, monkeypatch):
    """The PostgreSQL store aborts one of two transactions writing the same rows at once
    ("could not serialize access"): the window's write is rolled back whole and run
    again; any other error is raised at once."""
    replace_window(conn, FX_DAILY, fx_rows("2025-03-03", 1.05), date(2025, 3, 3),
                   date(2025, 3, 3))
    real, calls = store._insert, []

    def aborted_once(conn, table, target, frame):
        calls.append(target)
        real(conn, table, target, frame)  # inserted, then the server aborts the commit
        if len(calls) == 1:
            raise duckdb.TransactionException(
                "could not serialize access due to concurrent update")

    monkeypatch.setattr(store, "_insert", aborted_once)
    monkeypatch.setattr(store, "wait_random_exponential", lambda **_: lambda state: 0)
    replace_window(conn, FX_DAILY, fx_rows("2025-03-03", 1.07), date(2025, 3, 3),
                   date(2025, 3, 3))
    assert len(calls) == 2
    assert rates(conn) == [(date(2025, 3, 3), 1.07)]  # one copy: the first try rolled back

    def broken(conn, table, target, frame):
        calls.append(target)
        raise duckdb.ConstraintException("a real error")

    monkeypatch.setattr(store, "_insert", broken)
    with pytest.raises(duckdb.ConstraintException):
        replace_window(conn, FX_DAILY, fx_rows("2025-03-03", 1.09), date(2025, 3, 3),
                       date(2025, 3, 3))
    assert len(calls) == 3
    assert rates(conn) == [(date(2025, 3, 3), 1.07)]
