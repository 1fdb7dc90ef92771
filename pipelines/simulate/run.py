"""`goodput simulate`: a scenario in, Hive-partitioned landing Parquet and the incident truth out, day by day."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipelines.ingest.validate import FUTURE_TOLERANCE_MIN
from pipelines.simulate.records import RecordWriter
from pipelines.simulate.runtime import RuntimeWriter
from pipelines.simulate.scenario import Scenario, ScenarioError
from pipelines.simulate.stream import DayStream
from pipelines.simulate.telemetry import allocation, gpu_day, network_day, node_day

TRUTH_DIR = "_truth"


@dataclass
class SimulationSummary:
    out: Path
    rows: dict[str, int]
    jobs: int
    incidents: int


def refuse_the_future(scenario: Scenario) -> None:
    """A scenario must end by now: the load quarantines rows timed after it (a clock that runs ahead), so a fleet
    simulated into the future would land whole in quarantine."""
    now = datetime.now(UTC).replace(tzinfo=None)
    if scenario.end > now + timedelta(minutes=FUTURE_TOLERANCE_MIN):
        raise ScenarioError(
            f"{scenario.name}: start {scenario.start:%Y-%m-%d %H:%M} + days {scenario.days} ends "
            f"{scenario.end:%Y-%m-%d %H:%M} UTC, after now ({now:%Y-%m-%d %H:%M} UTC): the load quarantines rows "
            f"from the future, so start it on or before {now - timedelta(days=scenario.days):%Y-%m-%d}"
        )


def simulate(scenario: Scenario, out: str | Path, progress: bool = True) -> SimulationSummary:
    refuse_the_future(scenario)
    out = Path(out)
    stream = DayStream(scenario)
    runtime = RuntimeWriter()
    rows: dict[str, int] = {}
    for day in tqdm(range(scenario.days), desc="simulating days", unit="day", disable=not progress):
        ctx = stream.day(day)
        records = RecordWriter(ctx)
        date = ctx.day_date(day)
        first, last = ctx.day_minutes(day)
        rng = np.random.default_rng([scenario.seed, 100, day])
        alloc = allocation(ctx, first, last)
        runtime_minutes, step_log = runtime.day(ctx, day)
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
            tables["maintenance_windows"] = records.maintenance_windows(stream.truth)
        for source, table in tables.items():
            write_partition(out, source, date.isoformat(), table)
            rows[source] = rows.get(source, 0) + table.num_rows
        del ctx, records, alloc, tables
        runtime.keep_only(stream.forget(day))
    write_truth(out, stream.truth)
    return SimulationSummary(out, rows, stream.scenario_jobs, len(stream.truth))


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
