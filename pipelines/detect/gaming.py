"""Utilisation gaming as a team-level signal: GPUs whose SMs spin with no tensor work (the shape of a busy loop)
under jobs that report no training progress. A ticket for the team's owner, never a page."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from pipelines.detect.config import DetectionConfig
from pipelines.detect.episodes import episodes
from pipelines.warehouse.connection import fetch

BUSY_LOOP_SQL = """
with busy as (
    select gpu_id, minute_at from staging.stg_gpu_telemetry__minutes
    where sm_active_pct >= $3 and tensor_active_pct <= $4 and minute_at >= $1 and minute_at < $2
),
held as (
    select b.minute_at, a.job_id, a.attempt from busy as b
    join intermediate.int_gpu_minutes__allocation as a on a.gpu_id = b.gpu_id and a.minute_at = b.minute_at
),
progress as (
    -- causal: a job counts as progressing from its first reported step on, not before (a first step after the
    -- window is after every minute of it)
    select job_id, attempt, first_step_at from intermediate.int_jobs__attempt_progress
    where first_step_at < $2
)
select j.team, h.minute_at, count(*)::double as gpus
from held as h
join staging.stg_jobs__submissions as j on j.job_id = h.job_id
anti join progress as p on p.job_id = h.job_id and p.attempt = h.attempt and p.first_step_at <= h.minute_at
group by all
"""


def gaming_episodes(
    con: duckdb.DuckDBPyConnection, config: DetectionConfig, window: tuple[datetime, datetime], delay_min: int
) -> pl.DataFrame:
    """Teams with at least `min_gpu_minutes` busy-loop GPU-minutes in the trailing hour."""
    rules = config.gaming
    minutes = fetch(con, BUSY_LOOP_SQL, [*window, rules.min_sm_active_pct, rules.max_tensor_active_pct])
    hourly = minutes.sort("team", "minute_at").with_columns(
        pl.col("gpus").rolling_sum_by("minute_at", "60m").over("team").alias("value")
    )
    hits = hourly.filter(pl.col("value") >= rules.min_gpu_minutes).select(
        "team", "minute_at", "value", pl.lit(rules.min_gpu_minutes).alias("threshold")
    )
    found = episodes(hits, ["team"], 1, window[1], max_gap_min=30, delay_min=delay_min)
    return found.with_columns(pl.lit("busy_without_progress").alias("rule"))
