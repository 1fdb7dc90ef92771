"""What a tick restates beyond its own window, the business rules of it: the work of attempts that failed since
(back to their last checkpoint, within a reach), and the days of an inventory snapshot that landed late. The
runner's generic `lost_work` materialisation reads `LOST_ATTEMPTS_SQL` to know which jobs' rows to replace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from pipelines.warehouse.connection import table_exists

LOST_KEY = "job_id"  # what LOST_ATTEMPTS_SQL names the failed jobs by: a `lost_work` model narrows by this column
LOST_ATTEMPTS_SQL = """
with failed as (
    -- attempts that ended without completing from the window on: their work since the last checkpoint is lost
    select job_id, attempt, from raw.scheduler_events
    where event_type = 'ended' and event_at >= $window_start and state <> 'completed'
),
starts as (
    -- starts within a tick's reach only (what a tick reads does not follow the history): an attempt that failed
    -- without one there started earlier, and its loss is capped at the reach anyway
    select job_id, attempt, min(event_at) as started_at from raw.scheduler_events
    where event_type = 'started' and event_at >= $reach_start group by all
)
-- only jobs that report steps can lose work after a checkpoint; an attempt started in the window lost none before it
select f.job_id, f.attempt, greatest(coalesce(s.started_at, $reach_start), $reach_start) as started_at
from failed as f
left join starts as s on s.job_id = f.job_id and s.attempt = f.attempt
join raw.job_metadata as j on j.job_id = f.job_id
where coalesce(j.reports_steps, true) and (s.started_at is null or s.started_at < $window_start)
"""
RESTATE_SQL = f"""
with restated as ({LOST_ATTEMPTS_SQL}),
checkpoints as (
    select job_id, attempt, max(ts) as checkpoint_at from raw.job_runtime_metrics
    where checkpoint_s > 0 and ts >= $reach_start and ts < $window_start group by all
)
select min(coalesce(c.checkpoint_at, a.started_at))
from restated as a
left join checkpoints as c on c.job_id = a.job_id and c.attempt = a.attempt
"""
MAX_RESTATEMENT = timedelta(hours=6)  # work lost further back than this is not restated by a tick
LATE_SNAPSHOT_SQL = "select min(snapshot_date)::timestamp from raw.inventory where _loaded_at >= $loaded_since"
MAX_SNAPSHOT_RESTATEMENT = timedelta(days=2)  # a snapshot later than this does not restate the GPU-minutes it names


@dataclass(frozen=True)
class Restatement:
    """What a tick recomputes: every incremental model over `window`, and before it, back to `lost_from`, the work
    the jobs that failed in the window lost (see `run_model`)."""

    window: tuple[datetime, datetime]
    lost_from: datetime | None = None


def restatement_window(
    con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], loaded_since: datetime | None = None
) -> Restatement:
    """Restate a tick back to the last checkpoint of every attempt that was open at its start and has failed since:
    its work since that checkpoint is lost, and those earlier minutes must be restated. (An attempt still running
    is restated by the tick that sees it fail; widening for every open attempt recomputed six hours each tick.)
    With `loaded_since`, widen the whole window back to the day of an inventory snapshot loaded since then: a
    snapshot that lands after the minutes of its day were computed changes which GPUs were paid for in them."""
    start, lost_from = window[0], None
    if loaded_since is not None and table_exists(con, "raw", "inventory"):
        (snapshot,) = con.execute(LATE_SNAPSHOT_SQL, {"loaded_since": loaded_since}).fetchall()[0]
        if snapshot is not None:
            start = min(start, max(snapshot, window[0] - MAX_SNAPSHOT_RESTATEMENT))
    reach = {"window_start": window[0], "reach_start": window[0] - MAX_RESTATEMENT}
    (earliest,) = con.execute(RESTATE_SQL, reach).fetchall()[0]
    if earliest is not None:
        lost_from = max(date_floor_minute(earliest), window[0] - MAX_RESTATEMENT)
    return Restatement((start, window[1]), lost_from if lost_from is not None and lost_from < start else None)


def date_floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
