-- one row per job: what it asked for, how many attempts it took, its queue wait and how it ended
with jobs as (
    select * from staging.stg_jobs__submissions
),

attempts as (
    select * from intermediate.int_jobs__attempts
),

outcomes as (
    select
        job_id,
        count(*) as attempts,
        min(started_at) as first_started_at,
        max(ended_at) as last_ended_at,
        arg_max(end_state, attempt) as final_state,
        arg_max(failure_family, attempt) as final_failure_family,
    from attempts
    group by job_id
),

final as (
    select
        j.*,
        coalesce(o.attempts, 0) as attempts,
        o.first_started_at,
        o.last_ended_at,
        o.final_state,
        o.final_failure_family,
        date_diff('second', j.submitted_at, o.first_started_at) as first_queue_wait_s,
    from jobs as j
    left join outcomes as o on o.job_id = j.job_id
)

select * from final
