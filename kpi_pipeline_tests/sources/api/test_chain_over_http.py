"""The raw -> normalized chain, unchanged, on the real API clients over loopback HTTP.

The loopback server answers from the same demo world the demo client simulates, so a
chain on ``ApiPlatforms`` must store exactly the normalized rows a chain on
``DemoPlatforms`` stores (pull times aside). Tokens come from environment variables
through ``dg.EnvVar``; afterwards the token is searched for in every log line, landing
file and stored text value.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import dagster as dg
import pytest

from kpi_pipeline.defs.raw.assets import raw_assets
from kpi_pipeline.defs.resources import ApiPlatforms, Settings, Warehouse
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.core.streams import STREAMS
from kpi_pipeline.lib.sources.api.connectors import CONNECTORS
from kpi_pipeline.lib.sources.demo.payloads_meta import DEMO_ATTRIBUTION_WINDOWS
from kpi_pipeline_tests.conftest import DEMO_TODAY
from kpi_pipeline_tests.defs.test_chain import FIRST, LAST, materialize
from kpi_pipeline_tests.sources.api.conftest import REPLAY_TODAY

pytestmark = pytest.mark.slow

DAYS = [FIRST.fromordinal(d) for d in range(FIRST.toordinal(), LAST.toordinal() + 1)]
SERVED = [s.name for s in STREAMS if s.name != "mailchimp_list"]  # no Mailchimp connector


def api_resources(tmp_path: Path, url: str, accounts_file: Path) -> dict[str, object]:
    """ApiPlatforms on the loopback server, every token read from its variable."""
    tokens = {f"{name}_token": dg.EnvVar(c.token_env) for name, c in CONNECTORS.items()
              if c.token_env}
    urls = {f"{name}_url": url for name in CONNECTORS}
    return {
        "warehouse": Warehouse(database=str(tmp_path / "api.duckdb")),
        "settings": Settings(landing_dir=str(tmp_path / "api_landing"), reporting_currency="USD"),
        "platforms": ApiPlatforms(accounts_file=str(accounts_file), today=REPLAY_TODAY.isoformat(),
                                  meta_attribution_windows=",".join(DEMO_ATTRIBUTION_WINDOWS),
                                  **tokens, **urls),
    }


def rows(resources, table: str) -> list[tuple]:
    columns = [c for c in TABLES[table].column_names if c != "pulled_at"]
    with resources["warehouse"].get_connection(read_only=True) as conn:
        return conn.execute(f"SELECT {', '.join(columns)} FROM normalized.{table} "
                            "ORDER BY ALL").fetchall()


def test_the_chain_stores_the_demo_rows_and_never_the_token(
        tmp_path, replay, accounts_file, resources, monkeypatch, caplog, capfd):
    assert REPLAY_TODAY == DEMO_TODAY
    for connector in CONNECTORS.values():
        if connector.token_env:
            monkeypatch.setenv(connector.token_env, replay.token)
    caplog.set_level(logging.DEBUG)
    api = api_resources(tmp_path, replay.url, accounts_file)
    for day in DAYS:  # one pull run per day of the week, as the mornings pull them
        replay.serve_day(SERVED, day)  # lifetime snapshots are asked without a date
        config = {f"raw__{a.key.path[1]}": {"config": {"days": [day.isoformat()]}}
                  for a in raw_assets}
        assert dg.materialize(raw_assets, resources=api, partition_key=FIRST.isoformat(),
                              run_config={"ops": config}).success
    assert materialize(api, selection=dg.AssetSelection.groups("normalized")).success
    assert materialize(resources).success  # the demo chain, same world, same days

    assert replay.unmatched == []
    for table in TABLES:
        if table == "email_daily":
            continue
        api_rows = rows(api, table)
        assert api_rows, table
        assert api_rows == rows(resources, table), table
    assert rows(api, "email_daily") == []  # no Mailchimp connector: unserved, not invented

    # every request carried its credential in a header, none in a query string
    assert all(replay.token not in str(seen.query) for seen in replay.seen)
    assert sum(replay.token in str(seen.headers) for seen in replay.seen) == len(replay.seen) - \
        len(replay.requests_to(r"^/v1/\d"))  # the FX reference API takes no credential

    logs = caplog.text + "".join(capfd.readouterr())
    assert "STEP_SUCCESS" in logs  # the run's own log lines were captured
    assert replay.token not in logs
    landing = [gzip.decompress(p.read_bytes()).decode()
               for p in (tmp_path / "api_landing").rglob("*.json.gz")]
    assert len(landing) == len(STREAMS) * len(DAYS)
    assert all(replay.token not in text for text in landing)
    with api["warehouse"].get_connection(read_only=True) as conn:
        text_columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR'").fetchall()
        for schema, table, column in text_columns:
            hits = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}" '
                                f'WHERE "{column}" LIKE ?', [f"%{replay.token}%"]).fetchone()
            assert hits == (0,), (schema, table, column)
    assert replay.token.encode() not in (tmp_path / "api.duckdb").read_bytes()
