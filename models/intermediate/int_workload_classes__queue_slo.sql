-- one row per workload class: how long its jobs may wait to start (interactive users wait least), in seconds
with slo as (
    select * from (values
        ('interactive', 120),
        ('batch', 1800),
        ('distributed', 3600),
        ('retrain', 900)
    ) as t (workload_class, slo_s)
)

select * from slo
