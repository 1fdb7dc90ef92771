-- one row per cohort (model type, SKU, GPU count) per hour: the healthy reference step time and its parts, and the
-- reference checkpoint (what writing one costs the cohort when storage is healthy): the median of the cohort's
-- hourly medians over the 7 days before the hour (causal; robust to a bad hour);
-- a tick recomputes the hours of its window from the 7 days before them
with hourly as (
    select * from intermediate.int_runtime__cohort_hours
    where hour_at >= $window_start::timestamp - interval 7 day and hour_at < $window_end
),

with_history as (
    -- each hour with the cohort's hours of the 7 days before it (an aggregate over a join rather than a median
    -- over an interval frame: the same values, and a form every engine runs)
    select
        h.model_type,
        h.sku,
        h.gpus,
        h.hour_at,
        -- the first hour of a cohort has no history: it is its own reference (the one non-causal hour)
        coalesce(median(p.step_s), any_value(h.step_s)) as ref_step_s,
        coalesce(median(p.compute_s), any_value(h.compute_s)) as ref_compute_s,
        coalesce(median(p.dataloader_s), any_value(h.dataloader_s)) as ref_dataloader_s,
        coalesce(median(p.grad_sync_s), any_value(h.grad_sync_s)) as ref_grad_sync_s,
        coalesce(median(p.checkpoint_s), any_value(h.checkpoint_s)) as ref_checkpoint_s,
    from hourly as h
    left join hourly as p
        on
            p.model_type = h.model_type
            and p.sku = h.sku
            and p.gpus = h.gpus
            and p.hour_at >= h.hour_at - interval 7 day
            and p.hour_at <= h.hour_at - interval 1 hour
    where h.hour_at >= $window_start and h.hour_at < $window_end
    group by h.model_type, h.sku, h.gpus, h.hour_at
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
        ref_checkpoint_s,
    from with_history
)

select * from final
