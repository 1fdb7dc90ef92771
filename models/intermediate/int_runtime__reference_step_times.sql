-- one row per cohort (model type, SKU, GPU count) per hour: the healthy reference step time and its parts,
-- the median of the cohort's hourly medians over the 7 days before the hour (causal; robust to a bad hour)
with hourly as (
    select * from intermediate.int_runtime__cohort_hours
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
