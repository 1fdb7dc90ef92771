"""Deploy regressions by cohort: after a change lands, the cohort on the new version against the cohort still on
the old one in the same window (so time-of-day, load and the weekday surge cancel out). This is what makes 15
minutes reachable: the comparison needs a handful of faults or slow steps, not a shifted daily baseline."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.config import DetectionConfig
from pipelines.detect.episodes import episodes
from pipelines.detect.warehouse import fetch

NODE_CHANGES = ("driver_upgrade", "kernel_upgrade", "firmware_upgrade", "config_change")
KEYS = ["change_id", "cohort", "region", "team"]


def changes(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], horizon_h: float) -> pl.DataFrame:
    """The changes a cohort rule may still watch, each with `ends_at`: `horizon_h` after it, or the first rollback
    of the same component in a scope that covers it, whichever comes first (a rolled-back change is no longer in
    effect: an unseen scenario paged a team's queue five hours after its priority change had been rolled back)."""
    return fetch(con, WATCHED_CHANGES, [*window, int(horizon_h)])


WATCHED_CHANGES = """
with watched as (
    select * from staging.stg_changes__events
    where change_type <> 'rollback' and changed_at < $2 and changed_at >= $1 - to_hours($3::bigint)
),
rolled_back as (
    select c.change_id, min(r.changed_at) as rolled_back_at
    from watched c
    join staging.stg_changes__events r
        on r.change_type = 'rollback' and r.component = c.component and r.changed_at > c.changed_at
        and r.changed_at < $2
        and (r.scope_region is null or r.scope_region = c.scope_region)
        and (r.scope_team is null or r.scope_team = c.scope_team)
        and (r.scope_node_ids is null or r.scope_node_ids = c.scope_node_ids)
    group by c.change_id
)
select c.*, least(c.changed_at + to_hours($3::bigint), coalesce(r.rolled_back_at, c.changed_at + to_hours($3::bigint)))
    as ends_at
from watched c left join rolled_back r using (change_id)
"""


def _with_ends(found: pl.DataFrame, config: DetectionConfig) -> pl.DataFrame:
    """`found` with `ends_at` (see `changes`); a frame without it is watched for the whole horizon."""
    if "ends_at" in found.columns:
        return found
    return found.with_columns((pl.col("changed_at") + timedelta(hours=config.cohort["horizon_h"])).alias("ends_at"))


def _against_the_rest(cohort: pl.DataFrame, everyone: pl.DataFrame, measures: list[str]) -> pl.DataFrame:
    """Running sums since each change for its cohort and for everyone else (everyone minus the cohort), minute by
    minute. `cohort` holds change_id, minute_at and the measures; `everyone` the fleet's per-minute measures."""
    cohort = cohort.group_by("change_id", "minute_at").agg(pl.col(measures).sum().name.suffix("_cohort"))
    fleet = everyone.group_by("minute_at").agg(pl.col(measures).sum().name.suffix("_all"))
    sums = (
        cohort.join(fleet, on="minute_at")
        .sort("change_id", "minute_at")
        .with_columns(pl.exclude("change_id", "minute_at").cum_sum().over("change_id"))
    )
    return sums.with_columns((pl.col(f"{m}_all") - pl.col(f"{m}_cohort")).alias(f"{m}_rest") for m in measures)


def _since_change() -> pl.Expr:
    return (pl.col("minute_at") >= pl.col("changed_at")) & (pl.col("minute_at") < pl.col("ends_at"))


def node_cohort_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Software faults (application XIDs and software-caused failures) per GPU-minute on the changed nodes against
    every other node, since the change."""
    found = _with_ends(found, config)
    node_changes = found.filter(pl.col("change_type").is_in(NODE_CHANGES) & pl.col("scope_node_ids").is_not_null())
    if node_changes.is_empty():
        return pl.DataFrame()
    scope = node_changes.select(
        "change_id", "changed_at", "ends_at", pl.col("scope_node_ids").str.split(",").alias("node_id")
    ).explode("node_id")
    minutes = fetch(
        con,
        "select node_id, minute_at, gpus_reporting::double as exposure, "
        "(software_xid_gpus + software_failures)::double as faults "
        "from marts.fct_health__node_minutes where not is_maintenance and minute_at >= $1 and minute_at < $2",
        [min(node_changes["changed_at"]), window[1]],
    )
    cohort = scope.join(minutes, on="node_id").filter(_since_change())
    sums = _against_the_rest(cohort, minutes, ["exposure", "faults"])
    rate = pl.col("faults_cohort") / pl.col("exposure_cohort")
    rest = (pl.col("faults_rest") + 1) / pl.col("exposure_rest")  # one fault of slack: a quiet fleet is not zero
    return sums.filter(
        (pl.col("faults_cohort") >= config.cohort["min_events"]) & (rate >= config.cohort["fault_rate_ratio"] * rest)
    ).select("change_id", "minute_at", (rate * 60).alias("value"), (rest * 60).alias("baseline"))


def framework_cohort_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Step time against the reference for workers on the new framework version against every other version, in
    the minutes the new version ran."""
    found = _with_ends(found, config)
    images = found.filter(pl.col("change_type") == "framework_image")
    if images.is_empty():
        return pl.DataFrame()
    workers = fetch(
        con,
        "select minute_at, framework_version, count(*)::double as worker_minutes, "
        "sum(step_time_total_s) as step_s, sum(reference_step_total_s) as reference_s "
        "from marts.fct_training__worker_minutes where minute_at >= $1 and minute_at < $2 group by all",
        [min(images["changed_at"]), window[1]],
    )
    cohort = (
        images.select("change_id", "changed_at", "ends_at", "to_version")
        .join(workers, left_on="to_version", right_on="framework_version")
        .filter(_since_change())
    )
    sums = _against_the_rest(cohort, workers, ["worker_minutes", "step_s", "reference_s"])
    ratio = (pl.col("step_s_cohort") / pl.col("reference_s_cohort")) / (
        pl.col("step_s_rest") / pl.col("reference_s_rest")
    )
    return sums.filter(
        (pl.col("worker_minutes_cohort") >= config.cohort["min_worker_minutes"])
        & (ratio >= config.cohort["step_time_ratio"])
    ).select("change_id", "minute_at", ratio.alias("value"), pl.lit(1.0).alias("baseline"))


def _region_cohorts(changes_: pl.DataFrame, minutes: pl.DataFrame, measures: list[str], before: dict[str, pl.Expr]):
    """Region-scoped changes (a change without a region covers them all) against the other regions: the changed
    regions' minutes since each change (`cohort`), and the running sums since the change of the cohort and of the
    rest (see `_against_the_rest`) with `minutes_seen` and a column per `before` entry (its aggregate over the
    changed regions' hour before the change)."""
    regions = minutes.select("region").unique()
    scoped = changes_.select("change_id", "changed_at", "ends_at", "scope_region").join(regions, how="cross")
    scoped = scoped.filter(pl.col("scope_region").is_null() | (pl.col("scope_region") == pl.col("region")))
    in_cohort = scoped.join(minutes, on="region")
    cohort = in_cohort.filter(_since_change())
    sums = _against_the_rest(cohort.drop("region"), minutes.drop("region"), measures)
    hour_before = (pl.col("minute_at") < pl.col("changed_at")) & (
        pl.col("minute_at") >= pl.col("changed_at") - timedelta(hours=1)
    )
    past = in_cohort.filter(hour_before).group_by("change_id").agg(e.alias(name) for name, e in before.items())
    sums = sums.join(past, on="change_id", how="left").with_columns(
        pl.int_range(1, pl.len() + 1).over("change_id").alias("minutes_seen")  # the sums hold a row per minute
    )
    return cohort, sums


def placement_cohort_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Stranded GPUs (free, but on nodes too full to host a half-node job) per healthy GPU in the region a
    placement or scheduler policy changed, when most of its free GPUs are stranded minute after minute, or their
    stranded part has grown several-fold from the hour before (a region with a big free buffer keeps whole free
    nodes for a while under a spread policy): against the other regions since the change and against the region's
    own hour before it (a fleet-wide change has only the latter). More free GPUs alone (demand dropping) strand
    more GPUs without raising their stranded part. The changed scope is read as the median of its minutes since
    the change, because stranding from a bad policy persists from minute to minute while a big job's exit strands
    a burst for a minute or two (a 42-GPU burst after an unrelated policy change paged an unseen scenario when the
    mean since the change was read; the median of the last 8 minutes paged bursts hours later). A GPU-minute floor
    alone would make a small region wait far past 15 minutes."""
    found = _with_ends(found, config)
    policies = found.filter(pl.col("change_type") == "scheduler_policy")
    if policies.is_empty():
        return pl.DataFrame()
    settings = config.cohort
    minutes = fetch(
        con,
        "select region, minute_at, healthy_gpus::double as healthy, free_gpus::double as free, "
        "stranded_gpus::double as stranded "
        "from marts.fct_scheduler__region_minutes where minute_at >= $1 and minute_at < $2",
        [min(policies["changed_at"]) - timedelta(hours=1), window[1]],
    )
    stranded_share = pl.col("stranded").sum() / pl.col("healthy").sum()
    of_free_share = pl.col("stranded").sum() / pl.col("free").sum()
    cohort, sums = _region_cohorts(
        policies, minutes, ["healthy", "free", "stranded"], {"before": stranded_share, "of_free_before": of_free_share}
    )
    since = f"{int(settings['horizon_h'])}h"  # the cohort holds only minutes since the change: a median of them all
    per_minute = (
        cohort.group_by("change_id", "minute_at")
        .agg(pl.col("healthy", "free", "stranded").sum())
        .sort("change_id", "minute_at")
        .select(
            "change_id",
            "minute_at",
            *[
                share.rolling_median_by("minute_at", since).over("change_id").alias(name)
                for name, share in (
                    ("share", pl.col("stranded") / pl.col("healthy")),
                    ("of_free", pl.when(pl.col("free") > 0).then(pl.col("stranded") / pl.col("free")).otherwise(0.0)),
                )
            ],
        )
    )
    sums = sums.join(per_minute, on=["change_id", "minute_at"])
    rest = pl.when(pl.col("healthy_rest") > 0).then(pl.col("stranded_rest") / pl.col("healthy_rest"))
    baseline = pl.max_horizontal(rest, pl.col("before"), pl.lit(0.0))  # changed from its own past and from the rest
    return sums.filter(
        (pl.col("minutes_seen") >= settings["min_placement_minutes"])
        & (pl.col("healthy_cohort") >= settings["min_placement_gpu_minutes"])
        & (pl.col("share") >= settings["stranded_share_min"])
        & (
            (pl.col("of_free") >= settings["stranded_of_free_min"])
            | (
                (pl.col("of_free") >= settings["stranded_of_free_rise_min"])
                & (pl.col("of_free") >= settings["stranded_of_free_rise"] * pl.col("of_free_before").fill_nan(0.0))
            )
        )
        & (
            pl.col("share")
            >= settings["stranded_ratio"] * pl.max_horizontal(baseline, pl.lit(settings["stranded_share_floor"]))
        )
    ).select("change_id", "minute_at", pl.col("share").alias("value"), baseline.alias("baseline"))


ROLLOUT_WAITS = {  # a region's rollout, and the share of step time it would make training wait on
    "storage_rollout": "dataloader_wait_total_s",
    "network_change": "grad_sync_total_s",
}


def rollout_cohort_hits(change_type: str):
    """Hits for storage rollouts or network changes: see `_rollout_hits`."""
    return lambda con, found, config, window: _rollout_hits(con, found, config, window, change_type)


def _rollout_hits(con, found: pl.DataFrame, config: DetectionConfig, window, change_type: str) -> pl.DataFrame:
    """The share of training step time spent waiting on data (a storage rollout) or on the gradient all-reduce (a
    network change) in the region the change landed in, since the change, against the other regions in the same
    minutes and against the region's own hour before (a fleet-wide change has only the latter). Both must be beaten
    by `rollout_wait_ratio` and by `rollout_wait_margin` of step time, so a region whose jobs always wait more, or a
    few slow workers, is not blamed on the change. A change whose hour before is not in the data is not judged: an
    unseen 160-GPU fleet paged a switch firmware change made the day before its data began, its region's few
    distributed jobs spending 8 % of step time on the all-reduce against 3 % in the other region."""
    found = _with_ends(found, config)
    rollouts = found.filter(pl.col("change_type") == change_type)
    if rollouts.is_empty():
        return pl.DataFrame()
    settings = config.cohort
    workers = fetch(
        con,
        f"select region, minute_at, count(*)::double as worker_minutes, sum(step_time_total_s) as step_s, "
        f"sum({ROLLOUT_WAITS[change_type]}) as wait_s from marts.fct_training__worker_minutes "
        "where minute_at >= $1 and minute_at < $2 and step_time_total_s > 0 group by all",
        [min(rollouts["changed_at"]) - timedelta(hours=1), window[1]],
    )
    wait_share = pl.col("wait_s").sum() / pl.col("step_s").sum()
    _, sums = _region_cohorts(rollouts, workers, ["worker_minutes", "step_s", "wait_s"], {"before": wait_share})
    share = pl.col("wait_s_cohort") / pl.col("step_s_cohort")
    rest = pl.when(pl.col("step_s_rest") > 0).then(pl.col("wait_s_rest") / pl.col("step_s_rest"))
    baseline = pl.max_horizontal(rest, pl.col("before"))
    return sums.filter(  # without the region's own hour before, its usual mix of jobs cannot be told from the change
        pl.col("before").is_not_null()
        & (pl.col("minutes_seen") >= settings["rollout_min_minutes"])
        & (pl.col("worker_minutes_cohort") >= settings["min_worker_minutes"])
        & (share >= settings["rollout_wait_ratio"] * baseline)
        & (share >= baseline + settings["rollout_wait_margin"])
    ).select("change_id", "minute_at", share.alias("value"), baseline.alias("baseline"))


def queue_jump_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """After a scheduler policy change for one team (priority weights, quotas), that team's jobs starting far sooner
    than the rest of their region and workload class: the changed cohort against the unchanged one in the same
    queue, over the jobs submitted in the last `queue_jump_window_min` (a boost shows whenever a queue forms, hours
    after the change if need be), against the same comparison in the hour before the change. A change that names
    no team has no changed cohort inside a queue; held team against team, the library's unrelated policy changes
    flagged 6 teams whose job mix simply waits less (ratios up to 29, against 46 for a boosted team). A wait is
    counted up to the minute judged (a job still queued has waited until now), so both sides are censored alike
    and nothing after that minute is read. Only a real queue can be jumped: the rest must have waited
    `queue_jump_min_wait_s` on average."""
    found = _with_ends(found, config)
    policies = found.filter((pl.col("change_type") == "scheduler_policy") & pl.col("scope_team").is_not_null())
    settings = config.cohort
    frames = []
    for change in policies.select("change_id", "changed_at", "ends_at", "scope_region", "scope_team").iter_rows(
        named=True
    ):
        at = change["changed_at"]
        first = max(at + timedelta(minutes=int(settings["queue_jump_min_minutes"])), window[0])  # a tick: its own
        end = min(change["ends_at"], window[1])
        if first > end:  # judged at t, only data before t is read: the tick at t itself may judge t
            continue
        span = int(settings["queue_jump_window_min"])
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
        frames.append(hits.filter(pl.col("ratio") >= settings["queue_jump_ratio"] * pl.col("baseline")))
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
    least = settings["queue_jump_min_jobs"]
    return per_team.with_columns(
        (rest_mean / pl.max_horizontal(pl.col("waited_s") / pl.col("n"), pl.lit(1.0))).alias("ratio")
    ).filter((pl.col("n") >= least) & (rest_n >= least) & (rest_mean >= settings["queue_jump_min_wait_s"]))


def priority_inversion_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """After a scheduler policy change, a cohort (region, workload class, team) whose jobs the scheduler now
    reports at a priority above that of a class which outranked its class in the day before the change: the
    reordering itself, seen on the first jobs queued after the change. `queue_jump` sees its effect, but only
    once a queue forms, which may be hours later (the library's batch boost landed at 01:00 and bit at 07:00).
    The cohort is read as the median priority of its last `inversion_window_min` of queue events (submitted,
    pending, requeued, started) over at least `inversion_min_events` of them, and its first `inversion_min_events`
    events after the change (within `inversion_first_h`) must already show the inversion: a reweighting takes
    effect at once, so an inversion that began hours later belongs to a later change (the library's fleet-wide
    fairshare change of the afternoon before was blamed for the 01:00 batch boost), and a change whose first jobs
    kept the class order costs a tick no more than two small queries. A cohort whose last jobs before the change
    already outranked the class was reordered by something else (a fleet-wide change landing during a variant
    scenario's five-hour batch boost was blamed for it). A raise that keeps the class order (batch from 20 to 25
    under interactive's 50) is no inversion. `value` is the cohort's priority, `baseline` the highest
    class priority it overtook."""
    found = _with_ends(found, config)
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
        before_from = at - timedelta(hours=int(settings["inversion_before_h"]))
        least = int(settings["inversion_min_events"])
        scope = [change["scope_region"], change["scope_team"]]
        order = fetch(con, CLASS_PRIORITIES, [before_from, at, scope[0]])
        if order.is_empty():  # the class order before the change is not in the data: nothing to invert
            continue
        opening_end = min(end, at + timedelta(hours=int(settings["inversion_first_h"])))
        opening = _overtaking(fetch(con, FIRST_PRIORITIES, [at, opening_end, *scope, least]), order, "first_priority")
        opening = opening.filter(pl.col("last_priority").fill_null(pl.col("class_before")) <= pl.col("other_before"))
        if opening.is_empty():  # the cohorts' first jobs since the change kept the class order, or the cohort
            continue  # outranked that class already before it (another change, still in force, reordered them)
        window_min = int(settings["inversion_window_min"])
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


def placement_spread_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """After a scheduler policy change, the GPUs a small job (one node, fewer GPUs than the node has) leaves free
    on the node it was placed on, on average over the starts of the last `spread_window_min` since the change: a
    packing policy (best fit) fills part-full nodes and leaves about one GPU, a spreading one (worst fit) puts each
    job on the emptiest node and leaves many. This is the placement policy itself, seen on the first jobs it places,
    while the GPUs it strands (`placement_fragmentation`) wait for big jobs to arrive: at night, with a region's
    GPUs mostly free, a variant scenario's spread policy stranded 3.7 % of them for six hours and was never paged,
    while its small jobs left 13.3 GPUs free on their nodes against 2.7 the hour before. Each changed region is held
    against its own hour before and, for a change scoped to a region, the other regions in the same minutes. A
    placement policy acts at once, so the first `spread_min_starts` jobs placed after the change must show it too:
    a spread that began hours after a change belongs to a later one (a fleet-wide policy change of the day before
    was blamed for a variant scenario's spread policy in one region)."""
    found = _with_ends(found, config)
    policies = found.filter(pl.col("change_type") == "scheduler_policy")
    settings = config.cohort
    span_min, least = int(settings["spread_window_min"]), settings["spread_min_starts"]
    frames = []
    for change in policies.select("change_id", "changed_at", "ends_at", "scope_region").iter_rows(named=True):
        at, region = change["changed_at"], change["scope_region"]
        first, end = max(at, window[0]), min(change["ends_at"], window[1])
        if first > end:
            continue
        changed = pl.lit(True) if region is None else pl.col("region") == region
        opening_end = min(end, at + timedelta(minutes=span_min))
        opening = fetch(con, SPREAD_OPENING, [at - timedelta(hours=1), opening_end, at, int(least)])
        before_mean = pl.col("before_leftover") / pl.col("before_starts")
        opening = opening.filter(changed & (pl.col("before_starts") >= least)).filter(
            (pl.col("first_mean") >= settings["spread_ratio"] * before_mean)
            & (pl.col("first_mean") >= before_mean + settings["spread_margin_gpus"])
        )
        if opening.is_empty():  # its first jobs were placed as before (or the hour before is not in the data)
            continue
        recent = fetch(con, SPREAD_RECENT, [max(at, first - timedelta(minutes=span_min)), end, first, span_min, at])
        totals = recent.group_by("minute_at").agg(pl.col("starts", "leftover").sum().name.suffix("_all"))
        rest_starts = pl.col("starts_all") - pl.col("starts")
        rest_mean = pl.when(rest_starts > 0).then((pl.col("leftover_all") - pl.col("leftover")) / rest_starts)
        judged = (
            recent.filter(changed)
            .join(totals, on="minute_at")
            .join(opening, on="region")
            .filter(pl.col("first_until") < pl.col("minute_at"))
            .with_columns(
                (pl.col("leftover") / pl.col("starts")).alias("value"),
                pl.max_horizontal(  # a fleet-wide change has no other regions to hold it against
                    rest_mean if region is not None else pl.lit(None), before_mean
                ).alias("baseline"),
            )
        )
        frames.append(
            judged.filter(
                (pl.col("starts") >= least)
                & (pl.col("value") >= settings["spread_ratio"] * pl.col("baseline"))
                & (pl.col("value") >= pl.col("baseline") + settings["spread_margin_gpus"])
            ).select("minute_at", "region", "value", "baseline", pl.lit(change["change_id"]).alias("change_id"))
        )
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return pl.DataFrame()
    last_minute = pl.col("minute_at") - timedelta(minutes=1)  # judged at t, the data ends with the minute before t
    return pl.concat(frames).select("change_id", last_minute, "region", "value", "baseline")


SMALL_STARTS = """
small as (  -- starts of jobs on one node that leave the scheduler a choice of node
    select a.job_id, a.attempt, a.region, a.started_at, a.node_ids as node_id, a.gpus, n.gpus as node_gpus
    from intermediate.int_jobs__attempts a join marts.dim_nodes n on n.node_id = a.node_ids
    where a.started_at >= $1 and a.started_at < $2 and a.gpus < n.gpus
),
running as (
    select job_id, attempt, started_at, coalesce(ended_at, timestamp '9999-12-31') as ended_at, gpus,
        unnest(string_split(node_ids, ',')) as node_id, node_ids like '%,%' as whole_nodes
    from intermediate.int_jobs__attempts
    where started_at < $2 and (ended_at is null or ended_at > $1) and node_ids is not null
),
busy as (  -- GPUs already held on the node when the job started
    select s.job_id, s.attempt, sum(case when r.whole_nodes then s.node_gpus else r.gpus end) as busy
    from small s join running r on r.node_id = s.node_id and r.started_at < s.started_at and r.ended_at > s.started_at
    group by all
),
placed as (
    select s.region, s.started_at, s.node_gpus - s.gpus - coalesce(b.busy, 0) as leftover
    from small s left join busy b using (job_id, attempt)
)"""
SPREAD_OPENING = f"""
with {SMALL_STARTS},
before as (  -- the hour before the change ($3)
    select region, count(*) as before_starts, sum(leftover)::double as before_leftover
    from placed where started_at < $3 group by all
),
ranked as (
    select *, row_number() over (partition by region order by started_at) as nth from placed where started_at >= $3
),
opening as (  -- the first $4 placements since it
    select region, avg(leftover) as first_mean, max(started_at) as first_until
    from ranked where nth <= $4 group by all having count(*) = $4
)
select * from before join opening using (region)
"""
SPREAD_RECENT = f"""
with {SMALL_STARTS},
judged as (select unnest(generate_series($3::timestamp, $2::timestamp, interval 1 minute)) as minute_at)
select g.minute_at, p.region, count(*) as starts, sum(p.leftover)::double as leftover
from judged g
join placed p on p.started_at < g.minute_at and p.started_at >= greatest(g.minute_at - to_minutes($4::bigint), $5)
group by all
"""

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


def cohort_episodes(con, config: DetectionConfig, window: tuple[datetime, datetime], delay_min: int) -> pl.DataFrame:
    found = changes(con, window, config.cohort["horizon_h"])
    frames = []
    rules = (
        ("deploy_fault_rate", node_cohort_hits),
        ("deploy_step_time", framework_cohort_hits),
        ("placement_fragmentation", placement_cohort_hits),
        ("placement_spread", placement_spread_hits),
        ("queue_jump", queue_jump_hits),
        ("priority_inversion", priority_inversion_hits),
        ("storage_rollout_wait", rollout_cohort_hits("storage_rollout")),
        ("network_change_sync", rollout_cohort_hits("network_change")),
    )
    for rule, hits_of in rules:
        hits = hits_of(con, found, config, window)
        if hits.is_empty():
            continue
        hits = hits.filter(pl.col("minute_at") < window[1])
        own = {c: c in hits.columns for c in ("region", "team", "workload_class")}  # a rule may name its own scope
        parts = [pl.col("component"), pl.col("to_version")]
        if own["workload_class"]:
            parts.append(pl.concat_str(pl.lit("workload_class="), pl.col("workload_class")))
        described = hits.join(found, on="change_id").select(
            "change_id",
            pl.concat_str(parts, separator=" ", ignore_nulls=True).alias("cohort"),
            pl.col("region" if own["region"] else "scope_region").alias("region"),
            pl.col("team" if own["team"] else "scope_team").alias("team"),
            "minute_at",
            "value",
            "baseline",
        )
        found_eps = episodes(described, KEYS, 1, window[1], max_gap_min=60, delay_min=delay_min)
        frames.append(
            found_eps.with_columns(pl.lit(rule).alias("rule"), pl.col("change_id").alias("suspected_change_id"))
        )
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
