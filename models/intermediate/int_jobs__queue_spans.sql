-- one row per job attempt that queued: when it queued and when it left the queue (started or ended), with what the
-- class's wait is judged by; kept by job, so that a tick expands the waits open in its window without re-reading
-- every job's events
with events as (
    select * from staging.stg_scheduler__events
),

jobs as (
    select job_id, region, workload_class, requested_gpus, from staging.stg_jobs__submissions
),

waits as (
    select
        job_id,
        attempt,
        min(event_at) filter (where event_type in ('submitted', 'requeued')) as queued_at,
        min(event_at) filter (where event_type in ('started', 'ended')) as left_queue_at,
    from events
    group by job_id, attempt
),

final as (
    select
        w.job_id,
        w.attempt,
        j.region,
        j.workload_class,
        coalesce(j.requested_gpus, 1) as gpus,
        w.queued_at,
        date_trunc('minute', w.queued_at + interval 59 second) as first_minute,
        w.left_queue_at,
    from waits as w
    join jobs as j on j.job_id = w.job_id
    where w.queued_at is not null
)

select * from final
