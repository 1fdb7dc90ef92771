"""Utilisation gaming as a team-level signal: GPUs whose SMs spin with no tensor work (the shape of a busy loop)
under jobs that report no training progress. A ticket for the team's owner, never a page."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from pipelines.detect.config import DetectionConfig
from pipelines.detect.episodes import episodes
from pipelines.warehouse.connection import fetch

# The busy GPU-minutes a job held, found first, on the window's rows alone; the jobs' teams and progress are then
# read for those jobs only. One query joined every job of the history to its team before it found that no GPU was
# busy (at 30 days 0.19 s a tick, scanning all 891k jobs and 588k attempts' progress, for none held).
HELD_BUSY_SQL = """
with busy as (
    select gpu_id, minute_at from staging.stg_gpu_telemetry__minutes
    where sm_active_pct >= $3 and tensor_active_pct <= $4 and minute_at >= $1 and minute_at < $2
)
select b.minute_at, a.job_id, a.attempt, count(*)::double as gpus from busy as b
join intermediate.int_gpu_minutes__allocation as a on a.gpu_id = b.gpu_id and a.minute_at = b.minute_at
where a.minute_at >= $1 and a.minute_at < $2
group by all
"""
# the ids' range bounds the scans by row group (jobs and progress land in time order); the list picks the jobs
HELD_JOBS_SQL = """
with ids as (select unnest($1::varchar[]) as job_id)
select s.job_id, s.team, p.attempt, p.first_step_at
from ids as i
join staging.stg_jobs__submissions as s on s.job_id = i.job_id
left join intermediate.int_jobs__attempt_progress as p
    on p.job_id = i.job_id and p.first_step_at < $4 and p.job_id between $2 and $3
where s.job_id between $2 and $3
"""


def gaming_episodes(
    con: duckdb.DuckDBPyConnection, config: DetectionConfig, window: tuple[datetime, datetime], delay_min: int
) -> pl.DataFrame:
    """Teams with at least `min_gpu_minutes` busy-loop GPU-minutes in the trailing hour."""
    rules = config.gaming
    minutes = busy_without_progress(con, window, rules.min_sm_active_pct, rules.max_tensor_active_pct)
    hourly = minutes.sort("team", "minute_at").with_columns(
        pl.col("gpus").rolling_sum_by("minute_at", "60m").over("team").alias("value")
    )
    hits = hourly.filter(pl.col("value") >= rules.min_gpu_minutes).select(
        "team", "minute_at", "value", pl.lit(rules.min_gpu_minutes).alias("threshold")
    )
    found = episodes(hits, ["team"], 1, window[1], max_gap_min=30, delay_min=delay_min)
    return found.with_columns(pl.lit("busy_without_progress").alias("rule"))


def busy_without_progress(
    con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], min_sm_pct: float, max_tensor_pct: float
) -> pl.DataFrame:
    """Per team and minute, the GPUs that spun (SMs busy, tensor pipes idle) under a job that had not reported a
    step by then. Causal: a job counts as progressing from its first reported step on, not before (a first step
    after the window is after every minute of it)."""
    held = fetch(con, HELD_BUSY_SQL, [*window, min_sm_pct, max_tensor_pct])
    empty = pl.DataFrame(schema={"team": pl.String, "minute_at": held.schema["minute_at"], "gpus": pl.Float64})
    if held.is_empty():
        return empty
    ids = held["job_id"].unique().sort().to_list()
    jobs = fetch(con, HELD_JOBS_SQL, [ids, ids[0], ids[-1], window[1]])
    progressing = pl.col("first_step_at").is_not_null() & (pl.col("first_step_at") <= pl.col("minute_at"))
    flagged = (
        held.join(jobs.select("job_id", "team").unique(), on="job_id")
        .join(jobs.drop("team").drop_nulls("attempt"), on=["job_id", "attempt"], how="left")
        .filter(~progressing)
    )
    return flagged.group_by("team", "minute_at").agg(pl.col("gpus").sum()).select(empty.columns)
