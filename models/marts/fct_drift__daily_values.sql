-- one row per day, drift metric and slice: the day's numerator and denominator, summed so that a baseline over
-- several days pools them. Step time per step by model type and SKU; infra-caused failures per ended attempt by
-- framework and by driver version; data-loader wait per second of step time by model type; queue wait per start
-- by workload class. Incremental by day.
with steps as (
    select
        date_trunc('day', minute_at) as day_at,
        model_type,
        sku,
        -- rounded to the microsecond: a day's seconds summed in another order (a tick, a rebuild) give the same value
        round(sum(step_time_total_s), 6) as step_time_s,
        round(sum(steps), 6) as steps,
        round(sum(dataloader_wait_total_s), 6) as dataloader_wait_s,
    from marts.fct_training__worker_minutes
    where minute_at >= $window_start and minute_at < $window_end
    group by all
),

outcomes as (
    select
        date_trunc('day', ended_at) as day_at,
        framework_version,
        driver_version,
        infra_failures,
        ended_attempts,
    from marts.fct_jobs__attempt_outcomes
    where ended_at >= $window_start and ended_at < $window_end
),

starts as (
    select
        date_trunc('day', started_at) as day_at,
        workload_class,
        round(sum(queue_wait_s), 6) as wait_s,
        sum(starts) as starts,
    from marts.fct_jobs__queue_waits
    where started_at >= $window_start and started_at < $window_end
    group by all
),

final as (
    select
        day_at, 'step_time_s' as metric, 'model_type/sku' as dimension,
        coalesce(model_type, 'none') || '/' || coalesce(sku, 'none') as slice,
        sum(step_time_s) as numerator, sum(steps) as denominator,
    from steps group by all
    union all
    select
        day_at, 'dataloader_share', 'model_type', coalesce(model_type, 'none'), sum(dataloader_wait_s),
        sum(step_time_s),
    from steps group by all
    union all
    select
        day_at, 'infra_failure_rate', 'framework_version', coalesce(framework_version, 'none'),
        sum(infra_failures), sum(ended_attempts),
    from outcomes group by all
    union all
    select
        day_at, 'infra_failure_rate', 'driver_version', coalesce(driver_version, 'none'), sum(infra_failures),
        sum(ended_attempts),
    from outcomes group by all
    union all
    select day_at, 'queue_wait_s', 'workload_class', coalesce(workload_class, 'none'), sum(wait_s), sum(starts),
    from starts group by all
)

select * from final
