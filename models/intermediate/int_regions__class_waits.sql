-- one row per region, workload class and minute in which jobs of the class waited to start: how many, how many
-- GPUs they asked for, and since when the longest-waiting one has queued (its wait is what the class's SLO is about)
with events as (
    select * from staging.stg_scheduler__events
),

jobs as (
    select job_id, region, workload_class, requested_gpus, from staging.stg_jobs__submissions
),

data_end as (
    select * from intermediate.int_data__end
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

spans as (
    select
        w.job_id,
        j.region,
        j.workload_class,
        coalesce(j.requested_gpus, 1) as gpus,
        w.queued_at,
        date_trunc('minute', w.queued_at + interval 59 second) as first_minute,
        coalesce(w.left_queue_at, d.ended_at) as left_at,
    from waits as w
    join jobs as j on j.job_id = w.job_id
    cross join data_end as d
    where w.queued_at is not null
),

minutes as (
    -- only the minutes of the window being built: a tick expands the waits that overlap its five minutes
    select
        region,
        workload_class,
        gpus,
        queued_at,
        unnest(
            generate_series(
                greatest(first_minute, date_trunc('minute', $window_start::timestamp + interval 59 second)),
                least(left_at, $window_end::timestamp) - interval 1 second,
                interval 1 minute
            )
        ) as minute_at,
    from spans
    where left_at > first_minute and left_at > $window_start and first_minute < $window_end
),

final as (
    select
        region,
        workload_class,
        minute_at,
        count(*) as pending_jobs,
        sum(gpus) as pending_gpus,
        min(queued_at) as oldest_queued_at,
    from minutes
    group by region, workload_class, minute_at
)

select * from final
