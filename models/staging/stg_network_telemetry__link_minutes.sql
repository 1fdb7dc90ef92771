-- one row per network link per minute: throughput, loss, retransmits, congestion
with source as (
    select * from raw.network_telemetry
    where ts >= $window_start and ts < $window_end
),

final as (
    select
        node_id,
        link_id,
        date_trunc('minute', ts) as minute_at,
        rx_gbit_s,
        tx_gbit_s,
        packet_loss_pct,
        retransmits_count,
        latency_us,
        ecn_marks_count,
        pfc_pause_count,
    from source
)

select * from final
