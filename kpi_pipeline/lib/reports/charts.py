"""Charts for the report pages, drawn by matplotlib as inline SVG.

SVG keeps each page one self-contained file that opens offline, and with
``svg.fonttype = none`` the labels stay real text (searchable, selectable, and read by
the browser tests). matplotlib escapes every label it writes into the SVG, and math-text
parsing is off, so a campaign named ``$5 <off>`` shows exactly as written.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from markupsafe import Markup

from kpi_pipeline.lib.core.long_lived import import_long_lived
from kpi_pipeline.lib.reports.formats import for_unit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = {
    "svg.fonttype": "none",          # text as <text>, not paths
    "svg.hashsalt": "kpi_pipeline",  # stable element ids: the same data gives the same file
    "text.parse_math": False,        # "$" in untrusted names is a dollar sign, not TeX
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#9aa3ad",
    "axes.labelcolor": "#39424e",
    "xtick.color": "#5b6570",
    "ytick.color": "#5b6570",
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#e3e7ec",
    "grid.linewidth": 0.8,
    "legend.frameon": False,
}
SERIES_COLOURS = ("#1f5fa8", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#16a085")
REFERENCE_COLOUR = "#6b7785"
TARGET_COLOUR = "#c0392b"
# inches: about the width of a card on the page (1,000 px), so that stretched to the
# card's width (below) the 9-point labels stay about 9 points
CHART_WIDTH = 10.0
_SIZE = re.compile(r'^(<svg[^>]*?) width="[^"]+" height="[^"]+"')


@cache
def _pyplot() -> ModuleType:
    """matplotlib's pyplot, imported by the first chart rather than with this module: the
    report renderer is imported when the code location loads, so every process that
    loads it (each run's, the code server's) paid about 0.3 CPU s for it, runs that draw
    nothing included; then kept out of the garbage collector's walks, as it lives as long
    as the process (``lib/core/long_lived.py``). The Agg backend: no display on servers."""
    import matplotlib

    matplotlib.use("Agg")  # must precede pyplot
    return import_long_lived("matplotlib.pyplot")


def _svg(fig: Figure) -> Markup:
    """The figure as an inline <svg> element (no XML prolog) as wide as its card, then
    closed."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # the card's width, not a fixed size in points: with only the viewBox left, the
    # browser scales the drawing to 100 % of the card and keeps its aspect ratio
    return Markup(_SIZE.sub(r'\1 width="100%" style="height: auto; display: block"', text,
                            count=1))


def _value_axis(ax, unit: str, currency: str) -> None:
    ax.yaxis.set_major_formatter(lambda v, _pos: for_unit(v, unit, currency))


def _tick_label(x: object) -> str:
    return f"{x.day} {x:%b}" if isinstance(x, date) else str(x)


def line_chart(x: Sequence[object], series: dict[str, Sequence[float | None]], *,
               unit: str, currency: str = "USD", reference: Sequence[float | None] | None = None,
               reference_label: str = "baseline", target: float | None = None,
               target_label: str = "target", title: str = "",
               band: tuple[Sequence[float | None], Sequence[float | None]] | None = None,
               band_label: str = "usual range", grain: str | None = None,
               incomplete: Sequence[bool] | None = None) -> Markup:
    """One or more series over periods, with an optional dashed reference series (the
    baseline each period was compared with), a shaded band around it (its usual spread:
    a value outside it is a real move, not noise) and a horizontal target line (a goal's
    target, so the reader sees how far the KPI is from it). ``incomplete`` marks the
    periods the data covers only partly: their points are drawn hollow and larger (a
    partial total is not a drop), under the legend entry "incomplete period"."""
    plt = _pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(CHART_WIDTH, 2.6))
        positions = range(len(x))
        if band is not None and any(v is not None for v in band[0]):
            ax.fill_between(positions, [_nan(v) for v in band[0]], [_nan(v) for v in band[1]],
                            color=REFERENCE_COLOUR, alpha=0.15, linewidth=0,
                            label=band_label, gid="baseline-band")
        for colour, (label, values) in zip(SERIES_COLOURS, series.items(), strict=False):
            ax.plot(positions, [_nan(v) for v in values], marker="o", markersize=3,
                    linewidth=1.8, color=colour, label=label)
            partial = [i for i, flag in enumerate(incomplete or ()) if flag
                       and i < len(values) and values[i] is not None]
            if partial:
                ax.plot(partial, [_nan(values[i]) for i in partial], linestyle="none",
                        marker="o", markersize=7, markerfacecolor="white",
                        markeredgecolor=colour, markeredgewidth=1.6,
                        label="incomplete period", gid="incomplete-points")
        if reference is not None:
            ax.plot(positions, [_nan(v) for v in reference], linestyle="--", linewidth=1.2,
                    color=REFERENCE_COLOUR, label=reference_label)
        if target is not None:
            ax.axhline(target, color=TARGET_COLOUR, linewidth=1.4, linestyle=":",
                       label=target_label, gid="target-line")
            low, high = ax.get_ylim()  # the target in view even when the KPI is far off
            ax.set_ylim(min(low, target - 0.05 * abs(target)),
                        max(high, target + 0.05 * abs(target)))
        _period_ticks(ax, x, grain)
        _value_axis(ax, unit, currency)
        if title:
            ax.set_title(title, loc="left", fontsize=10, color="#1d2630")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        return _svg(fig)


