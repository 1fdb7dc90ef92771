-- one row per node per minute: retransmits, congestion marks and traffic summed over the node's links
with links as (
    select * from staging.stg_network_telemetry__link_minutes
    where minute_at >= $window_start and minute_at < $window_end
),

nodes as (
    select distinct node_id, region, sku from staging.stg_inventory__gpus
),

final as (
    select
        l.node_id,
        l.minute_at,
        n.region,
        n.sku,
        count(*) as link_minutes,
        sum(l.retransmits_count) as retransmits,
        sum(coalesce(l.ecn_marks_count, 0)) as ecn_marks,
        sum(l.rx_gbit_s + l.tx_gbit_s) as traffic_gbit_s,
    from links as l
    left join nodes as n on n.node_id = l.node_id
    group by l.node_id, l.minute_at, n.region, n.sku
)

select * from final
