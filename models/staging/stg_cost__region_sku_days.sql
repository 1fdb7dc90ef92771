-- one row per day per region per SKU: GPUs paid for and the bill
with source as (
    select * from raw.cost_capacity
),

final as (
    select
        cost_date,
        region,
        sku,
        gpus_total,
        gpus_reserved,
        gpus_on_demand,
        reserved_usd_per_gpu_h,
        on_demand_usd_per_gpu_h,
        cost_usd,
        cost_usd / nullif(gpus_total * 24.0, 0) as usd_per_gpu_h,
    from source
)

select * from final
