-- one row per day per region per SKU per team per spend category: the GPU-hours and the dollars of the day's bill
-- they carry. The categories split every paid GPU-hour once (productive, each loss, idle, maintenance), and
-- 'unobserved' holds the part of the bill the telemetry does not cover, so each region-day adds up to the bill;
-- 'no_telemetry' the paid minutes inside the data's span in which a GPU sent nothing and held no job; work lost to
-- a failure is split by the failure's family (lost_after_failure_<family>), and each row carries its loss family.
with hours as (
    select
        date_trunc('day', bucket_at)::date as cost_date,
        region,
        sku,
        team,
        sum(paid_gpu_min) as paid_gpu_min,
        sum(productive_gpu_min) as productive,
        sum(loss_maintenance_gpu_min) as maintenance,
        sum(loss_gpu_fault_gpu_min) as hardware_fault,
        sum(loss_unobserved_gpu_min) as no_telemetry,
        sum(loss_idle_with_demand_gpu_min) as idle_with_demand,
        sum(loss_no_demand_gpu_min) as idle_no_demand,
        sum(loss_failed_hardware_gpu_min) as lost_after_failure_hardware,
        sum(loss_failed_software_gpu_min) as lost_after_failure_software,
        sum(loss_failed_network_gpu_min) as lost_after_failure_network,
        sum(loss_failed_data_io_gpu_min) as lost_after_failure_data_io,
        sum(loss_failed_scheduling_gpu_min) as lost_after_failure_scheduling,
        sum(loss_failed_user_gpu_min) as lost_after_failure_user,
        sum(loss_failed_planned_gpu_min) as lost_after_failure_planned,
        sum(loss_no_progress_gpu_min) as no_progress,
        sum(loss_held_idle_gpu_min) as held_idle,
        sum(loss_startup_gpu_min) as startup,
        sum(loss_checkpoint_overhead_gpu_min) as checkpoint_overhead,
        sum(loss_checkpoint_gpu_min) as checkpoint_slow_write,
        sum(loss_dataloader_gpu_min) as dataloader_wait,
        sum(loss_grad_sync_gpu_min) as grad_sync_wait,
        sum(loss_compute_throttled_gpu_min) as compute_throttled,
        sum(loss_compute_slow_gpu_min) as compute_slow,
        sum(loss_stalled_gpu_min) as stalled,
        sum(loss_telemetry_gap_gpu_min) as telemetry_gap,
        sum(loss_other_gpu_min) as other_step_loss,
    from marts.fct_goodput__daily
    group by all
),

categories as (
    -- one row per category (a plain cross join: portable where UNPIVOT is not)
    select
        h.cost_date,
        h.region,
        h.sku,
        h.team,
        c.category,
        case c.category
            when 'productive' then h.productive
            when 'maintenance' then h.maintenance
            when 'hardware_fault' then h.hardware_fault
            when 'no_telemetry' then h.no_telemetry
            when 'idle_with_demand' then h.idle_with_demand
            when 'idle_no_demand' then h.idle_no_demand
            when 'lost_after_failure_hardware' then h.lost_after_failure_hardware
            when 'lost_after_failure_software' then h.lost_after_failure_software
            when 'lost_after_failure_network' then h.lost_after_failure_network
            when 'lost_after_failure_data_io' then h.lost_after_failure_data_io
            when 'lost_after_failure_scheduling' then h.lost_after_failure_scheduling
            when 'lost_after_failure_user' then h.lost_after_failure_user
            when 'lost_after_failure_planned' then h.lost_after_failure_planned
            when 'no_progress' then h.no_progress
            when 'held_idle' then h.held_idle
            when 'startup' then h.startup
            when 'checkpoint_overhead' then h.checkpoint_overhead
            when 'checkpoint_slow_write' then h.checkpoint_slow_write
            when 'dataloader_wait' then h.dataloader_wait
            when 'grad_sync_wait' then h.grad_sync_wait
            when 'compute_throttled' then h.compute_throttled
            when 'compute_slow' then h.compute_slow
            when 'stalled' then h.stalled
            when 'telemetry_gap' then h.telemetry_gap
            when 'other_step_loss' then h.other_step_loss
        end as gpu_min,
    from hours as h
    cross join (values
        ('productive'), ('maintenance'), ('hardware_fault'), ('no_telemetry'), ('idle_with_demand'),
        ('idle_no_demand'),
        ('lost_after_failure_hardware'), ('lost_after_failure_software'), ('lost_after_failure_network'),
        ('lost_after_failure_data_io'), ('lost_after_failure_scheduling'), ('lost_after_failure_user'),
        ('lost_after_failure_planned'), ('no_progress'), ('held_idle'), ('startup'), ('checkpoint_overhead'),
        ('checkpoint_slow_write'), ('dataloader_wait'), ('grad_sync_wait'), ('compute_throttled'), ('compute_slow'), ('stalled'),
        ('telemetry_gap'), ('other_step_loss')
    ) as c (category)
),

