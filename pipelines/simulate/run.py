"""`goodput simulate`: a scenario in, Hive-partitioned landing Parquet and the incident truth out, day by day."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipelines.simulate.changes import ChangeLog, add_benign_changes, framework_versions
from pipelines.simulate.context import SimContext, attempt_arrays
from pipelines.simulate.fleet import build_fleet
from pipelines.simulate.incidents import build_effects
from pipelines.simulate.records import RecordWriter
from pipelines.simulate.runtime import RuntimeWriter
from pipelines.simulate.scenario import Scenario
from pipelines.simulate.scheduler import Scheduler
from pipelines.simulate.telemetry import allocation, gpu_day, network_day, node_day
from pipelines.simulate.workload import TEAMS, Jobs, dummy_jobs, generate_jobs

WARMUP_DAYS = 2
TRUTH_DIR = "_truth"
FIRST_JOB_ID = 4_000_000


@dataclass
class SimulationSummary:
    out: Path
    rows: dict[str, int]
    jobs: int
    incidents: int


def plan(scenario: Scenario, progress: bool = False) -> tuple[SimContext, list[dict]]:
    """Decide everything (fleet, changes, incidents, jobs, schedule) before any day is written."""
    origin = scenario.start - timedelta(days=WARMUP_DAYS)
    minutes = (WARMUP_DAYS + scenario.days) * 1440
    seed = scenario.seed
    fleet = build_fleet(scenario.fleet)
    changes = ChangeLog(fleet, list(TEAMS), origin)
    add_benign_changes(changes, minutes, np.random.default_rng([seed, 1]))
    fx, truth = build_effects(scenario, fleet, changes, origin, minutes, np.random.default_rng([seed, 2]))
    rng_jobs = np.random.default_rng([seed, 3])
    parts = [generate_jobs(fleet, origin.weekday(), WARMUP_DAYS + scenario.days, rng_jobs)]
    parts += [dummy_jobs(fleet, t0, t1, team, gpus, rng_jobs) for t0, t1, team, gpus in fx.dummy]
    jobs = Jobs.concat(parts)
    jobs = jobs.take(np.argsort(jobs.submit_s, kind="stable"))
    framework_of = framework_versions(changes, jobs.team, jobs.submit_s // 60)
    schedule = Scheduler(jobs, fleet, fx, framework_of.tolist(), np.random.default_rng([seed, 4])).run(progress)
    ctx = SimContext(
        seed=seed,
        origin=origin,
        start_minute=WARMUP_DAYS * 1440,
        days=scenario.days,
        fleet=fleet,
        jobs=jobs,
        job_ids=np.char.mod("%d", np.arange(len(jobs)) + FIRST_JOB_ID).astype(object),
        framework_of=framework_of,
        fx=fx,
        changes=changes,
        schedule=schedule,
        **attempt_arrays(fleet, jobs, fx, framework_of.tolist(), schedule),
    )
    _name_gaming_jobs(ctx, truth)
    return ctx, truth


def _name_gaming_jobs(ctx: SimContext, truth: list[dict]) -> None:
    """A dummy-workload incident's truth lists its jobs, so anti-gaming checks can be scored job by job."""
    jobs = ctx.jobs
    for incident in truth:
        if incident["kind"] != "dummy_workload":
            continue
        start = (incident["start_at"] - ctx.origin).total_seconds()
        end = (incident["end_at"] - ctx.origin).total_seconds()
        team = TEAMS.index(incident["scope"]["team"])
        chosen = jobs.is_dummy & (jobs.team == team) & (jobs.submit_s >= start) & (jobs.submit_s < end)
        incident["job_ids"] = ctx.job_ids[chosen].tolist()


def simulate(scenario: Scenario, out: str | Path, progress: bool = True) -> SimulationSummary:
    out = Path(out)
    ctx, truth = plan(scenario, progress)
    records, runtime = RecordWriter(ctx), RuntimeWriter(ctx)
    rows: dict[str, int] = {}
    for day in tqdm(range(scenario.days), desc="writing days", unit="day", disable=not progress):
        date = ctx.day_date(day)
        first, last = ctx.day_minutes(day)
        rng = np.random.default_rng([scenario.seed, 100, day])
        alloc = allocation(ctx, first, last)
        runtime_minutes, step_log = runtime.day(day)
        tables = {
            "inventory": ctx.fleet.inventory(date),
            "gpu_telemetry": gpu_day(ctx, day, alloc, rng),
            "node_telemetry": node_day(ctx, day, alloc, rng),
            "network_telemetry": network_day(ctx, day, alloc, rng),
            "job_runtime_metrics": runtime_minutes,
            "job_step_times": step_log,
            "scheduler_events": records.scheduler_events(day),
            "job_metadata": records.job_metadata(day),
            "cost_capacity": records.cost_capacity(day),
            "change_events": records.change_events(day),
        }
        if day == 0:
            tables["maintenance_windows"] = records.maintenance_windows(truth)
        for source, table in tables.items():
            write_partition(out, source, date.isoformat(), table)
            rows[source] = rows.get(source, 0) + table.num_rows
    write_truth(out, truth)
    return SimulationSummary(out, rows, int((ctx.jobs.submit_s >= ctx.start_minute * 60).sum()), len(truth))


def write_partition(out: Path, source: str, date: str, table: pa.Table) -> Path:
    folder = out / source / f"date={date}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-0.parquet"
    pq.write_table(table, path, compression="zstd", write_statistics=True)
    return path


def write_truth(out: Path, truth: list[dict]) -> None:
    folder = out / TRUTH_DIR
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    as_json = [
        {**t, "start_at": t["start_at"].isoformat() + "Z", "end_at": t["end_at"].isoformat() + "Z"} for t in truth
    ]
    (folder / "incidents.json").write_text(json.dumps(as_json, indent=2) + "\n")
    scope_type = pa.struct(
        [("nodes", pa.list_(pa.string())), ("region", pa.string()), ("sku", pa.string()), ("team", pa.string())]
    )
    schema = pa.schema(
        [
            ("incident_id", pa.string()),
            ("kind", pa.string()),
            ("family", pa.string()),
            ("start_at", pa.timestamp("us", tz="UTC")),
            ("end_at", pa.timestamp("us", tz="UTC")),
            ("scope", scope_type),
            ("should_page", pa.bool_()),
        ]
    )
    rows = [
        {**t, "start_at": t["start_at"].replace(tzinfo=UTC), "end_at": t["end_at"].replace(tzinfo=UTC)} for t in truth
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "incidents.parquet")
