-- one row per job attempt per hour it held GPUs or reported steps: GPU-minutes, how busy they were (sums and
-- counts, so that any span of hours adds up), peak GPU memory and the busy share of the nodes' CPUs (for
-- sizing requests against use) and the training steps reported. What the anti-gaming flags read, so
-- that a tick aggregates hours, not every GPU-minute of every running job again. Incremental by hour.
with held as (
    select
        a.job_id,
        a.attempt,
        date_trunc('hour', a.minute_at) as hour_at,
        a.minute_at,
        t.gpu_util_pct,
        t.sm_active_pct,
        t.tensor_active_pct,
        t.mem_used_mib,
        n.cpu_util_pct,
    from intermediate.int_gpu_minutes__allocation as a
    left join staging.stg_gpu_telemetry__minutes as t on t.gpu_id = a.gpu_id and t.minute_at = a.minute_at
    left join staging.stg_node_telemetry__minutes as n on n.node_id = t.node_id and n.minute_at = a.minute_at
    where a.minute_at >= $window_start and a.minute_at < $window_end
),

activity as (
    select
        job_id,
        attempt,
        hour_at,
        min(minute_at) as first_minute_at,
        max(minute_at) as last_minute_at,
        count(*) as gpu_minutes,
        sum(gpu_util_pct) as util_pct_sum,
        count(gpu_util_pct) as util_readings,
        sum(sm_active_pct) as sm_active_pct_sum,
        count(sm_active_pct) as sm_readings,
        sum(tensor_active_pct) as tensor_active_pct_sum,
        count(tensor_active_pct) as tensor_readings,
        count(*) filter (where coalesce(sm_active_pct, gpu_util_pct) >= 85) as busy_gpu_minutes,
        count(*) filter (where sm_active_pct >= 85 and tensor_active_pct <= 3) as busy_loop_gpu_minutes,
        count(*) filter (where gpu_util_pct < 5) as idle_gpu_minutes,
        max(mem_used_mib) as peak_mem_used_mib,
        sum(cpu_util_pct) as node_cpu_pct_sum,
        count(cpu_util_pct) as node_cpu_readings,
    from held
    group by job_id, attempt, hour_at
),

progress as (
    select
        job_id,
        attempt,
        date_trunc('hour', minute_at) as hour_at,
        sum(steps) as steps,
        count(distinct minute_at) filter (where steps > 0) as minutes_with_steps,
    from staging.stg_runtime__worker_minutes
    where minute_at >= $window_start and minute_at < $window_end
    group by all
),

final as (
    select
        coalesce(a.job_id, p.job_id) as job_id,
        coalesce(a.attempt, p.attempt) as attempt,
        coalesce(a.hour_at, p.hour_at) as hour_at,
        a.first_minute_at,
        a.last_minute_at,
        coalesce(a.gpu_minutes, 0) as gpu_minutes,
        a.util_pct_sum,
        coalesce(a.util_readings, 0) as util_readings,
        a.sm_active_pct_sum,
        coalesce(a.sm_readings, 0) as sm_readings,
        a.tensor_active_pct_sum,
        coalesce(a.tensor_readings, 0) as tensor_readings,
        coalesce(a.busy_gpu_minutes, 0) as busy_gpu_minutes,
        coalesce(a.busy_loop_gpu_minutes, 0) as busy_loop_gpu_minutes,
        coalesce(a.idle_gpu_minutes, 0) as idle_gpu_minutes,
        a.peak_mem_used_mib,
        a.node_cpu_pct_sum,
        coalesce(a.node_cpu_readings, 0) as node_cpu_readings,
        coalesce(p.steps, 0) as steps,
        coalesce(p.minutes_with_steps, 0) as minutes_with_steps,
    from activity as a
    full join progress as p on p.job_id = a.job_id and p.attempt = a.attempt and p.hour_at = a.hour_at
)

select * from final
