-- one row per change event (deploy, upgrade, config or policy change, rollout) with its scope
with source as (
    select * from raw.change_events
),

final as (
    select
        change_id,
        changed_at,
        change_type,
        component,
        from_version,
        to_version,
        scope_region,
        scope_sku,
        scope_team,
        scope_node_ids,
        description,
    from source
)

select * from final
