-- one row per node: region, rack, SKU, GPU count, and the driver and kernel it last reported
with gpus as (
    select * from marts.dim_gpus
),

versions as (
    select node_id, driver_version, kernel_version, last_reported_at as minute_at,
    from intermediate.int_nodes__daily_versions
    qualify row_number() over (partition by node_id order by last_reported_at desc) = 1
),

final as (
    select
        g.node_id,
        any_value(g.region) as region,
        any_value(g.rack_id) as rack_id,
        any_value(g.sku) as sku,
        count(*) as gpus,
        any_value(v.driver_version) as driver_version,
        any_value(v.kernel_version) as kernel_version,
        any_value(v.minute_at) as last_reported_at,
    from gpus as g
    left join versions as v on v.node_id = g.node_id
    group by g.node_id
)

select * from final
