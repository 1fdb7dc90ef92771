-- one row per job with a deadline, at its deadline: met if an attempt completed by then (known at the deadline)
with jobs as (
    select * from staging.stg_jobs__submissions
    where deadline_at is not null
),

completions as (
    -- the jobs with a deadline only: a tick does not group every completed attempt of the history
    select a.job_id, min(a.ended_at) as completed_at,
    from intermediate.int_jobs__attempts as a
    semi join jobs as j on j.job_id = a.job_id
    where a.end_state = 'completed'
    group by a.job_id
),

data_end as (
    -- the scheduler's last event, from its row per day rather than every event
    select max(last_event_at) as ended_at from staging.stg_scheduler__event_days
),

final as (
    select
        j.job_id,
        j.deadline_at,
        j.submitted_at,
        j.team,
        coalesce(j.region, 'unknown') as region,
        j.workload_class,
        c.completed_at,
        1 as due,
        case when c.completed_at <= j.deadline_at then 1 else 0 end as met,
        date_diff('second', j.deadline_at, coalesce(c.completed_at, d.ended_at)) / 3600.0 as hours_late,
    from jobs as j
    cross join data_end as d
    left join completions as c on c.job_id = j.job_id
    where j.deadline_at <= d.ended_at  -- a deadline still ahead is not yet met or missed
)

select * from final
