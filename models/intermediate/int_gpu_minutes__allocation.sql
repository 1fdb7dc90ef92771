-- one row per GPU per minute a job attempt held it (a running attempt holds its GPUs up to the end of the data)
with attempts as (
    -- the attempts that hold a minute of the window (the exact test is below, after the GPU lists are split)
    select * from intermediate.int_jobs__attempts
    where started_at < $window_end and (ended_at is null or ended_at >= $window_start::timestamp - interval 1 minute)
),

data_end as (
    select * from intermediate.int_data__end
),

spans as (
    select
        a.job_id,
        a.attempt,
        date_trunc('minute', a.started_at) as start_minute,
        date_trunc('minute', coalesce(a.ended_at, d.ended_at) + interval 59 second) as end_minute,
        unnest(string_split(a.gpu_ids, ',')) as gpu_id,
    from attempts as a
    cross join data_end as d
    where a.gpu_ids is not null
),

windowed as (
    select
        job_id,
        attempt,
        gpu_id,
        start_minute,
        greatest(start_minute, $window_start) as first_minute,
        least(end_minute, $window_end) as stop_minute,
    from spans
    where end_minute > $window_start and start_minute < $window_end
),

minutes as (
    select
        job_id,
        attempt,
        gpu_id,
        start_minute,
        unnest(generate_series(first_minute, stop_minute - interval 1 minute, interval 1 minute)) as minute_at,
    from windowed
    where stop_minute > first_minute
),

final as (
    select
        gpu_id,
        minute_at,
        job_id,
        attempt,
        date_diff('minute', start_minute, minute_at) as minute_of_attempt,
    from minutes
)

select * from final
