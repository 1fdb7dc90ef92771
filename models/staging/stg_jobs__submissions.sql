-- one row per job: who submitted it, what it trains, what it asked for
with source as (
    select * from raw.job_metadata
),

final as (
    select
        job_id,
        submitted_at,
        team,
        user_name,
        region,
        workload_class,
        model_type,
        dataset,
        requested_gpus,
        requested_sku,
        requested_gpu_mem_gib,
        requested_cpus,
        requested_mem_gib,
        image,
        framework_version,
        priority,
        queue,
        deadline_at,
        coalesce(reports_steps, workload_class <> 'interactive') as reports_steps,
    from source
)

select * from final
