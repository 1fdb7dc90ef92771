-- one row per warehouse: the first minute of GPU telemetry and the end of its last, where paid time is counted.
-- Read from the raw rows (every one is a minute of the staging table): raw is only appended to, so DuckDB answers
-- from its statistics, while the staging table a tick has just rewritten is scanned whole (0.4 s at 90 days)
select
    date_trunc('minute', min(ts)) as started_at,
    date_trunc('minute', max(ts)) + interval 1 minute as ended_at,
from raw.gpu_telemetry
