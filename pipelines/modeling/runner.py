"""Running a model into DuckDB: a full rebuild, or an incremental window that replaces only its time range.

Incremental models filter their output time with the parameters `$window_start` and `$window_end`; a full build binds
them to the widest range, a tick or a backfill to the range it recomputes (delete the range, insert it again).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
from sqlglot import exp

from pipelines.modeling.project import Model

FULL_WINDOW = (datetime(1970, 1, 1), datetime(9999, 12, 31))
ALIGN = {"5min": timedelta(minutes=5), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def aligned(window: tuple[datetime, datetime], align: str | None) -> tuple[datetime, datetime]:
    """Widen a window to whole buckets, so a rollup re-aggregates every bucket the window touches."""
    if align is None:
        return window
    step = ALIGN[align]
    epoch = datetime(1970, 1, 1)
    start = epoch + ((window[0] - epoch) // step) * step
    end = epoch + -((epoch - window[1]) // step) * step
    return start, end


def run_model(con: duckdb.DuckDBPyConnection, model: Model, window: tuple[datetime, datetime] | None = None) -> int:
    """Materialise the model; with a window, an incremental model recomputes only that range. Returns rows written."""
    con.execute(f"create schema if not exists {model.layer}")
    if window is not None and model.incremental:
        window = aligned(window, model.incremental.get("align"))
    params = dict(zip(("window_start", "window_end"), window or FULL_WINDOW, strict=True))
    params = {k: v for k, v in params.items() if k in model.params}
    target = exp.to_table(model.table).sql("duckdb")
    kind = con.execute(
        "select any_value(table_type) from information_schema.tables where table_schema = ? and table_name = ?",
        [model.layer, model.name],
    ).fetchall()[0][0]
    if model.materialized == "view":
        if kind == "BASE TABLE":  # built as a table before
            con.execute(f"drop table {target}")
        con.execute(f"create or replace view {target} as {model.sql}")
        return con.execute(f"select count(*) from {target}").fetchall()[0][0]
    if kind == "VIEW":
        con.execute(f"drop view {target}")
    if window is not None and model.incremental and kind is not None:
        written = _replace_window(con, model, target, window, params)
        if written is not None:
            return written
    full = dict(zip(("window_start", "window_end"), FULL_WINDOW, strict=True))
    full = {k: v for k, v in full.items() if k in params}
    con.execute(f"create or replace table {target} as {model.sql}", full or None)
    return con.execute(f"select count(*) from {target}").fetchall()[0][0]


def _replace_window(con, model: Model, target: str, window, params: dict) -> int | None:
    """Delete the window's rows and insert them again; None when the table no longer has the model's columns (the
    SQL gained or lost one since the table was built), which calls for a full rebuild."""
    time_column = exp.to_identifier(model.incremental["time_column"], quoted=True).sql("duckdb")
    con.execute("begin transaction")
    try:
        con.execute(
            f"delete from {target} where {time_column} >= $window_start and {time_column} < $window_end",
            {"window_start": window[0], "window_end": window[1]},
        )
        written = con.execute(f"insert into {target} {model.sql}", params or None).fetchall()[0][0]
    except (duckdb.BinderException, duckdb.ConversionException):
        con.execute("rollback")
        return None
    con.execute("commit")
    return written


RESTATE_SQL = """
with failed as (
    -- attempts that ended without completing from the window on: their work since the last checkpoint is lost
    select job_id, attempt, from raw.scheduler_events
    where event_type = 'ended' and event_at >= $window_start and state <> 'completed'
),
starts as (
    select job_id, attempt, min(event_at) as started_at from raw.scheduler_events
    where event_type = 'started' and event_at < $window_start group by all
),
restated as (
    -- only jobs that report steps can lose work after a checkpoint
    select s.job_id, s.attempt, s.started_at from starts as s
    join failed as f on f.job_id = s.job_id and f.attempt = s.attempt
    join raw.job_metadata as j on j.job_id = s.job_id
    where coalesce(j.reports_steps, true)
),
checkpoints as (
    select job_id, attempt, max(ts) as checkpoint_at from raw.job_runtime_metrics
    where checkpoint_s > 0 and ts < $window_start group by all
)
select min(coalesce(c.checkpoint_at, a.started_at))
from restated as a
left join checkpoints as c on c.job_id = a.job_id and c.attempt = a.attempt
"""
MAX_RESTATEMENT = timedelta(hours=6)  # work lost further back than this is not restated by a tick


def restatement_window(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    """Widen a tick back to the last checkpoint of every attempt that was open at its start and has failed since:
    its work since that checkpoint is lost, and those earlier minutes must be restated. (An attempt still running
    is restated by the tick that sees it fail; widening for every open attempt recomputed six hours each tick.)"""
    (earliest,) = con.execute(RESTATE_SQL, {"window_start": window[0]}).fetchall()[0]
    if earliest is None:
        return window
    earliest = date_floor_minute(earliest)
    return max(min(window[0], earliest), window[0] - MAX_RESTATEMENT), window[1]


def date_floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
