"""The KPI catalogue (``kpi_pipeline/data/kpi_catalog.yaml``): loaded and validated once.

Formulas are small arithmetic expressions over a source's measures. They are checked
against the measures that source defines when the catalogue loads, so a typo fails at
start-up with the KPI and field named, not as a SQL error in the middle of a run.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.core.periods import GRAINS
from kpi_pipeline.lib.core.yaml_files import load_yaml_file, named_entries
from kpi_pipeline.lib.kpis.facts import SOURCES

CATALOG_PATH = data_file("kpi_catalog.yaml")
STAGES = ("awareness", "engagement", "traffic", "lead_generation", "revenue", "retention")
SCOPES = ("all", "brand", "platform", "account", "campaign", "media_type")
_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|(\d+(?:\.\d+)?)|([-+*/()]))")


class CatalogError(ValueError):
    """The KPI catalogue file is invalid."""


def formula_terms(expression: str) -> list[str]:
    """The measure names an expression uses; raises on anything but + - * / ( ) numbers."""
    names, pos = [], 0
    text = expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"unexpected {text[pos:]!r}: formulas use measures, numbers "
                             "and + - * / ( )")
        if match.group(1):
            names.append(match.group(1))
        pos = match.end()
    return names


def summed_formula(expression: str, where: str | None = None) -> str:
    """The formula with every measure replaced by its sum: ``a / b`` -> ``sum(a) / sum(b)``,
    each sum over the rows meeting ``where`` when given (``sum(a) FILTER (WHERE ...)``).
    Only for formulas that passed ``formula_terms`` (measures, numbers, operators)."""
    formula_terms(expression)
    only = f" FILTER (WHERE {where})" if where else ""
    return re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda m: f"sum({m.group(0)}){only}",
                  expression)


def is_sum_of_measures(expression: str) -> bool:
    """True when a formula only adds and subtracts measures, each maybe scaled by a number
    (``a - b``, ``impressions / 1000``): then its value over a group is the sum of its
    values over the group's parts, so a roll-up recomputes from the parts. A product or a
    quotient of measures (``revenue * orders``) or a constant term (``a + 1``) is not."""
    formula_terms(expression)

    def degree(node: ast.AST) -> int | None:  # degree in the measures; None: mixed
        if isinstance(node, ast.Name):
            return 1
        if isinstance(node, ast.Constant):
            return 0
        if isinstance(node, ast.UnaryOp):
            return degree(node.operand)
        if isinstance(node, ast.BinOp):
            left, right = degree(node.left), degree(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Add | ast.Sub):
                return left if left == right else None
            if isinstance(node.op, ast.Mult):
                return left + right
            if isinstance(node.op, ast.Div):
                return left if right == 0 else None
        return None

    return degree(ast.parse(expression.strip(), mode="eval").body) == 1


class Kpi(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str
    description: str
    source: Literal["post_activity", "account", "ads", "web", "ads_web", "email", "attribution",
                    "cohorts"]
    numerator: str
    denominator: str | None = None
    unit: Literal["count", "ratio", "multiple", "currency", "seconds"]
    stage: Literal["awareness", "engagement", "traffic", "lead_generation", "revenue",
                   "retention"]
    indicator: Literal["leading", "lagging"]
    direction: Literal["higher", "lower"]
    vanity: bool
    additive: bool
    # A ratio must say whether it is a part over its whole (kept in [0, 1] by a blocking
    # check) or not, so a new ratio cannot slip past that check unclassified.
    bounded: bool | None = None
    # How an unbounded ratio reads, required for them: a growth rate is a percent
    # (+1.2 %), an average per something (pages per session) a plain number (2.56). A
    # bounded ratio is a share and always a percent.
    reads_as: Literal["percent", "number"] | None = None
    headline: bool = False
    platforms: tuple[str, ...] = Field(min_length=1)
    scopes: tuple[Literal["all", "brand", "platform", "account", "campaign",
                          "media_type"], ...] | None = None
    grains: tuple[Literal["week", "month", "quarter"], ...] = GRAINS
    definitions: dict[str, str] = Field(default_factory=dict)
    # The cross-platform formula in words (all, brand, media-type rows); without it the
    # measures' names are shown.
    definition: str | None = None
    # False when the numerator or denominator is not a plain sum of measures (a product
    # of two sums, say): then a roll-up cannot be recomputed from the rows' numerators and
    # denominators, and the README must say why the KPI is kept that way.
    reaggregable: bool = True

    @model_validator(mode="after")
    def _formulas_use_known_measures(self) -> Kpi:
        source = SOURCES[self.source]
        for field in ("numerator", "denominator"):
            expression = getattr(self, field)
            if expression is None:
                continue
            unknown = sorted(set(formula_terms(expression)) - set(source.measures))
            if unknown:
                raise ValueError(f"{field} uses {unknown}, which source {self.source!r} does "
                                 f"not measure (it has {sorted(source.measures)})")
        bad_scopes = set(self.scopes or ()) - set(source.scopes)
        if bad_scopes:
            raise ValueError(f"scopes {sorted(bad_scopes)} are not available for source "
                             f"{self.source!r} (it has {list(source.scopes)})")
        if self.unit == "count" and self.denominator and self.additive:
            raise ValueError("a ratio of two sums is not additive over time")
        if self.unit == "ratio" and self.bounded is None:
            raise ValueError("a ratio must say whether it is bounded to [0, 1] "
                             "(bounded: true or false)")
        if self.unit != "ratio" and self.bounded is not None:
            raise ValueError(f"bounded applies to ratios only, not to unit {self.unit!r}")
        if self.unit == "ratio" and self.bounded is False and self.reads_as is None:
            raise ValueError("an unbounded ratio must say how it reads (reads_as: percent "
                             "for a growth rate, number for an average such as pages per "
                             "session)")
        if self.reads_as is not None and not (self.unit == "ratio" and self.bounded is False):
            raise ValueError("reads_as applies to unbounded ratios only (a bounded ratio "
                             "is a share, always a percent)")
        if self.reaggregable:
            for field in ("numerator", "denominator"):
                expression = getattr(self, field)
                if expression is not None and not is_sum_of_measures(expression):
                    raise ValueError(
                        f"{field} {expression!r} is not a sum of measures, so a roll-up "
                        "cannot be recomputed from the rows' numerators and denominators: "
                        "make it one, or mark the KPI reaggregable: false and say why in "
                        "the README")
        if self.headline and self.vanity:
            raise ValueError("a vanity metric is never a headline")
        return self

    @property
    def cohort(self) -> bool:
        """A cohort figure (source ``cohorts``): its period is the customers first acquired
        in it, followed over a window after the period, so its coverage counts the days
        whose customers' window has closed. A period's cohort stays open for the window
        after the period ends: its rows are marked incomplete and compared with no other
        period, but an open cohort does not make a report period incomplete."""
        return self.source == "cohorts"

    @property
    def computed_scopes(self) -> tuple[str, ...]:
        return self.scopes or SOURCES[self.source].scopes

    def definition_for(self, platform: str | None) -> str:
        """The formula in words for one platform, or the general one."""
        if platform and platform in self.definitions:
            return self.definitions[platform]
        general = self.definition or (self.numerator if not self.denominator else (
            f"{self.numerator} / {self.denominator}"))
        if platform is None and self.definitions:
            by = "; ".join(f"{p}: {d}" for p, d in sorted(self.definitions.items()))
            return f"{general} (per platform: {by})"
        return general


def load_catalog(path: Path | str = CATALOG_PATH) -> dict[str, Kpi]:
    """Read and validate a catalogue; every problem of every KPI is reported at once."""
    raw = load_yaml_file(path) or {}
    entries = raw.get("kpis") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise CatalogError(f"{path}: expected a mapping 'kpis:' of KPI name -> definition")
    kpis, problems = named_entries(entries, Kpi, "kpi")
    if problems:
        raise CatalogError(f"{path}: {len(problems)} invalid KPI(s)\n" + "\n".join(problems))
    return kpis


@cache
def catalog() -> dict[str, Kpi]:
    """The shipped catalogue, loaded once per process."""
    return load_catalog()
