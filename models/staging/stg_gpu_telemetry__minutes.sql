-- one row per GPU per minute: activity, health and throttling as the exporter saw them (samples within a minute
-- are combined: means of gauges, the hottest reading, the sum of error counts, the last XID, every throttle reason)
with source as (
    select * from raw.gpu_telemetry
    where ts >= $window_start and ts < $window_end
),

minutes as (
    select
        gpu_id,
        date_trunc('minute', ts) as minute_at,
        any_value(node_id) as node_id,
        avg(gpu_util_pct) as gpu_util_pct,
        avg(sm_active_pct) as sm_active_pct,
        avg(tensor_active_pct) as tensor_active_pct,
        max(mem_used_mib) as mem_used_mib,
        avg(power_w) as power_w,
        max(temp_c) as temp_c,
        avg(sm_clock_mhz) as sm_clock_mhz,
        sum(ecc_corrected_count) as ecc_corrected_count,
        sum(ecc_uncorrected_count) as ecc_uncorrected_count,
        arg_max(xid, ts) as xid,
        bit_or(throttle_reasons) as throttle_reasons,
    from source
    group by gpu_id, date_trunc('minute', ts)
),

final as (
    select
        *,
        -- work the GPU really did: SM activity where the exporter has it, else the coarse utilisation
        coalesce(sm_active_pct, gpu_util_pct) / 100.0 as activity,
        -- uncorrectable ECC or a fatal XID (48 DBE, 64/95 failed remap/uncontained, 74 NVLink, 79 off the bus)
        ecc_uncorrected_count > 0 or coalesce(xid, 0) in (48, 64, 74, 79, 95) as is_fault,
        -- thermal (0x20, 0x40), hardware slowdown (0x8) or power brake (0x80)
        (throttle_reasons & 232) <> 0 as is_throttled,
    from minutes
)

select * from final
