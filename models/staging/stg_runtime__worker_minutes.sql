-- one row per job attempt per worker per minute: training steps and where each step's time went
with source as (
    select * from raw.job_runtime_metrics
    where ts >= $window_start and ts < $window_end
),

final as (
    select
        job_id,
        attempt,
        worker,
        node_id,
        date_trunc('minute', ts) as minute_at,
        step,
        steps,
        step_time_s,
        compute_s,
        dataloader_wait_s,
        grad_sync_s,
        coalesce(checkpoint_s, 0) as checkpoint_s,
        samples,
        framework_version,
    from source
)

select * from final
