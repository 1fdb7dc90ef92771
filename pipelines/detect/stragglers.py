"""Stragglers in distributed jobs: one rank slower than its peers over a stretch of its own work.

Two grains, one list. Where the training loop logs its steps (job_step_times, sampled or not), a rank's time per
step is held against its peers' median at the same steps: a slowdown that hits every rank (a checkpoint, a data
stall) moves the median too and flags nobody, and a stretch must last several lines and enough steps, so a rank
that is only noisy is not one. Where only per-minute runtime metrics come (an exporter's minute), a worker's own
time (the step without its wait for the others in gradient sync) is held against its peers in the same minute for
several minutes. A job attempt with a step log is judged at step grain only."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.config import DetectionConfig
from pipelines.detect.episodes import episodes, next_tick
from pipelines.warehouse.connection import fetch, table_exists

STEP_LINES = "staging.stg_runtime__step_lines"
# a job that stopped logging this long before the data's end has ended its stretch with its log
LOG_SILENT = timedelta(minutes=10)
MICROSECOND = timedelta(microseconds=1)

WORKER_SQL = """
with workers as (
    select
        job_id, attempt, worker, node_id, minute_at, step, steps,
        step_time_s - coalesce(grad_sync_s, 0) as worker_time_s,
    from staging.stg_runtime__worker_minutes as m
    where steps > 0 and step_time_s > 0 and minute_at >= $1 and minute_at < $2 {skip_step_logged}
),
distributed as (
    select * from workers
    qualify count(*) over (partition by job_id, attempt, minute_at) >= $3
),
peers as (
    -- each worker against the median of the others (with two workers, the other one)
    select w.job_id, w.attempt, w.worker, w.node_id, w.minute_at, w.step, w.steps, w.worker_time_s,
        median(p.worker_time_s) as peer_median_s,
    from distributed as w
    join distributed as p
        on p.job_id = w.job_id and p.attempt = w.attempt and p.minute_at = w.minute_at and p.worker <> w.worker
    group by all
)
select job_id, attempt, worker, node_id, minute_at, step, steps, worker_time_s / peer_median_s as value,
from peers
where peer_median_s > 0 and worker_time_s >= $4 * peer_median_s
"""
# the same window of the step log only: a tick must not read the log's whole history to skip a few attempts
SKIP_STEP_LOGGED = f"""and not exists (
        select 1 from {STEP_LINES} as s
        where s.job_id = m.job_id and s.attempt = m.attempt and s.logged_at >= $1 and s.logged_at < $2
    )"""

STEP_SQL = f"""
with lines as (
    select * from {STEP_LINES}
    where logged_at >= $1 and logged_at < $2 and step_time_s > 0
),
strides as (
    -- lines of the same steps fall in the same bin whatever each rank's sampling offset
    select job_id, attempt, greatest(1, floor(median(covers)))::bigint as stride,
    from lines
    group by job_id, attempt
    having count(distinct worker) >= $3
),
samples as (
    -- a rank's time per step in a bin, each line weighted by the steps it stands for
    select
        l.job_id, l.attempt, l.worker, l.step // s.stride as bin,
        any_value(l.node_id) as node_id,
        min(l.step - l.covers + 1) as first_step,
        max(l.step) as last_step,
        sum(l.step_time_s * l.covers) / sum(l.covers) as time_s,
        min(l.logged_at - to_microseconds((l.covers * l.step_time_s * 1e6)::bigint)) as began_at,
        max(l.logged_at) as logged_at,
        bool_and(l.ts_logged) as ts_logged,
    from lines as l
    join strides as s using (job_id, attempt)
    group by all
),
peers as (
    select w.job_id, w.attempt, w.worker, w.bin, median(p.time_s) as peer_median_s,
    from samples as w
    join samples as p on p.job_id = w.job_id and p.attempt = w.attempt and p.bin = w.bin and p.worker <> w.worker
    group by all
)
select s.*, s.time_s / p.peer_median_s as ratio,
    max(s.logged_at) over (partition by s.job_id, s.attempt) as attempt_last_at,
