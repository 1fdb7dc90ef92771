-- one row per job attempt per worker per minute of training: step time and its parts summed over the minute's
-- steps, beside the reference step time, for data-loader share, gradient-sync share and step-time regression
with runtime as (
    select * from staging.stg_runtime__worker_minutes
    where steps > 0 and step_time_s > 0 and minute_at >= $window_start and minute_at < $window_end
),

attempts as (
    select job_id, attempt, region, sku, gpus, team, workload_class, model_type, from intermediate.int_jobs__attempts
    -- the attempts that can hold the window's minutes (ended at most a day before it: a late report still joins),
    -- so a tick does not read every attempt of the history
    where started_at < $window_end and (ended_at is null or ended_at >= $window_start::timestamp - interval 1 day)
),

reference as (
    select * from intermediate.int_runtime__reference_step_times
),

final as (
    select
        r.job_id,
        r.attempt,
        r.worker,
        r.node_id,
        r.minute_at,
        a.region,
        a.sku,
        a.team,
        a.workload_class,
        a.model_type,
        coalesce(r.framework_version, 'none') as framework_version,
        r.steps,
        r.steps * r.step_time_s as step_time_total_s,
        r.steps * coalesce(r.compute_s, 0) as compute_total_s,
        r.steps * coalesce(r.dataloader_wait_s, 0) as dataloader_wait_total_s,
        r.steps * coalesce(r.grad_sync_s, 0) as grad_sync_total_s,
        r.steps * ref.ref_step_s as reference_step_total_s,
    from runtime as r
    join attempts as a on a.job_id = r.job_id and a.attempt = r.attempt
    join reference as ref
        on ref.model_type = a.model_type and ref.sku = a.sku and ref.gpus = a.gpus
        and ref.hour_at = date_trunc('hour', r.minute_at)
)

select * from final
