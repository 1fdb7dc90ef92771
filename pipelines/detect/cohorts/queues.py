"""Queue policy changes: a team's jobs jumping the rest of their queue, and a change that lets lower priorities
overtake higher ones."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from pipelines.detect.cohorts.common import with_ends
from pipelines.detect.config import DetectionConfig
from pipelines.warehouse.connection import fetch


def queue_jump_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """After a scheduler policy change for one team (priority weights, quotas), that team's jobs starting far sooner
    than the rest of their region and workload class: the changed cohort against the unchanged one in the same
    queue, over the jobs submitted in the last `queue_jump_window_min` (a boost shows whenever a queue forms, hours
    after the change if need be), against the same comparison in the hour before the change. A change that names
    no team has no changed cohort inside a queue: held team against team, it would flag teams whose job mix simply
    waits less. A wait is
    counted up to the minute judged (a job still queued has waited until now), so both sides are censored alike
    and nothing after that minute is read. Only a real queue can be jumped: the rest must have waited
    `queue_jump_min_wait_s` on average."""
    found = with_ends(found, config)
    policies = found.filter((pl.col("change_type") == "scheduler_policy") & pl.col("scope_team").is_not_null())
    settings = config.cohort
    frames = []
    for change in policies.select("change_id", "changed_at", "ends_at", "scope_region", "scope_team").iter_rows(
        named=True
    ):
        at = change["changed_at"]
        first = max(at + timedelta(minutes=int(settings.queue_jump_min_minutes)), window[0])  # a tick: its own
        end = min(change["ends_at"], window[1])
        if first > end:  # judged at t, only data before t is read: the tick at t itself may judge t
            continue
        span = int(settings.queue_jump_window_min)
        after = _censored_waits(con, change["scope_region"], (at, first, end), span, settings)
        before = _censored_waits(con, change["scope_region"], (at - timedelta(hours=1), at, at), 60, settings)
        before = before.select("region", "workload_class", "team", pl.col("ratio").alias("before"))
        hits = (
            after.filter(pl.col("team") == change["scope_team"])
            .join(before, on=["region", "workload_class", "team"], how="left")
            .with_columns(
                pl.max_horizontal(pl.col("before").fill_null(1.0), pl.lit(1.0)).alias("baseline"),
                pl.lit(change["change_id"]).alias("change_id"),
            )
        )
        frames.append(hits.filter(pl.col("ratio") >= settings.queue_jump_ratio * pl.col("baseline")))
    if not frames:
        return pl.DataFrame()
    last_minute = pl.col("minute_at") - timedelta(minutes=1)  # judged at t, the data ends with the minute before t
    return pl.concat(frames).select(
        "change_id", last_minute, "region", "team", "workload_class", pl.col("ratio").alias("value"), "baseline"
    )


WAITS_SO_FAR = """
with jobs as (
    select s.team, s.region, s.workload_class, s.submitted_at, min(a.started_at) as started_at
    from staging.stg_jobs__submissions s
    left join intermediate.int_jobs__attempts a on a.job_id = s.job_id and a.started_at < $3
    where s.submitted_at >= $1 and s.submitted_at < $3 and s.team is not null and ($5::varchar is null or s.region = $5)
    group by all
),
judged as (select unnest(generate_series($2::timestamp, $3::timestamp, interval 1 minute)) as minute_at)
select g.minute_at, j.region, j.workload_class, j.team, count(*)::double as n,
    sum(epoch(least(coalesce(j.started_at, g.minute_at), g.minute_at) - j.submitted_at)) as waited_s
