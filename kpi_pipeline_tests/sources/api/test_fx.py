"""The FX connector against the loopback server: same request, same rows as the demo."""

from __future__ import annotations

from datetime import date

from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.normalized.parsing import parse_window
from kpi_pipeline_tests.sources.api.replay import assert_demo_rows

DAYS = [date(2025, 3, 14), date(2025, 3, 15)]  # a Friday and the Saturday using its fixing


def test_fx_rates_match_the_demo_rows(replay, api_client, replay_world):
    replay.serve(["fx_rates"], DAYS)
    client = api_client("fx")
    stream = STREAMS_BY_NAME["fx_rates"]
    for day in DAYS:
        assert_demo_rows(client, replay_world, "fx_rates", day)
    assert replay.unmatched == []
    saturday = parse_window("fx_rates", [client.pull_envelope(stream, DAYS[1])])
    assert set(saturday["fixing_date"].astype(str)) == {"2025-03-14"}
