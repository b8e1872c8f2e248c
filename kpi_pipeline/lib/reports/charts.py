"""Charts for the report pages, drawn by matplotlib as inline SVG.

SVG keeps each page one self-contained file that opens offline, and with
``svg.fonttype = none`` the labels stay real text (searchable, selectable, and read by
the browser tests). matplotlib escapes every label it writes into the SVG, and math-text
parsing is off, so a campaign named ``$5 <off>`` shows exactly as written.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
from markupsafe import Markup
from matplotlib.ticker import FuncFormatter

from kpi_pipeline.lib.reports.formats import for_unit

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


def _svg(fig: plt.Figure) -> Markup:
    """The figure as an inline <svg> element (no XML prolog), then closed."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return Markup(text[text.index("<svg"):])


def _value_axis(ax, unit: str, currency: str) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: for_unit(v, unit, currency)))


def _tick_label(x: object) -> str:
    return f"{x.day} {x:%b}" if isinstance(x, date) else str(x)


def line_chart(x: Sequence[object], series: dict[str, Sequence[float | None]], *,
               unit: str, currency: str = "USD", reference: Sequence[float | None] | None = None,
               reference_label: str = "baseline", target: float | None = None,
               target_label: str = "target", title: str = "") -> Markup:
    """One or more series over periods, with an optional dashed reference series (the
    baseline each period was compared with) and a horizontal target line."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 2.6))
        positions = range(len(x))
        for colour, (label, values) in zip(SERIES_COLOURS, series.items(), strict=False):
            ax.plot(positions, [_nan(v) for v in values], marker="o", markersize=3,
                    linewidth=1.8, color=colour, label=label)
        if reference is not None:
            ax.plot(positions, [_nan(v) for v in reference], linestyle="--", linewidth=1.2,
                    color=REFERENCE_COLOUR, label=reference_label)
        if target is not None:
            ax.axhline(target, color=TARGET_COLOUR, linewidth=1.2, linestyle=":",
                       label=target_label)
        _period_ticks(ax, x)
        _value_axis(ax, unit, currency)
        if title:
            ax.set_title(title, loc="left", fontsize=10, color="#1d2630")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        return _svg(fig)


def bar_chart(categories: Sequence[object], values: Sequence[float | None], *, unit: str,
              currency: str = "USD", reference: float | None = None,
              reference_label: str = "", title: str = "",
              colours: Sequence[str] | None = None) -> Markup:
    """Horizontal bars (long names stay readable), largest first as given, with an
    optional vertical reference line (a target, or 100 % of goal)."""
    with plt.rc_context({**STYLE, "axes.grid.axis": "x"}):
        height = 0.9 + 0.32 * max(len(categories), 1)
        fig, ax = plt.subplots(figsize=(7.2, height))
        positions = list(range(len(categories)))[::-1]
        ax.barh(positions, [_zero(v) for v in values], height=0.6,
                color=list(colours) if colours else SERIES_COLOURS[0])
        ax.set_yticks(positions, [str(c) for c in categories])
        for pos, value in zip(positions, values, strict=True):
            negative = _zero(value) < 0  # label outside the bar's end, whichever side
            ax.annotate(for_unit(value, unit, currency), (_zero(value), pos),
                        xytext=(-4 if negative else 4, 0), textcoords="offset points",
                        va="center", ha="right" if negative else "left", fontsize=8,
                        color="#39424e")
        if any(_zero(v) < 0 for v in values):
            ax.axvline(0, color="#9aa3ad", linewidth=0.8)
        if reference is not None:
            ax.axvline(reference, color=TARGET_COLOUR, linewidth=1.2, linestyle=":",
                       label=reference_label or None)
            if reference_label:
                ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: for_unit(v, unit, currency)))
        ax.margins(x=0.15)
        if title:
            ax.set_title(title, loc="left", fontsize=10, color="#1d2630")
        return _svg(fig)


def _period_ticks(ax, x: Sequence[object]) -> None:
    step = max(1, -(-len(x) // 7))  # at most 7 labels
    ticks = list(range(0, len(x), step))
    ax.set_xticks(ticks, [_tick_label(x[i]) for i in ticks])


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _zero(value: float | None) -> float:
    return 0.0 if value is None else float(value)


CHARTS: dict[str, Callable[..., Markup]] = {"line_chart_svg": line_chart,
                                           "bar_chart_svg": bar_chart}
