-- one row per job attempt that started: how long it queued, against its workload class's queue-wait SLO
with attempts as (
    select * from intermediate.int_jobs__attempts
),

slo as (
    select * from intermediate.int_workload_classes__queue_slo
),

final as (
    select
        a.job_id,
        a.attempt,
        a.started_at,
        a.region,
        a.sku,
        a.team,
        a.workload_class,
        a.queue_wait_s,
        s.slo_s,
        1 as starts,
        case when a.queue_wait_s <= s.slo_s then 1 else 0 end as within_slo,
    from attempts as a
    left join slo as s on s.workload_class = a.workload_class
)

select * from final
