-- one row per inventory snapshot date with the date of the next snapshot (of any GPU; null after the last): a
-- snapshot holds until then
select snapshot_date, lead(snapshot_date) over (order by snapshot_date) as next_date,
from (select distinct snapshot_date from staging.stg_inventory__gpus)
