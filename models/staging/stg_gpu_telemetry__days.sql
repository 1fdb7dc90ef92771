-- one row per day of GPU telemetry: its first and last sample. The span reads these few rows: the raw table's own
-- min and max come from its statistics only until its first append, and are a scan of every row after
select
    date_trunc('day', ts) as day_at,
    min(ts) as first_ts,
    max(ts) as last_ts,
from raw.gpu_telemetry
where ts >= $window_start and ts < $window_end
group by all
