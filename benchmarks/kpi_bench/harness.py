"""The parent side: spawn each step on a fresh copy of the dataset, measure it, and
compare what floor and chain wrote.

The parent never loads DuckDB: Linux carries a parent's RSS over into a forked child's
``ru_maxrss``, so datasets are built in a subprocess too, and every subprocess runs
``kpi_benchmark.py`` itself with hidden flags.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from kpi_bench.datasets import Dataset
from kpi_bench.job import STEPS

SCRIPT = Path(__file__).resolve().parents[1] / "kpi_benchmark.py"  # what every worker runs


def ensure_dataset(ds: Dataset, path: Path, log: Path) -> tuple[dict[str, int], float]:
    """Reuse the file when its spec matches, else build it; returns counts and seconds
    (0 seconds means it was reused)."""
    spec_path = path.with_suffix(".json")
    if path.exists() and spec_path.exists():
        saved = json.loads(spec_path.read_text())
        if saved.get("spec") == ds.spec():
            return saved["counts"], 0.0
    spec_path.unlink(missing_ok=True)
    spawn(["--build", str(path), "--weeks", str(ds.weeks),
           "--posts-per-day", repr(ds.posts_per_day)], log, f"build {path.name}")
    saved = json.loads(spec_path.read_text())
    return saved["counts"], saved["seconds"]


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    peak_mb: float
    setup_seconds: float
    setup_cpu_seconds: float
    vm_hwm_mb: float
    digest: dict[str, Any]
    step_seconds: dict[str, float] = field(default_factory=dict)
    rows_written: int = 0


@dataclass
class StepResult:
    step: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def median_cpu(self) -> float:
        return statistics.median(s.cpu_seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        """The highest peak over the repeats: memory targets are about the worst case."""
        return max(s.peak_mb for s in self.samples)

    @property
    def cpu_spread(self) -> tuple[float, float]:
        return (min(s.cpu_seconds for s in self.samples),
                max(s.cpu_seconds for s in self.samples))


def spawn(args: list[str], log: Path, title: str) -> resource.struct_rusage:
    """Run ``kpi_benchmark.py`` with ``args`` in a fresh process; return that process's rusage.

    ``os.wait4`` gives the rusage of exactly that child (and the descendants it waited
    for), unlike ``RUSAGE_CHILDREN``, which keeps the maximum over every child so far.
    """
    cmd = [sys.executable, str(SCRIPT), *args]
    with log.open("a") as sink:
        sink.write(f"\n=== {title}\n")
        sink.flush()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=sink)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{title} failed (exit {proc.returncode}); see {log}")
    return usage


def measure(step: str, source: Path, scratch: Path, week: date, log: Path,
            flags: list[str]) -> Sample:
    """Copy the dataset, run one step on the copy in a fresh subprocess, read its peak.

    Every step starts from the same file, so a step's writes never slow the next one,
    and the copy is flushed to disk first so its write-back does not land in the timing.
    """
    shutil.copyfile(source, scratch)
    with scratch.open("rb+") as copied:
        os.fsync(copied.fileno())
    out = scratch.with_suffix(".result.json")
    out.unlink(missing_ok=True)
    reports = scratch.with_name("reports")
    shutil.rmtree(reports, ignore_errors=True)
    usage = spawn(["--worker", step, "--db", str(scratch), "--week", week.isoformat(),
                   "--goals", str(source.with_suffix(".goals.yaml")),
                   "--reports", str(reports), "--out", str(out), *flags],
                  log, f"{step} {source.name} {week}")
    result = json.loads(out.read_text())
    out.unlink()
    scratch.unlink()
    scratch.with_suffix(".duckdb.wal").unlink(missing_ok=True)
    return Sample(seconds=result["seconds"], cpu_seconds=result["cpu_seconds"],
                  peak_mb=usage.ru_maxrss / 1024, setup_seconds=result["setup_seconds"],
                  setup_cpu_seconds=result["setup_cpu_seconds"],
                  vm_hwm_mb=result["vm_hwm_mb"], digest=result["digest"],
                  step_seconds=result.get("step_seconds", {}),
                  rows_written=result.get("rows_written", 0))


def same_numbers(a: Any, b: Any, rel: float = 1e-6) -> bool:
    """Digests equal, numbers within ``rel`` (sums are added in a different order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y, rel)
                                        for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-9)
    return a == b


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Where two digests differ, for the log."""
    out = []
    for part in a.keys() | b.keys():
        x, y = a.get(part), b.get(part)
        if isinstance(x, dict) and isinstance(y, dict):
            out += [f"{part}/{k}: {x.get(k)} vs {y.get(k)}" for k in sorted(x.keys() | y.keys())
                    if not same_numbers(x.get(k), y.get(k))]
        elif not same_numbers(x, y):
            out.append(f"{part}: {x} vs {y}")
    return out


@dataclass
class DatasetResult:
    dataset: Dataset
    counts: dict[str, int]
    build_seconds: float
    db_mb: float
    steps: dict[str, StepResult]

    @property
    def post_rows(self) -> int:
        return self.counts["post_daily"]

    def cpu(self, step: str) -> float:
        return self.steps[step].median_cpu

    @property
    def ratio(self) -> float:
        """The target's ratio: the chain's CPU seconds per floor CPU second."""
        return self.cpu("chain") / self.cpu("floor")

    @property
    def ratio_net(self) -> float:
        """The same with the chain's fixed per-run cost (empty store) set aside."""
        return (self.cpu("chain") - self.cpu("fixed")) / self.cpu("floor")

    @property
    def same_output(self) -> bool:
        """Floor, library and chain wrote the same statistics in every repeat."""
        reference = self.steps["floor"].samples[0].digest
        return all(same_numbers(s.digest, reference)
                   for step in ("floor", "library", "chain") for s in self.steps[step].samples)


def run_dataset(ds: Dataset, workdir: Path, empty_db: Path, repeats: int, log: Path,
                flags: list[str], extra_steps: tuple[str, ...] = ()) -> DatasetResult:
    """Build the dataset, then time every step ``repeats`` times, round-robin."""
    path = workdir / f"posts_{ds.weeks}w_{ds.n_posts}.duckdb"
    print(f"[{ds.label}] building {path} ...", file=sys.stderr, flush=True)
    counts, build_seconds = ensure_dataset(ds, path, log)
    print(f"[{ds.label}] {counts} built in {build_seconds:.1f}s (0 = reused)", file=sys.stderr,
          flush=True)
    steps = {step: StepResult(step) for step in (*STEPS, *extra_steps)}
    scratch = workdir / "run.duckdb"
    for round_no in range(repeats):
        for step in steps:
            source = empty_db if step == "fixed" else path
            sample = measure(step, source, scratch, ds.last_monday, log, flags)
            steps[step].samples.append(sample)
            print(f"[{ds.label}] round {round_no + 1}/{repeats} {step:18s} "
                  f"cpu {sample.cpu_seconds:7.2f}s  wall {sample.seconds:7.2f}s  "
                  f"peak {sample.peak_mb:7.0f} MB", file=sys.stderr, flush=True)
    result = DatasetResult(ds, counts, build_seconds, path.stat().st_size / 2**20, steps)
    if not result.same_output:
        floor = steps["floor"].samples[0].digest
        for step in ("library", "chain"):
            for line in differences(floor, steps[step].samples[0].digest)[:20]:
                print(f"[{ds.label}] floor vs {step}: {line}", file=sys.stderr)
    return result
