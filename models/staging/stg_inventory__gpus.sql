-- one row per GPU per inventory snapshot day: the GPUs paid for that day, where they sit and what they are
with source as (
    select * from raw.inventory
),

final as (
    select
        gpu_id,
        snapshot_date,
        gpu_uuid,
        gpu_index,
        node_id,
        rack_id,
        region,
        sku,
        gpu_mem_mib,
        tdp_w,
    from source
)

select * from final
