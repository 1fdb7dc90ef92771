-- one row per planned maintenance window per node it drains
with source as (
    select * from raw.maintenance_windows
),

nodes as (
    select
        window_id,
        start_at,
        end_at,
        scope_region,
        reason,
        announced_at,
        unnest(string_split(scope_node_ids, ',')) as node_id,
    from source
    where scope_node_ids is not null and scope_node_ids <> ''
),

final as (
    select
        window_id,
        trim(node_id) as node_id,
        start_at,
        end_at,
        scope_region,
        reason,
        announced_at,
    from nodes
)

select * from final
