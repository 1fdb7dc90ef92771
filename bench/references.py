"""What the bench holds the pipeline's figures against, measured in the same run: floors (the same bytes read and
written again), the analyst's north star (pandas, and the same computation as one DuckDB query), the scan limit and
prometheus_client's parser."""

from __future__ import annotations

import time
from pathlib import Path

from pipelines.warehouse.connection import quiet


def rewrite_parquet(landing: str, out: str) -> None:
    """The floor of simulation: read back what it wrote and write the same tables again."""
    import pyarrow.parquet as pq

    for path in Path(landing).rglob("*.parquet"):
        target = Path(out) / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pq.read_table(path), target, compression="zstd")


def scan_load(landing: str, db: str) -> None:
    """The floor of ingest: one DuckDB scan of each source's Parquet straight into a table."""
    import duckdb

    con = quiet(duckdb.connect(db))
    for folder in sorted(p for p in Path(landing).iterdir() if p.is_dir() and not p.name.startswith("_")):
        con.execute(f"create table {folder.name} as select * from read_parquet(?)", [str(folder / "*" / "*.parquet")])
    con.close()


def pandas_north_star(landing: str) -> None:
    """The reference: the same north star as an analyst would write it without this tool, in pandas over the landing
    Parquet: paid GPU-minutes from telemetry, faults, GPU-minutes held by attempts, work lost after the last
    checkpoint of failed attempts, and step efficiency against a median reference; hourly goodput by team."""
    import numpy as np
    import pandas as pd

    root = Path(landing)
    gpu = pd.read_parquet(
        root / "gpu_telemetry",
        columns=["ts", "gpu_id", "node_id", "sm_active_pct", "gpu_util_pct", "ecc_uncorrected_count"],
    )
    gpu["healthy"] = gpu.ecc_uncorrected_count == 0
    events = pd.read_parquet(
        root / "scheduler_events", columns=["event_at", "job_id", "attempt", "event_type", "gpu_ids", "state"]
    )
    jobs = pd.read_parquet(root / "job_metadata", columns=["job_id", "team", "model_type", "reports_steps"])
    runtime = pd.read_parquet(
        root / "job_runtime_metrics",
        columns=["ts", "job_id", "attempt", "node_id", "steps", "step_time_s", "checkpoint_s"],
    )
    starts = events[events.event_type == "started"][["job_id", "attempt", "event_at", "gpu_ids"]]
    ends = events[events.event_type == "ended"][["job_id", "attempt", "event_at", "state"]]
    attempts = starts.merge(ends, on=["job_id", "attempt"], how="left", suffixes=("_start", "_end"))
    attempts["event_at_end"] = attempts.event_at_end.fillna(gpu.ts.max() + pd.Timedelta(minutes=1))
    attempts["gpu_id"] = attempts.gpu_ids.str.split(",")
    held = attempts.explode("gpu_id").reset_index(drop=True)
    minutes = ((held.event_at_end - held.event_at_start).dt.total_seconds() // 60).clip(lower=0).astype(int)
    held = held.loc[held.index.repeat(minutes)]
    held["ts"] = held.event_at_start + pd.to_timedelta(held.groupby(level=0).cumcount(), unit="min")
    held = held.reset_index(drop=True)
    checkpoints = runtime[runtime.checkpoint_s > 0].groupby(["job_id", "attempt"]).ts.max().rename("checkpoint_at")
    held = held.join(checkpoints, on=["job_id", "attempt"]).merge(jobs, on="job_id", how="left")
    lost = (
        held.state.notna()
        & (held.state != "completed")
        & held.reports_steps.fillna(False)
        & (held.checkpoint_at.isna() | (held.ts > held.checkpoint_at))
    )
    held["retained"] = ~lost
    runtime["hour"] = runtime.ts.dt.floor("h")
    runtime = runtime.merge(jobs[["job_id", "model_type"]], on="job_id")
    reference = runtime[runtime.steps > 0].groupby(["model_type", "hour"]).step_time_s.median().rename("ref")
    runtime = runtime.join(reference, on=["model_type", "hour"])
    runtime["efficiency"] = (runtime.steps * runtime.ref / 60).clip(upper=1)
    minute = gpu.merge(
        held[["gpu_id", "ts", "job_id", "attempt", "team", "reports_steps", "retained"]],
        on=["gpu_id", "ts"],
        how="left",
    )
    minute = minute.merge(
        runtime[["job_id", "attempt", "node_id", "ts", "efficiency"]],
        on=["job_id", "attempt", "node_id", "ts"],
        how="left",
    )
    active = minute.sm_active_pct.fillna(minute.gpu_util_pct) / 100
    efficiency = np.where(minute.reports_steps.fillna(True), minute.efficiency.fillna(0), active)
    minute["productive"] = np.where(minute.healthy & minute.retained.fillna(False).astype(bool), efficiency, 0)
    minute["hour"] = minute.ts.dt.floor("h")
    return minute.groupby(["hour", minute.team.fillna("unallocated")]).agg(
        productive=("productive", "sum"), paid=("ts", "size")
    )


ANALYST_SQL = """
with gpu as (
    select ts, gpu_id, node_id, sm_active_pct, gpu_util_pct, ecc_uncorrected_count = 0 as healthy,
    from read_parquet($gpu)
),
events as (select event_at, job_id, attempt, event_type, gpu_ids, state, from read_parquet($events)),
jobs as (select job_id, team, model_type, reports_steps, from read_parquet($jobs)),
runtime as (select ts, job_id, attempt, node_id, steps, step_time_s, checkpoint_s, from read_parquet($runtime)),
attempts as (
    select s.job_id, s.attempt, s.event_at as started_at, e.state, s.gpu_ids,
        coalesce(e.event_at, (select max(ts) + interval 1 minute from gpu)) as ended_at,
    from events as s
    left join events as e on e.job_id = s.job_id and e.attempt = s.attempt and e.event_type = 'ended'
    where s.event_type = 'started'
),
checkpoints as (select job_id, attempt, max(ts) as checkpoint_at, from runtime where checkpoint_s > 0 group by all),
held as (
    select a.job_id, a.attempt, a.state, g.gpu_id, j.team, j.reports_steps, c.checkpoint_at,
        a.started_at + to_minutes(m) as ts,
    from attempts as a
    cross join unnest(string_split(a.gpu_ids, ',')) as g(gpu_id)
    cross join range(greatest(0, floor(epoch(a.ended_at - a.started_at) / 60))::bigint) as r(m)
    left join checkpoints as c on c.job_id = a.job_id and c.attempt = a.attempt
    left join jobs as j on j.job_id = a.job_id
),
reference as (
    select j.model_type, date_trunc('hour', r.ts) as hour, median(r.step_time_s) as ref,
    from runtime as r join jobs as j using (job_id)
    where r.steps > 0 group by all
),
efficiency as (
    select r.job_id, r.attempt, r.node_id, r.ts,
        -- pandas' clip keeps a missing value missing; DuckDB's least would skip it
        if(r.steps * f.ref is null, null, least(r.steps * f.ref / 60, 1)) as efficiency,
    from runtime as r
    join jobs as j using (job_id)
    left join reference as f on f.model_type = j.model_type and f.hour = date_trunc('hour', r.ts)
),
minutes as (
    select g.ts, g.healthy, h.team, coalesce(g.sm_active_pct, g.gpu_util_pct) / 100 as active, h.reports_steps,
        e.efficiency,
        h.job_id is not null and not (h.state is not null and h.state <> 'completed'
            and coalesce(h.reports_steps, false) and (h.checkpoint_at is null or h.ts > h.checkpoint_at)) as retained,
    from gpu as g
    left join held as h on h.gpu_id = g.gpu_id and h.ts = g.ts
    left join efficiency as e on e.job_id = h.job_id and e.attempt = h.attempt and e.node_id = g.node_id
        and e.ts = g.ts
)
select date_trunc('hour', ts) as hour, coalesce(team, 'unallocated') as team,
    sum(case when healthy and retained
        then (case when coalesce(reports_steps, true) then coalesce(efficiency, 0) else active end)
        else 0 end) as productive,
    count(*) as paid,
from minutes
group by all
"""


def duckdb_north_star(landing: str) -> list[tuple]:
    """The analyst's north star above, transcribed line for line into one DuckDB query over the same Parquet: what
    the engine alone gains over pandas on the same computation, apart from the warehouse's richer model."""
    import duckdb

    root = Path(landing)
    con = quiet(duckdb.connect())
    params = {
        name: str(root / source / "*" / "*.parquet")
        for name, source in (
            ("gpu", "gpu_telemetry"),
            ("events", "scheduler_events"),
            ("jobs", "job_metadata"),
            ("runtime", "job_runtime_metrics"),
        )
    }
    rows = con.execute(ANALYST_SQL, params).fetchall()
    con.close()
    return rows


def scan(landing: str) -> None:
    """The limit: one DuckDB scan of the same Parquet columns the north star needs."""
    import duckdb

    con = quiet(duckdb.connect())
    for source, columns in (
        ("gpu_telemetry", "ts, gpu_id, gpu_util_pct, sm_active_pct, ecc_uncorrected_count"),
        ("job_runtime_metrics", "ts, job_id, attempt, node_id, steps, step_time_s"),
        ("scheduler_events", "job_id, attempt, event_type, gpu_ids"),
    ):
        con.execute(
            f"select count(*), {', '.join(f'count({c})' for c in columns.split(', '))} from read_parquet(?)",
            [str(Path(landing) / source / "*" / "*.parquet")],
        ).fetchall()
    con.close()


def parse_reference(path: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    started = time.perf_counter()
    for family in text_string_to_metric_families(Path(path).read_text()):
        for _ in family.samples:
            pass
    return time.perf_counter() - started
