-- one row per job the scheduler ran or queued with no job metadata to tell its team and workload class: the jobs
-- whose class cannot be inferred, for the progress report and its asset check
with events as (
    select * from staging.stg_scheduler__events
),

jobs as (
    select job_id from staging.stg_jobs__submissions
),

final as (
    select
        e.job_id,
        min(e.event_at) as first_seen_at,
        max(e.event_at) as last_seen_at,
        max(e.attempt) + 1 as attempts,
        any_value(e.queue) as queue,
        max(e.gpus) as gpus,
    from events as e
    left join jobs as j on j.job_id = e.job_id
    where j.job_id is null
    group by e.job_id
)

select * from final
