"""Payload parsers: one per stream, turning a landing envelope into normalized rows.

A stream's parser returns its table's parser columns in order, with Python values
(ints, floats, dates, None). Typing them into pandas' nullable dtypes costs a few
milliseconds per frame whatever its length, so it happens here, once per envelope for
``parse`` and once per partition window for ``parse_window``.

The registry is assembled on first use, so importing one parser module does not import
the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

import pandas as pd

from kpi_pipeline.lib.landing import Envelope
from kpi_pipeline.lib.schemas import TABLES, coerce_frame
from kpi_pipeline.lib.streams import STREAMS_BY_NAME

Parser = Callable[[Envelope], pd.DataFrame]


@cache
def parsers() -> dict[str, Parser]:
    """Every stream's parser, keyed by stream name."""
    from kpi_pipeline.lib.parsers import email, ga4, linkedin, meta, tiktok

    return {**meta.PARSERS, **linkedin.PARSERS, **tiktok.PARSERS, **ga4.PARSERS,
            **email.PARSERS}


def parse_untyped(envelope: Envelope) -> pd.DataFrame:
    """One envelope through its stream's parser, values not yet typed."""
    try:
        parser = parsers()[envelope["stream"]]
    except KeyError:
        raise ValueError(f"no parser for stream {envelope.get('stream')!r}") from None
    return parser(envelope)


def _typed(stream: str, frame: pd.DataFrame) -> pd.DataFrame:
    table = TABLES.get(STREAMS_BY_NAME[stream].table)
    if table is None or stream == "fx_rates":  # fx rows are an intermediate shape
        return frame
    return coerce_frame(table, frame, table.parsed_columns)


def parse(envelope: Envelope) -> pd.DataFrame:
    """One envelope parsed and typed to its table's parser columns."""
    return _typed(envelope["stream"], parse_untyped(envelope))


def parse_window(stream: str, envelopes: Iterable[Envelope]) -> pd.DataFrame:
    """Every envelope of one stream for a window, stacked and typed once."""
    frames = [f for f in (parse_untyped(e) for e in envelopes) if not f.empty]
    if not frames:
        return pd.DataFrame()
    return _typed(stream, pd.concat(frames, ignore_index=True))
