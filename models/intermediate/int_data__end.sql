-- one row per warehouse: where the data ends, the scheduler's last event or the end of the GPU telemetry if later
-- (a quiet spell brings no scheduler event: a job still queued or running then goes on until the telemetry ends)
select greatest(max(e.last_event_at), any_value(s.ended_at)) as ended_at,
from staging.stg_scheduler__event_days as e
cross join intermediate.int_gpu_telemetry__span as s
