-- one row per paid GPU per minute: paid, healthy, allocated, retained and productive GPU-minutes (nested, so
-- goodput = availability x allocation x retention x step efficiency) and every loss by reason, with its slices
with inventory as (
    select * from staging.stg_inventory__gpus
),

telemetry as (
    select gpu_id, minute_at, activity, is_fault, is_throttled, from staging.stg_gpu_telemetry__minutes
    where minute_at >= $window_start and minute_at < $window_end
),

node_minutes as (
    select node_id, minute_at, health, driver_version, from staging.stg_node_telemetry__minutes
    where minute_at >= $window_start and minute_at < $window_end
),

maintenance as (
    select * from intermediate.int_nodes__maintenance_minutes
),

allocation as (
    select * from intermediate.int_gpu_minutes__allocation
    where minute_at >= $window_start and minute_at < $window_end
),

attempts as (
    select * from intermediate.int_jobs__attempts
    -- the attempts that can hold the window's minutes (ended at most a day before it: a late report still joins),
    -- so a tick does not read every attempt of the history
    where started_at < $window_end and (ended_at is null or ended_at >= $window_start::timestamp - interval 1 day)
),

progress as (
    -- the progress of those attempts only: a hash join over every attempt's progress of the history cost a tick
    -- 0.68 s at 30 days (588k rows, growing with the history)
    select p.* from intermediate.int_jobs__attempt_progress as p
    semi join attempts as a on a.job_id = p.job_id and a.attempt = p.attempt
),

runtime as (
    select
        job_id,
        attempt,
        node_id,
        minute_at,
        avg(steps) as steps,
        avg(compute_s) as compute_s,
        avg(dataloader_wait_s) as dataloader_wait_s,
        avg(grad_sync_s) as grad_sync_s,
        avg(checkpoint_s) as checkpoint_s,
    from staging.stg_runtime__worker_minutes
    where minute_at >= $window_start and minute_at < $window_end
    group by all
),

reference as (
    select * from intermediate.int_runtime__reference_step_times
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
    -- no telemetry, no paid minutes: without this, greatest() and least() skip the null span and a full build's
    -- window (1970 to 9999) becomes the spine
    where d.started_at is not null
),

held as (
    -- the attempt that held each allocated minute, with its progress
    select
        al.gpu_id,
        al.minute_at,
        al.job_id,
        al.minute_of_attempt,
        a.attempt,
        a.team,
        a.workload_class,
        a.model_type,
        a.framework_version,
        a.failure_family,
        a.reports_steps,
        a.end_state,
        a.sku,
        a.gpus,
        p.first_step_at,
        p.last_checkpoint_at,
    from allocation as al
    join attempts as a on a.job_id = al.job_id and a.attempt = al.attempt
    left join progress as p on p.job_id = al.job_id and p.attempt = al.attempt
),

