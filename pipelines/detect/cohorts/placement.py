"""Scheduler and placement policy changes in a region: stranded GPUs against the unchanged regions and the hour
before (fragmentation), and small jobs placed where a packing scheduler would not have put them (spread)."""

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
    stranded = sums.filter(
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
    return _once_placements_spread(con, stranded, found, config, window)


def _once_placements_spread(con, stranded: pl.DataFrame, found: pl.DataFrame, config, window) -> pl.DataFrame:
    """A change's stranded minutes from the first minute its placements showed a spread (`placement_spread`) on:
    a scheduler that still packs after a change (a queue setting, a fair-share half-life) strands GPUs only as
    jobs end unevenly, which the changed region can show for a while by chance, with the hour before and the
    other regions quieter. A spreading one shows in its placements before its stranding costs anything. A change
    whose region placed too few small jobs in the hour before to judge its placements is judged on its stranding
    alone. Read only when there is stranding to blame, over the changes' time since they were made."""
    if stranded.is_empty():
        return stranded
    settings = config.cohort
    blamed = found.filter(pl.col("change_id").is_in(stranded["change_id"].unique().implode()))
    judged = []
    for change in blamed.select("change_id", "changed_at", "scope_region").iter_rows(named=True):
        at, region = change["changed_at"], change["scope_region"]
        before = fetch(con, UNPACKED_STARTS, [at - timedelta(hours=1), at, int(settings.spread_drain_lead_min)])
        starts = before if region is None else before.filter(pl.col("region") == region)
        if starts.height >= settings.spread_min_starts:
            judged.append(change["change_id"])
    if not judged:
        return stranded
    since = blamed.filter(pl.col("change_id").is_in(judged))["changed_at"].min()
    spread = placement_spread_hits(con, found, config, (since, window[1]))
    first = (
        spread.group_by("change_id").agg(pl.col("minute_at").min().alias("spread_from"))
        if not spread.is_empty()
        else pl.DataFrame(schema={"change_id": pl.String, "spread_from": pl.Datetime("us")})
    )
    gated = (
        stranded.filter(pl.col("change_id").is_in(judged))
        .join(first, on="change_id")
        .filter(pl.col("minute_at") >= pl.col("spread_from"))
        .drop("spread_from")
    )
    return pl.concat([stranded.filter(~pl.col("change_id").is_in(judged)), gated])


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
    """After a scheduler policy change, the small jobs (one node, fewer GPUs than the node has) placed on a node
    while a fuller node that fit them stayed untouched: a packing policy (best fit) never does that, a spreading
    one (worst fit) does it whenever it has a choice. This is the placement policy itself, seen on the jobs it
    places before the GPUs it strands (`placement_fragmentation`) cost anything: at night, with a region's GPUs
    mostly free, every small job shows it; in a full region, only once jobs end unevenly and leave the scheduler
    a choice of node, which can be long after the change (the first placement it could make differently is the
    first it can be seen on, so no "first jobs after the change" test). The share of such placements among the
    small starts of the last `spread_window_min` since the change is held against the region's hour before the
    change and, for a change scoped to a region, the other regions in the same minutes; when several changes are
    in force in a region, its placements answer to the newest."""
    found = with_ends(found, config)
    policies = found.filter(pl.col("change_type") == "scheduler_policy")
    settings = config.cohort
    span = timedelta(minutes=int(settings.spread_window_min))
    lead = int(settings.spread_drain_lead_min)
    judged_spans = []  # per change: (change, first judged minute, end, the start of its trailing data)
    for change in policies.select("change_id", "changed_at", "ends_at", "scope_region").iter_rows(named=True):
        at = change["changed_at"]
        first, end = max(at, window[0] - timedelta(minutes=1)), min(change["ends_at"], window[1])
        if first < end:
            judged_spans.append((change, first, end, max(at, first - span)))
    if not judged_spans:
        return pl.DataFrame()
    # one read of the placements every change's trailing span needs (a tick's: its window and the span before it)
    placed = fetch(con, UNPACKED_STARTS, [min(j[3] for j in judged_spans), max(j[2] for j in judged_spans), lead])
    frames = []
    for change, first, end, recent_from in judged_spans:
        at, region = change["changed_at"], change["scope_region"]
        recent = placed.filter((pl.col("started_at") >= recent_from) & (pl.col("started_at") < end))
        changed = pl.lit(True) if region is None else pl.col("region") == region
        if recent.filter(changed)["unpacked"].sum() < settings.spread_min_unpacked:
            continue  # too few to flag, whatever the hour before held: no need to read it
        before = (
            fetch(con, UNPACKED_STARTS, [at - timedelta(hours=1), at, lead])
            .group_by("region")
            .agg(pl.len().alias("before_starts"), pl.col("unpacked").sum().alias("before_unpacked"))
            .filter(pl.col("before_starts") >= settings.spread_min_starts)  # the hour before is in the data
        )
        trailing = _trailing_counts(_answering_to(recent, at, policies), recent_from, end, span)
        totals = trailing.group_by("minute_at").agg(pl.col("starts", "unpacked").sum().name.suffix("_all"))
        rest_starts = pl.col("starts_all") - pl.col("starts")
        rest_share = pl.when(rest_starts > 0).then((pl.col("unpacked_all") - pl.col("unpacked")) / rest_starts)
        before_share = pl.col("before_unpacked") / pl.col("before_starts")
        judged = (
            trailing.filter(changed & (pl.col("minute_at") >= first) & (pl.col("starts") > 0))
            .join(totals, on="minute_at")
            .join(before, on="region")
            .with_columns(
                (pl.col("unpacked") / pl.col("starts")).alias("value"),
                pl.max_horizontal(  # a fleet-wide change has no other regions to hold it against
                    rest_share if region is not None else pl.lit(None), before_share
                ).alias("baseline"),
            )
        )
        frames.append(
            judged.filter(
                (pl.col("unpacked") >= settings.spread_min_unpacked)
                & (pl.col("value") >= settings.spread_ratio * pl.col("baseline"))
                & (pl.col("value") >= pl.col("baseline") + settings.spread_margin)
            ).select(
                "minute_at",
                "region",
                "value",
                "baseline",
                pl.lit(change["change_id"]).alias("change_id"),
            )
        )
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames).select("change_id", "minute_at", "region", "value", "baseline")


