-- one row per GPU: where it sits and what it is, as of its latest inventory snapshot
with inventory as (
    select * from staging.stg_inventory__gpus
),

final as (
    select
        gpu_id,
        gpu_uuid,
        gpu_index,
        node_id,
        rack_id,
        region,
        sku,
        gpu_mem_mib,
        tdp_w,
        min(snapshot_date) over (partition by gpu_id) as first_seen_date,
        snapshot_date as last_seen_date,
    from inventory
    qualify row_number() over (partition by gpu_id order by snapshot_date desc) = 1
)

select * from final
