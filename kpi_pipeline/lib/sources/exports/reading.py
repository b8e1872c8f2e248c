"""Reading one export file: bytes -> text -> a header and numbered rows.

What the platforms' analytics screens write, and what this accepts:

- **Encodings.** UTF-8, UTF-8 with a byte-order mark (Meta Business Suite writes one),
  and UTF-16 with a byte-order mark (Meta's page-level daily series, some LinkedIn
  saves). Anything else fails naming the file, the byte offset and the line of the first
  byte that is not UTF-8: the file was saved in a legacy code page and must be saved
  again as UTF-8, because guessing a code page silently corrupts captions.
- **Workbooks** (``.xlsx``/``.xls``, recognised by their magic bytes whatever the name)
  fail with "save the sheet as CSV": LinkedIn exports workbooks.
- **Delimiter** ``,``, ``;`` or tab, taken from the header line (the most frequent of the
  three outside quotes), or from an Excel ``sep=`` hint line when there is one.
- **Line endings** CRLF, LF or CR.
- **Preamble** before the header: ``#`` comment lines (GA4 writes its report name,
  property and date range there; ``# Key: value`` lines are kept), an Excel ``sep=``
  hint, blank lines, and a single-cell *title* line right before the header (Meta's
  per-metric daily series name their metric there).
- **Rows** keep their physical line number (1-based, counting every line of the file,
  the header and preamble included), so every error can say where to look. A row with
  more cells than the header (unless the extra cells are empty) or fewer fails; a blank
  line followed by more content (a second table, a footer) fails; trailing blank lines
  are fine.
- **Limits.** At most ``MAX_FILE_BYTES`` (64 MB, refused before reading) and ``MAX_ROWS``
  (250,000, refused at the first row too many); the preamble and header are looked for in
  the first ``HEAD_LINES`` lines and the body is read line by line, never copied whole.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_MAGIC_WORKBOOK = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
_SEP_HINT = re.compile(r"^\s*sep=(.)\s*$", re.IGNORECASE)
_COMMENT_KEY = re.compile(r"^#\s*([^:#]+?)\s*:\s*(.*?)\s*$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# What one file may hold: a bigger one is refused naming the file and the limit before
# (bytes) or while (rows) it is read, so a runaway export cannot take the worker's memory.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ROWS = 250_000
HEAD_LINES = 64  # the preamble, title and header are found among the first lines


class ExportError(ValueError):
    """An export file cannot be read or holds a value its format does not allow.

    The message names the file and, where they are known, the line (1-based, as in the
    file, header included) and the column (as the file spells it).
    """

    def __init__(self, file: str, message: str, *, line: int | None = None,
                 column: str | None = None) -> None:
        self.file, self.line, self.column, self.reason = file, line, column, message
        where = file
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Row:
    """One record of an export file: its physical line number and its cells."""

    line: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class CsvFile:
    """A decoded export file: everything a format needs to recognise and read it."""

    name: str
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    header_line: int
    rows: tuple[Row, ...]
    modified: datetime  # the file's modification time, UTC (naive)
    title: str | None = None  # a single-cell line right before the header
    comments: dict[str, str] = field(default_factory=dict)  # "# Key: value" preamble lines
    size: int | None = None  # bytes, as read

    @property
    def delimiter_name(self) -> str:
        return _DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))

    def index_of(self, names: tuple[str, ...]) -> tuple[str, int] | None:
        """(header as spelled, position) of the first of ``names`` the header holds,
        compared case- and space-insensitively; None when it holds none of them.
        A column that appears twice fails: which copy is meant cannot be told."""
        keys = [header_key(h) for h in self.header]
        for name in names:
            wanted = header_key(name)
            positions = [i for i, k in enumerate(keys) if k == wanted]
            if len(positions) > 1:
                raise ExportError(self.name, f"column appears {len(positions)} times "
                                  f"(positions {', '.join(str(p + 1) for p in positions)}); "
                                  "which one to read cannot be told", line=self.header_line,
                                  column=self.header[positions[0]])
            if positions:
                return self.header[positions[0]], positions[0]
        return None

    def has(self, names: tuple[str, ...]) -> bool:
        keys = {header_key(h) for h in self.header}
        return any(header_key(n) in keys for n in names)


def header_key(name: str) -> str:
    """How header names are compared: case-insensitive, whitespace collapsed."""
    return " ".join(name.replace("\ufeff", "").split()).casefold()


def decode(name: str, data: bytes) -> tuple[str, str]:
    """(text, encoding name) of an export file's bytes; see the module docstring."""
    if data.startswith(_MAGIC_WORKBOOK):
        raise ExportError(name, "is a spreadsheet workbook (xlsx/xls), not a CSV file: open "
                          "it and save the sheet with the data as CSV (UTF-8)")
    if data.startswith(codecs.BOM_UTF8):
        return _strict(name, data, "utf-8-sig", skip=3), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(name, data, "utf-16", skip=2), "utf-16"
    if b"\x00" in data[:4096]:
        raise ExportError(name, "holds NUL bytes: it is UTF-16 without a byte-order mark or "
                          "a binary file; save it as CSV (UTF-8)")
    return _strict(name, data, "utf-8", skip=0), "utf-8"


