"""Scheduler and placement policy changes in a region: stranded GPUs against the unchanged regions and the hour
before (fragmentation), and a change's first small jobs spreading over nodes (spread)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from pipelines.detect.cohorts.common import region_cohorts, with_ends
from pipelines.detect.config import DetectionConfig
from pipelines.warehouse.connection import fetch


def placement_cohort_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Stranded GPUs (free, but on nodes too full to host a half-node job) per healthy GPU in the region a
    placement or scheduler policy changed, when most of its free GPUs are stranded minute after minute, or their
    stranded part has grown several-fold from the hour before (a region with a big free buffer keeps whole free
    nodes for a while under a spread policy): against the other regions since the change and against the region's
    own hour before it (a fleet-wide change has only the latter). More free GPUs alone (demand dropping) strand
    more GPUs without raising their stranded part. The changed scope is read as a median of its minutes, because
    stranding from a bad policy persists from minute to minute while a big job's exit strands a burst for a minute
    or two, which a mean would read as the policy's. Until `stranded_onset_min` after the change it is the median of
    the last `stranded_window_min`: in a full region a spread policy has no free GPUs to scatter until whole nodes
    free up, maybe an hour later, and a median of every minute since the change would then wait as long again.
    After that, the median of every minute since the onset: stranding that starts hours later is not the policy's
    unless it outlasts them. A GPU-minute floor alone would make a small region wait far past 15 minutes."""
    found = with_ends(found, config)
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
    cohort, sums = region_cohorts(
        policies, minutes, ["healthy", "free", "stranded"], {"before": stranded_share, "of_free_before": of_free_share}
    )
    per_minute = _median_shares(cohort, policies, settings)
    sums = sums.join(per_minute, on=["change_id", "minute_at"])
    rest = pl.when(pl.col("healthy_rest") > 0).then(pl.col("stranded_rest") / pl.col("healthy_rest"))
    baseline = pl.max_horizontal(rest, pl.col("before"), pl.lit(0.0))  # changed from its own past and from the rest
    return sums.filter(
        (pl.col("minutes_seen") >= settings.min_placement_minutes)
        & (pl.col("healthy_cohort") >= settings.min_placement_gpu_minutes)
        & (pl.col("share") >= settings.stranded_share_min)
        & (
            (pl.col("of_free") >= settings.stranded_of_free_min)
            | (
                (pl.col("of_free") >= settings.stranded_of_free_rise_min)
                & (pl.col("of_free") >= settings.stranded_of_free_rise * pl.col("of_free_before").fill_nan(0.0))
            )
        )
        & (
            pl.col("share")
            >= settings.stranded_ratio * pl.max_horizontal(baseline, pl.lit(settings.stranded_share_floor))
        )
    ).select("change_id", "minute_at", pl.col("share").alias("value"), baseline.alias("baseline"))


def _median_shares(cohort: pl.DataFrame, policies: pl.DataFrame, settings) -> pl.DataFrame:
    """Per change and minute, the median over minutes of the stranded share of healthy GPUs (`share`) and of free
    GPUs (`of_free`): of the last `stranded_window_min` up to `stranded_onset_min` + that window after the change,
    then of every minute since `stranded_onset_min` after it, so stranding that begins later than a policy's
    onset must outlast every minute since that onset to be blamed on the change."""
    shares = (
        cohort.group_by("change_id", "minute_at")
        .agg(pl.col("healthy", "free", "stranded").sum())
        .join(policies.select("change_id", "changed_at"), on="change_id")
        .sort("change_id", "minute_at")
        .with_columns(
            share=pl.col("stranded") / pl.col("healthy"),
            of_free=pl.when(pl.col("free") > 0).then(pl.col("stranded") / pl.col("free")).otherwise(0.0),
            late=pl.col("minute_at") >= pl.col("changed_at") + timedelta(minutes=settings.stranded_onset_min),
        )
    )
    window = f"{int(settings.stranded_window_min)}m"
    since = f"{int(settings.horizon_h)}h"  # the cohort holds only minutes within the horizon: all of them
    trailing = shares.select(
        "change_id", "minute_at", *[pl.col(n).rolling_median_by("minute_at", window).over("change_id") for n in NAMES]
    )
    after_onset = (
        shares.filter("late")
        .sort("change_id", "minute_at")
        .select(
            "change_id",
            "minute_at",
            *[pl.col(n).rolling_median_by("minute_at", since).over("change_id").alias(f"{n}_late") for n in NAMES],
        )
    )
    onset_end = pl.col("changed_at") + timedelta(minutes=settings.stranded_onset_min + settings.stranded_window_min)
    return (
        shares.select("change_id", "minute_at", "changed_at")
        .join(trailing, on=["change_id", "minute_at"])
        .join(after_onset, on=["change_id", "minute_at"], how="left")
        .select(
            "change_id",
            "minute_at",
            *[
                pl.when(pl.col("minute_at") < onset_end).then(pl.col(n)).otherwise(pl.col(f"{n}_late")).alias(n)
                for n in NAMES
            ],
        )
    )


NAMES = ("share", "of_free")


def placement_spread_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """After a scheduler policy change, the GPUs a small job (one node, fewer GPUs than the node has) leaves free
    on the node it was placed on, on average over the starts of the last `spread_window_min` since the change: a
    packing policy (best fit) fills part-full nodes and leaves about one GPU, a spreading one (worst fit) puts each
    job on the emptiest node and leaves many. This is the placement policy itself, seen on the first jobs it places,
    while the GPUs it strands (`placement_fragmentation`) wait for big jobs to arrive: at night, with a region's
    GPUs mostly free, a spread policy strands few of them for hours while its small jobs already leave many GPUs
    free on their nodes. Each changed region is held
    against its own hour before and, for a change scoped to a region, the other regions in the same minutes. A
    placement policy acts at once, so the first `spread_min_starts` jobs placed after the change must show it too:
    a spread that began hours after a change belongs to a later one, not to a fleet-wide change of the day before."""
    found = with_ends(found, config)
    policies = found.filter(pl.col("change_type") == "scheduler_policy")
    settings = config.cohort
    span_min, least = int(settings.spread_window_min), settings.spread_min_starts
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
            (pl.col("first_mean") >= settings.spread_ratio * before_mean)
            & (pl.col("first_mean") >= before_mean + settings.spread_margin_gpus)
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
                & (pl.col("value") >= settings.spread_ratio * pl.col("baseline"))
                & (pl.col("value") >= pl.col("baseline") + settings.spread_margin_gpus)
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