from judged g
join jobs j on j.submitted_at < g.minute_at and j.submitted_at >= g.minute_at - to_minutes($4::bigint)
group by all
"""


def _censored_waits(con, region: str | None, span: tuple[datetime, datetime, datetime], last_min: int, settings):
    """Per judged minute (from `span[1]` up to and including `span[2]`), region, class
    and team: the mean wait so far of the team's jobs submitted since `span[0]` and in the `last_min` minutes
    before, against that of the rest of the queue (`ratio`), where both sides have `queue_jump_min_jobs` jobs and
    the rest waited long enough to be a queue."""
    per_team = fetch(con, WAITS_SO_FAR, [*span, last_min, region])
    queue = ["minute_at", "region", "workload_class"]
    rest_n = pl.col("n").sum().over(queue) - pl.col("n")
    rest_mean = (pl.col("waited_s").sum().over(queue) - pl.col("waited_s")) / rest_n
    least = settings.queue_jump_min_jobs
    return per_team.with_columns(
        (rest_mean / pl.max_horizontal(pl.col("waited_s") / pl.col("n"), pl.lit(1.0))).alias("ratio")
    ).filter((pl.col("n") >= least) & (rest_n >= least) & (rest_mean >= settings.queue_jump_min_wait_s))


def priority_inversion_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """After a scheduler policy change, a cohort (region, workload class, team) whose jobs the scheduler now
    reports at a priority above that of a class which outranked its class in the day before the change: the
    reordering itself, seen on the first jobs queued after the change. `queue_jump` sees its effect, but only
    once a queue forms, which may be hours later (a boost at night bites in the morning).
    The cohort is read as the median priority of its last `inversion_window_min` of queue events (submitted,
    pending, requeued, started) over at least `inversion_min_events` of them, and its first `inversion_min_events`
    events after the change (within `inversion_first_h`) must already show the inversion: a reweighting takes
    effect at once, so an inversion that began hours later belongs to a later change, and a change whose first jobs
    kept the class order costs a tick no more than two small queries. A cohort whose last jobs before the change
    already outranked the class was reordered by something else (a fleet-wide change landing during a variant
    scenario's five-hour batch boost was blamed for it). A raise that keeps the class order (batch from 20 to 25
    under interactive's 50) is no inversion. `value` is the cohort's priority, `baseline` the highest
    class priority it overtook."""
    found = with_ends(found, config)
    policies = found.filter(pl.col("change_type") == "scheduler_policy")
    settings = config.cohort
    frames = []
    for change in policies.select("change_id", "changed_at", "ends_at", "scope_region", "scope_team").iter_rows(
        named=True
    ):
        at = change["changed_at"]
        first, end = max(at, window[0]), min(change["ends_at"], window[1])
        if first > end:
            continue
        before_from = at - timedelta(hours=int(settings.inversion_before_h))
        least = int(settings.inversion_min_events)
        scope = [change["scope_region"], change["scope_team"]]
        order = fetch(con, CLASS_PRIORITIES, [before_from, at, scope[0]])
        if order.is_empty():  # the class order before the change is not in the data: nothing to invert
            continue
        opening_end = min(end, at + timedelta(hours=int(settings.inversion_first_h)))
        opening = _overtaking(fetch(con, FIRST_PRIORITIES, [at, opening_end, *scope, least]), order, "first_priority")
        opening = opening.filter(pl.col("last_priority").fill_null(pl.col("class_before")) <= pl.col("other_before"))
        if opening.is_empty():  # the cohorts' first jobs since the change kept the class order, or the cohort
            continue  # outranked that class already before it (another change, still in force, reordered them)
        window_min = int(settings.inversion_window_min)
        recent = fetch(
            con, RECENT_PRIORITIES, [max(at, first - timedelta(minutes=window_min)), first, end, window_min, *scope]
        )
        recent = recent.filter(pl.col("n") >= least).join(
            opening.select("region", "workload_class", "team", "first_until").unique(),
            on=["region", "workload_class", "team"],
        )
        overtaken = _overtaking(recent.filter(pl.col("first_until") < pl.col("minute_at")), order, "priority")
        frames.append(
            overtaken.group_by("minute_at", "region", "team", "workload_class").agg(
                pl.col("priority").first().alias("value"),
                pl.col("other_before").max().alias("baseline"),
                pl.lit(change["change_id"]).alias("change_id"),
            )
        )
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return pl.DataFrame()
    last_minute = pl.col("minute_at") - timedelta(minutes=1)  # judged at t, the data ends with the minute before t
    return pl.concat(frames).select("change_id", last_minute, "region", "team", "workload_class", "value", "baseline")


def _overtaking(cohorts: pl.DataFrame, order: pl.DataFrame, priority: str) -> pl.DataFrame:
    """`cohorts` (with region and workload_class) paired with each class that outranked theirs in `order` (the
    class priorities before the change) and that their `priority` now tops, as `other_before`."""
    own = order.rename({"priority": "class_before"})
    others = order.rename({"workload_class": "other_class", "priority": "other_before"})
    return (
        cohorts.join(own, on=["region", "workload_class"])
        .join(others, on="region")
        .filter((pl.col("other_before") > pl.col("class_before")) & (pl.col(priority) > pl.col("other_before")))
    )


QUEUED_PRIORITIES = """
    select e.event_at, s.region, s.workload_class, s.team, e.priority::double as priority
    from staging.stg_scheduler__events e
    join staging.stg_jobs__submissions s using (job_id)
    where e.event_type in ('submitted', 'pending', 'requeued', 'started') and e.priority is not null
        and s.workload_class is not null
"""
CLASS_PRIORITIES = f"""
with queued as ({QUEUED_PRIORITIES} and e.event_at >= $1 and e.event_at < $2 and ($3::varchar is null or s.region = $3))
select region, workload_class, median(priority) as priority from queued group by all
"""
FIRST_PRIORITIES = f"""
with queued as (
    {QUEUED_PRIORITIES} and e.event_at >= $1 - ($2 - $1) and e.event_at < $2
        and ($3::varchar is null or s.region = $3) and ($4::varchar is null or s.team = $4)
),
ranked as (  -- the cohort's first events since the change ($1), and its last ones in as long before it
    select *, row_number() over (
        partition by region, workload_class, team, event_at >= $1
        order by case when event_at >= $1 then epoch(event_at) else -epoch(event_at) end
    ) as nth
    from queued
)
select region, workload_class, team,
    median(priority) filter (where event_at >= $1) as first_priority,
    max(event_at) filter (where event_at >= $1) as first_until,
    median(priority) filter (where event_at < $1) as last_priority,
from ranked where nth <= $5 group by all having count(*) filter (where event_at >= $1) = $5
"""
RECENT_PRIORITIES = f"""
with queued as (
    {QUEUED_PRIORITIES} and e.event_at >= $1 and e.event_at < $3
        and ($5::varchar is null or s.region = $5) and ($6::varchar is null or s.team = $6)
),
judged as (select unnest(generate_series($2::timestamp, $3::timestamp, interval 1 minute)) as minute_at)
select g.minute_at, q.region, q.workload_class, q.team, count(*) as n, median(q.priority) as priority
from judged g
join queued q on q.event_at < g.minute_at and q.event_at >= g.minute_at - to_minutes($4::bigint)
group by all
"""
