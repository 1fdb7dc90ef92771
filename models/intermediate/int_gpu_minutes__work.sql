-- one row per allocated GPU-minute: whether its work was kept, and how much of the reference speed it reached,
-- with every loss in GPU-minutes by reason (the reasons of a factor add up to that factor's loss)
with allocation as (
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

gpus as (
    select distinct gpu_id, node_id from staging.stg_inventory__gpus
),

telemetry as (
    select gpu_id, minute_at, activity, is_throttled, from staging.stg_gpu_telemetry__minutes
    where minute_at >= $window_start and minute_at < $window_end
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

joined as (
    select
        al.gpu_id,
        al.minute_at,
        al.job_id,
        al.attempt,
        a.team,
        a.workload_class,
        a.model_type,
        a.framework_version,
        a.failure_family,
        a.reports_steps,
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
        coalesce(a.reports_steps and a.end_state <> 'completed'
            and (p.last_checkpoint_at is null or al.minute_at > p.last_checkpoint_at), false) as is_lost,
        coalesce(a.reports_steps and al.minute_of_attempt < 10
            and (p.first_step_at is null or al.minute_at < p.first_step_at), false) as is_startup,
        p.first_step_at is null as never_stepped,
    from allocation as al
    join gpus as g on g.gpu_id = al.gpu_id
    join attempts as a on a.job_id = al.job_id and a.attempt = al.attempt
    left join progress as p on p.job_id = al.job_id and p.attempt = al.attempt
    left join telemetry as t on t.gpu_id = al.gpu_id and t.minute_at = al.minute_at
    left join runtime as r
        on r.job_id = al.job_id and r.attempt = al.attempt and r.node_id = g.node_id and r.minute_at = al.minute_at
    left join reference as ref
        on ref.model_type = a.model_type and ref.sku = a.sku and ref.gpus = a.gpus
        and ref.hour_at = date_trunc('hour', al.minute_at)
),

retention as (
    select
        *,
        case when is_lost or is_startup then 0.0 else 1.0 end as retained_gpu_min,
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
    from joined
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

final as (
    select
        gpu_id,
        minute_at,
        job_id,
        attempt,
        team,
        workload_class,
        model_type,
        framework_version,
        reports_steps,
        is_throttled,
        retained_gpu_min,
        productive_gpu_min,
        lost_after_checkpoint_gpu_min,
        -- the failure that threw the minute's work away; none on a minute that kept it (the family is known only
        -- when the attempt ends: on a kept minute it would change, after the fact, rows that no tick restates)
        case when lost_after_checkpoint_gpu_min > 0 then failure_family end as failure_family,
        lost_startup_gpu_min,
        case when has_steps then weight * raw_checkpoint_overhead else 0 end as loss_checkpoint_overhead_gpu_min,
        case when has_steps then weight * raw_checkpoint else 0 end as loss_checkpoint_gpu_min,
        case when has_steps then weight * raw_dataloader else 0 end as loss_dataloader_gpu_min,
        case when has_steps then weight * raw_grad_sync else 0 end as loss_grad_sync_gpu_min,
        case when has_steps and is_throttled then weight * raw_compute else 0 end as loss_compute_throttled_gpu_min,
        case when has_steps and not is_throttled then weight * raw_compute else 0 end as loss_compute_slow_gpu_min,
        case
            when has_steps
                then step_loss
                    - weight * (raw_checkpoint_overhead + raw_checkpoint + raw_dataloader + raw_grad_sync + raw_compute)
            else 0
        end as loss_other_gpu_min,
        case when not reports_steps and has_telemetry then step_loss else 0 end as loss_held_idle_gpu_min,
        case when not reports_steps and not has_telemetry then step_loss else 0 end as loss_telemetry_gap_gpu_min,
        case when reports_steps and steps is null and never_stepped then step_loss else 0 end
            as loss_no_progress_gpu_min,
        case when reports_steps and steps is null and not never_stepped then step_loss else 0 end
            as loss_stalled_gpu_min,
    from parts
)

select * from final
