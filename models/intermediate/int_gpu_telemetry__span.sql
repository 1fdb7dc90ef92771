-- one row per warehouse: the first minute of GPU telemetry and the end of its last, where paid time is counted
select min(minute_at) as started_at, max(minute_at) + interval 1 minute as ended_at,
from staging.stg_gpu_telemetry__minutes
