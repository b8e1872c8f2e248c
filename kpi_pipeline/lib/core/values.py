"""What every reader of platform values shares: the error it raises and the largest
count it accepts (the landing-file parsers and the export-file readers alike).

The boundary rules themselves (numbers as JSON numbers or numeric strings, no thousands
separators, no NaN or infinity, no negative counts a platform cannot report, whole counts,
dates and timestamps) are SQL macros and helpers of ``lib.normalized.parsing``
(``envelopes``, ``sql_values``): the landing files are parsed inside DuckDB, and a value
that breaks a rule raises a ``ParseError`` naming the stream, partition, account, field
and value.
"""

from __future__ import annotations

# No platform reports a count near this (a quadrillion views); past it a value is garbage
# and would also overflow the store's 64-bit integers.
MAX_COUNT = 10**15


class ParseError(ValueError):
    """A payload does not have the shape or values the platform documents."""
