-- one row per team that submitted jobs: its first and last submission and what it runs
with jobs as (
    select * from staging.stg_jobs__submissions
),

final as (
    select
        team,
        min(submitted_at) as first_submitted_at,
        max(submitted_at) as last_submitted_at,
        count(*) as jobs,
        count(distinct workload_class) as workload_classes,
        mode(region) as home_region,
    from jobs
    group by team
)

select * from final
