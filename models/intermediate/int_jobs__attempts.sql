-- one row per job attempt: when it queued, started and ended, where it ran, how it ended and the family of the cause
with events as (
    select * from staging.stg_scheduler__events
),

jobs as (
    select * from staging.stg_jobs__submissions
),

nodes as (
    select distinct node_id, region, sku from staging.stg_inventory__gpus
),

queued as (
    select
        job_id,
        attempt,
        min(event_at) as queued_at,
    from events
    where event_type in ('submitted', 'requeued')
    group by job_id, attempt
),

starts as (
    select job_id, attempt, event_at as started_at, gpus, node_ids, gpu_ids,
    from events
    where event_type = 'started'
),

ends as (
    select job_id, attempt, event_at as ended_at, end_state, exit_code, reason,
    from events
    where event_type = 'ended'
),

joined as (
    select
        s.job_id,
        s.attempt,
        coalesce(q.queued_at, j.submitted_at) as queued_at,
        s.started_at,
        e.ended_at,
        e.end_state,
        e.exit_code,
        e.reason,
        s.gpus,
        s.node_ids,
        s.gpu_ids,
        split_part(s.node_ids, ',', 1) as first_node_id,
        j.team,
        j.workload_class,
        j.model_type,
        j.framework_version,
        j.reports_steps,
    from starts as s
    left join ends as e on e.job_id = s.job_id and e.attempt = s.attempt
    left join queued as q on q.job_id = s.job_id and q.attempt = s.attempt
    left join jobs as j on j.job_id = s.job_id
),

final as (
    select
        joined.*,
        n.region,
        n.sku,
        date_diff('second', queued_at, started_at) as queue_wait_s,
        case
            when end_state is null or end_state = 'completed' then null
            when reason ilike '%maintenance%' then 'planned'
            when end_state = 'preempted' then 'scheduling'
            -- the hardware Xids as a whole word (a regular expression every engine reads alike)
            when end_state = 'node_fail' or regexp_matches(reason, '^Xid (48|63|64|74|79|94|95)([^0-9A-Za-z_]|$)')
                then 'hardware'
            when reason ilike '%nccl%' or reason ilike '%all-reduce%' or reason ilike '%network%' then 'network'
            when reason ilike '%dataloader%' or reason ilike '%storage%' or reason ilike '%i/o%' then 'data_io'
            when reason ilike 'xid%' or reason ilike '%cuda error%' or reason ilike '%driver%' then 'software'
            else 'user'
        end as failure_family,
    from joined
    left join nodes as n on n.node_id = joined.first_node_id
)

select * from final
