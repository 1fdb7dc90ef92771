-- one row per node per day it reported: the driver and kernel of its last minute that day (the node dimension reads
-- these rows for the versions a node last reported, instead of every node-minute of the history)
with minutes as (
    select node_id, minute_at, driver_version, kernel_version,
    from staging.stg_node_telemetry__minutes
    where minute_at >= $window_start and minute_at < $window_end
),

final as (
    select
        node_id,
        date_trunc('day', minute_at) as day_at,
        minute_at as last_reported_at,
        driver_version,
        kernel_version,
    from minutes
    qualify row_number() over (partition by node_id, date_trunc('day', minute_at) order by minute_at desc) = 1
)

select * from final
