-- one row per region per minute in which jobs waited to start: how many, how many GPUs they asked for, and the
-- smallest ask (a region whose free GPUs fit no waiting job is busy, not down)
with waits as (
    select * from intermediate.int_regions__class_waits
    where minute_at >= $window_start and minute_at < $window_end
),

final as (
    select
        region,
        minute_at,
        sum(pending_jobs) as pending_jobs,
        sum(pending_gpus) as pending_gpus,
        min(smallest_pending_gpus) as smallest_pending_gpus,
    from waits
    group by region, minute_at
)

select * from final