-- every paid minute with what its GPU and node reported and the attempt that held it: one join per source on the
-- spine (the allocated minutes' work read the GPU telemetry in a join of its own before, 0.7 s a day of the build)
joined as (
    select
        s.gpu_id,
        s.minute_at,
        s.node_id,
        s.region,
        s.sku,
        m.node_id is not null as is_maintenance,
        -- a fault, a node down, or a thermal drain: a throttled GPU no job holds is kept out of the schedule
        coalesce(t.is_fault, false) or coalesce(n.health = 'down', false)
            or (coalesce(t.is_throttled, false) and h.job_id is null) as is_fault,
        -- no telemetry from the GPU and no job on it: whether it was idle, busy or down is unknown, so the minute
        -- is a data gap (its own availability loss), never read as a healthy idle GPU
        t.gpu_id is null and h.job_id is null as is_unobserved,
        n.driver_version,
        h.job_id is not null as is_allocated,
        h.job_id,
        h.team,
        h.workload_class,
        h.model_type,
        h.framework_version,
        h.failure_family,
        h.reports_steps,
        t.gpu_id is not null as has_telemetry,
        coalesce(t.activity, 0) as activity,
        coalesce(t.is_throttled, false) as is_throttled,
        r.steps,
        r.compute_s,
        r.dataloader_wait_s,
        r.grad_sync_s,
        r.checkpoint_s,
        ref.ref_step_s,
        ref.ref_compute_s,
        ref.ref_dataloader_s,
        ref.ref_grad_sync_s,
        ref.ref_checkpoint_s,
        -- work after the last checkpoint of an attempt that did not complete is thrown away
        coalesce(h.reports_steps and h.end_state <> 'completed'
            and (h.last_checkpoint_at is null or s.minute_at > h.last_checkpoint_at), false) as is_lost,
        coalesce(h.reports_steps and h.minute_of_attempt < 10
            and (h.first_step_at is null or s.minute_at < h.first_step_at), false) as is_startup,
        h.first_step_at is null as never_stepped,
    from spine as s
    left join telemetry as t on t.gpu_id = s.gpu_id and t.minute_at = s.minute_at
    left join node_minutes as n on n.node_id = s.node_id and n.minute_at = s.minute_at
    left join maintenance as m on m.node_id = s.node_id and m.minute_at = s.minute_at
    left join held as h on h.gpu_id = s.gpu_id and h.minute_at = s.minute_at
    left join runtime as r
        on r.job_id = h.job_id and r.attempt = h.attempt and r.node_id = s.node_id and r.minute_at = s.minute_at
    left join reference as ref
        on ref.model_type = h.model_type and ref.sku = h.sku and ref.gpus = h.gpus
        and ref.hour_at = date_trunc('hour', s.minute_at)
),

weighted as (
    -- 1 for a healthy GPU-minute, 0 otherwise: every measure after availability is counted on healthy time only
    select *, case when is_maintenance or is_fault or is_unobserved then 0.0 else 1.0 end as healthy_weight,
    from joined
),

retention as (
    -- an allocated minute's work: whether it was kept, and its speed against the reference (nothing on a free GPU)
    select
        *,
        case when not is_allocated or is_lost or is_startup then 0.0 else 1.0 end as retained_gpu_min,
        case when is_lost then 1.0 else 0.0 end as lost_after_checkpoint_gpu_min,
        case when is_startup and not is_lost then 1.0 else 0.0 end as lost_startup_gpu_min,
        -- the minute's speed against the reference: steps done times the reference step, over the minute
        case
            when not reports_steps then activity
            when steps is null then 0.0
            when ref_step_s is null then 1.0
            else least(1.0, steps * ref_step_s / 60.0)
        end as efficiency,
        -- a checkpoint up to the cohort's reference is the job's own overhead (how often it writes one); only
        -- the time past it is a slow write (storage); with no reference the whole checkpoint is overhead
        coalesce(least(checkpoint_s, coalesce(ref_checkpoint_s, checkpoint_s)), 0) / 60.0 as raw_checkpoint_overhead,
        coalesce(greatest(0, checkpoint_s - coalesce(ref_checkpoint_s, checkpoint_s)), 0) / 60.0 as raw_checkpoint,
        coalesce(steps * greatest(0, dataloader_wait_s - ref_dataloader_s) / 60.0, 0) as raw_dataloader,
        coalesce(steps * greatest(0, grad_sync_s - ref_grad_sync_s) / 60.0, 0) as raw_grad_sync,
        coalesce(steps * greatest(0, compute_s - ref_compute_s) / 60.0, 0) as raw_compute,
    from weighted
),

scaled as (
    select
        *,
        retained_gpu_min * efficiency as productive_gpu_min,
        retained_gpu_min * (1 - efficiency) as step_loss,
        -- the parts of a slow minute, scaled down when they explain more than was lost
        case
            when raw_checkpoint_overhead + raw_checkpoint + raw_dataloader + raw_grad_sync + raw_compute
                > 1 - efficiency
                then (1 - efficiency)
                    / (raw_checkpoint_overhead + raw_checkpoint + raw_dataloader + raw_grad_sync + raw_compute)
            else 1.0
        end as part_scale,
    from retention
),

parts as (
    select
        *,
        reports_steps and steps is not null as has_steps,
        retained_gpu_min * part_scale as weight,
    from scaled
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
        s.healthy_weight * s.retained_gpu_min as retained_gpu_min,
        s.healthy_weight * s.productive_gpu_min as productive_gpu_min,
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
        s.healthy_weight * s.lost_after_checkpoint_gpu_min as loss_after_checkpoint_gpu_min,
        -- the failure that threw the minute's work away; none on a minute that kept it (the family is known only
        -- when the attempt ends: on a kept minute it would change, after the fact, rows that no tick restates)
        coalesce(case when s.lost_after_checkpoint_gpu_min > 0 then s.failure_family end, 'none') as failure_family,
        s.healthy_weight * s.lost_startup_gpu_min as loss_startup_gpu_min,
        -- step efficiency: where the reference speed was lost (the reasons of a slow minute add up to its loss)
        s.healthy_weight * case when s.has_steps then s.weight * s.raw_checkpoint_overhead else 0 end
            as loss_checkpoint_overhead_gpu_min,
        s.healthy_weight * case when s.has_steps then s.weight * s.raw_checkpoint else 0 end
            as loss_checkpoint_gpu_min,
        s.healthy_weight * case when s.has_steps then s.weight * s.raw_dataloader else 0 end
            as loss_dataloader_gpu_min,
        s.healthy_weight * case when s.has_steps then s.weight * s.raw_grad_sync else 0 end
            as loss_grad_sync_gpu_min,
        s.healthy_weight * case when s.has_steps and s.is_throttled then s.weight * s.raw_compute else 0 end
            as loss_compute_throttled_gpu_min,
        s.healthy_weight * case when s.has_steps and not s.is_throttled then s.weight * s.raw_compute else 0 end
            as loss_compute_slow_gpu_min,
        s.healthy_weight * case
            when s.has_steps
                then s.step_loss - s.weight * (
                    s.raw_checkpoint_overhead + s.raw_checkpoint + s.raw_dataloader + s.raw_grad_sync + s.raw_compute
                )
            else 0
        end as loss_other_gpu_min,
        -- a job that reports no steps is judged by how busy its GPUs were (idle ones were held idle)
        s.healthy_weight * case when not s.reports_steps and s.has_telemetry then s.step_loss else 0 end
            as loss_held_idle_gpu_min,
        s.healthy_weight * case when not s.reports_steps and not s.has_telemetry then s.step_loss else 0 end
            as loss_telemetry_gap_gpu_min,
        s.healthy_weight * case when s.reports_steps and s.steps is null and s.never_stepped then s.step_loss else 0 end
            as loss_no_progress_gpu_min,
        s.healthy_weight
            * case when s.reports_steps and s.steps is null and not s.never_stepped then s.step_loss else 0 end
            as loss_stalled_gpu_min,
    from parts as s
    left join idle as i on i.region = s.region and i.minute_at = s.minute_at
    left join demand as d on d.region = s.region and d.minute_at = s.minute_at
)

select * from final
