"""The report templates and queries ship inside the package.

Why: the renderer finds them through ``importlib.resources``, so an installed wheel
renders only if setuptools copies every file it references. Building a wheel here is too
slow; instead every file the renderer references (each page, the partials it extends,
includes or imports, its queries and the quality query) must open through
``importlib.resources`` and be matched by the ``[tool.setuptools.package-data]`` globs,
expanded the way setuptools expands them (relative to the package folder).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from jinja2 import meta

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.pages import PAGE_SUFFIX, TEMPLATES_DIR, load_pages
from kpi_pipeline.lib.reports.render import QUALITY_QUERY, environment

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PACKAGE = Path(str(resources.files("kpi_pipeline")))
TEMPLATES = ("lib", "reports", "templates")


def packaged() -> set[str]:
    """The files of kpi_pipeline the package-data globs select, relative to the package."""
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["kpi_pipeline"]
    return {p.relative_to(PACKAGE).as_posix() for pattern in globs
            for p in PACKAGE.glob(pattern) if p.is_file()}


def referenced() -> set[str]:
    """Every template and query file the renderer reads, relative to the templates."""
    env = environment()
    pages = [f"{page.name}{PAGE_SUFFIX}" for page in load_pages(catalog())]
    found = {f"queries/{QUALITY_QUERY}"}
    found |= {f"queries/{query.file}" for page in load_pages(catalog())
              for query in page.queries.values()}
    todo = [*pages, f"index{PAGE_SUFFIX}"]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        source = env.loader.get_source(env, name)[0]
        todo += [n for n in meta.find_referenced_templates(env.parse(source)) if n]
    return found


def test_the_templates_are_found_inside_the_package():
    assert PACKAGE.joinpath(*TEMPLATES) == TEMPLATES_DIR


def test_every_file_the_renderer_references_opens_and_is_package_data():
    files = referenced()
    assert {"_layout.html.j2", "_components.html.j2", "_styles.css", "index.html.j2",
            "weekly_review.html.j2", "queries/_quality.sql"} <= files
    shipped = packaged()
    for name in sorted(files):
        resource = resources.files("kpi_pipeline").joinpath(*TEMPLATES, *name.split("/"))
        assert resource.is_file(), name
        assert "/".join((*TEMPLATES, name)) in shipped, f"{name} is not in package-data"


def test_every_file_in_the_templates_folder_is_package_data():
    on_disk = {p.relative_to(PACKAGE).as_posix() for p in TEMPLATES_DIR.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert on_disk
    assert on_disk <= packaged()
