-- one row per warehouse: the first minute of GPU telemetry and the end of its last, where paid time is counted
-- (nulls without any telemetry: the spines that read it must then be empty, as greatest() and least() skip nulls)
select
    date_trunc('minute', min(first_ts)) as started_at,
    date_trunc('minute', max(last_ts)) + interval 1 minute as ended_at,
from staging.stg_gpu_telemetry__days
