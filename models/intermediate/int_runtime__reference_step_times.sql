-- one row per cohort (model type, SKU, GPU count) per hour: the healthy reference step time and its parts,
-- the median of the cohort's hourly medians over the 7 days before the hour (causal; robust to a bad hour)
with runtime as (
    select * from staging.stg_runtime__worker_minutes
    where steps > 0 and step_time_s > 0
),

attempts as (
    select job_id, attempt, model_type, sku, gpus, from intermediate.int_jobs__attempts
),

hourly as (
    select
        a.model_type,
        a.sku,
        a.gpus,
        date_trunc('hour', r.minute_at) as hour_at,
        median(r.step_time_s) as step_s,
        median(r.compute_s) as compute_s,
        median(r.dataloader_wait_s) as dataloader_s,
        median(r.grad_sync_s) as grad_sync_s,
    from runtime as r
    join attempts as a on a.job_id = r.job_id and a.attempt = r.attempt
    group by all
),

with_history as (
    select
        model_type,
        sku,
        gpus,
        hour_at,
        -- the first hour of a cohort has no history: it is its own reference (the one non-causal hour)
        coalesce(median(step_s) over past, step_s) as ref_step_s,
        coalesce(median(compute_s) over past, compute_s) as ref_compute_s,
        coalesce(median(dataloader_s) over past, dataloader_s) as ref_dataloader_s,
        coalesce(median(grad_sync_s) over past, grad_sync_s) as ref_grad_sync_s,
    from hourly
    window past as (
        partition by model_type, sku, gpus order by hour_at
        range between interval 7 day preceding and interval 1 hour preceding
    )
),

final as (
    select
        model_type,
        sku,
        gpus,
        hour_at,
        ref_step_s,
        -- parts scaled so they add up to the reference step
        ref_step_s * ref_compute_s / nullif(ref_compute_s + ref_dataloader_s + ref_grad_sync_s, 0) as ref_compute_s,
        ref_step_s * ref_dataloader_s / nullif(ref_compute_s + ref_dataloader_s + ref_grad_sync_s, 0)
            as ref_dataloader_s,
        ref_step_s * ref_grad_sync_s / nullif(ref_compute_s + ref_dataloader_s + ref_grad_sync_s, 0)
            as ref_grad_sync_s,
    from with_history
)

select * from final
