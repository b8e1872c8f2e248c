"""Every export format the drop folder understands, and which one a file is.

A format is recognised by its **columns**: exactly one format's identifying columns must
all be present. None matching fails as "unknown format", listing the file's columns and
every format's identifying columns; more than one fails as "ambiguous", naming them.
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
    seen = ", ".join(repr(h) for h in csv.header) or "(none)"
    if hits:
        raise ExportError(
            csv.name, f"ambiguous: its columns match {len(hits)} formats ("
            + "; ".join(f"{f.name}: {f.identifying_text()}" for f in hits)
            + f"). Columns seen: {seen}. Remove the columns of the other export, or "
            "export each screen to its own file", line=csv.header_line)
    hint = ""
    if len(csv.header) == 1:
        hint = (" Only one column was found: the file is separated by something other "
                "than a comma, semicolon or tab, or it is not a CSV export.")
    known = "; ".join(f"{f.name} ({f.platform or 'platform from the file'} -> {f.table}): "
                      f"{f.identifying_text()}" for f in formats)
    raise ExportError(
        csv.name, f"unknown format: columns seen ({csv.delimiter_name}-separated): {seen}."
        f"{hint} The formats read and the columns that identify them: {known}. "
        "A file that is not an export goes under `ignore:` in exports.yaml",
        line=csv.header_line)
