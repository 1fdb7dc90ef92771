-- one row per job attempt that held GPUs: how busy its GPUs were, whether it made progress, and the anti-gaming
-- flags it raised. A busy loop: SMs spinning (>= 85 % active) with the tensor pipes idle (<= 3 %) in at least half
-- its GPU-minutes. Busy without progress: GPUs busy (SM, else utilisation, >= 85 %) in at least half of 30 or more
-- GPU-minutes and not one training step reported. Progress without work: steps reported while the GPUs sat idle
-- (utilisation < 5 %) in at least 80 % of its GPU-minutes. Incremental by the attempt's last minute: a tick
-- recomputes the attempts active in its window, from all their hours.
with touched as (
    select job_id, attempt from intermediate.int_jobs__activity_hours
    where hour_at >= date_trunc('hour', $window_start::timestamp) and hour_at < $window_end
    group by job_id, attempt
),

attempts as (
    select
        h.job_id,
        h.attempt,
        min(h.first_minute_at) as first_minute_at,
        max(h.last_minute_at) as last_minute_at,
        sum(h.gpu_minutes) as gpu_minutes,
        sum(h.util_pct_sum) / nullif(sum(h.util_readings), 0) as mean_util_pct,
        sum(h.sm_active_pct_sum) / nullif(sum(h.sm_readings), 0) as mean_sm_active_pct,
        sum(h.tensor_active_pct_sum) / nullif(sum(h.tensor_readings), 0) as mean_tensor_active_pct,
        sum(h.busy_gpu_minutes) as busy_gpu_minutes,
        sum(h.busy_loop_gpu_minutes) as busy_loop_gpu_minutes,
        sum(h.idle_gpu_minutes) as idle_gpu_minutes,
        sum(h.steps) as steps,
        sum(h.minutes_with_steps) as minutes_with_steps,
    from intermediate.int_jobs__activity_hours as h
    semi join touched as w on w.job_id = h.job_id and w.attempt = h.attempt
    group by h.job_id, h.attempt
    having sum(h.gpu_minutes) > 0
),

flagged as (
    select
        a.* exclude (minutes_with_steps),
        j.team,
        j.workload_class,
        j.model_type,
        a.busy_loop_gpu_minutes >= 0.5 * a.gpu_minutes as is_busy_loop,
        a.gpu_minutes >= 30 and a.busy_gpu_minutes >= 0.5 * a.gpu_minutes and a.steps = 0
            as is_busy_without_progress,
        a.minutes_with_steps > 0 and a.idle_gpu_minutes >= 0.8 * a.gpu_minutes as is_progress_without_work,
    from attempts as a
    left join staging.stg_jobs__submissions as j on j.job_id = a.job_id
),

final as (
    select
        *,
        is_busy_loop or is_busy_without_progress or is_progress_without_work as is_flagged,
    from flagged
    where last_minute_at >= $window_start and last_minute_at < $window_end
)

select * from final
