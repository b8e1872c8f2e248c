"""Helpers the parser tests share: demo envelopes through the real client, row lookup."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from kpi_pipeline.lib.core.landing import Envelope
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline.lib.sources.demo.world import World


def demo_envelope(world: World, stream: str, day: date) -> Envelope:
    """The landing envelope the demo client pulls for ``stream`` and ``day``."""
    return DemoClient.for_world(world).pull_envelope(STREAMS_BY_NAME[stream], day)


def one(df: pd.DataFrame, **keys: Any) -> pd.Series:
    """The single row of ``df`` matching ``keys`` (fails unless exactly one matches)."""
    mask = pd.Series(True, index=df.index)
    for column, value in keys.items():
        mask &= df[column] == value
    assert mask.sum() == 1, keys
    return df[mask].iloc[0]
