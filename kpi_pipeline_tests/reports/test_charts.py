"""The charts' SVG read as a browser would draw it: bar lengths from each bar's path, axis
labels from its text. Why: an outlier (a goal at 6,013 % of target, 8.97M exposures next
to 91 orders) must not shrink every other bar to a sliver, and the reader must still see
every real value."""

from __future__ import annotations

import re

from kpi_pipeline.lib.reports.charts import bar_chart

_BAR = re.compile(r'<g id="(bar-\d+(?:-capped)?)">\s*<path d="([^"]+)"')
_TEXT = re.compile(r"<text[^>]*>([^<]*)</text>")


def bar_lengths(svg: str) -> dict[str, float]:
    """Each bar's drawn length in SVG units, by its element id."""
    lengths = {}
    for gid, path in _BAR.findall(svg):
        xs = [float(x) for x in re.findall(r"[ML] (-?[\d.]+) ", path)]
        lengths[gid] = max(xs) - min(xs)
    return lengths


def texts(svg: str) -> list[str]:
    return _TEXT.findall(svg)


def percent(text: str) -> float:
    return float(text.replace("\u2212", "-").replace(",", "").rstrip(" %"))


def test_a_capped_axis_keeps_the_other_bars_readable_and_labels_the_outlier():
    svg = bar_chart(["far past", "half way", "wrong way"], [60.13, 0.5, -0.2],
                    unit="ratio", reference=1.0, cap=1.5)
    lengths = bar_lengths(svg)
    assert set(lengths) == {"bar-0-capped", "bar-1", "bar-2"}
    # 50 % is a third of the 150 % cut, not 0.8 % of 6,013 %
    assert lengths["bar-1"] / lengths["bar-0-capped"] > 0.3
    ticks = [percent(t) for t in texts(svg) if t.endswith(" %")]
    assert max(ticks) <= 150.0  # the axis stops at the cap ...
    assert "6,013.0 % ▸" in texts(svg)  # ... and the bar past it says its real value
    assert "50.0 %" in texts(svg) and "\u221220.0 %" in texts(svg)


def test_no_cap_needed_leaves_the_axis_alone():
    svg = bar_chart(["a", "b"], [1.2, 0.5], unit="ratio", cap=1.5)
    assert set(bar_lengths(svg)) == {"bar-0", "bar-1"}
    assert "▸" not in svg


def test_a_log_axis_shows_every_funnel_stage_with_its_value():
    svg = bar_chart(["Exposure", "Sessions", "Orders"], [8_970_000, 14_800, 91],
                    unit="count", log=True)
    lengths = bar_lengths(svg)
    # on a linear axis 91 of 8.97M would be 0.001 % of the longest bar
    assert lengths["bar-2"] / lengths["bar-0"] > 0.2
    assert lengths["bar-0"] > lengths["bar-1"] > lengths["bar-2"]
    assert {"8,970,000", "14,800", "91"} <= set(texts(svg))
