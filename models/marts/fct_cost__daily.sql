-- one row per day per region per SKU: the bill, and how many of its GPU-hours were productive or idle
with hours as (
    select
        date_trunc('day', bucket_at) as cost_date,
        region,
        sku,
        sum(paid_gpu_min) / 60.0 as paid_gpu_h,
        sum(productive_gpu_min) / 60.0 as productive_gpu_h,
        sum(loss_idle_with_demand_gpu_min + loss_no_demand_gpu_min) / 60.0 as idle_gpu_h,
    from marts.fct_goodput__daily
    group by all
),

bills as (
    select * from staging.stg_cost__region_sku_days
),

final as (
    select
        b.cost_date::timestamp as cost_date,
        b.region,
        b.sku,
        b.cost_usd,
        b.usd_per_gpu_h,
        coalesce(h.paid_gpu_h, 0) as paid_gpu_h,
        coalesce(h.productive_gpu_h, 0) as productive_gpu_h,
        coalesce(h.idle_gpu_h, 0) as idle_gpu_h,
        -- idle spend at the day's price per GPU-hour
        coalesce(h.idle_gpu_h, 0) * b.usd_per_gpu_h as idle_spend_usd,
        coalesce(h.paid_gpu_h, 0) * b.usd_per_gpu_h as observed_spend_usd,
    from bills as b
    left join hours as h on h.cost_date = b.cost_date::timestamp and h.region = b.region and h.sku = b.sku
)

select * from final
