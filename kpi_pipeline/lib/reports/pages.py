"""Report page specifications: the front matter of each page template.

The templates, their shared partials and their SQL (``queries/``) ship inside the package,
in ``kpi_pipeline/lib/reports/templates/``, so an installed package renders the same pages
as a checkout.

A page template starts with YAML front matter between ``---`` lines::

    ---
    title: Weekly review
    question: What moved this week, against last week and the baseline?
    grains: [week]
    headlines: [engagement_rate, landing_page_sessions]
    queries:
      headlines: kpi_headlines.sql
      trend: {file: kpi_trend.sql, params: {kpis: [engagement_rate]}}
    ---

The front matter is validated here (unknown grains, missing query files, vanity KPIs as
headlines all fail loudly) and stripped before Jinja sees the template, so line numbers
in template errors still match the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from jinja2 import FileSystemLoader
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpi_pipeline.lib.core.package_data import package_path
from kpi_pipeline.lib.core.yaml_files import load_yaml
from kpi_pipeline.lib.kpis.catalog import Kpi
from kpi_pipeline.lib.reports.availability import BY_NAME

TEMPLATES_DIR = package_path("lib", "reports", "templates")
PAGE_SUFFIX = ".html.j2"
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


class ReportSpecError(ValueError):
    """A page's front matter is invalid; the message names the template and the field."""


class QuerySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    params: dict[str, Any] = Field(default_factory=dict)


class PageSpec(BaseModel):
    """What a page answers and which SQL feeds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    question: str
    grains: tuple[Literal["week", "month", "quarter"], ...] = Field(min_length=1)
    order: int = 100
    headlines: tuple[str, ...] = ()
    queries: dict[str, QuerySpec] = Field(default_factory=dict)
    # Store tables the page reads outside its SQL (through the context the assets build,
    # such as the stored goals file): the page says so when one is not there yet.
    reads: tuple[str, ...] = ()

    @field_validator("queries", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        """``name: file.sql`` is short for ``name: {file: file.sql}``."""
        if isinstance(value, Mapping):
            return {k: {"file": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _headline_query(self) -> PageSpec:
        if self.headlines and "headlines" not in self.queries:
            raise ValueError("a page with headlines needs a query named 'headlines'")
        return self


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front matter, body); the body keeps one blank line per front-matter line."""
    match = FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    meta = load_yaml(match.group(1), "front matter") or {}
    return meta, _body(text, match)


def _body(text: str, match: re.Match[str]) -> str:
    """The template without its front matter, its lines where they were (so Jinja's
    errors name the line of the file)."""
    return "\n" * match.group(0).count("\n") + text[match.end():]


class FrontMatterLoader(FileSystemLoader):
    """A file loader that hides each template's front matter from Jinja (without reading
    it: ``load_page`` validates it)."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        match = FRONT_MATTER.match(source)
        return (source if match is None else _body(source, match)), filename, uptodate


def load_page(path: Path, kpis: Mapping[str, Kpi], root: Path = TEMPLATES_DIR) -> PageSpec:
    """The validated spec of one template; raises ``ReportSpecError`` naming the file."""
    meta, _ = split_front_matter(path.read_text(encoding="utf-8"))
    name = path.name.removesuffix(PAGE_SUFFIX)
    try:
        spec = PageSpec.model_validate({"name": name, **meta})
    except ValueError as exc:
        raise ReportSpecError(f"{path}: invalid front matter: {exc}") from exc
    problems = []
    for query_name, query in spec.queries.items():
        if not (root / "queries" / query.file).is_file():
            problems.append(f"query {query_name!r}: no file queries/{query.file}")
    problems += [f"reads: {table!r} is not a store table the pages know"
                 for table in spec.reads if table not in BY_NAME]
    for kpi in spec.headlines:
        if kpi not in kpis:
            problems.append(f"headlines: unknown KPI {kpi!r}")
        elif kpis[kpi].vanity:
            problems.append(f"headlines: {kpi!r} is a vanity metric and never headlines")
        elif not set(spec.grains) <= set(kpis[kpi].grains):
            problems.append(f"headlines: {kpi!r} is not computed for every grain of the page")
    if problems:
        raise ReportSpecError(f"{path}: " + "; ".join(problems))
    return spec


def load_pages(kpis: Mapping[str, Kpi], root: Path = TEMPLATES_DIR) -> list[PageSpec]:
    """Every page template under ``root`` (files starting with _ are partials), in order."""
    paths = sorted(p for p in root.glob(f"*{PAGE_SUFFIX}") if not p.name.startswith("_"))
    pages = [load_page(p, kpis, root) for p in paths if p.name != f"index{PAGE_SUFFIX}"]
    return sorted(pages, key=lambda page: (page.order, page.name))


def pages_for(grain: str, kpis: Mapping[str, Kpi], root: Path = TEMPLATES_DIR) -> list[PageSpec]:
    return [page for page in load_pages(kpis, root) if grain in page.grains]
