-- one row per job attempt that reported steps: its first step and its last checkpoint, which split kept work from lost
with runtime as (
    select * from staging.stg_runtime__worker_minutes
),

final as (
    select
        job_id,
        attempt,
        min(minute_at) filter (where steps > 0) as first_step_at,
        max(minute_at) filter (where checkpoint_s > 0) as last_checkpoint_at,
        max(minute_at) as last_report_at,
    from runtime
    group by job_id, attempt
)

select * from final
