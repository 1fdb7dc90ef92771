-- one row per region, workload class and minute in which jobs of the class waited: the wait so far of the
-- longest-waiting one against the class's queue-wait SLO. Known while the jobs still wait (the waits of
-- fct_jobs__queue_waits are known only once a job starts), so a starved class shows before its jobs start.
with waits as (
    select * from intermediate.int_regions__class_waits
),

slo as (
    select * from intermediate.int_workload_classes__queue_slo
),

final as (
    select
        w.region,
        w.workload_class,
        w.minute_at,
        w.pending_jobs,
        w.pending_gpus,
        date_diff('second', w.oldest_queued_at, w.minute_at) as oldest_wait_s,
        s.slo_s,
        date_diff('second', w.oldest_queued_at, w.minute_at) / s.slo_s as oldest_wait_slo_ratio,
    from waits as w
    left join slo as s on s.workload_class = w.workload_class
)

select * from final
