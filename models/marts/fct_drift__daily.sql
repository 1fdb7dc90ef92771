-- one row per day, drift metric and slice: the day's value against the pooled value of the 7 days before it, and
-- a flag when it moved by more than the metric's threshold (with enough volume and at least 3 days of baseline).
-- The slow regressions a 5-minute detector does not see: step time creeping up for a model on a SKU, failures
-- rising on a framework or driver version, input pipelines slowing, queues lengthening for a class.
with daily as (
    select * from marts.fct_drift__daily_values
),

thresholds as (
    -- metric, the relative move that flags it, and the least daily volume (its denominator) worth judging
    select * from (values
        ('step_time_s', 0.10, 1000.0),
        ('dataloader_share', 0.25, 10000.0),
        ('infra_failure_rate', 0.50, 20.0),
        ('queue_wait_s', 0.50, 20.0)
    ) as t (metric, threshold, min_volume)
),

baselined as (
    select
        *,
        sum(numerator) over prior as baseline_numerator,
        sum(denominator) over prior as baseline_denominator,
        count(*) over prior as baseline_days,
    from daily
    window prior as (
        partition by metric, dimension, slice order by day_at
        range between interval 7 day preceding and interval 1 day preceding
    )
),

final as (
    select
        b.day_at,
        b.metric,
        b.dimension,
        b.slice,
        b.numerator,
        b.denominator,
        b.numerator / nullif(b.denominator, 0) as value,
        b.baseline_numerator / nullif(b.baseline_denominator, 0) as baseline_value,
        b.baseline_days,
        (b.numerator / nullif(b.denominator, 0))
        / nullif(b.baseline_numerator / nullif(b.baseline_denominator, 0), 0) - 1 as change,
        t.threshold,
        coalesce(
            b.baseline_days >= 3
            and b.denominator >= t.min_volume
            and abs(
                (b.numerator / nullif(b.denominator, 0))
                / nullif(b.baseline_numerator / nullif(b.baseline_denominator, 0), 0) - 1
            ) >= t.threshold,
            false
        ) as is_drifting,
    from baselined as b
    join thresholds as t on t.metric = b.metric
)

select * from final
