"""Every export format the drop folder understands, and which one a file is.

A format is recognised by its **columns**: exactly one format's identifying columns must
all be present. None matching fails as "unknown format", describing the file by its name,
size and column count and, for every format, the identifying columns it lacks (the
project's own words): never by its content, not even its header, since a stray file (a
credentials export, an ``.env``) can hold a secret on any line and the message is stored
by Dagster and forwarded by the alerts. More than one matching fails as "ambiguous",
naming the formats.
File names are never used: exports are often renamed.
"""

from __future__ import annotations

from kpi_pipeline.lib.sources.exports import facebook, ga4, linkedin, tiktok
from kpi_pipeline.lib.sources.exports.formats import ExportFormat
from kpi_pipeline.lib.sources.exports.reading import CsvFile, ExportError


def registry() -> tuple[ExportFormat, ...]:
    """Every format the drop folder understands, in a stable order."""
    formats = (*facebook.FORMATS, *linkedin.FORMATS, *tiktok.FORMATS, *ga4.FORMATS)
    names = [f.name for f in formats]
    if len(set(names)) != len(names):  # pragma: no cover - a programming error
        raise RuntimeError(f"export format names repeat: {names}")
    return formats


def recognise(csv: CsvFile, formats: tuple[ExportFormat, ...] | None = None) -> ExportFormat:
    """The one format whose identifying columns the file has (see the module docstring)."""
    formats = formats if formats is not None else registry()
    hits = [f for f in formats if f.matches(csv)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ExportError(
            csv.name, f"ambiguous: its columns match {len(hits)} formats ("
            + "; ".join(f"{f.name}: {f.identifying_text()}" for f in hits)
            + "). Remove the columns of the other export, or export each screen to its "
            "own file", line=csv.header_line)
    hint = ""
    if len(csv.header) == 1:
        hint = (" Only one column was found: the file is separated by something other "
                "than a comma, semicolon or tab, or it is not a CSV export.")
    lacking = "; ".join(f"{f.name} ({f.platform or 'platform from the file'} -> {f.table}) "
                        f"lacks {', '.join(f.missing(csv))}" for f in formats)
    size = f"{csv.size:,} bytes, " if csv.size is not None else ""
    raise ExportError(
        csv.name, f"unknown format: not an export of any format read ({size}"
        f"{len(csv.header)} column(s), {csv.delimiter_name}-separated; its content is not "
        f"shown).{hint} The identifying columns each format needs and this file lacks: "
        f"{lacking}. A file that is not an export goes under `ignore:` in exports.yaml",
        line=csv.header_line)
