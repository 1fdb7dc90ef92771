-- one row per region per minute in which jobs waited to start: how many and how many GPUs they asked for
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
    from waits
    group by region, minute_at
)

select * from final
