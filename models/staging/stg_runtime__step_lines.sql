-- one row per logged step line per job attempt per worker: the steps it stands for and the rank's own time per step
with source as (
    select * from raw.job_step_times
),

final as (
    select
        job_id,
        attempt,
        worker,
        node_id,
        step,
        covers,
        step_time_s,
        ts as logged_at,
        ts_logged,
    from source
)

select * from final
