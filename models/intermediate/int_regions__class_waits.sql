-- one row per region, workload class and minute in which jobs of the class waited to start: how many, how many
-- GPUs they asked for (and the smallest ask), and since when the longest-waiting one has queued (its wait is what
-- the class's SLO is about)
with queue_spans as (
    select * from intermediate.int_jobs__queue_spans
),

data_end as (
    select * from intermediate.int_data__end
),

spans as (
    -- the waits still open when the window begins (what a tick reads follows the queue, not the history)
    select
        s.region,
        s.workload_class,
        s.gpus,
        s.queued_at,
        s.first_minute,
        coalesce(s.left_queue_at, d.ended_at) as left_at,
    from queue_spans as s
    cross join data_end as d
    where (s.left_queue_at is null or s.left_queue_at > $window_start) and s.first_minute < $window_end
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
        min(gpus) as smallest_pending_gpus,
        min(queued_at) as oldest_queued_at,
    from minutes
    group by region, workload_class, minute_at
)

select * from final
