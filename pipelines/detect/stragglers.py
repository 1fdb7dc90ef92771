"""Stragglers in distributed jobs: a worker whose own step time (the step without the time it waits for the others
in gradient sync, where the job reports it) stays above its peers' median in the same minute."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from pipelines.detect.config import DetectionConfig
from pipelines.detect.episodes import episodes
from pipelines.detect.warehouse import fetch

WORKER_SQL = """
with workers as (
    select
        job_id, attempt, worker, node_id, minute_at, step,
        step_time_s - coalesce(grad_sync_s, 0) as worker_time_s,
    from staging.stg_runtime__worker_minutes
    where steps > 0 and step_time_s > 0 and minute_at >= $1 and minute_at < $2
),
distributed as (
    select * from workers
    qualify count(*) over (partition by job_id, attempt, minute_at) >= $3
),
peers as (
    -- each worker against the median of the others (with two workers, the other one)
    select w.job_id, w.attempt, w.worker, w.node_id, w.minute_at, w.step, w.worker_time_s,
        median(p.worker_time_s) as peer_median_s,
    from distributed as w
    join distributed as p
        on p.job_id = w.job_id and p.attempt = w.attempt and p.minute_at = w.minute_at and p.worker <> w.worker
    group by all
)
select job_id, attempt, worker, node_id, minute_at, step, worker_time_s / peer_median_s as value, peer_median_s,
from peers
where peer_median_s > 0 and worker_time_s >= $4 * peer_median_s
"""
COLUMNS = {
    "job_id": pl.String,
    "attempt": pl.Int64,
    "worker": pl.Int64,
    "node_id": pl.String,
    "started_at": pl.Datetime("us"),
    "from_step": pl.Int64,
    "detected_at": pl.Datetime("us"),
    "resolved_at": pl.Datetime("us"),
    "slowdown": pl.Float64,
}


def find_stragglers(
    con: duckdb.DuckDBPyConnection, config: DetectionConfig, window: tuple[datetime, datetime]
) -> pl.DataFrame:
    rules = config.stragglers
    hits = fetch(con, WORKER_SQL, [*window, int(rules["min_workers"]), rules["ratio"]])
    if hits.is_empty():
        return pl.DataFrame(schema=COLUMNS)
    keys = ["job_id", "attempt", "worker", "node_id"]
    found = episodes(hits.drop("step", "peer_median_s"), keys, int(rules["persistence_min"]), window[1])
    first_step = hits.group_by(keys + ["minute_at"]).agg(pl.col("step").first().alias("from_step"))
    found = found.join(first_step, left_on=[*keys, "started_at"], right_on=[*keys, "minute_at"], how="left")
    return (
        found.rename({"value": "slowdown"})
        .select([pl.col(c).cast(t) for c, t in COLUMNS.items()])
        .sort("started_at", "job_id", "worker")
    )
