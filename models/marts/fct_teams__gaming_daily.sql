-- one row per team per day: its job attempts and GPU-hours, and how many of them the anti-gaming flags caught
-- (an attempt counts on the day of its last minute)
with attempts as (
    select * from marts.fct_jobs__gaming_flags
),

final as (
    select
        date_trunc('day', last_minute_at) as day_at,
        coalesce(team, 'unknown') as team,
        count(*) as attempts,
        count(*) filter (where is_flagged) as flagged_attempts,
        sum(gpu_minutes) / 60.0 as gpu_hours,
        coalesce(sum(gpu_minutes) filter (where is_flagged), 0) / 60.0 as flagged_gpu_hours,
        count(*) filter (where is_busy_loop) as busy_loop_attempts,
        count(*) filter (where is_busy_without_progress) as busy_without_progress_attempts,
        count(*) filter (where is_progress_without_work) as progress_without_work_attempts,
    from attempts
    group by all
)

select * from final
