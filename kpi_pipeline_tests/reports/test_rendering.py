"""The rendering engine on small templates of its own: strictness, escaping, bound
parameters, atomic writes, and the front-matter rules."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import date
from pathlib import Path

import duckdb
import pytest

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.pages import TEMPLATES_DIR, ReportSpecError, load_pages
from kpi_pipeline.lib.reports.render import (
    ReportError,
    ReportPeriod,
    environment,
    render_period,
    write_index,
)

WEEK = ReportPeriod("week", date(2025, 4, 14))
CONTEXT = {"currency": "USD", "quality_notes": [], "goals": {}, "goal_warnings": []}
QUALITY = ("SELECT 'normalized.x' AS source, DATE '2025-01-01' AS earliest, "
           "DATE '2025-04-30' AS latest, 3 AS rows_in_period")
COVERAGE = ("SELECT NULL::VARCHAR AS kpi, NULL::VARCHAR AS source, "
            "NULL::INTEGER AS coverage_days, NULL::INTEGER AS period_days WHERE false")
PAGE = """---
title: Test page
question: Does it render?
grains: [week]
queries:
  things: {file: things.sql, params: {names: [a, b]}}
---
{% extends "_layout.html.j2" %}
{% block content %}
{% for row in q.things %}<p class="thing">{{ row.name }}={{ row.amount | num0 }}</p>{% endfor %}
{% endblock %}
"""


@pytest.fixture
def site(tmp_path: Path):
    """A template folder with the real layout and components and one test page, and a
    DuckDB file with one small table."""
    root = tmp_path / "templates"
    (root / "queries").mkdir(parents=True)
    for shared in ("_layout.html.j2", "_components.html.j2", "_styles.css", "index.html.j2"):
        (root / shared).write_text((TEMPLATES_DIR / shared).read_text())
    (root / "queries" / "_quality.sql").write_text(QUALITY)
    (root / "queries" / "_coverage.sql").write_text(COVERAGE)
    (root / "queries" / "things.sql").write_text(
        "SELECT name, amount FROM things WHERE list_contains($names, name) "
        "AND day <= $period_end ORDER BY name")
    (root / "test_page.html.j2").write_text(PAGE)
    db = tmp_path / "site.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE things (name VARCHAR, amount DOUBLE, day DATE)")
        conn.execute("INSERT INTO things VALUES ('a', 1234.4, '2025-04-14'), "
                     "('b', 5, '2025-04-15'), ('<i>c</i>', 7, '2025-04-15')")
    return root, db


def render(site, out: Path):
    root, db = site
    with duckdb.connect(str(db), read_only=True) as conn:
        return render_period(conn, WEEK, out, catalog(), CONTEXT, root)


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_page_renders_its_query_rows(site, tmp_path):
    [page] = render(site, tmp_path / "out")
    html = page.path.read_text()
    assert page.path == tmp_path / "out" / "week" / "2025-04-14" / "test_page.html"
    assert '<p class="thing">a=1,234</p>' in html and '<p class="thing">b=5</p>' in html
    assert "Week 16 2025 (14\u201320 Apr)" in html


def test_an_edited_template_renders_as_edited_not_as_compiled_before(site, tmp_path):
    """Compiled templates are kept between processes (Jinja's bytecode cache): an entry
    serves only the source it was compiled from, even at the same path."""
    root, _ = site
    page = root / "test_page.html.j2"
    assert '<p class="thing">' in render(site, tmp_path / "first")[0].path.read_text()
    page.write_text(page.read_text().replace('class="thing"', 'class="item"'))
    html = render(site, tmp_path / "second")[0].path.read_text()
    assert '<p class="item">a=1,234</p>' in html and 'class="thing"' not in html


def test_a_missing_column_fails_the_render_naming_page_and_line(site, tmp_path):
    root, _ = site
    page = root / "test_page.html.j2"
    page.write_text(page.read_text().replace("row.amount", "row.amount_usd"))
    with pytest.raises(ReportError) as error:
        render(site, tmp_path / "out")
    message = str(error.value)
    assert "'test_page'" in message and "week 2025-04-14" in message
    assert "amount_usd" in message and "test_page.html.j2 line 10" in message


def test_values_are_escaped_in_every_template_whatever_its_extension(site, tmp_path):
    root, _ = site
    (root / "queries" / "things.sql").write_text(
        "SELECT name, amount FROM things WHERE $names IS NOT NULL AND $period_end IS NOT NULL")
    (root / "_part.txt").write_text("{{ value }}")
    page = root / "test_page.html.j2"
    page.write_text(page.read_text().replace("{% endblock %}",
                                             "{% set value = q.things[2].name %}"
                                             "{% include '_part.txt' %}{% endblock %}"))
    [rendered] = render(site, tmp_path / "out")
    html = rendered.path.read_text()
    assert "<i>c</i>" not in html
    assert html.count("&lt;i&gt;c&lt;/i&gt;") == 2  # the row and the .txt include
    assert environment(root).from_string("{{ '<b>' }}").render() == "&lt;b&gt;"


def test_parameters_are_bound_not_pasted(site, tmp_path):
    root, db = site
    page = root / "test_page.html.j2"
    page.write_text(page.read_text().replace(
        "names: [a, b]", "names: [\"a') OR true; DROP TABLE things; --\"]"))
    [rendered] = render(site, tmp_path / "out")
    assert 'class="thing"' not in rendered.path.read_text()
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM things").fetchone()[0] == 3


def test_a_query_parameter_without_a_value_is_named(site, tmp_path):
    root, _ = site
    (root / "queries" / "things.sql").write_text("SELECT $nope AS name, 1 AS amount")
    with pytest.raises(ReportError, match=r"things\.sql.*\$nope"):
        render(site, tmp_path / "out")


def test_a_failed_render_leaves_the_previous_pages_untouched(site, tmp_path):
    out = tmp_path / "out"
    render(site, out)
    before = digest(out)
    root, _ = site
    (root / "queries" / "things.sql").write_text("SELECT * FROM no_such_table")
    with pytest.raises(ReportError, match="no_such_table"):
        render(site, out)
    assert digest(out) == before  # same files, same bytes, no temporary left behind


def test_the_index_lists_every_rendered_period(site, tmp_path):
    out = tmp_path / "out"
    render(site, out)
    root, db = site
    with duckdb.connect(str(db), read_only=True) as conn:
        render_period(conn, WEEK.shifted(-1), out, catalog(), CONTEXT, root)
    html = write_index(out, catalog(), root).read_text()
    assert 'href="week/2025-04-14/test_page.html"' in html
    assert 'href="week/2025-04-07/test_page.html"' in html
    assert html.index("2025-04-14") < html.index("2025-04-07")  # newest first


def _mode_of_plain_write(folder: Path) -> int:
    """The mode ``open(..., "w")`` gives a new file in ``folder`` right now."""
    probe = folder / "plain.txt"
    with open(probe, "w", encoding="utf-8") as handle:
        handle.write("x")
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.unlink()
    return mode


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_pages_and_index_get_the_mode_of_a_plain_write(site, tmp_path, umask):
    """Pages are read by a web server or a colleague: they get 0o666 less the umask like
    any file the user writes, not the 0600 of a private temporary file."""
    out = tmp_path / "out"
    previous = os.umask(umask)
    try:
        [page] = render(site, out)
        index = write_index(out, catalog(), site[0])
        expected = _mode_of_plain_write(out)
    finally:
        os.umask(previous)
    assert expected == 0o666 & ~umask
    assert stat.S_IMODE(page.path.stat().st_mode) == expected
    assert stat.S_IMODE(index.stat().st_mode) == expected
    assert not list(out.rglob(".*.tmp"))  # no temporary left behind


@pytest.mark.parametrize(("change", "message"), [
    ("grains: [week]\nheadlines: [likes]\nqueries:\n  headlines: things.sql",
     "'likes' is a vanity metric"),
    ("grains: [week]\nqueries:\n  things: missing.sql", "no file queries/missing.sql"),
    ("grains: [day]", "grains"),
    ("grains: [week]\nheadlines: [engagement_rate]", "needs a query named 'headlines'"),
])
def test_front_matter_rules(site, change, message):
    root, _ = site
    page = root / "test_page.html.j2"
    text = page.read_text()
    head, rest = text.split("queries:", 1)
    rest = rest.split("---", 1)[1]
    page.write_text(head.replace("grains: [week]\n", change + "\n") + "---" + rest)
    with pytest.raises(ReportSpecError, match=message):
        load_pages(catalog(), root)


def test_shipped_pages_load_and_cover_both_grains():
    pages = load_pages(catalog())
    names = {page.name for page in pages}
    assert "weekly_review" in names
    assert any("month" in page.grains for page in pages)
