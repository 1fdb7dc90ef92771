-- one row per job attempt that held GPUs: how busy its GPUs were, whether it made progress, and the anti-gaming
-- flags it raised. A busy loop: SMs spinning (>= 85 % active) with the tensor pipes idle (<= 3 %) in at least half
-- its GPU-minutes. Busy without progress: GPUs busy (SM, else utilisation, >= 85 %) in at least half of 30 or more
-- GPU-minutes and not one training step reported. Progress without work: steps reported while the GPUs sat idle
-- (utilisation < 5 %) in at least 80 % of its GPU-minutes. Incremental by the attempt's last minute: a tick
-- recomputes the attempts that held GPUs in its window, from all their minutes.
with touched as (
    select job_id, attempt from intermediate.int_gpu_minutes__allocation
    where minute_at >= $window_start and minute_at < $window_end
    group by job_id, attempt
),

held as (
    select a.job_id, a.attempt, a.minute_at, t.gpu_util_pct, t.sm_active_pct, t.tensor_active_pct,
    from intermediate.int_gpu_minutes__allocation as a
    semi join touched as w on w.job_id = a.job_id and w.attempt = a.attempt
    left join staging.stg_gpu_telemetry__minutes as t on t.gpu_id = a.gpu_id and t.minute_at = a.minute_at
),

activity as (
    select
        job_id,
        attempt,
        min(minute_at) as first_minute_at,
        max(minute_at) as last_minute_at,
        count(*) as gpu_minutes,
        avg(gpu_util_pct) as mean_util_pct,
        avg(sm_active_pct) as mean_sm_active_pct,
        avg(tensor_active_pct) as mean_tensor_active_pct,
        count(*) filter (where coalesce(sm_active_pct, gpu_util_pct) >= 85) as busy_gpu_minutes,
        count(*) filter (where sm_active_pct >= 85 and tensor_active_pct <= 3) as busy_loop_gpu_minutes,
        count(*) filter (where gpu_util_pct < 5) as idle_gpu_minutes,
    from held
    group by job_id, attempt
),

progress as (
    select job_id, attempt, sum(steps) as steps, count(*) filter (where steps > 0) as minutes_with_steps,
    from staging.stg_runtime__worker_minutes
    semi join touched using (job_id, attempt)
    group by job_id, attempt
),

flagged as (
    select
        a.*,
        j.team,
        j.workload_class,
        j.model_type,
        coalesce(p.steps, 0) as steps,
        a.busy_loop_gpu_minutes >= 0.5 * a.gpu_minutes as is_busy_loop,
        a.gpu_minutes >= 30 and a.busy_gpu_minutes >= 0.5 * a.gpu_minutes and coalesce(p.steps, 0) = 0
            as is_busy_without_progress,
        coalesce(p.minutes_with_steps, 0) > 0 and a.idle_gpu_minutes >= 0.8 * a.gpu_minutes
            as is_progress_without_work,
    from activity as a
    left join progress as p on p.job_id = a.job_id and p.attempt = a.attempt
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