def _answering_to(placed: pl.DataFrame, at, policies: pl.DataFrame) -> pl.DataFrame:
    """The placements since a change made at `at` that no newer policy change in force in their region made."""
    newer = policies.filter(pl.col("changed_at") > at).select("changed_at", "ends_at", "scope_region")
    if newer.is_empty():
        return placed
    placed = placed.with_row_index("placement")
    covered = (
        placed.join(newer, how="cross")
        .filter(
            (pl.col("scope_region").is_null() | (pl.col("scope_region") == pl.col("region")))
            & (pl.col("started_at") >= pl.col("changed_at"))
            & (pl.col("started_at") < pl.col("ends_at"))
        )
        .select("placement")
    )
    return placed.join(covered, on="placement", how="anti").drop("placement")


def _trailing_counts(placed: pl.DataFrame, start, end, span: timedelta) -> pl.DataFrame:
    """Per region and minute in [start, end): the small starts and the unpacked ones of the `span` ending with
    that minute (the data a tick reads at the next minute)."""
    grid = pl.DataFrame({"minute_at": pl.datetime_range(start, end, "1m", closed="left", eager=True)}).join(
        placed.select("region").unique(), how="cross"
    )
    counts = placed.group_by("region", pl.col("started_at").alias("minute_at")).agg(
        pl.len().alias("starts"), pl.col("unpacked").sum().alias("unpacked")
    )
    window = f"{int(span.total_seconds() // 60)}m"
    return (
        grid.join(counts, on=["region", "minute_at"], how="left")
        .with_columns(pl.col("starts", "unpacked").fill_null(0))
        .sort("region", "minute_at")
        .with_columns(pl.col("starts", "unpacked").rolling_sum_by("minute_at", window).over("region"))
    )


