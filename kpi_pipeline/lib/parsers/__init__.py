"""Payload parsers: one per stream, turning a landing envelope into normalized rows.

The registry is assembled lazily so that importing one parser module does not import
the others (and so that a half-installed optional parser cannot break the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pandas as pd

from kpi_pipeline.lib.landing import Envelope

Parser = Callable[[Envelope], pd.DataFrame]


@cache
def parsers() -> dict[str, Parser]:
    """Every stream's parser, keyed by stream name."""
    from kpi_pipeline.lib.parsers import ga4, linkedin, meta, tiktok

    return {**meta.PARSERS, **linkedin.PARSERS, **tiktok.PARSERS, **ga4.PARSERS}


def parse(envelope: Envelope) -> pd.DataFrame:
    """Parse one envelope with its stream's parser."""
    try:
        parser = parsers()[envelope["stream"]]
    except KeyError:
        raise ValueError(f"no parser for stream {envelope.get('stream')!r}") from None
    return parser(envelope)
