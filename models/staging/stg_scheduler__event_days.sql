-- one row per day of scheduler events: its last event. The data end reads these few rows rather than every event
-- (a raw table's max comes from its statistics only until its first append, and is a scan of every row after)
select
    date_trunc('day', event_at) as day_at,
    max(event_at) as last_event_at,
from raw.scheduler_events
where event_at >= $window_start and event_at < $window_end
group by all
