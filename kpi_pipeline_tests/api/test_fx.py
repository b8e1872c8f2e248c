"""The FX connector against the loopback server: same request, same rows as the demo."""

from __future__ import annotations

from datetime import date

import pandas as pd

from kpi_pipeline.lib.demo.client import DemoClient
from kpi_pipeline.lib.parsers import parse_window
from kpi_pipeline.lib.streams import STREAMS_BY_NAME

DAYS = [date(2025, 3, 14), date(2025, 3, 15)]  # a Friday and the Saturday using its fixing


def test_fx_rates_match_the_demo_rows(replay, api_client, replay_world):
    replay.serve(["fx_rates"], DAYS)
    client = api_client("fx")
    stream = STREAMS_BY_NAME["fx_rates"]
    for day in DAYS:
        api = parse_window("fx_rates", [client.pull_envelope(stream, day)])
        demo = parse_window("fx_rates",
                            [DemoClient.for_world(replay_world).pull_envelope(stream, day)])
        pd.testing.assert_frame_equal(api.drop(columns="pulled_at"),
                                      demo.drop(columns="pulled_at"))
    assert replay.unmatched == []
    saturday = parse_window("fx_rates", [client.pull_envelope(stream, DAYS[1])])
    assert set(saturday["fixing_date"].astype(str)) == {"2025-03-14"}
