"""The drop folder as a source: every file read, recognised, typed and validated, or none.

``read_folder`` reads every file of the folder (not its subfolders) except the manifest
``exports.yaml``, hidden files (``.DS_Store``) and the files the manifest's ``ignore``
lists; those are reported as skipped, never silently. A link whose target is outside the folder is
refused naming the link, never followed: skipping it would silently drop the rows of an
export someone linked in (the folder is their source of truth), and reading it would let
a link to any file of the machine reach the messages. A link to nothing, or a pipe or
device (which would block the read forever), is refused too. Each file must be an export of a
known format (``registry.recognise``), and every problem of every file is collected: when
there is any, ``ExportsFailed`` lists them all (file, line, column, rule) and nothing is
returned to write.

Rows carry the table's meta columns: ``source_stream = "export:<format>"``,
``api_version = "export:<file name>"`` and ``pulled_at`` = the file's modification
time (UTC). Rows of different files with the same primary key (two LinkedIn sheets for
the same days, Meta's per-metric files) are merged into one row when no column holds two
different values; their meta columns then join the formats and files with ``+``. Two
different values for the same key and column fail naming both files and lines.

web_daily rows still need the stored exchange rates and the UTM mapping: that is
normalization, done by ``lib.normalized.export_tables.finish``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from kpi_pipeline.lib.core.schemas import TABLES, Table, _show, coerce_frame, pandera_schema
from kpi_pipeline.lib.sources.exports.formats import (
    STREAM_PREFIX,
    ExportFormat,
)
from kpi_pipeline.lib.sources.exports.formats import lines_text as _lines
from kpi_pipeline.lib.sources.exports.manifest import MANIFEST_NAME, Manifest, load_manifest
from kpi_pipeline.lib.sources.exports.reading import ExportError, read_csv_file
from kpi_pipeline.lib.sources.exports.registry import recognise, registry

EXPORT_TABLES = ("post_daily", "account_daily", "web_daily")
META_COLUMNS = ("source_stream", "api_version", "pulled_at")
# Exports carry any date: the table's rules are checked over a window that holds them all.
ANY_DAY = (date(1900, 1, 1), date(2261, 12, 31))
MAX_LISTED = 5
LINK_OUT = ("is a link to a file outside the export folder: links out of the folder are "
            "not followed (the target could be any file of the machine, and the folder is "
            "the source of truth of the export rows). Copy the export into the folder, or "
            "list the link under `ignore:` in exports.yaml")


class ExportsFailed(ValueError):
    """One or more files of the drop folder cannot be read; nothing may be written."""

    def __init__(self, folder: Path | str, errors: list[ExportError]) -> None:
        self.errors = errors
        files = sorted({e.file for e in errors})
        super().__init__(
            f"{len(errors)} problem(s) in {len(files)} file(s) of the export folder {folder} "
            f"({', '.join(files)}); nothing was written:\n"
            + "\n".join(f"- {e}" for e in errors))


@dataclass
class FileReport:
    """What one file was and what came out of it (for the asset's metadata)."""

    name: str
    format: str
    platform: str
    table: str
    rows: int
    encoding: str
    delimiter: str
    quirks: dict[str, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()

    def summary(self) -> dict[str, object]:
        return {"file": self.name, "format": self.format, "platform": self.platform,
                "table": self.table, "rows": self.rows, "encoding": self.encoding,
                "delimiter": self.delimiter, "quirks": self.quirks,
                "warnings": self.warnings, "ignored_columns": list(self.ignored_columns)}


@dataclass
class FolderRead:
    """Everything read from the folder: per target table, the typed rows (parsed columns)
    and, on the same index, the file and line each row came from."""

    folder: Path
    exists: bool
    frames: dict[str, pd.DataFrame]
    origins: dict[str, pd.DataFrame]
    files: list[FileReport]
    skipped: list[dict[str, str]]
    merged: dict[str, int]
    unused_manifest_entries: list[str]

    def rows_by_table(self) -> dict[str, int]:
        return {t: len(self.frames.get(t, ())) for t in EXPORT_TABLES}

    def where(self, table: str, index: object) -> str:
        origin = self.origins[table].loc[index]
        return f"{origin['file']}, line {origin['line']}"


def _columns_for(table: Table) -> list[str]:
    return table.parsed_columns


def _frame(fmt: ExportFormat, table: Table, report: FileReport, rows: list[dict],
           settings, modified) -> pd.DataFrame:
    lines = [r.pop("_line") for r in rows]
    df = pd.DataFrame(rows, index=pd.Index(lines, name="line"))
    if df.empty:
        df = pd.DataFrame(index=pd.Index([], name="line"))
    n = len(df)
    ident = str(settings.require("account_id", "it says whose numbers these are"))
    df["brand"] = str(settings.require("brand", "reports group accounts by brand"))
    if table.name == "web_daily":
        df["property_id"] = ident
    else:
        df["platform"] = report.platform
        df["account_id"] = ident
    if table.name == "account_daily":
        df["timezone"] = str(settings.require("timezone", "account_daily keeps the account's "
                                                          "time zone"))
    df["source_stream"] = fmt.stream
    df["api_version"] = f"{STREAM_PREFIX}{report.name}"
    df["pulled_at"] = pd.Series([modified] * n, index=df.index, dtype="datetime64[ns]")
    return coerce_frame(table, df, _columns_for(table))


def schema_failures(table: Table, df: pd.DataFrame, columns: list[str] | None, *,
              unique_key: bool = True) -> pd.DataFrame | None:
    """pandera's failure cases of ``df`` against the table's rules (restricted to
    ``columns`` when given; without the unique-key rule when ``unique_key`` is False)."""
    schema = pandera_schema(table, *ANY_DAY)
    if columns is not None or not unique_key:
        schema = pa.DataFrameSchema(
            {c: schema.columns[c] for c in (columns or table.column_names)},
            checks=schema.checks if unique_key else [], name=table.name)
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases
    return None


def describe(table: Table, file: str, df: pd.DataFrame, failures: pd.DataFrame,
             file_columns: dict[str, str]) -> list[ExportError]:
    """pandera's failure cases as errors naming the file, line(s), column and rule."""
    errors = []
    failures = failures.fillna({"column": "(row)"})
    for (column, check), cases in failures.groupby(["column", "check"], sort=False):
        lines = [int(i) for i in cases["index"].dropna().unique()]
        label = file_columns.get(str(column), str(column))
        shown = (f"{label} (-> {table.name}.{column})" if label != column
                 else f"{table.name}.{column}")
        if column == "(row)":
            keys = ", ".join(table.key)
            detail = (f"rule {check}: the same ({keys}) on lines {_lines(lines)}"
                      if lines else f"rule {check}")
            errors.append(ExportError(file, detail, line=lines[0] if lines else None))
            continue
        values = [_show(df.loc[i, column]) if i in df.index and column in df.columns else "?"
                  for i in lines[:MAX_LISTED]]
        detail = (f"rule {check!s} broken on {len(lines) or len(cases)} row(s)"
                  + (f" (lines {_lines(lines)}; values {', '.join(values)})" if lines else
                     f": {cases['failure_case'].head(MAX_LISTED).tolist()}"))
        errors.append(ExportError(file, detail, line=lines[0] if lines else None, column=shown))
    return errors


def read_folder(folder: Path | str, formats: tuple[ExportFormat, ...] | None = None
                ) -> FolderRead:
    """Read and validate every export in ``folder`` (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        return FolderRead(folder, False, {}, {}, [], [], {}, [])
    errors: list[ExportError] = []
    root = folder.resolve()
    try:
        if _leaves(folder / MANIFEST_NAME, root):
            raise ExportError(MANIFEST_NAME, LINK_OUT)
        manifest = load_manifest(folder)
    except ExportError as exc:
        raise ExportsFailed(folder, [exc]) from None
    formats = formats if formats is not None else registry()
    skipped, names = [], []
    for path in sorted(folder.iterdir()):
        if path.name == MANIFEST_NAME:
            continue
        if path.name.startswith("."):
            skipped.append({"file": path.name, "reason": "hidden file"})
        elif _leaves(path, root) and not manifest.ignores(path.name):
            errors.append(ExportError(path.name, LINK_OUT))
        elif path.is_symlink() and not path.exists():
            errors.append(ExportError(path.name, "is a link to a file that does not exist"))
        elif path.is_dir():
            skipped.append({"file": path.name, "reason": "folder: only the top level is read"})
        elif manifest.ignores(path.name):
            skipped.append({"file": path.name, "reason": f"listed under ignore in "
                                                         f"{MANIFEST_NAME}"})
        elif not path.is_file():
            errors.append(ExportError(path.name, "is not a regular file (a pipe, socket or "
                                      "device): only export files are read"))
        else:
            names.append(path.name)
    frames: dict[str, list[pd.DataFrame]] = {t: [] for t in EXPORT_TABLES}
    reports: list[FileReport] = []
    file_columns: dict[str, dict[str, str]] = {}
    for name in names:
        try:
            report, frame, columns = _read_one(folder / name, manifest, formats)
        except ExportError as exc:
            errors.append(exc)
            continue
        reports.append(report)
        file_columns[name] = columns
        frames[report.table].append(frame.assign(_file=name, _line=frame.index))
    if errors:
        raise ExportsFailed(folder, errors)
    combined, origins, merged = {}, {}, {}
    for table_name, parts in frames.items():
        table = TABLES[table_name]
        columns = _columns_for(table)
        if parts:
            stacked = pd.concat(parts, ignore_index=True)
        else:
            stacked = coerce_frame(table, pd.DataFrame(columns=columns), columns).assign(
                _file=pd.Series(dtype="string"), _line=pd.Series(dtype="Int64"))
        # Every file's rows against the table's rules in one pass; a key twice within one
        # file fails, a key shared by two files is merged below.
        where = stacked[["_file", "_line"]].rename(columns={"_file": "file",
                                                            "_line": "line"})
        failures = (schema_failures(table, stacked[columns], columns, unique_key=False)
                    if len(stacked) else None)
        if failures is not None:
            errors += describe_stacked(table, stacked[columns], failures, where,
                                       file_columns)
            continue
        errors += _repeated_keys(table, stacked)
        try:
            stacked, count = merge_duplicates(table, stacked, file_columns)
        except ExportError as exc:
            errors.append(exc)
            continue
        if table_name == "web_daily":
            errors += _campaign_grain(stacked)
        origins[table_name] = stacked[["_file", "_line"]].rename(
            columns={"_file": "file", "_line": "line"})
        combined[table_name] = stacked[columns]
        merged[table_name] = count
    if errors:
        raise ExportsFailed(folder, errors)
    return FolderRead(folder, True, combined, origins, reports, skipped, merged,
                      manifest.unused_entries(names))


def _leaves(path: Path, root: Path) -> bool:
    """Whether ``path`` is a link (or a chain of links) ending outside the folder."""
    return path.is_symlink() and not path.resolve().is_relative_to(root)


def _read_one(path: Path, manifest: Manifest, formats: tuple[ExportFormat, ...]
              ) -> tuple[FileReport, pd.DataFrame, dict[str, str]]:
    csv = read_csv_file(path)
    fmt = recognise(csv, formats)
    settings = manifest.settings_for(path.name)
    if fmt.lifetime:
        _taken_before_written(path.name, settings.get("as_of"), csv.modified.date())
    result = fmt.reader(csv, settings)
    platform = result.platform or fmt.platform or ""
    report = FileReport(path.name, fmt.name, platform, fmt.table, len(result.rows),
                        csv.encoding, csv.delimiter_name, result.quirks, result.warnings,
                        result.ignored_columns)
    if not result.rows:
        report.warnings.append("the file has a header and no rows")
    frame = _frame(fmt, TABLES[fmt.table], report, result.rows, settings, csv.modified)
    return report, frame, result.columns


def _taken_before_written(file: str, as_of: object, written: date) -> None:
    """A lifetime export is a snapshot of a day that has come: its ``as_of`` cannot follow
    the day the file was written (a day of slack for the time zones), or a snapshot dated
    in the future would outrank every real one."""
    if isinstance(as_of, date) and as_of > written + timedelta(days=1):
        raise ExportError(file, f"as_of {as_of} ({MANIFEST_NAME}) is after {written}, the "
                          "day the file was written: a lifetime export is a snapshot of a "
                          "day that has come. Set as_of to the day the export was taken")


def merge_duplicates(table: Table, stacked: pd.DataFrame,
                     file_columns: dict[str, dict[str, str]]) -> tuple[pd.DataFrame, int]:
    """Merge rows of different files sharing a primary key (see the module docstring)."""
    key = list(table.key)
    duplicated = stacked.duplicated(key, keep=False)
    if not duplicated.any():
        return stacked, 0
    values = [c for c in _columns_for(table) if c not in key and c not in META_COLUMNS]
    keep, drop = [], []
    out = stacked.copy()
    for _, group in stacked[duplicated].groupby(key, sort=False, dropna=False):
        first = group.index[0]
        for column in values:
            present = group[column].dropna()
            if present.nunique() > 1:
                a, b = present.index[0], present.index[present.ne(present.iloc[0])][0]
                name_a, name_b = group.loc[a, "_file"], group.loc[b, "_file"]
                label = file_columns.get(name_b, {}).get(column, column)
                raise ExportError(
                    name_b, f"{table.name}.{column} = {_show(group.loc[b, column])} for the "
                    f"same ({', '.join(key)}) as {name_a}, line {group.loc[a, '_line']}, "
                    f"which says {_show(group.loc[a, column])}: which is right cannot be "
                    "told", line=int(group.loc[b, "_line"]), column=label)
            if len(present):
                out.loc[first, column] = present.iloc[0]
        out.loc[first, "source_stream"] = "+".join(dict.fromkeys(group["source_stream"]))
        out.loc[first, "api_version"] = "+".join(dict.fromkeys(group["api_version"]))
        out.loc[first, "pulled_at"] = group["pulled_at"].max()
        keep.append(first)
        drop += list(group.index[1:])
    return out.drop(index=drop), len(drop)


def _campaign_grain(web: pd.DataFrame) -> list[ExportError]:
    """Days of a property both with and without the campaign breakdown count twice."""
    from kpi_pipeline.lib.sources.exports.ga4 import ALL_CAMPAIGNS

    if web.empty:
        return []
    whole = web[web["campaign"] == ALL_CAMPAIGNS]
    split = web[web["campaign"] != ALL_CAMPAIGNS]
    both = whole.merge(split, on=["property_id", "report_date"], suffixes=("_a", "_b"))
    if both.empty:
        return []
    row = both.iloc[0]
    return [ExportError(str(row["_file_b"]), f"property {row['property_id']} on "
                        f"{row['report_date'].date()} is also in {row['_file_a']} (line "
                        f"{row['_line_a']}) without the campaign breakdown: its sessions "
                        "would count twice. Keep one of the two exports",
                        line=int(row["_line_b"]))]


def describe_stacked(table: Table, frame: pd.DataFrame, failures: pd.DataFrame,
                     where: pd.DataFrame, file_columns: dict[str, dict[str, str]]
                     ) -> list[ExportError]:
    """Failures of a frame stacked from several files (``where``: file and line on the
    frame's index), described per file and line."""
    everyone = ", ".join(sorted(set(where["file"])))
    located = failures.assign(file=failures["index"].map(
        lambda i: where.loc[i, "file"] if pd.notna(i) else everyone))
    errors: list[ExportError] = []
    for file, cases in located.groupby("file", sort=True):
        rows = list(cases["index"].dropna().unique())
        sub = frame.loc[rows].set_axis(where.loc[rows, "line"].astype(int).tolist())
        cases = cases.assign(index=cases["index"].map(
            lambda i: where.loc[i, "line"] if pd.notna(i) else i))
        errors += describe(table, str(file), sub, cases.drop(columns="file"),
                           file_columns.get(str(file), {}))
    return errors


def _repeated_keys(table: Table, stacked: pd.DataFrame) -> list[ExportError]:
    """A primary key twice within one file: which row is right cannot be told."""
    twice = stacked[stacked.duplicated([*table.key, "_file"], keep=False)]
    errors = []
    for (file, *_), group in twice.groupby(["_file", *table.key], sort=True, dropna=False):
        keys = ", ".join(f"{k}={_show(group.iloc[0][k])}" for k in table.key)
        lines = sorted(int(n) for n in group["_line"])
        errors.append(ExportError(str(file), f"the same ({keys}) is on lines "
                                  f"{_lines(lines)}", line=lines[0]))
    return errors
