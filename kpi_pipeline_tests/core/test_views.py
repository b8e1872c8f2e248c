"""``create_views`` on a DuckDB store: a view is made again only when its definition
changed or it no longer binds (the PostgreSQL side is tested in ops/test_postgres_store)."""

from __future__ import annotations

import duckdb

from kpi_pipeline.lib.core.postgres_store import create_views


def _comment(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.execute("SELECT comment FROM duckdb_views() WHERE schema_name = 's' "
                        "AND view_name = 'v'").fetchall()


def test_a_view_is_made_once_then_again_when_it_changes_or_no_longer_binds():
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA s")
    conn.execute("CREATE TABLE s.t (a INTEGER, b INTEGER)")
    conn.execute("INSERT INTO s.t VALUES (1, 2)")
    create_views(conn, {"s.v": "SELECT * FROM s.t"})
    first = _comment(conn)
    assert first[0][0].startswith("kpi_pipeline ")
    # unchanged: left alone (a view made by hand under the same comment stays as it is)
    conn.execute("CREATE OR REPLACE VIEW s.v AS SELECT a, b FROM s.t WHERE a > 5")
    conn.execute(f"COMMENT ON VIEW s.v IS '{first[0][0]}'")
    create_views(conn, {"s.v": "SELECT * FROM s.t"})
    assert conn.execute("SELECT * FROM s.v").fetchall() == []
    # its table changes shape: DuckDB refuses the old view, which is made again
    conn.execute("CREATE OR REPLACE VIEW s.v AS SELECT * FROM s.t")
    conn.execute(f"COMMENT ON VIEW s.v IS '{first[0][0]}'")
    conn.execute("ALTER TABLE s.t ADD COLUMN c INTEGER")
    create_views(conn, {"s.v": "SELECT * FROM s.t"})
    assert conn.execute("SELECT * FROM s.v").fetchall() == [(1, 2, None)]
    assert _comment(conn) == first
    # a new definition replaces it
    create_views(conn, {"s.v": "SELECT a FROM s.t"})
    assert conn.execute("SELECT * FROM s.v").fetchall() == [(1,)]
    assert _comment(conn) != first
    conn.close()
