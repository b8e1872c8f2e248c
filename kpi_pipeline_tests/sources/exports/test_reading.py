"""Reading export files: encodings, delimiters, preambles, line numbers, cell rules."""

from __future__ import annotations

import codecs
from datetime import date

import pytest

from kpi_pipeline.lib.sources.exports import cells
from kpi_pipeline.lib.sources.exports.cells import Where
from kpi_pipeline.lib.sources.exports.manifest import Manifest, load_manifest
from kpi_pipeline.lib.sources.exports.reading import ExportError, read_csv_bytes
from kpi_pipeline.lib.sources.exports.registry import recognise

W = Where("f.csv", 7, "Likes")


def read(text: str, encoding: str = "utf-8", bom: bytes = b"", newline: str = "\n"):
    return read_csv_bytes("f.csv", bom + text.replace("\n", newline).encode(encoding))


@pytest.mark.parametrize(("encoding", "bom"), [
    ("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
    ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_utf8_utf8_bom_and_utf16_bom_are_read_alike(encoding, bom):
    csv = read("Date,Likes\n2025-03-01,Café ☕\n", encoding, bom)
    assert csv.header == ("Date", "Likes")  # no BOM left on the first column's name
    assert csv.rows[0].cells == ("2025-03-01", "Café ☕")


def test_non_utf8_bytes_fail_naming_offset_and_line():
    data = b"Date,Caption\n2025-03-01,ok\n2025-03-02,caf\xe9\n"
    with pytest.raises(ExportError) as err:
        read_csv_bytes("legacy.csv", data)
    message = str(err.value)
    assert message.startswith("legacy.csv, line 3:")
    assert "byte 0xE9 at offset 41" in message and "UTF-8" in message


def test_workbooks_and_bomless_utf16_are_refused_clearly():
    with pytest.raises(ExportError, match=r"workbook.*save the sheet"):
        read_csv_bytes("posts.csv", b"PK\x03\x04rest-of-a-zip")
    with pytest.raises(ExportError, match="NUL bytes"):
        read_csv_bytes("posts.csv", "Date,Likes\n".encode("utf-16-le"))


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_numbers_count_every_physical_line(newline):
    csv = read("# GA4 report\n# Start date: 20250301\n\nDate,Sessions\n20250301,5\n"
               '20250302,"6"\n', newline=newline)
    assert csv.comments == {"Start date": "20250301"}
    assert csv.header_line == 4
    assert [r.line for r in csv.rows] == [5, 6]


def test_delimiter_comes_from_the_header_line_or_the_sep_hint():
    assert read("a;b;c\n1;2;3\n").delimiter == ";"
    assert read("a\tb\n1\t2\n").delimiter_name == "tab"
    assert read('"Reactions, Comments and Shares";Likes\n1;2\n').header == (
        "Reactions, Comments and Shares", "Likes")  # a comma inside quotes does not count
    hinted = read('sep=,\n"Facebook follows"\n"Date","Primary"\n"2025-08-01T00:00:00","20"\n')
    assert (hinted.delimiter, hinted.title, hinted.header) == (",", "Facebook follows",
                                                               ("Date", "Primary"))
    assert hinted.rows[0].line == 4


def test_a_title_line_above_the_header_is_kept_apart():
    csv = read("All posts\nPost title,Post link\nHello,https://x\n")
    assert csv.title == "All posts" and csv.header == ("Post title", "Post link")


def test_data_in_another_delimiter_than_the_header_fails_at_its_line_and_column():
    with pytest.raises(ExportError) as err:
        read("Date;Likes;Comments\n2025-03-01,4,5\n")
    assert str(err.value).startswith("f.csv, line 2, column 'Likes': has 1 cell(s) but the "
                                     "header has 3 (semicolon-separated")


def test_an_unknown_delimiter_is_one_column_and_an_unknown_format():
    csv = read("Date|Likes|Comments\n2025-03-01|4|5\n")
    assert csv.header == ("Date|Likes|Comments",)
    with pytest.raises(ExportError) as err:
        recognise(csv)
    message = str(err.value)
    assert message.startswith("f.csv, line 1: unknown format: not an export of any format "
                              "read (35 bytes, 1 column(s), comma-separated; its content is "
                              "not shown)")
    assert "Only one column was found" in message
    assert "ga4_traffic (ga4 -> web_daily) lacks Date, Sessions" in message
    assert "Date|Likes" not in message and "2025-03-01" not in message


def test_too_many_cells_a_second_table_and_an_open_quote_fail_at_their_line():
    with pytest.raises(ExportError, match=r"line 3: has 3 cells but the header has 2"):
        read("a,b\n1,2\n3,4,5\n")
    assert read("a,b\n1,2,\n").rows[0].cells == ("1", "2")  # an empty extra cell is fine
    with pytest.raises(ExportError, match=r"line 4: more content after the blank line 3"):
        read("a,b\n1,2\n\n# Totals\nx,y\n")
    assert len(read("a,b\n1,2\n\n\n").rows) == 1
    with pytest.raises(ExportError, match=r"line 2: is not well-formed CSV"):
        read('a,b\n"1,2\n')


def test_a_column_read_twice_is_refused():
    csv = read("Date,Sessions,Sessions,Session source / medium\n20250301,1,2,a / b\n")
    with pytest.raises(ExportError, match=r"column 'Sessions': column appears 2 times"):
        recognise(csv).reader(csv, Manifest().settings_for("f.csv"))


# ------------------------------------------------------------------------------- cells
@pytest.mark.parametrize(("text", "value"), [
    ("1234", 1234), (" 7 ", 7), ("1,234", 1234), ("12,345,678", 12345678), ("12.0", 12),
    ("", None), ("  ", None), (None, None)])
def test_counts(text, value):
    assert cells.count(text, W) == value


@pytest.mark.parametrize(("text", "reason"), [
    ("-3", "negative"), ("1.2K", "abbreviated"), ("12.5", "not a whole count"),
    ("1,5", "grouped by commas in threes"), ("1.234.567", "grouped by commas in threes"),
    ("12,34", "grouped by commas in threes"), ("n/a", "not a number"),
    ("NaN", "not a number"), ("inf", "not a number"),
    ("9" * 17, "beyond any count")])
def test_bad_counts_name_file_line_column_and_value(text, reason):
    with pytest.raises(ExportError) as err:
        cells.count(text, W)
    assert str(err.value).startswith(f"f.csv, line 7, column 'Likes': value {text!r}")
    assert reason in str(err.value)


def test_decimals_seconds_and_ratios():
    assert cells.decimal("1234.5", W) == 1234.5
    with pytest.raises(ExportError, match="has a comma"):
        cells.decimal("1,234.5", W)
    with pytest.raises(ExportError, match="negative"):
        cells.decimal("-1", W)
    assert cells.seconds("83.5", W) == 83.5
    assert cells.seconds("1:23", W) == 83
    assert cells.seconds("1:01:23", W) == 3683
    assert cells.ratio("38%", W) == pytest.approx(0.38)
    with pytest.raises(ExportError, match="above 100"):
        cells.ratio("120%", W)


def test_local_times_become_utc_across_daylight_saving():
    from datetime import datetime
    assert cells.to_utc(datetime(2025, 7, 1, 12), "Europe/Berlin") == datetime(2025, 7, 1, 10)
    assert cells.to_utc(datetime(2025, 1, 1, 12), "Europe/Berlin") == datetime(2025, 1, 1, 11)
    with pytest.raises(ExportError, match=r"not a date in the expected form \(MM/DD/YYYY"):
        cells.local_datetime("31/12/2025 10:00", W, ("%m/%d/%Y %H:%M",))


# ---------------------------------------------------------------------------- manifest
def test_manifest_entries_overlay_the_defaults_in_order(tmp_path):
    (tmp_path / "exports.yaml").write_text(
        "defaults: {brand: acme, timezone: UTC}\n"
        "files:\n  - {match: '*.csv', account_id: 42, as_of: 2025-03-31}\n"
        "  - {match: 'ig_*.csv', timezone: Europe/Paris}\nignore: ['notes*']\n")
    manifest = load_manifest(tmp_path)
    settings = manifest.settings_for("ig_posts.csv")
    assert settings.values == {"brand": "acme", "timezone": "Europe/Paris",
                               "account_id": "42", "as_of": date(2025, 3, 31)}
    assert manifest.ignores("notes.txt") and not manifest.ignores("ig_posts.csv")
    with pytest.raises(ExportError) as err:
        settings.require("year")
    assert str(err.value).startswith("ig_posts.csv: needs 'year'")
    assert "under `files:`" in str(err.value)


@pytest.mark.parametrize(("text", "reason"), [
    ("defaults: {brand: acme, colour: red}\n", "defaults.colour: Extra inputs"),
    ("defaults: {timezone: Mars/Olympus}\n", "not an IANA time zone"),
    ("defaults: {currency: XXX}\n", "not a currency we convert"),
    ("files:\n  - {brand: acme}\n", "files.0.match: Field required"),
    ("defaults: [oops\n", "is not valid YAML"),
    ("- a list\n", "must be a mapping")])
def test_a_bad_manifest_fails_naming_the_entry(tmp_path, text, reason):
    (tmp_path / "exports.yaml").write_text(text)
    with pytest.raises(ExportError) as err:
        load_manifest(tmp_path)
    assert str(err.value).startswith("exports.yaml")
    assert reason in str(err.value)


def test_a_file_past_the_row_limit_fails_at_the_first_row_too_many(monkeypatch):
    from kpi_pipeline.lib.sources.exports import reading

    monkeypatch.setattr(reading, "MAX_ROWS", 3)
    assert len(read("a,b\n1,2\n3,4\n5,6\n").rows) == 3
    with pytest.raises(ExportError) as err:
        read("a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n")
    assert str(err.value).startswith("f.csv, line 5: has more than 3 rows, the most one "
                                     "export file may hold")


def test_a_file_past_the_size_limit_is_refused_before_it_is_read(monkeypatch, tmp_path):
    from kpi_pipeline.lib.sources.exports import reading

    monkeypatch.setattr(reading, "MAX_FILE_BYTES", 2**20)
    path = tmp_path / "huge.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 2**19)
    with pytest.raises(ExportError, match=r"^huge.csv: is 2,097,156 bytes, more than the "
                                          r"1,048,576 bytes \(1 MB\) one export file may"):
        reading.read_csv_file(path)


def test_a_long_file_reads_its_preamble_from_the_head_only():
    text = "# Property: 1\n\nTitle\nDate,Sessions\r\n" + "2025-03-01,1\r\n" * 200
    csv = read(text)
    assert (csv.title, csv.header, csv.header_line) == ("Title", ("Date", "Sessions"), 4)
    assert len(csv.rows) == 200 and csv.rows[-1].line == 204
    quoted = read('a,b\r\n"x\r\ny",2\r\n' + "p,q\r\n" * 100)
    assert quoted.rows[0].cells == ("x\ny", "2")  # a line break in a cell reads as \n