def bar_chart(categories: Sequence[object], values: Sequence[float | None], *, unit: str,
              currency: str = "USD", reference: float | None = None,
              reference_label: str = "", title: str = "",
              colours: Sequence[str] | None = None, cap: float | None = None,
              log: bool = False) -> Markup:
    """Horizontal bars (long names stay readable), largest first as given, each labelled
    with its value, with an optional vertical reference line (a target, or 100 % of goal).

    ``cap``: one outlier (a goal at 6,013 % of its target) would shrink every other bar
    to a sliver, so the axis stops at ``cap`` (and ``-cap``) when a value goes past it;
    such a bar ends at the cap with a jagged edge and its label gives its real value.
    ``log``: counts several orders of magnitude apart (8.97M exposures, 91 orders) on a
    logarithmic axis, so the smallest still reads as a bar."""
    shown = [_zero(v) for v in values]
    clipped = [False] * len(shown)
    if cap is not None:
        clipped = [abs(v) > cap for v in shown]
        shown = [max(-cap, min(cap, v)) for v in shown]
    plt = _pyplot()
    with plt.rc_context({**STYLE, "axes.grid.axis": "x"}):
        height = 0.9 + 0.32 * max(len(categories), 1)
        fig, ax = plt.subplots(figsize=(CHART_WIDTH, height))
        positions = list(range(len(categories)))[::-1]
        left = _log_floor(shown) if log else 0.0
        bars = ax.barh(positions, [v - left if v > 0 else 0.0 for v in shown] if log
                       else shown, left=left, height=0.6,
                       color=list(colours) if colours else SERIES_COLOURS[0])
        for index, (bar, cut) in enumerate(zip(bars, clipped, strict=True)):
            bar.set_gid(f"bar-{index}{'-capped' if cut else ''}")
            if cut:
                bar.set_hatch("////")
                bar.set_edgecolor("#ffffff")
        ax.set_yticks(positions, [str(c) for c in categories])
        for pos, value, end, cut in zip(positions, values, shown, clipped, strict=True):
            negative = end < 0  # label outside the bar's end, whichever side
            text = for_unit(value, unit, currency)
            if cut:  # inside the bar's cut end, in white: the real value past the axis
                ax.annotate(f"{text} ▸" if not negative else f"◂ {text}", (end, pos),
                            xytext=(4 if negative else -4, 0), textcoords="offset points",
                            va="center", ha="left" if negative else "right", fontsize=8,
                            color="#ffffff", fontweight="bold", gid="bar-label-capped")
                continue
            ax.annotate(text, (end if not log or end > 0 else left, pos),
                        xytext=(-4 if negative else 4, 0), textcoords="offset points",
                        va="center", ha="right" if negative else "left", fontsize=8,
                        color="#39424e")
        if any(v < 0 for v in shown):
            ax.axvline(0, color="#9aa3ad", linewidth=0.8)
        if reference is not None:
            ax.axvline(reference, color=TARGET_COLOUR, linewidth=1.2, linestyle=":",
                       label=reference_label or None)
            if reference_label:
                ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(left, max([*shown, left * 10]) * 8)  # room for the labels
        ax.xaxis.set_major_formatter(lambda v, _p: for_unit(v, unit, currency))
        if not log:
            ax.margins(x=0.15)
        if any(clipped):
            low, high = min([0.0, *shown]), max([0.0, *shown])
            pad = 0.12 * (high - low)
            ax.set_xlim(low - pad if low < 0 else low, high + pad if high > 0 else high)
        if title:
            ax.set_title(title, loc="left", fontsize=10, color="#1d2630")
        return _svg(fig)


def _log_floor(values: Sequence[float]) -> float:
    """Where bars start on a log axis: the power of ten a decade under the smallest
    positive value (91 -> 1), so even the smallest bar spans a decade or more."""
    positive = [v for v in values if v > 0]
    if not positive:
        return 1.0
    return 10.0 ** (math.floor(math.log10(min(positive))) - 1)


def _period_ticks(ax, x: Sequence[object], grain: str | None = None) -> None:
    step = max(1, -(-len(x) // 7))  # at most 7 labels
    ticks = list(range(0, len(x), step))
    # a quarter reads as "Q3 2026", not as its first day
    ax.set_xticks(ticks, [f"Q{(x[i].month - 1) // 3 + 1} {x[i].year}"
                          if grain == "quarter" and isinstance(x[i], date)
                          else _tick_label(x[i]) for i in ticks])


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _zero(value: float | None) -> float:
    return 0.0 if value is None else float(value)


CHARTS: dict[str, Callable[..., Markup]] = {"line_chart_svg": line_chart,
                                           "bar_chart_svg": bar_chart}