def _strict(name: str, data: bytes, encoding: str, *, skip: int) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        offset = exc.start + (skip if encoding == "utf-16" else 0)
        if encoding == "utf-16":
            line = data[:offset].decode("utf-16", errors="replace").count("\n") + 1
        else:
            line = data[:offset].count(b"\n") + 1
        bad = data[offset:offset + 1].hex().upper()
        raise ExportError(
            name, f"is not valid {encoding.upper().replace('-SIG', ' with BOM')}: byte 0x{bad} "
            f"at offset {offset} cannot be decoded ({exc.reason}). The file is in another "
            "encoding (a legacy code page such as Windows-1252?): save it again as UTF-8",
            line=line) from None


def _lines_from(text: str, start: int) -> Iterator[str]:
    """The physical lines of ``text`` from offset ``start``, one at a time (the body is
    never copied whole), each ending in ``\n`` whatever its break was, so a quoted cell
    spanning lines reads the same in CRLF, LF and CR files."""
    for match in _LINE.finditer(text, start):
        line = match.group()
        if line:
            yield line.rstrip("\r\n") + "\n" if line[-1] in "\r\n" else line


def _records(name: str, text: str, delimiter: str, start: int = 0
             ) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of every record from offset ``start``, blank lines
    included as []."""
    reader = csv.reader(_lines_from(text, start), delimiter=delimiter, strict=True)
    last = 0
    try:
        for cells in reader:
            yield last + 1, cells
            last = reader.line_num
    except csv.Error as exc:
        raise ExportError(name, f"is not well-formed CSV ({exc}): a quote is not closed or "
                          "a quoted cell has text after its closing quote",
                          line=last + 1) from None


def _split_lines(text: str) -> list[str]:
    """Physical lines as csv counts them (CRLF, LF or CR; not str.splitlines, which also
    breaks on form feeds and Unicode separators a caption may hold)."""
    return _LINE_BREAK.split(text)


def sniff_delimiter(line: str) -> str | None:
    """The most frequent of , ; and tab in ``line`` outside double quotes (None if none)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else None


