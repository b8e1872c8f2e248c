"""The fast-path figures: ``make run``, normalization, a Monday's schedules, memory.

Run it from the repository root (a script people run, not a test; nothing is asserted)::

    .venv/bin/python benchmarks/fast_path.py --days 728 --workdir /tmp/fast-path \\
        --json /tmp/fast-path/results.json

Every figure is CPU seconds (user + sys) of a child process, read with ``os.wait4`` (the
kernel's rusage of that child alone, DuckDB's threads included), beside a floor measured
in the same run, on the same machine, and the ratio of the two:

1. ``make run``: the CLI of ``make run`` (recorded in a fresh DAGSTER_HOME, every check)
   over ``--days``; its floor is Dagster's bookkeeping for the same asset-partitions: no-op
   assets with the same keys and partitions, run as the same jobs over the same ranges,
   recorded in another fresh DAGSTER_HOME. The pipeline's own work is the difference.
   The asset-partitions each run materialized are counted in the instance's SQLite index.
2. Normalization: the six normalized assets over every ingest week of the landing folder
   step 1 wrote (ephemeral instance, less a no-op materialization of the same
   asset-partitions: Dagster's share), against DuckDB's own ``read_json`` reading the same
   files into tables (``CREATE TABLE ... AS SELECT * FROM read_json(...)``, one per stream,
   DuckDB's default settings). Rows per second of both over the rows the tables hold.
3. A Monday: what runs on the last Monday of the store, on a copy of step 1's store: the
   two schedules (the daily ingest, freshness) and the runs the automation sensor asks
   for, tick by tick from the week's close to the last run after the pull (weekly
   baselines, goal definitions, weekly KPIs and diagnostics, attainment, weekly reports),
   each run executed in one process with the code location's executor, recorded;
   ``--monday-repeats`` Mondays (3), each on a fresh copy, and their median.
4. Memory: the peak RSS of the ingest alone (``daily_ingest_job``) over 90 days and over
   ``--days``.
5. Sensors: a first and later ticks of the two alert sensors and the report gate of the
   last closed week, against step 1's recorded instance (every run, materialization and
   check of ``make run``), while another process holds the store's lock.
6. Load: the code location loaded in a fresh process, as Dagster's own
   ``dagster definitions validate`` loads it and as a run process does (the definitions
   and every job, schedule and sensor resolved), ``--load-repeats`` times (3); its floor is
   the same fresh process importing Dagster alone. Lists the libraries that cost seconds
   to import (Great Expectations, matplotlib, scipy) when the load imported one of them:
   those belong inside the functions that use them.

Prints Markdown tables; ``--json`` keeps every number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MEMORY_DAYS = 90


def measured(code: str, env: dict[str, str], cwd: Path) -> dict:
    """Python ``code`` in a child process: its last JSON line, with the CPU and peak RSS
    of the child from ``os.wait4``."""
    return measured_command([PYTHON, "-c", textwrap.dedent(code)], env, cwd)


def measured_command(argv: list[str], env: dict[str, str], cwd: Path) -> dict:
    """``argv`` as a child process: its last JSON line, with the CPU and peak RSS of the
    child from ``os.wait4``."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd,
                            env={**os.environ, **env, "PYTHONWARNINGS": "ignore"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step failed:\n{out[-4000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    own = json.loads(lines[-1]) if lines else {}
    return {"cpu": usage.ru_utime + usage.ru_stime, "wall": wall,
            "peak_mb": usage.ru_maxrss / 1024, **own}


def paths(folder: Path) -> dict[str, str]:
    """The environment that points a run at ``folder`` (store, landing, reports, home)."""
    home = folder / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return {"DAGSTER_HOME": str(home), "KPI_PIPELINE_DUCKDB": str(folder / "store.duckdb"),
            "KPI_PIPELINE_LANDING": str(folder / "landing"),
            "KPI_PIPELINE_REPORTS": str(folder / "reports")}


def materialized(home: Path) -> int:
    """Asset-partitions materialized, from the SQLite instance's own index."""
    import sqlite3

    index = home / "history" / "runs" / "index.db"
    with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = "
                            "'ASSET_MATERIALIZATION'").fetchone()[0]


NOOP = """
import json, sys, time
from datetime import date
import dagster as dg
from kpi_pipeline.cli import plan, daily_range
from kpi_pipeline.definitions import defs

loaded = defs()
days, end, reports = {days}, date.fromisoformat("{end}"), {reports}
first, last = daily_range(days, end)
graph = loaded.resolve_asset_graph()

def noop(key, partitions_def):
    @dg.asset(key=key, partitions_def=partitions_def,
              backfill_policy=dg.BackfillPolicy.single_run())
    def _noop(context):
        return dg.MaterializeResult()
    return _noop

instance = {instance}
for job_name, lo, hi in plan(first, last, reports):
    job = loaded.resolve_job_def(job_name)
    keys = job.asset_layer.selected_asset_keys
    assets = [noop(k, graph.get(k).partitions_def) for k in keys]
    result = dg.materialize(assets, instance=instance, tags={{
        "dagster/asset_partition_range_start": lo.isoformat(),
        "dagster/asset_partition_range_end": hi.isoformat()}})
    assert result.success, job_name
print(json.dumps({{"runs": len(plan(first, last, reports))}}))
"""


def make_run(work: Path, days: int, end: date, reports: int) -> dict:
    """Step 1: the CLI recorded, and the no-op floor recorded."""
    run_dir, noop_dir = work / "run", work / "noop"
    for folder in (run_dir, noop_dir):
        shutil.rmtree(folder, ignore_errors=True)
    env = paths(run_dir)
    run = measured(f"""
        import sys
        from kpi_pipeline.cli import main
        sys.exit(main(["run", "--days", "{days}", "--end", "{end}",
                       "--report-periods", "{reports}"]))""", env, run_dir)
    run["asset_partitions"] = materialized(run_dir / "dagster_home")
    noop_env = paths(noop_dir)
    noop = measured(NOOP.format(days=days, end=end, reports=reports,
                                instance="dg.DagsterInstance.get()"), noop_env, noop_dir)
    noop["asset_partitions"] = materialized(noop_dir / "dagster_home")
    return {"run": run, "bookkeeping": noop, "pipeline_work": run["cpu"] - noop["cpu"]}


FLOOR = """
import json, time
from pathlib import Path
import duckdb
from kpi_pipeline.lib.core.streams import STREAMS
landing = Path("{landing}")
# the streams' folders only: the six normalized assets read these (the GA4 event export,
# also under the landing folder, is read by normalized/web_events, not timed here)
folders = [landing / s.name for s in STREAMS if (landing / s.name).is_dir()]
conn = duckdb.connect()
started = time.process_time()
rows = 0
for folder in folders:
    conn.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM "
                 f"read_json('{{folder}}/*/*.json.gz')")
files = sum(1 for folder in folders for _ in folder.rglob("*.json.gz"))
print(json.dumps({{"inside": time.process_time() - started, "files": files}}))
"""

NORMALIZE = """
import json, time
import dagster as dg
from kpi_pipeline.defs.normalized.assets import normalized_assets
from kpi_pipeline.defs.resources import Settings, Warehouse
from kpi_pipeline.lib.normalized.store import table_counts

tags = {{"dagster/asset_partition_range_start": "{lo}",
         "dagster/asset_partition_range_end": "{hi}"}}
resources = {{"warehouse": Warehouse(database="{store}"),
              "settings": Settings(landing_dir="{landing}")}}
started = time.process_time()
assert dg.materialize(normalized_assets, resources=resources, tags=tags).success
work = time.process_time() - started

def noop(asset):
    @dg.asset(key=asset.key, partitions_def=asset.partitions_def,
              backfill_policy=dg.BackfillPolicy.single_run())
    def _noop():
        return dg.MaterializeResult()
    return _noop

started = time.process_time()
assert dg.materialize([noop(a) for a in normalized_assets], tags=tags).success
dagster = time.process_time() - started
with Warehouse(database="{store}").get_connection(read_only=True) as conn:
    rows = sum(n for t, n in table_counts(conn).items() if t.startswith("normalized."))
print(json.dumps({{"inside": work, "dagster": dagster, "rows": rows}}))
"""


def normalization(work: Path, lo: date, hi: date) -> dict:
    """Step 2: the normalized assets against DuckDB's read_json of the same files."""
    landing = work / "run" / "landing"
    folder = work / "normalize"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    floor = measured(FLOOR.format(landing=landing), {}, folder)
    normal = measured(NORMALIZE.format(lo=lo, hi=hi, store=folder / "store.duckdb",
                                       landing=landing), {}, folder)
    pipeline = normal["inside"] - normal["dagster"]
    return {"floor_cpu": floor["inside"], "files": floor["files"],
            "normalization_cpu": pipeline, "dagster_cpu": normal["dagster"],
            "rows": normal["rows"], "ratio": pipeline / floor["inside"],
            "rows_per_s": normal["rows"] / pipeline,
            "floor_rows_per_s": normal["rows"] / floor["inside"]}


MONDAY = """
import json, time, warnings
from datetime import datetime, time as clock, timedelta
from zoneinfo import ZoneInfo
import dagster as dg
from kpi_pipeline.definitions import defs

warnings.filterwarnings("ignore")
loaded = defs()
monday = datetime.fromisoformat("{monday}").date()
instance = dg.DagsterInstance.get()
utc = ZoneInfo("UTC")
runs = []


def execute(origin, job, request):
    tags = dict(request.tags or {{}})
    if request.partition_key:
        tags.update({{"dagster/partition": request.partition_key}})
    run_config = dict(request.run_config or {{}})
    if "platforms" in job.required_resource_keys:  # the demo clock says Monday
        run_config["resources"] = {{"platforms": {{"config": {{"today": "{monday}"}}}}}}
    started = time.process_time()
    result = job.execute_in_process(
        instance=instance, tags=tags, run_config=run_config or None,
        partition_key=request.partition_key, asset_selection=request.asset_selection)
    assert result.success, origin
    runs.append({{"origin": origin, "job": job.name, "executor": job.executor_def.name,
                 "cpu": time.process_time() - started}})


def automation(at, cursor):
    # one tick of period_automation_sensor, its runs executed before the next tick
    # (the sensor groups what it asks by partitions and key, one run each; so does this)
    result = dg.evaluate_automation_conditions(defs=loaded, instance=instance,
                                               evaluation_time=at, cursor=cursor)
    graph = loaded.resolve_asset_graph()
    groups = {{}}
    for key in graph.get_all_asset_keys():
        for partition in result.get_requested_partitions(key):
            cadence = type(graph.get(key).partitions_def).__name__
            groups.setdefault((cadence, partition), []).append(key)
    for (_, partition), keys in sorted(groups.items(), key=str):
        job = loaded.resolve_implicit_job_def_def_for_assets(keys)
        name = ", ".join(sorted(k.to_user_string() for k in keys))
        execute(f"period_automation_sensor: {{name}} {{partition or ''}}".strip(), job,
                dg.RunRequest(asset_selection=keys, partition_key=partition))
    return result.cursor, len(groups)


night = datetime.combine(monday, clock(0, 0), tzinfo=utc)
cursor, _ = automation(night - timedelta(minutes=10), None)  # Sunday night: nothing due
cursor, _ = automation(night + timedelta(minutes=5), cursor)  # the week closed
for name in ("daily_ingest_schedule", "daily_freshness_schedule"):
    schedule = loaded.resolve_schedule_def(name)
    hour, minute = (int(x) for x in reversed(schedule.cron_schedule.split()[:2]))
    tick = datetime.combine(monday, clock(hour, minute), tzinfo=utc)
    with dg.build_schedule_context(scheduled_execution_time=tick, instance=instance,
                                   repository_def=loaded.get_repository_def()) as context:
        requests = schedule.evaluate_tick(context).run_requests or []
    for request in requests:
        execute(name, loaded.resolve_job_def(schedule.job_name), request)
at = datetime.combine(monday, clock(7, 0), tzinfo=utc)
while True:  # after the pull: ticks until nothing more is due
    cursor, requested = automation(at, cursor)
    if not requested:
        break
    at += timedelta(minutes=1)
print(json.dumps({{"runs": runs}}))
"""


def monday(work: Path, end: date, repeats: int) -> dict:
    """Step 3: the runs of the store's last Monday, each time on a fresh copy of the store
    (``repeats`` times: the shared host moves one Monday by a second or two within
    minutes, so the figure is the median, with every sample kept)."""
    day = end + timedelta(days=1)
    day -= timedelta(days=day.weekday())
    folder = work / "monday"
    samples = []
    for _ in range(repeats):
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(work / "run", folder)
        result = measured(MONDAY.format(monday=day.isoformat()), paths(folder), folder)
        samples.append({"runs": result["runs"], "process_cpu": result["cpu"],
                        "work_cpu": sum(r["cpu"] for r in result["runs"])})
    median = sorted(samples, key=lambda sample: sample["work_cpu"])[(repeats - 1) // 2]
    return {"monday": day.isoformat(), **median,
            "samples": [sample["work_cpu"] for sample in samples],
            "executors": sorted({r["executor"] for s in samples for r in s["runs"]})}


INGEST = """
import sys
from datetime import date
import dagster as dg
from kpi_pipeline.cli import daily_range, run_job
from kpi_pipeline.defs.partitions import week_start
from kpi_pipeline.definitions import defs

first, last = daily_range({days}, date.fromisoformat("{end}"))
result = run_job(defs(), "daily_ingest_job", week_start(first).isoformat(),
                 week_start(last).isoformat(), dg.DagsterInstance.ephemeral())
sys.exit(0 if result.success else 1)
"""


def memory(work: Path, days: int, end: date) -> dict:
    """Step 4: the ingest's peak RSS over ``MEMORY_DAYS`` and over ``days``."""
    found = {}
    for span in (MEMORY_DAYS, days):
        folder = work / f"ingest_{span}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        found[span] = measured(INGEST.format(days=span, end=end), paths(folder), folder)
    return {str(k): {"peak_mb": v["peak_mb"], "cpu": v["cpu"]} for k, v in found.items()}


SENSORS = """
import json, statistics, subprocess, sys, time
from datetime import date, timedelta
import dagster as dg
from kpi_pipeline.definitions import defs
from kpi_pipeline.defs.alerts.notifiers import LogNotifier
from kpi_pipeline.defs.reports.gate import latest_check_states

loaded = defs()
repository = loaded.get_repository_def()
graph = loaded.resolve_asset_graph()
instance = dg.DagsterInstance.get()
# another process holds the store's lock, as a writing run does
holder = subprocess.Popen([sys.executable, "-c",
    "import sys; from kpi_pipeline.defs import settings\\n"
    "from kpi_pipeline.defs.resources import Warehouse\\n"
    "with Warehouse(database=settings.DUCKDB.value()).get_connection():\\n"
    "    print('held', flush=True); sys.stdin.read()"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert holder.stdout.readline().strip() == "held"

def tick(name, cursor=None):
    sensor = loaded.resolve_sensor_def(name)
    with dg.build_sensor_context(instance=instance, repository_def=repository,
                                 cursor=cursor, resources={{"notifier": LogNotifier()}}) as ctx:
        started = time.process_time()
        sensor.evaluate_tick(ctx)
        return time.process_time() - started, ctx.cursor

found = {{}}
for name in ("goal_status_alert_sensor", "check_failure_alert_sensor"):
    first, cursor = tick(name)
    later = [tick(name, cursor)[0] for _ in range(5)]
    found[name] = {{"first": first, "later": statistics.median(later)}}
last = date.fromisoformat("{last}")
week = last - timedelta(days=last.weekday() + 7)
gates = []
for _ in range(5):
    started = time.process_time()
    latest_check_states(instance, graph, week, week + timedelta(days=6))
    gates.append(time.process_time() - started)
found["report_gate_week"] = {{"median": statistics.median(gates), "week": str(week)}}
holder.stdin.close(); holder.wait()
print(json.dumps(found))
"""


def sensors(work: Path, last: date) -> dict:
    """Step 5: the alert sensors' ticks and the report gate, on step 1's recorded history
    (every run and check of ``make run``), while another process holds the store's lock."""
    folder = work / "run"
    env = paths(folder)
    found = measured(SENSORS.format(last=last.isoformat()), env, folder)
    return {k: v for k, v in found.items() if k not in ("cpu", "wall", "peak_mb")}


def report_sensors(found: dict) -> None:
    print("\n## Alert sensors and the report gate, while a run holds the store\n")
    print("| read | CPU s |")
    print("|---|---:|")
    for name in ("goal_status_alert_sensor", "check_failure_alert_sensor"):
        print(f"| {name}, first tick | {found[name]['first']:.3f} |")
        print(f"| {name}, later ticks (median) | {found[name]['later']:.3f} |")
    gate = found["report_gate_week"]
    print(f"| report gate, week {gate['week']} (median) | {gate['median']:.3f} |")


HEAVY_IMPORTS = ("great_expectations", "matplotlib", "scipy")
LOAD = """
import json, sys
from kpi_pipeline.definitions import defs
defs().get_repository_def().load_all_definitions()
print(json.dumps({{"heavy": sorted(m for m in {heavy} if m in sys.modules)}}))
"""


def load(work: Path, repeats: int) -> dict:
    """Step 6: the code location loaded in fresh processes (Dagster's validate command, a
    run process's load) against Dagster's own import, medians of ``repeats``."""
    folder = work / "load"
    env = paths(folder)
    validate = [str(Path(PYTHON).with_name("dagster")), "definitions", "validate",
                "-m", "kpi_pipeline.definitions"]
    samples: dict[str, list[dict]] = {"dagster": [], "definitions": [], "validate": []}
    for _ in range(repeats):  # interleaved, so a slow minute hurts every step alike
        samples["dagster"].append(measured("import dagster", env, ROOT))
        samples["definitions"].append(
            measured(LOAD.format(heavy=HEAVY_IMPORTS), env, ROOT))
        samples["validate"].append(measured_command(validate, env, ROOT))

    def median(step: str, key: str) -> float:
        values = sorted(sample[key] for sample in samples[step])
        return values[(len(values) - 1) // 2]

    return {step: {"cpu": median(step, "cpu"), "wall": median(step, "wall")}
            for step in samples} | {
        "heavy_imports": sorted({m for s in samples["definitions"] for m in s["heavy"]})}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=728)
    parser.add_argument("--end", default="", help="last day (default: yesterday, UTC)")
    parser.add_argument("--report-periods", type=int, default=4)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "kpi-fast-path")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--monday-repeats", type=int, default=3,
                        help="Mondays run, each on a fresh copy of the store (median shown)")
    parser.add_argument("--load-repeats", type=int, default=3,
                        help="fresh processes loading the code location (median shown)")
    parser.add_argument("--steps", nargs="+",
                        default=["run", "normalize", "monday", "memory", "sensors", "load"])
    args = parser.parse_args(argv)
    end = (date.fromisoformat(args.end) if args.end
           else datetime.now(UTC).date() - timedelta(days=1))
    args.workdir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from kpi_pipeline.cli import daily_range
    from kpi_pipeline.defs.partitions import week_start

    first, last = daily_range(args.days, end)
    results: dict[str, object] = {"days": args.days, "first": str(first), "last": str(last)}
    if "run" in args.steps:
        results["make_run"] = make_run(args.workdir, args.days, end, args.report_periods)
        report_run(results["make_run"])
    if "normalize" in args.steps:
        results["normalization"] = normalization(args.workdir, week_start(first),
                                                 week_start(last))
        report_normalization(results["normalization"])
    if "monday" in args.steps:
        results["monday"] = monday(args.workdir, last, args.monday_repeats)
        report_monday(results["monday"])
    if "memory" in args.steps:
        results["memory"] = memory(args.workdir, args.days, end)
        report_memory(results["memory"])
    if "sensors" in args.steps:
        results["sensors"] = sensors(args.workdir, last)
        report_sensors(results["sensors"])
    if "load" in args.steps:
        results["load"] = load(args.workdir, args.load_repeats)
        report_load(results["load"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


def report_run(found: dict) -> None:
    run, noop = found["run"], found["bookkeeping"]
    print("\n## make run (recorded)\n")
    print("| figure | CPU s | target | asset-partitions | wall s | peak MB |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| whole run | {run['cpu']:.1f} | <= 240 | {run['asset_partitions']:,} | "
          f"{run['wall']:.0f} | {run['peak_mb']:.0f} |")
    print(f"| Dagster bookkeeping (no-op assets, same partitions, recorded) | "
          f"{noop['cpu']:.1f} | | {noop['asset_partitions']:,} | {noop['wall']:.0f} | |")
    print(f"| pipeline's own work (difference) | {found['pipeline_work']:.1f} | <= 120 | | | |")


def report_normalization(found: dict) -> None:
    print("\n## Normalization against DuckDB's read_json of the same files\n")
    print("| step | CPU s | rows/s |")
    print("|---|---:|---:|")
    print(f"| floor: read_json of {found['files']:,} files | {found['floor_cpu']:.1f} | "
          f"{found['floor_rows_per_s']:,.0f} |")
    print(f"| normalized assets (Dagster's share {found['dagster_cpu']:.1f} s removed) | "
          f"{found['normalization_cpu']:.1f} | {found['rows_per_s']:,.0f} |")
    print(f"\nratio {found['ratio']:.2f} (target <= 2), {found['rows']:,} rows")


def report_monday(found: dict) -> None:
    print(f"\n## The runs of Monday {found['monday']} (the median of "
          f"{len(found['samples'])})\n")
    print("| asked by | job | executor | CPU s |")
    print("|---|---|---|---:|")
    for run in found["runs"]:
        print(f"| {run['origin']} | {run['job']} | {run['executor']} | {run['cpu']:.1f} |")
    print(f"\nwork {found['work_cpu']:.1f} s in {len(found['runs'])} run(s) (target <= 10 s; "
          "one process per run: executors " + ", ".join(found["executors"]) + "); every "
          "Monday: " + ", ".join(f"{work:.1f}" for work in found["samples"]))


def report_memory(found: dict) -> None:
    print("\n## Peak memory of the ingest\n")
    print("| days | peak MB | CPU s |")
    print("|---:|---:|---:|")
    for days, value in found.items():
        print(f"| {days} | {value['peak_mb']:.0f} | {value['cpu']:.1f} |")
    print("\ntarget: under 600 MB for both")


def report_load(found: dict) -> None:
    print("\n## Loading the code location in a fresh process (median)\n")
    print("| load | wall s | CPU s | target |")
    print("|---|---:|---:|---|")
    print(f"| floor: `import dagster` | {found['dagster']['wall']:.1f} | "
          f"{found['dagster']['cpu']:.1f} | |")
    print(f"| the definitions, every job, schedule and sensor resolved | "
          f"{found['definitions']['wall']:.1f} | {found['definitions']['cpu']:.1f} | < 10 s |")
    print(f"| `dagster definitions validate -m kpi_pipeline.definitions` | "
          f"{found['validate']['wall']:.1f} | {found['validate']['cpu']:.1f} | < 10 s |")
    heavy = ", ".join(found["heavy_imports"]) or "none"
    print(f"\nimported by the load of the ones that cost seconds ({', '.join(HEAVY_IMPORTS)}): "
          f"{heavy}")


if __name__ == "__main__":
    main()

