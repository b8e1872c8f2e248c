"""The export formats the drop folder understands, and how a file is recognised.

A format is recognised by its **columns**: each format names the header columns that
identify it (alternatives allowed, compared case- and space-insensitively), and exactly
one format must match a file. None matching fails as "unknown format", naming the file,
its size and, per format, the identifying columns it lacks (never the file's content);
more than one fails as "ambiguous", naming them. File names are never used: exports are
often renamed.

Each format family has its own module (``facebook``, ``linkedin``, ``tiktok``, ``ga4``)
with the readers and the quirks they handle; ``registry`` collects them and tells
which one a file is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kpi_pipeline.lib.sources.exports import cells
from kpi_pipeline.lib.sources.exports.cells import Where
from kpi_pipeline.lib.sources.exports.manifest import Resolved
from kpi_pipeline.lib.sources.exports.reading import CsvFile, ExportError, Row

STREAM_PREFIX = "export:"


@dataclass
class FileRows:
    """What a reader made of one file: rows in the target table's parsed columns (each
    with its ``_line``), which file column fed which table column, and what it noticed."""

    rows: list[dict[str, object]]
    columns: dict[str, str]
    quirks: dict[str, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()
    platform: str | None = None  # when the file itself says (else the format's)


Reader = Callable[[CsvFile, Resolved], FileRows]


@dataclass(frozen=True)
class ExportFormat:
    """One export format: where it comes from, where its rows go, how it is recognised."""

    name: str
    platform: str | None  # None: the file or the manifest says
    table: str
    identifying: tuple[tuple[str, ...], ...]  # every group must be present (one name of it)
    reader: Reader
    description: str
    lifetime: bool = False  # lifetime totals: one post_daily snapshot dated as_of

    def matches(self, csv: CsvFile) -> bool:
        return all(csv.has(group) for group in self.identifying)

    def missing(self, csv: CsvFile) -> list[str]:
        """The identifying columns (as the format names them) ``csv`` lacks."""
        return [" | ".join(group) for group in self.identifying if not csv.has(group)]

    def identifying_text(self) -> str:
        return ", ".join(" | ".join(group) for group in self.identifying)

    @property
    def stream(self) -> str:
        return f"{STREAM_PREFIX}{self.name}"


@dataclass(frozen=True)
class Metric:
    """A file column read into a table column with one of ``cells``' parsers."""

    column: str
    names: tuple[str, ...]
    parse: Callable[[str | None, Where], object] = cells.count


class Mapper:
    """Which header position feeds which table column or named field, for one file."""

    def __init__(self, csv: CsvFile, metrics: tuple[Metric, ...] = (),
                 fields: dict[str, tuple[str, ...]] | None = None) -> None:
        self.csv = csv
        self.metrics = metrics
        self.found: dict[str, tuple[str, int]] = {}
        for metric in metrics:
            hit = csv.index_of(metric.names)
            if hit:
                self.found[metric.column] = hit
        self.fields: dict[str, tuple[str, int] | None] = {
            key: csv.index_of(names) for key, names in (fields or {}).items()}
        self._names = dict(fields or {})

    def has(self, key: str) -> bool:
        return self.fields.get(key) is not None

    def text(self, row: Row, key: str) -> tuple[str | None, Where]:
        """The raw cell of a named field (None when the file lacks the column)."""
        hit = self.fields.get(key)
        if hit is None:
            return None, Where(self.csv.name, row.line, self._names[key][0])
        name, index = hit
        return row.cells[index], Where(self.csv.name, row.line, name)

    def require(self, *keys: str) -> None:
        """Fail naming the header line when a needed field's column is absent."""
        for key in keys:
            if self.fields.get(key) is None:
                names = " or ".join(map(repr, self._names[key]))
                raise ExportError(self.csv.name, f"has no column {names}, which this format "
                                  "needs", line=self.csv.header_line)

    def values(self, row: Row) -> dict[str, object]:
        """Every metric of the row parsed; a metric whose column is absent is None."""
        out: dict[str, object] = {}
        for metric in self.metrics:
            hit = self.found.get(metric.column)
            if hit is None:
                out[metric.column] = None
                continue
            name, index = hit
            out[metric.column] = metric.parse(row.cells[index], Where(self.csv.name, row.line,
                                                                       name))
        return out

    def columns(self, **extra: str) -> dict[str, str]:
        """Table column -> the file column it came from."""
        out = {column: name for column, (name, _) in self.found.items()}
        for column, key in extra.items():
            hit = self.fields.get(key)
            if hit is not None:
                out[column] = hit[0]
        return out

    def ignored(self, *also_used: str) -> tuple[str, ...]:
        """Header columns this file has that nothing reads (listed in the metadata)."""
        used = {name for name, _ in self.found.values()}
        used |= {hit[0] for hit in self.fields.values() if hit is not None}
        used |= set(also_used)
        return tuple(h for h in self.csv.header if h and h not in used)


# ----------------------------------------------------------------- shared by the readers
def snapshot_day(settings: Resolved) -> object:
    """The ``as_of`` day of a lifetime export (its post_daily report_date)."""
    return settings.require("as_of", "a lifetime export is one snapshot of the day it was "
                                     "taken")


def published_utc(local: object, settings: Resolved, where: Where, as_of: object) -> object:
    """A post's local publish time as UTC; a post published after ``as_of`` fails (a
    snapshot cannot hold a post published after it was taken)."""
    timezone = str(settings.require("timezone", "publish times are local"))
    if local.date() > as_of:
        raise where.error(f"the post was published on {local.date()}, after the export's "
                          f"as_of {as_of}: as_of must be the day the export was taken")
    return cells.to_utc(local, timezone)


def choose(mapping: dict[str, str], text: str | None, where: Where, what: str) -> str:
    """A code looked up case-insensitively in ``mapping``; unknown codes fail naming them."""
    value = cells.required_text(text, where)
    found = mapping.get(value.casefold())
    if found is None:
        known = ", ".join(sorted({k for k in mapping}))
        raise where.error(f"{what} {value!r} is not one this format knows ({known})")
    return found


def lines_text(lines: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in lines[:limit])
    return shown + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def daily_rows(csv: CsvFile, mapper: Mapper, parse_day: Callable[[str | None, Where], object],
               date_key: str = "date") -> list[dict[str, object]]:
    """One row per local day: ``report_date`` and the mapper's metrics; a day listed twice
    fails naming both lines."""
    mapper.require(date_key)
    rows, days = [], {}
    for row in csv.rows:
        text, where = mapper.text(row, date_key)
        day = parse_day(text, where)
        if day in days:
            raise where.error(f"the day {day} is also on line {days[day]}")
        days[day] = row.line
        rows.append({"_line": row.line, "report_date": day, **mapper.values(row)})
    return rows


def date_in(formats: tuple[str, ...]) -> Callable[[str | None, Where], object]:
    """A parser of required dates in one of ``formats``."""

    def parse(text: str | None, where: Where) -> object:
        return cells.local_datetime(text, where, formats).date()

    return parse
