-- one row per job with a deadline, at its deadline: met if an attempt completed by then (known at the deadline)
with jobs as (
    select * from staging.stg_jobs__submissions
    where deadline_at is not null
),

completions as (
    select job_id, min(ended_at) as completed_at,
    from intermediate.int_jobs__attempts
    where end_state = 'completed'
    group by job_id
),

data_end as (
    select max(event_at) as ended_at from staging.stg_scheduler__events
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