UNPACKED_STARTS = """
with held_gpus as (  -- what every attempt in the span holds, a row per node (all of it for a gang), by minute
    select a.started_at, a.node_ids like '%,%' as whole_nodes, a.gpus, n.node_id, n.region, n.sku,
        n.gpus as node_gpus, a.job_id, a.attempt,
        case when a.node_ids like '%,%' then n.gpus else a.gpus end as held,
        date_trunc('minute', a.started_at) as from_minute,  -- it holds them from its first minute
        date_trunc('minute', a.ended_at) + case when a.ended_at > date_trunc('minute', a.ended_at)
            then interval 1 minute else interval 0 minute end as to_minute  -- through its last, even a part
    from (
        select *, unnest(string_split(node_ids, ',')) as node_id from intermediate.int_jobs__attempts
        where started_at < $2 and (ended_at is null or ended_at > $1) and node_ids is not null
    ) a
    join marts.dim_nodes n using (node_id)
),
small as (  -- starts of jobs on one node that leave the scheduler a choice of node
    select job_id, attempt, region, sku, from_minute as started_at, node_id, gpus
    from held_gpus where started_at >= $1 and not whole_nodes and gpus < node_gpus
),
steps as (  -- per node and minute: GPUs taken (by attempts that hold them past it) and given back
    select node_id, t, sum(delta) as delta, sum(taken) as taken
    from (
        select node_id, from_minute as t, held as delta,
            case when to_minute is null or to_minute > from_minute then held else 0 end as taken
        from held_gpus
        union all
        select node_id, to_minute as t, -held as delta, 0 as taken from held_gpus where to_minute is not null
    )
    group by all
),
placements as (select distinct region, sku, started_at from small),
closed as (  -- nodes taking no new jobs: down, in maintenance, or drained ahead of a planned window ($3 minutes)
    select p.started_at, h.node_id
    from placements p join marts.fct_health__node_minutes h on h.minute_at = p.started_at and h.region = p.region
    where (h.health <> 'ok' or h.is_maintenance) and h.minute_at >= date_trunc('minute', $1::timestamp)
        and h.minute_at < $2
    union
    select p.started_at, w.node_id
    from placements p join staging.stg_maintenance__node_windows w
        on p.started_at >= w.start_at - to_minutes($3::bigint) and p.started_at < w.end_at
),
grid as (  -- each node of a region and SKU in a minute that placed small jobs there
    select p.region, p.sku, p.started_at, n.node_id, n.gpus
    from placements p join marts.dim_nodes n on n.region = p.region and n.sku is not distinct from p.sku
),
timeline as (  -- per node, the GPUs held after each minute's changes, read at the minutes that placed jobs
    select node_id, t, probe,
        sum(delta) over (partition by node_id order by t, probe rows unbounded preceding) as held
    from (
        select node_id, t, delta, false as probe from steps
        union all
        select distinct node_id, started_at as t, 0 as delta, true as probe from grid
    )
),
nodes as (  -- GPUs each held once the minute's jobs were placed, and as it began (less what the minute placed)
    select g.region, g.sku, g.started_at, g.node_id, g.gpus, x.node_id is null as open,
        h.held as held_after, h.held - coalesce(st.taken, 0) as held_before
    from grid g
    join timeline h on h.probe and h.node_id = g.node_id and h.t = g.started_at
    left join steps st on st.node_id = g.node_id and st.t = g.started_at
    left join closed x on x.started_at = g.started_at and x.node_id = g.node_id
)
-- unpacked: another node open to new jobs fitted the job all minute (nothing was placed on it) with fewer GPUs free
-- than the chosen node had when this job was placed (at least what it had left after the minute, plus this job's)
select s.region, s.started_at,
    coalesce(bool_or(
        o.open and o.gpus - o.held_before >= s.gpus and o.held_before = o.held_after
        and o.gpus - o.held_before < c.gpus - c.held_after + s.gpus
    ), false) as unpacked
from small s
join nodes c on c.region = s.region and c.sku is not distinct from s.sku and c.started_at = s.started_at
    and c.node_id = s.node_id
left join nodes o on o.region = s.region and o.sku is not distinct from s.sku and o.started_at = s.started_at
    and o.node_id <> s.node_id
group by s.job_id, s.attempt, s.region, s.started_at
"""
