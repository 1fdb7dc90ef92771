"""The trace shape of a landing folder (the figures CALIBRATION.md compares clusters by), read back from the data
itself, so the realism tests and `goodput simulate` check what was written rather than what was intended."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.warehouse.connection import quiet

SHAPE_SQL = """
with events as (
    select * from read_parquet($events, hive_partitioning = true)
),
jobs as (
    select * from read_parquet($jobs, hive_partitioning = true)
),
attempts as (
    -- an attempt still running when the data ends has used its GPUs until then, but its runtime is unknown
    select
        s.job_id,
        s.attempt,
        s.gpus,
        s.node_ids,
        epoch(e.event_at) - epoch(s.event_at) as runtime_s,
        epoch(coalesce(e.event_at, (select max(event_at) from events))) - epoch(s.event_at) as used_s,
        e.state,
    from events as s
    left join events as e
        on e.job_id = s.job_id and e.attempt = s.attempt and e.event_type = 'ended'
    where s.event_type = 'started'
),
per_job as (
    select
        j.job_id,
        j.workload_class,
        j.requested_gpus,
        epoch(min(s.event_at) filter (where s.event_type = 'started')) - epoch(j.submitted_at) as queue_s,
        arg_max(s.state, s.event_at) filter (where s.event_type = 'ended') as final_state,
    from jobs as j
    join events as s on s.job_id = j.job_id
    group by j.job_id, j.workload_class, j.requested_gpus, j.submitted_at
)
select
    (select count(*) from jobs) as jobs,
    (select median(runtime_s) from attempts) as runtime_median_s,
    (select avg(runtime_s) from attempts) as runtime_mean_s,
    (select median(queue_s) from per_job where queue_s is not null) as queue_median_s,
    (select avg(queue_s) from per_job where queue_s is not null) as queue_mean_s,
    (select avg((requested_gpus = 1)::int) from per_job) as single_gpu_job_share,
    (select avg((final_state in ('failed', 'cancelled', 'node_fail'))::int)
        from per_job where final_state is not null) as failed_or_cancelled_share,
    (select sum(gpus * used_s) filter (where node_ids like '%,%') / sum(gpus * used_s)
        from attempts) as multi_node_gpu_time_share,
"""


def trace_shape(landing: str | Path) -> dict[str, float]:
    """Median and mean runtime and queue wait, job-size and failure shares, multi-node share of GPU time."""
    landing = Path(landing)
    con = quiet(duckdb.connect())
    params = {
        "events": str(landing / "scheduler_events" / "*" / "*.parquet"),
        "jobs": str(landing / "job_metadata" / "*" / "*.parquet"),
    }
    cursor = con.execute(SHAPE_SQL, params)
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))
