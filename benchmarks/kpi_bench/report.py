"""The Markdown tables the benchmark prints, and its JSON.

Targets are reported here, never asserted.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict

from kpi_bench.harness import DatasetResult
from kpi_bench.job import STEPS, WRITE_STEPS

TARGET_RATIO = 1.5


def render(results: list[DatasetResult], repeats: int) -> str:
    parts = [render_datasets(results), render_steps(results, repeats),
             render_summary(results), render_chain_steps(results)]
    if any(step in res.steps for res in results for step in WRITE_STEPS):
        parts.append(render_write_path(results))
    return "\n\n".join(parts)


def render_write_path(results: list[DatasetResult]) -> str:
    """The increments' cost on the write path and their saving on the read path."""
    pairs = (("day at the end", "write_day", "plain_day"),
             ("week at the end", "write_week", "plain_week"),
             ("day 52 weeks back", "write_mid_day", "plain_mid_day"),
             ("one KPI, whole history", "one_kpi_increments", "one_kpi_lag"))
    lines = ["Write path: replace_window (increments derived, next snapshots refreshed) "
             "against the plain DELETE + INSERT; read path: one KPI with the stored "
             "increments against lag() over the snapshots. CPU s, medians.", "",
             "| dataset | what | rows | with increments CPU s | without CPU s | ratio "
             "| with peak MB | without peak MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        for label, new, old in pairs:
            if new not in res.steps:
                continue
            a, b = res.steps[new], res.steps[old]
            lines.append(f"| {res.dataset.label} | {label} | {a.samples[-1].rows_written:,} "
                         f"| {a.median_cpu:.2f} | {b.median_cpu:.2f} "
                         f"| {a.median_cpu / b.median_cpu:.2f} | {a.peak_mb:,.0f} "
                         f"| {b.peak_mb:,.0f} |")
    return "\n".join(lines)


def render_datasets(results: list[DatasetResult]) -> str:
    lines = ["| dataset | weeks | accounts | campaigns | brands | post_daily | account_daily "
             "| ad_daily | web_daily | email_daily | file MB | build s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        ds, c = res.dataset, res.counts
        built = f"{res.build_seconds:.0f}" if res.build_seconds else "reused"
        lines.append(f"| {ds.label} | {ds.weeks} | {ds.n_accounts} | {ds.n_campaigns} "
                     f"| {ds.n_brands} | {c['post_daily']:,} | {c['account_daily']:,} "
                     f"| {c['ad_daily']:,} | {c['web_daily']:,} | {c['email_daily']:,} "
                     f"| {res.db_mb:,.0f} | {built} |")
    return "\n".join(lines)


def render_steps(results: list[DatasetResult], repeats: int) -> str:
    lines = [f"CPU (user + sys) and wall seconds of the step: median of {repeats} (CPU min-max "
             "beside it); peak RSS: highest of the repeats; setup: the imports and loading "
             "before the clock (median CPU s).", "",
             "| dataset | step | CPU s | CPU min-max | wall s | peak RSS MB | setup CPU s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for res in results:
        for step in STEPS:
            sr = res.steps[step]
            lo, hi = sr.cpu_spread
            setup = statistics.median(s.setup_cpu_seconds for s in sr.samples)
            lines.append(f"| {res.dataset.label} | {step} | {sr.median_cpu:.2f} "
                         f"| {lo:.2f}-{hi:.2f} | {sr.median_seconds:.2f} "
                         f"| {sr.peak_mb:,.0f} | {setup:.1f} |")
    return "\n".join(lines)


def render_summary(results: list[DatasetResult]) -> str:
    lines = ["| dataset | chain / floor (CPU) | (chain - fixed) / floor | library / floor "
             "| chain / floor (wall) | chain peak MB | floor peak MB | ratio <= 1.5 "
             "| same results |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for res in results:
        wall = res.steps["chain"].median_seconds / res.steps["floor"].median_seconds
        lines.append(
            f"| {res.dataset.label} | {res.ratio:.2f} | {res.ratio_net:.2f} "
            f"| {res.cpu('library') / res.cpu('floor'):.2f} | {wall:.2f} "
            f"| {res.steps['chain'].peak_mb:,.0f} | {res.steps['floor'].peak_mb:,.0f} "
            f"| {'met' if res.ratio <= TARGET_RATIO else 'MISSED'} "
            f"| {'yes' if res.same_output else 'NO'} |")
    return "\n".join(lines)


def render_chain_steps(results: list[DatasetResult]) -> str:
    """Where the chain's wall time goes, from Dagster's own step durations (medians)."""
    keys = sorted({k for res in results for s in res.steps["chain"].samples
                   for k in s.step_seconds})
    lines = ["Chain steps, wall seconds (Dagster's step durations, median):", "",
             "| dataset | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for res in results:
        samples = res.steps["chain"].samples
        cells = [f"{statistics.median(s.step_seconds.get(k, 0.0) for s in samples):.2f}"
                 for k in keys]
        lines.append(f"| {res.dataset.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def as_json(results: list[DatasetResult]) -> str:
    return json.dumps([{
        "dataset": asdict(res.dataset), "counts": res.counts, "db_mb": res.db_mb,
        "build_seconds": res.build_seconds, "ratio": res.ratio, "ratio_net": res.ratio_net,
        "same_output": res.same_output,
        "steps": {name: {"median_cpu_seconds": sr.median_cpu,
                         "median_seconds": sr.median_seconds, "peak_mb": sr.peak_mb,
                         "samples": [asdict(s) for s in sr.samples]}
                  for name, sr in res.steps.items()},
    } for res in results], indent=2, default=str)