def read_csv_bytes(name: str, data: bytes, *, modified: datetime | None = None) -> CsvFile:
    """Decode and split one export file (see the module docstring for what is accepted)."""
    text, encoding = decode(name, data)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise ExportError(name, "is empty: no header line")
    starts = _head_starts(text)
    lines = _split_lines(text[:starts[-1]]) if len(starts) > HEAD_LINES else _split_lines(text)
    comments: dict[str, str] = {}
    delimiter: str | None = None
    index = 0
    # The preamble: comments, a sep= hint, blank lines.
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            index += 1
            continue
        if stripped.startswith("#"):
            match = _COMMENT_KEY.match(stripped)
            if match:
                comments[match.group(1)] = match.group(2)
            index += 1
            continue
        hint = _SEP_HINT.match(stripped.strip('"'))
        if hint and delimiter is None:
            delimiter = hint.group(1)
            index += 1
            continue
        break
    if index >= len(lines):
        raise ExportError(name, "has no header line after its preamble")
    header_index = index
    title = None
    if delimiter is None:
        delimiter = sniff_delimiter(lines[index])
        if delimiter is None:
            # A single cell: a title line if the next non-blank line has delimiters.
            following = next((j for j in range(index + 1, len(lines)) if lines[j].strip()),
                             None)
            below = sniff_delimiter(lines[following]) if following is not None else None
            if below is not None:
                title = lines[index].strip().strip('"')
                header_index, delimiter = following, below
            else:
                delimiter = ","  # one column: recognition will name what it saw
    elif _is_single_cell(lines[index], delimiter):
        following = next((j for j in range(index + 1, len(lines)) if lines[j].strip()), None)
        if following is not None and not _is_single_cell(lines[following], delimiter):
            title = lines[index].strip().strip('"')
            header_index = following
    first_line = header_index + 1
    records = _records(name, text, delimiter, starts[header_index])
    header_cells = next(records)[1]
    header = tuple(h.replace("\ufeff", "").strip() for h in header_cells)
    while header and not header[-1]:
        header = header[:-1]  # a trailing delimiter on the header line
    rows: list[Row] = []
    blank_at: int | None = None
    for offset, cells in records:
        line = first_line + offset - 1
        if not cells or all(not c.strip() for c in cells):
            if blank_at is None:
                blank_at = line
            continue
        if blank_at is not None:
            raise ExportError(name, f"more content after the blank line {blank_at}: one table "
                              "per file (a second table or a footer cannot be read)", line=line)
        if len(cells) > len(header):
            extra = cells[len(header):]
            if any(c.strip() for c in extra):
                raise ExportError(
                    name, f"has {len(cells)} cells but the header has {len(header)} "
                    f"({_DELIMITER_NAMES.get(delimiter, delimiter)}-separated): an unquoted "
                    "delimiter inside a value?", line=line)
            cells = cells[:len(header)]
        elif len(cells) < len(header):
            raise ExportError(
                name, f"has {len(cells)} cell(s) but the header has {len(header)} "
                f"({_DELIMITER_NAMES.get(delimiter, delimiter)}-separated, as read from the "
                "header line): the data uses another delimiter, or the line is cut short",
                line=line, column=header[len(cells)])
        if len(rows) >= MAX_ROWS:
            raise ExportError(name, f"has more than {MAX_ROWS:,} rows, the most one export "
                              "file may hold: export shorter date ranges into several files",
                              line=line)
        rows.append(Row(line, tuple(cells)))
    return CsvFile(name=name, encoding=encoding, delimiter=delimiter, header=header,
                   header_line=first_line, rows=tuple(rows),
                   modified=modified or datetime.now(UTC).replace(tzinfo=None),
                   title=title, comments=comments, size=len(data))


def _head_starts(text: str) -> list[int]:
    """Offsets where the first ``HEAD_LINES`` + 1 physical lines start (fewer when the
    text is shorter); the last one ends the head the preamble is looked for in."""
    starts = [0]
    for match in _LINE_BREAK.finditer(text):
        starts.append(match.end())
        if len(starts) > HEAD_LINES:
            break
    return starts


def _is_single_cell(line: str, delimiter: str) -> bool:
    return len(next(csv.reader([line], delimiter=delimiter), [])) <= 1


def read_csv_file(path: Path) -> CsvFile:
    """Read an export file from disk; its modification time becomes ``modified`` (UTC)."""
    stat = path.stat()
    if stat.st_size > MAX_FILE_BYTES:
        raise ExportError(path.name, f"is {stat.st_size:,} bytes, more than the "
                          f"{MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES / 2**20:g} MB) one export "
                          "file may hold: export shorter date ranges into several files")
    modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC).replace(tzinfo=None)
    return read_csv_bytes(path.name, path.read_bytes(), modified=modified)
