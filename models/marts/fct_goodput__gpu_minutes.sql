-- one row per paid GPU per minute: paid, healthy, allocated, retained and productive GPU-minutes (nested, so
-- goodput = availability x allocation x retention x step efficiency) and every loss by reason, with its slices
with inventory as (
    select * from staging.stg_inventory__gpus
),

telemetry as (
    select gpu_id, minute_at, is_fault, is_throttled, from staging.stg_gpu_telemetry__minutes
    where minute_at >= $window_start and minute_at < $window_end
),

node_minutes as (
    select node_id, minute_at, health, driver_version, from staging.stg_node_telemetry__minutes
    where minute_at >= $window_start and minute_at < $window_end
),

maintenance as (
    select * from intermediate.int_nodes__maintenance_minutes
),

work as (
    select * from intermediate.int_gpu_minutes__work
    where minute_at >= $window_start and minute_at < $window_end
),

demand as (
    select * from intermediate.int_regions__pending_demand
),

data_span as (
    -- paid time is counted where the telemetry tells about it: from its first minute to its last
    select * from intermediate.int_gpu_telemetry__span
),

snapshots as (
    -- a snapshot holds until the next one (of any GPU): a GPU it lists is paid for until a later snapshot leaves it
    -- out, so a day without a snapshot, or data that runs past midnight of the last one, is still paid
    select * from intermediate.int_inventory__snapshot_spans
),

spine as (
    select
        i.gpu_id,
        i.node_id,
        i.region,
        i.sku,
        unnest(generate_series(
            greatest(i.snapshot_date::timestamp, $window_start, d.started_at),
            least(coalesce(s.next_date::timestamp, d.ended_at), $window_end, d.ended_at) - interval 1 minute,
            interval 1 minute
        )) as minute_at,
    from inventory as i
    join snapshots as s on s.snapshot_date = i.snapshot_date
    cross join data_span as d
),

states as (
    select
        s.*,
        m.node_id is not null as is_maintenance,
        -- a fault, a node down, or a thermal drain: a throttled GPU no job holds is kept out of the schedule
        coalesce(t.is_fault, false) or coalesce(n.health = 'down', false)
            or (coalesce(t.is_throttled, false) and w.job_id is null) as is_fault,
        -- no telemetry from the GPU and no job on it: whether it was idle, busy or down is unknown, so the minute
        -- is a data gap (its own availability loss), never read as a healthy idle GPU
        t.gpu_id is null and w.job_id is null as is_unobserved,
        n.driver_version,
        w.job_id is not null as is_allocated,
        w.* exclude (gpu_id, minute_at),
    from spine as s
    left join telemetry as t on t.gpu_id = s.gpu_id and t.minute_at = s.minute_at
    left join node_minutes as n on n.node_id = s.node_id and n.minute_at = s.minute_at
    left join maintenance as m on m.node_id = s.node_id and m.minute_at = s.minute_at
    left join work as w on w.gpu_id = s.gpu_id and w.minute_at = s.minute_at
),

weighted as (
    -- 1 for a healthy GPU-minute, 0 otherwise: every measure after availability is counted on healthy time only
    select *, case when is_maintenance or is_fault or is_unobserved then 0.0 else 1.0 end as healthy_weight,
    from states
),

idle as (
    select region, minute_at, count(*) as idle_gpus,
    from weighted
    where healthy_weight = 1 and not is_allocated
    group by region, minute_at
),

final as (
    select
        s.gpu_id,
        s.minute_at,
        s.node_id,
        s.region,
        s.sku,
        coalesce(s.team, 'unallocated') as team,
        coalesce(s.workload_class, 'unallocated') as workload_class,
        coalesce(s.model_type, 'none') as model_type,
        coalesce(s.driver_version, 'unknown') as driver_version,
        coalesce(s.framework_version, 'none') as framework_version,
        s.job_id,
        1.0 as paid_gpu_min,
        s.healthy_weight as healthy_gpu_min,
        case when s.is_allocated then s.healthy_weight else 0.0 end as allocated_gpu_min,
        s.healthy_weight * coalesce(s.retained_gpu_min, 0)
            as retained_gpu_min,
        s.healthy_weight * coalesce(s.productive_gpu_min, 0)
            as productive_gpu_min,
        -- availability: planned maintenance, then hardware faults and thermal drains, then GPUs nobody saw
        case when s.is_maintenance then 1.0 else 0.0 end as loss_maintenance_gpu_min,
        case when s.is_fault and not s.is_maintenance then 1.0 else 0.0 end as loss_gpu_fault_gpu_min,
        case when s.is_unobserved and not s.is_fault and not s.is_maintenance then 1.0 else 0.0 end
            as loss_unobserved_gpu_min,
        -- allocation: idle while jobs waited in the region (scheduling) or idle for want of demand
        case when s.healthy_weight = 1 and not s.is_allocated
            then least(1.0, coalesce(d.pending_gpus, 0) / i.idle_gpus) else 0.0 end as loss_idle_with_demand_gpu_min,
        case when s.healthy_weight = 1 and not s.is_allocated
            then 1.0 - least(1.0, coalesce(d.pending_gpus, 0) / i.idle_gpus) else 0.0 end as loss_no_demand_gpu_min,
        -- retention: work thrown away after the last checkpoint, by the family of the failure, and start-up
        s.healthy_weight * coalesce(s.lost_after_checkpoint_gpu_min, 0)
            as loss_after_checkpoint_gpu_min,
        coalesce(s.failure_family, 'none') as failure_family,
        s.healthy_weight * coalesce(s.lost_startup_gpu_min, 0)
            as loss_startup_gpu_min,
        -- step efficiency: where the reference speed was lost
        s.healthy_weight * coalesce(s.loss_checkpoint_overhead_gpu_min, 0)
            as loss_checkpoint_overhead_gpu_min,
        s.healthy_weight * coalesce(s.loss_checkpoint_gpu_min, 0)
            as loss_checkpoint_gpu_min,
        s.healthy_weight * coalesce(s.loss_dataloader_gpu_min, 0)
            as loss_dataloader_gpu_min,
        s.healthy_weight * coalesce(s.loss_grad_sync_gpu_min, 0)
            as loss_grad_sync_gpu_min,
        s.healthy_weight * coalesce(s.loss_compute_throttled_gpu_min, 0)
            as loss_compute_throttled_gpu_min,
        s.healthy_weight * coalesce(s.loss_compute_slow_gpu_min, 0)
            as loss_compute_slow_gpu_min,
        s.healthy_weight * coalesce(s.loss_other_gpu_min, 0)
            as loss_other_gpu_min,
        s.healthy_weight * coalesce(s.loss_held_idle_gpu_min, 0)
            as loss_held_idle_gpu_min,
        s.healthy_weight * coalesce(s.loss_telemetry_gap_gpu_min, 0)
            as loss_telemetry_gap_gpu_min,
        s.healthy_weight * coalesce(s.loss_no_progress_gpu_min, 0)
            as loss_no_progress_gpu_min,
        s.healthy_weight * coalesce(s.loss_stalled_gpu_min, 0)
            as loss_stalled_gpu_min,
    from weighted as s
    left join idle as i on i.region = s.region and i.minute_at = s.minute_at
    left join demand as d on d.region = s.region and d.minute_at = s.minute_at
)

select * from final
