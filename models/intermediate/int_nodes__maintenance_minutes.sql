-- one row per node per minute inside a planned maintenance window
with windows as (
    select * from staging.stg_maintenance__node_windows
),

final as (
    select distinct
        node_id,
        unnest(generate_series(
            date_trunc('minute', start_at), date_trunc('minute', end_at) - interval 1 minute, interval 1 minute
        )) as minute_at,
    from windows
    where end_at > start_at
)

select * from final
