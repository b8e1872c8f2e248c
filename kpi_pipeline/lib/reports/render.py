"""Render report pages: run each page's SQL read-only, fill its template, write HTML.

Every page is one self-contained HTML file (styles inline, charts as inline SVG, no
script, no font or image from the network) under ``<out>/<grain>/<period start>/``,
written atomically so a reader never sees half a page. Autoescaping is on for every
template whatever its extension, and ``StrictUndefined`` makes a missing column or
variable fail the render instead of printing an empty cell.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemBytecodeCache,
    StrictUndefined,
    TemplateError,
    Undefined,
)

from kpi_pipeline.lib.core.files import write_atomic
from kpi_pipeline.lib.core.periods import GRAINS, YEAR_PERIODS, period_last_day, shift_period
from kpi_pipeline.lib.kpis.catalog import Kpi
from kpi_pipeline.lib.reports.availability import StoreState, store_state
from kpi_pipeline.lib.reports.charts import CHARTS
from kpi_pipeline.lib.reports.coverage import Coverage, incomplete_periods, summarize
from kpi_pipeline.lib.reports.formats import (
    FILTERS,
    kpi_change,
    period_label,
    relative_change,
    tone,
)
from kpi_pipeline.lib.reports.pages import (
    PAGE_SUFFIX,
    TEMPLATES_DIR,
    FrontMatterLoader,
    PageSpec,
    load_page,
    load_pages,
)

TREND_PERIODS = {"week": 13, "month": 13, "quarter": 9}  # a quarter of weeks, a year and a
# month, two years and a quarter
QUALITY_QUERY = "_quality.sql"
COVERAGE_QUERY = "_coverage.sql"  # every page's incomplete-period marks (lib/reports/coverage)
PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class ReportError(RuntimeError):
    """A page failed to render; the message names the page, the period and the cause."""


class Row(SimpleNamespace):
    """One result row: columns as attributes (``row.value``) and items (``row['value']``).
    A column the query does not return is undefined, and fails the render."""

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@dataclass(frozen=True)
class ReportPeriod:
    """The week, month or quarter one report page covers, named by its grain and first
    day.

    Not a goal's window (``lib.goals``' ``Period``, any start and end): a page always
    covers one whole calendar period of its grain, so the grain and start are enough."""

    grain: str
    start: date

    @property
    def end(self) -> date:
        return period_last_day(self.start, self.grain)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        return period_label(self.start, self.grain)

    @property
    def noun(self) -> str:
        return self.grain  # "week" / "month": "vs last week"

    def shifted(self, periods: int) -> ReportPeriod:
        """The period ``periods`` before (negative) or after this one."""
        return ReportPeriod(self.grain, shift_period(self.start, self.grain, periods))

    def year_ago(self) -> ReportPeriod:
        """The same period a year earlier (52 weeks, 12 months, 4 quarters)."""
        return self.shifted(-YEAR_PERIODS[self.grain])

    @property
    def key(self) -> str:
        return self.start.isoformat()

    def params(self) -> dict[str, Any]:
        """The values every query may bind by name."""
        return {
            "grain": self.grain,
            "period_start": self.start,
            "period_end": self.end,
            "previous_start": self.shifted(-1).start,
            "year_ago_start": self.year_ago().start,
            "history_start": self.shifted(1 - TREND_PERIODS[self.grain]).start,
        }


@dataclass
class RenderedPage:
    spec: PageSpec
    period: ReportPeriod
    path: Path
    headlines: dict[str, float | None] = field(default_factory=dict)


def _strict(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that fails on an undefined value instead of formatting it: a number
    filter given a column the query does not return must fail the render."""

    def strict_filter(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return fn(value, *args, **kwargs)

    strict_filter.__doc__ = fn.__doc__
    return strict_filter


def _template_line(exc: BaseException) -> str:
    """" at reports/x.html.j2 line N" from the innermost template frame, if any."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return ""
    return f" at {Path(frames[-1].filename).name} line {frames[-1].lineno}"


def _now_label() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


@cache
def _compiled_templates() -> BytecodeCache | None:
    """Jinja's cache of compiled templates, kept between processes in a private folder of
    the system's temporary directory: every run is a new process, and compiling the pages
    and their macros costs each report run about 0.2 s of CPU. Jinja checks each entry
    against its template's source, so an edited template compiles again. Without a
    usable temporary directory the pages compile as before."""
    try:
        return FileSystemBytecodeCache()
    except (RuntimeError, OSError):
        return None


def environment(root: Path = TEMPLATES_DIR) -> Environment:
    """The Jinja environment of the report pages: autoescape everywhere, strict."""
    env = Environment(loader=FrontMatterLoader(str(root)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, bytecode_cache=_compiled_templates())
    env.filters.update({name: _strict(fn) for name, fn in FILTERS.items()})
    env.filters["from_json"] = _strict(json.loads)
    env.globals.update(CHARTS)
    env.globals.update(relative_change=relative_change, tone=tone, kpi_change=kpi_change)
    return env


def run_query(conn: duckdb.DuckDBPyConnection, sql: str,
              params: Mapping[str, Any]) -> list[Row]:
    """Run one query with the named parameters it mentions bound (never interpolated)."""
    wanted = dict.fromkeys(PARAMETER.findall(sql))
    missing = [name for name in wanted if name not in params]
    if missing:
        raise KeyError(f"no value for parameter(s) {', '.join('$' + m for m in missing)}")
    cursor = conn.execute(sql, {name: params[name] for name in wanted})
    columns = [d[0] for d in cursor.description]
    return [Row(**dict(zip(columns, values, strict=True))) for values in cursor.fetchall()]


def _queries(root: Path, spec: PageSpec) -> dict[str, tuple[str, dict[str, Any]]]:
    queries = {"quality": (QUALITY_QUERY, {}), "coverage": (COVERAGE_QUERY, {})}
    queries.update({name: (q.file, q.params) for name, q in spec.queries.items()})
    return {name: ((root / "queries" / file).read_text(encoding="utf-8"), params)
            for name, (file, params) in queries.items()}


def page_path(out_root: Path, period: ReportPeriod, name: str) -> Path:
    """Where a page of a period goes: ``<out>/<week|month>/<period start>/<name>.html``."""
    return out_root / period.grain / period.key / f"{name}.html"


QUALITY_FOLDER = "quality"  # the kpi_expectations check's page per period lands here


def quality_page(out_root: Path, period: ReportPeriod) -> Path:
    """The period's data-quality page (the KPI expectations' validation of that period,
    written by the check beside the reports), whether or not it exists yet."""
    return out_root / QUALITY_FOLDER / f"kpi_{period.grain}_{period.key}.html"


def quality_href(out_root: Path, period: ReportPeriod) -> str | None:
    """The link from a page of the period to its data-quality page, when there is one."""
    path = quality_page(out_root, period)
    return f"../../{QUALITY_FOLDER}/{path.name}" if path.exists() else None


def render_page(env: Environment, conn: duckdb.DuckDBPyConnection, spec: PageSpec,
                period: ReportPeriod, pages: Sequence[PageSpec], context: Mapping[str, Any],
                out_root: Path, root: Path = TEMPLATES_DIR,
                state: StoreState | None = None) -> tuple[str, dict[str, Any]]:
    """The page's HTML and its headline numbers; raises ``ReportError`` naming the page,
    the period and the query or template line that failed.

    ``state`` says which tables the store lacks yet (read from ``conn`` when not given):
    their references read as empty tables of the same shape, and the page lists what is
    not there yet (``not_yet``), so a young store renders every page. The SQL shown on
    the page is the query as written."""
    where = f"report page {spec.name!r} for {period.grain} {period.key}"
    state = store_state(conn) if state is None else state
    results, sql = {}, {}
    for name, (text, extra) in _queries(root, spec).items():
        try:
            results[name] = run_query(conn, state.prepare(text), {**period.params(), **extra})
        except (duckdb.Error, KeyError) as exc:
            file = spec.queries[name].file if name in spec.queries else \
                {"quality": QUALITY_QUERY, "coverage": COVERAGE_QUERY}[name]
            raise ReportError(f"{where}: query {name!r} (queries/{file}): {exc}") from exc
        sql[name] = text
    previous = page_path(out_root, period.shifted(-1), spec.name)
    coverage = summarize(results["coverage"], context["kpis"], period.days)
    try:
        html = env.get_template(spec.name + PAGE_SUFFIX).render(
            page=spec, period=period, q=results, sql=sql,
            nav=[(p.title, f"{p.name}.html", p.name == spec.name)
                 for p in pages if period.grain in p.grains],
            previous_href=f"../{previous.parent.name}/{previous.name}" if previous.exists()
            else None,
            index_href="../../index.html",
            quality_href=quality_href(out_root, period),
            not_yet=state.not_yet([*sql.values(), *spec.reads], period.grain),
            store_missing=state.missing, coverage=coverage,
            generated_at=_now_label(), **{"partial_report": False, **context})
    except TemplateError as exc:
        raise ReportError(f"{where}: template {spec.name}{PAGE_SUFFIX}{_template_line(exc)}: "
                          f"{exc}") from exc
    headlines = {row.kpi: row.value for row in results.get("headlines", [])
                 if hasattr(row, "kpi") and hasattr(row, "value")}
    return html, headlines


def period_coverage(conn: duckdb.DuckDBPyConnection, period: ReportPeriod,
                    kpis: Mapping[str, Kpi], root: Path = TEMPLATES_DIR,
                    state: StoreState | None = None) -> Coverage:
    """How much of ``period`` its data covers, as every page of it shows (the same query):
    what the report gate judges before rendering."""
    state = store_state(conn) if state is None else state
    text = (root / "queries" / COVERAGE_QUERY).read_text(encoding="utf-8")
    return summarize(run_query(conn, state.prepare(text), period.params()), kpis,
                     period.days)


def render_period(conn: duckdb.DuckDBPyConnection, period: ReportPeriod, out_root: Path,
                  kpis: Mapping[str, Kpi], context: Mapping[str, Any],
                  root: Path = TEMPLATES_DIR) -> list[RenderedPage]:
    """Render every page of the period's grain; all pages render before any is written,
    so a failing page leaves the period's previous files as they were."""
    env = environment(root)
    pages = load_pages(kpis, root)
    full_context = {"kpis": kpis, **context}
    state = store_state(conn)
    rendered = []
    for spec in (p for p in pages if period.grain in p.grains):
        html, headlines = render_page(env, conn, spec, period, pages, full_context,
                                      out_root, root, state)
        rendered.append((RenderedPage(spec, period, page_path(out_root, period, spec.name),
                                      headlines), html))
    for page, html in rendered:
        write_atomic(page.path, html)
    return [page for page, _ in rendered]


