-- one row per node per minute: host load, storage latency, versions and health
with source as (
    select * from raw.node_telemetry
    where ts >= $window_start and ts < $window_end
),

final as (
    select
        node_id,
        date_trunc('minute', ts) as minute_at,
        cpu_util_pct,
        mem_used_gib,
        disk_read_mb_s,
        disk_write_mb_s,
        nvme_used_pct,
        storage_latency_p99_ms,
        kernel_version,
        driver_version,
        health,
    from source
)

select * from final
