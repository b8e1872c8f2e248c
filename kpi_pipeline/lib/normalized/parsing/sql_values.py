"""SQL text the SQL parsers share: cheap value tests, conversions, and the two-step check.

The ``kp_*_problem`` macros of ``envelopes`` say exactly why a value is wrong, but every
call expands into a large expression that takes milliseconds to bind, whether or not a
row ever reaches it; a stream's checks bound on every run would cost more than reading
its files. So a parser converts each value once, keeps a cheap verdict per row (``ok``:
every value is in the common case, a plain JSON count within range, a finite
non-negative amount, a known date, ...), and binds the detailed problem query only when
some row is not ok (``fail_on_suspects``). The detailed query may still find nothing: a
suspect is not necessarily wrong (a count sent as the string "12" is fine).

These are Python functions returning SQL expressions (not macros) for the same reason:
they expand to exactly what is needed, with nothing left to bind. Casts use TRY_CAST or
sit in a CASE branch: SQL's AND does not stop at the first false test.
"""

from __future__ import annotations

import duckdb

from kpi_pipeline.lib.core.values import MAX_COUNT
from kpi_pipeline.lib.normalized.parsing.envelopes import fail_on

# 9999-12-31T23:59:59.999Z in epoch milliseconds: Python dates end there, so the Python
# parsers failed on later instants, and pandas could not hold them anyway.
LATEST_MS = 253_402_300_799_999


def num(v: str) -> str:
    """The number a JSON value ``v`` holds (number or numeric string), or NULL; it does
    not say why a value is not a number. Counts stay DOUBLE until they are checked (a
    NaN or a huge value must reach the check, not break a cast); ``typed_rows`` makes
    them BIGINT."""
    return f"TRY_CAST(trim({v} ->> '$') AS DOUBLE)"


def plain_count(v: str, *, allow_negative: bool = False) -> str:
    """TRUE when ``v`` is absent or a JSON integer (negative too if ``allow_negative``):
    the common case, once the count is also known to be within ``MAX_COUNT``."""
    kinds = "('UBIGINT', 'BIGINT')" if allow_negative else "('UBIGINT')"
    return f"({v} IS NULL OR json_type({v}) IN {kinds})"


def within_counts(values: list[str]) -> str:
    """TRUE when the converted counts ``values`` are within what a platform reports (NULL
    when all are NULL: an answer without any count deserves a closer look)."""
    return f"greatest({', '.join(f'abs({v})' for v in values)}) <= {MAX_COUNT}"


def count_problem(context: str, field: str, v: str, *, allow_negative: bool = False) -> str:
    """Why ``v`` is not an acceptable count, as a message naming ``field``, or NULL."""
    negative = "true" if allow_negative else "false"
    return f"kp_field({context}, '{field}', kp_int_problem({v}, {negative}))"


def shown(v: str) -> str:
    """A JSON value as a message shows it: strings quoted, JSON null and absent as None
    (as Python's ``repr()`` prints them), other values as JSON text."""
    return (f"CASE WHEN ({v}) IS NULL OR json_type({v}) = 'NULL' THEN 'None' "
            f"ELSE kp_shown({v}) END")


def iso_date(text: str) -> str:
    """A text holding an ISO date ("YYYY-MM-DD" or "YYYYMMDD", as ``date.fromisoformat``
    reads them) as a DATE, else NULL."""
    return (f"CASE WHEN regexp_full_match({text}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"THEN TRY_CAST({text} AS DATE) WHEN regexp_full_match({text}, '[0-9]{{8}}') "
            f"THEN try_strptime({text}, '%Y%m%d')::DATE END")


def fail_on_suspects(conn: duckdb.DuckDBPyConnection, suspects: str, *stages: str,
                     params: object = None) -> None:
    """Raise the problems the ``stages`` queries find (see ``envelopes.fail_on``), binding
    them only when ``suspects`` (a cheap query) returns a row. A stage runs only when the
    ones before it found nothing, so that an answer that cannot be read is named rather
    than drowned in its consequences (statistics for posts no readable page listed)."""
    if conn.execute(f"SELECT EXISTS ({suspects})", params).fetchone()[0]:
        for problems in stages:
            fail_on(conn, problems, params)