bills as (
    select *, gpus_total * 24.0 as billed_gpu_h, from staging.stg_cost__region_sku_days
),

observed as (
    select cost_date, region, sku, sum(paid_gpu_min) / 60.0 as paid_gpu_h,
    from hours
    group by all
),

unobserved as (
    -- billed capacity the telemetry did not see (before the data starts, GPUs that never reported); negative
    -- when more GPU-hours reported than were billed
    select
        b.cost_date,
        b.region,
        b.sku,
        'none' as team,
        'unobserved' as category,
        b.billed_gpu_h - coalesce(o.paid_gpu_h, 0) as gpu_h,
    from bills as b
    left join observed as o on o.cost_date = b.cost_date and o.region = b.region and o.sku = b.sku
),

spend as (
    select cost_date, region, sku, team, category, gpu_min / 60.0 as gpu_h,
    from categories
    union all  -- the same columns in the same order (BY NAME is DuckDB's alone)
    select * from unobserved
),

final as (
    select
        s.cost_date::timestamp as cost_date,
        s.region,
        s.sku,
        s.team,
        s.category,
        case
            when s.category = 'productive' then 'productive'
            when s.category in ('idle_with_demand', 'idle_no_demand') then 'idle'
            when s.category like 'lost_after_failure_%' or s.category in ('no_progress', 'held_idle') then 'wasted'
            when s.category = 'maintenance' then 'maintenance'
            when s.category = 'hardware_fault' then 'hardware'
            when s.category in ('unobserved', 'no_telemetry') then 'unobserved'
            else 'inefficiency'
        end as spend_kind,
        -- the loss family of the category, as pipelines/semantic/losses.py files its reason (null: productive)
        case s.category
            when 'productive' then null
            when 'maintenance' then 'planned'
            when 'hardware_fault' then 'hardware'
            when 'no_telemetry' then 'telemetry'
            when 'unobserved' then 'telemetry'
            when 'idle_with_demand' then 'scheduling'
            when 'idle_no_demand' then 'demand'
            when 'lost_after_failure_user' then 'workload'
            when 'no_progress' then 'gaming'
            when 'held_idle' then 'workload'
            when 'startup' then 'software'
            when 'checkpoint_overhead' then 'workload'
            when 'checkpoint_slow_write' then 'data_io'
            when 'dataloader_wait' then 'data_io'
            when 'grad_sync_wait' then 'network'
            when 'compute_throttled' then 'hardware'
            when 'compute_slow' then 'software'
            when 'stalled' then 'software'
            when 'telemetry_gap' then 'telemetry'
            when 'other_step_loss' then 'software'
            else replace(s.category, 'lost_after_failure_', '')
        end as family,
        s.gpu_h,
        b.cost_usd / nullif(b.billed_gpu_h, 0) as usd_per_gpu_h,
        s.gpu_h * b.cost_usd / nullif(b.billed_gpu_h, 0) as spend_usd,
    from spend as s
    left join bills as b on b.cost_date = s.cost_date and b.region = s.region and b.sku = s.sku
)

select * from final