def render_one(conn: duckdb.DuckDBPyConnection, name: str, period: ReportPeriod, out_root: Path,
               kpis: Mapping[str, Kpi], context: Mapping[str, Any],
               root: Path = TEMPLATES_DIR) -> RenderedPage:
    """Render and write one page for one period, leaving the grain's other pages alone
    (a notebook, a test, or re-rendering a page after editing its template)."""
    spec = load_page(root / f"{name}{PAGE_SUFFIX}", kpis, root)
    html, headlines = render_page(environment(root), conn, spec, period, [spec],
                                  {"kpis": kpis, **context}, out_root, root)
    path = page_path(out_root, period, name)
    write_atomic(path, html)
    return RenderedPage(spec, period, path, headlines)


def write_index(out_root: Path, kpis: Mapping[str, Kpi], root: Path = TEMPLATES_DIR,
                conn: duckdb.DuckDBPyConnection | None = None) -> Path:
    """The index page: every page and every period rendered so far, newest first; with
    ``conn`` (the store), the periods whose KPIs do not cover every day are marked
    incomplete."""
    pages = load_pages(kpis, root)
    grains = []
    incomplete: dict[str, set[date]] = {
        grain: incomplete_periods(conn, grain) if conn is not None else set()
        for grain in GRAINS}
    for grain in GRAINS:
        folder = out_root / grain
        periods = sorted((p.name for p in folder.iterdir() if p.is_dir()),
                         reverse=True) if folder.exists() else []
        rows = []
        for key in periods:
            period = ReportPeriod(grain, date.fromisoformat(key))
            paths = [(spec.title, page_path(out_root, period, spec.name))
                     for spec in pages if grain in spec.grains]
            rows.append((period, [(title, path.relative_to(out_root).as_posix())
                                  for title, path in paths if path.exists()],
                         period.start in incomplete[grain]))
        grains.append((grain, rows))
    html = environment(root).get_template(f"index{PAGE_SUFFIX}").render(
        pages=pages, grains=grains, generated_at=_now_label())
    path = out_root / "index.html"
    write_atomic(path, html)
    return path
