-- one row per hour per slice (region, SKU, node, team, workload class, model type, driver and
-- framework version): summed GPU-minutes, the four goodput factors and every loss by reason
with five_minutes as (
    select * from marts.fct_goodput__5min
    where bucket_at >= $window_start and bucket_at < $window_end
),

summed as (
    select
        date_trunc('hour', bucket_at) as bucket_at,
        region,
        sku,
        node_id,
        team,
        workload_class,
        model_type,
        driver_version,
        framework_version,
        sum(paid_gpu_min) as paid_gpu_min,
        sum(healthy_gpu_min) as healthy_gpu_min,
        sum(allocated_gpu_min) as allocated_gpu_min,
        sum(retained_gpu_min) as retained_gpu_min,
        sum(productive_gpu_min) as productive_gpu_min,
        sum(loss_maintenance_gpu_min) as loss_maintenance_gpu_min,
        sum(loss_gpu_fault_gpu_min) as loss_gpu_fault_gpu_min,
        sum(loss_unobserved_gpu_min) as loss_unobserved_gpu_min,
        sum(loss_idle_with_demand_gpu_min) as loss_idle_with_demand_gpu_min,
        sum(loss_no_demand_gpu_min) as loss_no_demand_gpu_min,
        sum(loss_after_checkpoint_gpu_min) as loss_after_checkpoint_gpu_min,
        sum(loss_startup_gpu_min) as loss_startup_gpu_min,
        sum(loss_checkpoint_gpu_min) as loss_checkpoint_gpu_min,
        sum(loss_dataloader_gpu_min) as loss_dataloader_gpu_min,
        sum(loss_grad_sync_gpu_min) as loss_grad_sync_gpu_min,
        sum(loss_compute_throttled_gpu_min) as loss_compute_throttled_gpu_min,
        sum(loss_compute_slow_gpu_min) as loss_compute_slow_gpu_min,
        sum(loss_other_gpu_min) as loss_other_gpu_min,
        sum(loss_held_idle_gpu_min) as loss_held_idle_gpu_min,
        sum(loss_telemetry_gap_gpu_min) as loss_telemetry_gap_gpu_min,
        sum(loss_no_progress_gpu_min) as loss_no_progress_gpu_min,
        sum(loss_stalled_gpu_min) as loss_stalled_gpu_min,
        sum(loss_failed_hardware_gpu_min) as loss_failed_hardware_gpu_min,
        sum(loss_failed_software_gpu_min) as loss_failed_software_gpu_min,
        sum(loss_failed_network_gpu_min) as loss_failed_network_gpu_min,
        sum(loss_failed_data_io_gpu_min) as loss_failed_data_io_gpu_min,
        sum(loss_failed_scheduling_gpu_min) as loss_failed_scheduling_gpu_min,
        sum(loss_failed_user_gpu_min) as loss_failed_user_gpu_min,
        sum(loss_failed_planned_gpu_min) as loss_failed_planned_gpu_min,
    from five_minutes
    group by all
),

final as (
    select
        *,
        productive_gpu_min / paid_gpu_min as goodput,
        healthy_gpu_min / paid_gpu_min as availability,
        -- a factor with nothing to divide is 1: its loss already sits in an earlier factor
        coalesce(allocated_gpu_min / nullif(healthy_gpu_min, 0), 1.0) as allocation,
        coalesce(retained_gpu_min / nullif(allocated_gpu_min, 0), 1.0) as retention,
        coalesce(productive_gpu_min / nullif(retained_gpu_min, 0), 1.0) as step_efficiency,
    from summed
)

select * from final
