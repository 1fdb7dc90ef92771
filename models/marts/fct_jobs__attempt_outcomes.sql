-- one row per ended job attempt: how it ended, whether infrastructure or the user caused it, and its cohorts
with attempts as (
    select * from intermediate.int_jobs__attempts
    where ended_at is not null
),

drivers as (
    select node_id, minute_at, driver_version, from staging.stg_node_telemetry__minutes
),

final as (
    select
        a.job_id,
        a.attempt,
        a.started_at,
        a.ended_at,
        a.region,
        a.sku,
        a.team,
        a.workload_class,
        coalesce(a.model_type, 'none') as model_type,
        coalesce(a.framework_version, 'none') as framework_version,
        coalesce(d.driver_version, 'unknown') as driver_version,
        a.end_state,
        coalesce(a.failure_family, 'none') as failure_family,
        1 as ended_attempts,
        case when a.failure_family in ('hardware', 'software', 'network', 'data_io', 'scheduling', 'planned')
            then 1 else 0 end as infra_failures,
        case when a.failure_family = 'user' and a.end_state <> 'cancelled' then 1 else 0 end as user_failures,
        case when a.end_state = 'cancelled' then 1 else 0 end as cancellations,
        a.gpus * date_diff('second', a.started_at, a.ended_at) / 3600.0 as gpu_hours,
    from attempts as a
    left join drivers as d on d.node_id = a.first_node_id and d.minute_at = date_trunc('minute', a.started_at)
)

select * from final
