-- one row per cohort (model type, SKU, GPU count) per hour: the median step time and its parts over the cohort's
-- healthy worker-minutes, and the median checkpoint over its minutes that wrote one; kept apart from the reference
-- so a tick recomputes only its own hours
with runtime as (
    select * from staging.stg_runtime__worker_minutes
    where steps > 0 and step_time_s > 0
        and minute_at >= $window_start and minute_at < $window_end
),

attempts as (
    select job_id, attempt, model_type, sku, gpus, from intermediate.int_jobs__attempts
    -- the attempts that can hold the window's minutes (ended at most a day before it: a late report still joins),
    -- so a tick does not read every attempt of the history
    where started_at < $window_end and (ended_at is null or ended_at >= $window_start::timestamp - interval 1 day)
),

final as (
    select
        a.model_type,
        a.sku,
        a.gpus,
        date_trunc('hour', r.minute_at) as hour_at,
        median(r.step_time_s) as step_s,
        median(r.compute_s) as compute_s,
        median(r.dataloader_wait_s) as dataloader_s,
        median(r.grad_sync_s) as grad_sync_s,
        median(case when r.checkpoint_s > 0 then r.checkpoint_s end) as checkpoint_s,
    from runtime as r
    join attempts as a on a.job_id = r.job_id and a.attempt = r.attempt
    group by all
)

select * from final
