-- one row per region per minute: jobs started and ended, jobs and GPUs waiting, and healthy GPUs left idle while
-- jobs waited; what a scheduler outage, fragmentation or a priority change shows first
with node_allocation as (
    select
        region,
        node_id,
        minute_at,
        count(*) as node_gpus,
        sum(healthy_gpu_min) as healthy_gpus,
        sum(allocated_gpu_min) as allocated_gpus,
        sum(healthy_gpu_min - allocated_gpu_min) as free_gpus,
        sum(loss_idle_with_demand_gpu_min) as idle_with_demand_gpus,
    from marts.fct_goodput__gpu_minutes
    where minute_at >= $window_start and minute_at < $window_end
    group by region, node_id, minute_at
),

allocation as (
    -- free GPUs on nodes with less than half their GPUs free are stranded: no half-node or larger job fits there,
    -- which is what a spreading placement policy does to gang jobs
    select
        region,
        minute_at,
        sum(healthy_gpus) as healthy_gpus,
        sum(allocated_gpus) as allocated_gpus,
        sum(idle_with_demand_gpus) as idle_with_demand_gpus,
        sum(free_gpus) as free_gpus,
        sum(case when free_gpus * 2 < node_gpus then free_gpus else 0 end) as stranded_gpus,
        -- the most GPUs one job could get on one node (a multi-node job needs whole nodes: a node's size)
        max(free_gpus) as largest_free_on_a_node,
        max(node_gpus) as largest_node_gpus,
    from node_allocation
    group by region, minute_at
),

attempts as (
    select region, started_at, ended_at, end_state, failure_family, from intermediate.int_jobs__attempts
),

starts as (
    select region, date_trunc('minute', started_at) as minute_at, count(*) as starts,
    from attempts
    where started_at >= $window_start and started_at < $window_end
    group by all
),

ends as (
    select
        region,
        date_trunc('minute', ended_at) as minute_at,
        count(*) as ends,
        count(*) filter (where failure_family = 'software') as software_failures,
    from attempts
    where ended_at >= $window_start and ended_at < $window_end
    group by all
),

demand as (
    select * from intermediate.int_regions__pending_demand
    where minute_at >= $window_start and minute_at < $window_end
),

final as (
    select
        a.region,
        a.minute_at,
        a.healthy_gpus,
        a.allocated_gpus,
        a.idle_with_demand_gpus,
        a.free_gpus,
        a.stranded_gpus,
        coalesce(d.pending_jobs, 0) as pending_jobs,
        coalesce(d.pending_gpus, 0) as pending_gpus,
        d.smallest_pending_gpus,
        a.largest_free_on_a_node,
        -- whether the smallest waiting job would fit in the free GPUs of one node: a scheduler that starts nothing
        -- while none fits (whole-node jobs, GPUs free in scraps) is busy, not down
        coalesce(a.largest_free_on_a_node >= least(d.smallest_pending_gpus, a.largest_node_gpus), false)
            as a_waiting_job_fits,
        coalesce(s.starts, 0) as starts,
        coalesce(e.ends, 0) as ends,
        coalesce(e.software_failures, 0) as software_failures,
    from allocation as a
    left join demand as d on d.region = a.region and d.minute_at = a.minute_at
    left join starts as s on s.region = a.region and s.minute_at = a.minute_at
    left join ends as e on e.region = a.region and e.minute_at = a.minute_at
)

select * from final