from samples as s
join peers as p using (job_id, attempt, worker, bin)
where p.peer_median_s > 0
order by s.job_id, s.attempt, s.worker, s.bin
"""

COLUMNS = {
    "job_id": pl.String,
    "attempt": pl.Int64,
    "worker": pl.Int64,
    "node_id": pl.String,
    "grain": pl.String,  # step: from the job's step log; minute: from per-minute runtime metrics
    "first_step": pl.Int64,
    "last_step": pl.Int64,
    "slowdown": pl.Float64,  # median ratio of the rank's time per step to its peers' over the stretch
    "started_at": pl.Datetime("us"),  # null where the log gave no times
    "ended_at": pl.Datetime("us"),  # null while it lasts, or where the log gave no times
    "detected_at": pl.Datetime("us"),
    "resolved_at": pl.Datetime("us"),
}


def find_stragglers(
    con: duckdb.DuckDBPyConnection,
    config: DetectionConfig,
    window: tuple[datetime, datetime] | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pl.DataFrame:
    """Straggling stretches: at minute grain in the telemetry's `window`; at step grain in the lines logged from
    `since` to `until` (all of them when None: a step log's times need not fall in the telemetry's span, and a
    warehouse of step logs alone has none)."""
    has_steps = table_exists(con, *STEP_LINES.split("."))
    found = [step_stragglers(con, config, since, until)] if has_steps else []
    if window is not None:
        found.append(minute_stragglers(con, config, window, skip_step_logged=has_steps))
    found = [f for f in found if not f.is_empty()]
    if not found:
        return pl.DataFrame(schema=COLUMNS)
    return pl.concat(found).sort("detected_at", "job_id", "worker")


def minute_stragglers(
    con: duckdb.DuckDBPyConnection,
    config: DetectionConfig,
    window: tuple[datetime, datetime],
    skip_step_logged: bool = False,
) -> pl.DataFrame:
    rules = config.stragglers
    sql = WORKER_SQL.format(skip_step_logged=SKIP_STEP_LOGGED if skip_step_logged else "")
    hits = fetch(con, sql, [*window, rules.min_workers, rules.ratio])
    if hits.is_empty():
        return pl.DataFrame(schema=COLUMNS)
    keys = ["job_id", "attempt", "worker", "node_id"]
    found = episodes(hits.drop("step", "steps"), keys, rules.persistence_min, window[1])
    steps = found.join(hits, on=keys).filter(
        (pl.col("minute_at") >= pl.col("started_at"))
        & (pl.col("resolved_at").is_null() | (pl.col("minute_at") < pl.col("resolved_at")))
    )
    steps = steps.group_by([*keys, "started_at"]).agg(
        (pl.col("step") - pl.col("steps") + 1).min().alias("first_step"), pl.col("step").max().alias("last_step")
    )
    return (
        found.join(steps, on=[*keys, "started_at"], how="left")
        .rename({"value": "slowdown"})
        .with_columns(pl.lit("minute").alias("grain"), pl.col("resolved_at").alias("ended_at"))
        .select([pl.col(c).cast(t) for c, t in COLUMNS.items()])
    )


def step_stragglers(
    con: duckdb.DuckDBPyConnection, config: DetectionConfig, since: datetime | None, until: datetime | None
) -> pl.DataFrame:
    """Stretches of consecutive slow lines of one rank: at least `step_persistence_samples` lines at `step_ratio`
    times its peers' median or more, standing for `step_persistence_steps` steps; `step_max_gap_samples` lines
    in between may read fast (none by default: the fast lines of a rank that is only noisy are what keep its slow
    ones from adding up to a stretch)."""
    rules = config.stragglers
    if since is None:
        first, last = con.execute(f"select min(logged_at), max(logged_at) from {STEP_LINES}").fetchall()[0]
    else:  # a tick: only the lines since its window's start, not every line of the history
        query = f"select max(logged_at) from {STEP_LINES} where logged_at >= $since"
        first, last = since, con.execute(query, {"since": since}).fetchall()[0][0]
    if last is None:
        return pl.DataFrame(schema=COLUMNS)
    window = (first, min(until, last + MICROSECOND) if until else last + MICROSECOND)
    samples = fetch(con, STEP_SQL, [*window, rules.min_workers])
    if samples.is_empty():
        return pl.DataFrame(schema=COLUMNS)
    keys = ["job_id", "attempt", "worker"]
    gap = rules.step_max_gap_samples
    ordered = samples.with_columns(pl.int_range(pl.len()).over(keys).alias("_i"))
    hits = ordered.filter(pl.col("ratio") >= rules.step_ratio)
    hits = hits.with_columns(
        (pl.col("_i").diff().over(keys).fill_null(gap + 2) > gap + 1).cum_sum().over(keys).alias("_run")
    )
    runs = hits.group_by([*keys, "_run"]).agg(
        pl.col("_i").min().alias("_first"),
        pl.col("_i").max().alias("_last"),
        pl.col("node_id").first(),
        pl.col("first_step").min(),
        pl.col("attempt_last_at").first(),
        # the first line at which the stretch had lasted long enough: when a tick could have seen it
        pl.col("logged_at")
        .filter(
            (pl.int_range(pl.len()) + 1 >= rules.step_persistence_samples)
            & (pl.col("last_step") - pl.col("first_step").min() + 1 >= rules.step_persistence_steps)
        )
        .min()
        .alias("confirmed_at"),
    )
    runs = runs.filter(pl.col("confirmed_at").is_not_null())
    if runs.is_empty():
        return pl.DataFrame(schema=COLUMNS)
    inside = ordered.join(runs.select(*keys, "_run", "_first", "_last"), on=keys).filter(
        pl.col("_i").is_between(pl.col("_first"), pl.col("_last"))
    )
    stretch = inside.group_by([*keys, "_run"]).agg(
        pl.col("ratio").median().alias("slowdown"),
        pl.col("last_step").max(),
        pl.col("began_at").min(),
        pl.col("logged_at").max().alias("_ended"),
        pl.col("ts_logged").all(),
    )
    after = ordered.join(runs.select(*keys, "_run", "_last"), on=keys).filter(pl.col("_i") == pl.col("_last") + 1)
    after = after.select(*keys, "_run", pl.col("logged_at").alias("_next_at"))
    silent = pl.col("attempt_last_at") < pl.lit(window[1]) - LOG_SILENT
    timed = pl.col("ts_logged")
    return (
        runs.join(stretch, on=[*keys, "_run"])
        .join(after, on=[*keys, "_run"], how="left")
        .with_columns(
            pl.coalesce("_next_at", pl.when(silent).then(pl.col("_ended"))).alias("resolved_at"),
            next_tick(pl.col("confirmed_at")).alias("detected_at"),
            pl.lit("step").alias("grain"),
        )
        .with_columns(
            pl.when(timed).then(pl.col("began_at")).alias("started_at"),
            pl.when(timed & pl.col("resolved_at").is_not_null()).then(pl.col("_ended")).alias("ended_at"),
        )
        .select([pl.col(c).cast(t) for c, t in COLUMNS.items()])
    )
