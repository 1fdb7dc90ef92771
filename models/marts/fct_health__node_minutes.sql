-- one row per node per minute of the data (a row even when the node sent nothing, so a gap is visible): how many
-- GPUs reported, software XIDs, storage and RDMA latency, loss and congestion, maintenance and driver version
with nodes as (
    select node_id, any_value(region) as region, any_value(sku) as sku, count(distinct gpu_id) as gpus,
    from staging.stg_inventory__gpus
    group by node_id
),

data_span as (
    select * from intermediate.int_gpu_telemetry__span
),

spine as (
    select
        n.*,
        unnest(generate_series(
            greatest(d.started_at, $window_start),
            least(d.ended_at, $window_end) - interval 1 minute,
            interval 1 minute
        )) as minute_at,
    from nodes as n
    cross join data_span as d
    where d.started_at is not null  -- no telemetry at all: no minutes (a null span would leave the window, 1970-9999)
),

gpu as (
    select
        node_id,
        minute_at,
        count(*) as gpus_reporting,
        -- application-level XIDs (13 graphics exception, 31 MMU fault, 43 channel stopped): software, not hardware
        count(*) filter (where xid in (13, 31, 43)) as software_xid_gpus,
        avg(temp_c) as temp_c,
    from staging.stg_gpu_telemetry__minutes
    where minute_at >= $window_start and minute_at < $window_end
    group by node_id, minute_at
),

host as (
    select node_id, minute_at, storage_latency_p99_ms, driver_version, health,
    from staging.stg_node_telemetry__minutes
    where minute_at >= $window_start and minute_at < $window_end
),

links as (
    select
        node_id,
        minute_at,
        avg(latency_us) as rdma_latency_us,
        avg(packet_loss_pct) as packet_loss_pct,
        sum(retransmits_count) as retransmits,
        sum(coalesce(ecn_marks_count, 0)) as ecn_marks,
    from staging.stg_network_telemetry__link_minutes
    where minute_at >= $window_start and minute_at < $window_end
    group by node_id, minute_at
),

maintenance as (
    select * from intermediate.int_nodes__maintenance_minutes
),

failures as (
    -- attempts that died of a software fault (driver, CUDA, XID 13), on the node that ran their first worker
    select first_node_id as node_id, date_trunc('minute', ended_at) as minute_at, count(*) as software_failures,
    from intermediate.int_jobs__attempts
    where failure_family = 'software' and ended_at >= $window_start and ended_at < $window_end
    group by all
),

final as (
    select
        s.node_id,
        s.minute_at,
        s.region,
        s.sku,
        s.gpus,
        coalesce(g.gpus_reporting, 0) as gpus_reporting,
        coalesce(g.software_xid_gpus, 0) as software_xid_gpus,
        coalesce(f.software_failures, 0) as software_failures,
        g.temp_c,
        h.storage_latency_p99_ms,
        h.driver_version,
        h.health,
        l.rdma_latency_us,
        l.packet_loss_pct,
        l.retransmits,
        l.ecn_marks,
        m.node_id is not null or coalesce(h.health = 'maintenance', false) as is_maintenance,
    from spine as s
    left join gpu as g on g.node_id = s.node_id and g.minute_at = s.minute_at
    left join host as h on h.node_id = s.node_id and h.minute_at = s.minute_at
    left join links as l on l.node_id = s.node_id and l.minute_at = s.minute_at
    left join maintenance as m on m.node_id = s.node_id and m.minute_at = s.minute_at
    left join failures as f on f.node_id = s.node_id and f.minute_at = s.minute_at
)

select * from final
