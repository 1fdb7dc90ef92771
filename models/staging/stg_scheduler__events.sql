-- one row per job lifecycle event: submitted, pending, started, ended, requeued
with source as (
    select * from raw.scheduler_events
),

final as (
    select
        job_id,
        attempt,
        event_type,
        event_at,
        queue,
        priority,
        gpus,
        node_ids,
        gpu_ids,
        state as end_state,
        exit_code,
        reason,
    from source
)

select * from final
