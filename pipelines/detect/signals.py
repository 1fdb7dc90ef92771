"""Statistical detectors on node and region series (storage and RDMA latency, idle-with-demand, the goodput loss,
the queue wait of each workload class), the scheduler-outage rule and telemetry gaps. Baselines are trailing medians
that end before the minute they judge (causal); a scope without enough history is judged against its peers in the
same minute instead."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.config import parse_span
from pipelines.detect.config import DetectionConfig, Detector
from pipelines.detect.episodes import episodes, next_tick
from pipelines.semantic.losses import ALERTABLE_FAMILIES, columns_by_family
from pipelines.warehouse.connection import fetch

NODE_KEYS = ["node_id", "region", "sku"]
REGION_KEYS = ["region"]
CLASS_KEYS = ["region", "workload_class"]
OUTAGE_EXPECTED_STARTS = 8  # silence this many expected starts long has odds of e^-8 by chance
# goodput loss columns by the family that owns them: the one table of loss reasons, so that an alert names the family
# `explain` gives the same loss (work lost after a checkpoint by the failure's cause, GPUs held idle as workload)
LOSS_FAMILIES = columns_by_family(ALERTABLE_FAMILIES)


def against_baseline(series: pl.DataFrame, keys: list[str], det: Detector, config: DetectionConfig) -> pl.DataFrame:
    """Minutes where value >= ratio x reference: the scope's trailing median, or its peers' median while the scope
    has less than `min_history_min` minutes behind it (from `cold_history_min` minutes on, the lower of the two: a
    fault that hits half a new install's fleet in its first hour lifts the peers' median with it); for a `weekly`
    detector, first the same hour of the weeks before where the series holds them (see `hour_of_week`). With
    `above_quantile`, a scope with history must also exceed that quantile of its own trailing window as it stood
    QUANTILE_LAG before: a noisy series swings past 1.5x its median every day, rarely past its highest minutes of the
    day before. Adds `baseline` (the reference used)."""
    window = config.baseline_window
    scored = (
        series.drop_nulls("value")
        .sort([*keys, "minute_at"])
        .with_columns(
            pl.col("value").rolling_median_by("minute_at", window, closed="left").over(keys).alias("_own"),
            pl.int_range(pl.len()).over(keys).alias("_n"),  # minutes of history behind this one
            pl.col("value").median().over("minute_at", *det.peers_by).alias("_peers"),
        )
    )
    if det.above_quantile is not None:
        scored = _with_earlier_high(scored, keys, window, det.above_quantile)
    reference = (
        pl.when(pl.col("_n") >= config.min_history_min)
        .then(pl.col("_own"))
        .when(pl.col("_n") >= config.cold_history_min)
        .then(pl.min_horizontal("_own", "_peers"))
        .otherwise(pl.col("_peers"))
    )
    if det.weekly:
        profile = hour_of_week(series, keys, config.profile_weeks)
        scored = scored.with_columns(pl.col("minute_at").dt.truncate("1h").alias("hour_at")).join(
            profile, on=[*keys, "hour_at"], how="left"
        )
        reference = pl.when(pl.col("_week").is_not_null()).then(pl.col("_week")).otherwise(reference)
    scored = scored.with_columns(reference.alias("baseline"))
    held = (pl.col("value") >= det.ratio * pl.max_horizontal(pl.col("baseline"), pl.lit(det.floor))) & (
        pl.col("value") >= det.min_value
    )
    if det.above_quantile is not None:
        held = held & (pl.col("_high").is_null() | (pl.col("value") > pl.col("_high")))
    return scored.filter(held).select(*keys, "minute_at", "value", "baseline")


QUANTILE_LAG = timedelta(hours=12)  # the high is of the window that ended this long ago: a regression is not its own


def _with_earlier_high(scored: pl.DataFrame, keys: list[str], window: str, quantile: float) -> pl.DataFrame:
    """`_high`: the quantile of the scope's trailing window as it stood QUANTILE_LAG before each minute (null until
    then). Lagged so that a sustained regression, which soon fills the top 1 % of a window that includes it, stays
    flagged for half a day, while the same hour's swing of the day before is still inside the window."""
    high = pl.col("value").rolling_quantile_by("minute_at", window, quantile=quantile, closed="left").over(keys)
    earlier = scored.select(*keys, (pl.col("minute_at") + QUANTILE_LAG).alias("minute_at"), high.alias("_high"))
    both = {"on": "minute_at", "by": keys, "strategy": "backward", "check_sortedness": False}  # sorted just above
    return scored.sort("minute_at").join_asof(earlier.sort("minute_at"), **both)


def hour_of_week(series: pl.DataFrame, keys: list[str], weeks: int) -> pl.DataFrame:
    """Per scope and hour: the median, over the weeks before (up to `weeks`), of the same hour-of-week's median. The
    hour a week back ends a week before the hour it serves ends, so the profile is causal."""
    hourly = (
        series.drop_nulls("value")
        .group_by(*keys, pl.col("minute_at").dt.truncate("1h").alias("hour_at"))
        .agg(pl.col("value").median())
    )
    back = pl.concat([hourly.with_columns(pl.col("hour_at") + timedelta(weeks=k)) for k in range(1, weeks + 1)])
    return back.group_by(*keys, "hour_at").agg(pl.col("value").median().alias("_week"))


def node_series(con: duckdb.DuckDBPyConnection, column: str, window: tuple[datetime, datetime]) -> pl.DataFrame:
    """A node-minute signal outside maintenance. `column` is one of the mart's columns (checked by the caller)."""
    return fetch(
        con,
        f"select node_id, region, sku, minute_at, {column} as value from marts.fct_health__node_minutes "
        "where not is_maintenance and minute_at >= $1 and minute_at < $2",
        list(window),
    )


def idle_with_demand_series(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime]) -> pl.DataFrame:
    sql = (
        "select region, minute_at, idle_with_demand_gpus / nullif(healthy_gpus, 0) as value "
        "from marts.fct_scheduler__region_minutes where minute_at >= $1 and minute_at < $2"
    )
    return fetch(con, sql, list(window))


GOODPUT_SCOPES = {"goodput_drop": "region", "goodput_drop_sku": "sku"}  # detector: the key of its series


def goodput_series(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime]) -> dict[str, pl.DataFrame]:
    """The north star's loss per 5 minutes, with each family's lost GPU-minutes, per region and per SKU across the
    fleet (keyed by the column): one scan of the mart for both, grouped by grouping sets."""
    losses = ", ".join(f"sum({' + '.join(cols)}) as {family}" for family, cols in LOSS_FAMILIES.items())
    sql = (
        "select grouping(sku) = 1 as by_region, region, sku, bucket_at as minute_at, "
        f"1 - sum(productive_gpu_min) / sum(paid_gpu_min) as value, {losses} "
        "from marts.fct_goodput__5min where bucket_at >= $1 and bucket_at < $2 "
        "group by grouping sets ((region, bucket_at), (sku, bucket_at))"
    )
    both = fetch(con, sql, list(window))
    return {
        "region": both.filter(pl.col("by_region")).drop("by_region", "sku"),
        "sku": both.filter(~pl.col("by_region")).drop("by_region", "region"),
    }


def class_queue_series(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime]) -> pl.DataFrame:
    """Per region, workload class and minute with jobs waiting: the longest wait so far as a multiple of the class's
    queue-wait SLO (comparable across classes whose SLOs differ thirtyfold)."""
    sql = (
        "select region, coalesce(workload_class, 'unknown') as workload_class, minute_at, "
        "oldest_wait_slo_ratio as value from marts.fct_scheduler__class_queue_minutes "
        "where minute_at >= $1 and minute_at < $2"
    )
    return fetch(con, sql, list(window))


def detector_episodes(
    con: duckdb.DuckDBPyConnection, config: DetectionConfig, window: tuple[datetime, datetime], delay_min: int
) -> pl.DataFrame:
    frames = []
    for name, column in (("storage_latency", "storage_latency_p99_ms"), ("rdma_latency", "rdma_latency_us")):
        det = config.detectors[name]
        hits = against_baseline(node_series(con, column, window), NODE_KEYS, det, config)
        found = episodes(hits, NODE_KEYS, det.persistence_min, window[1], delay_min=delay_min)
        frames.append(found.with_columns(pl.lit(name).alias("rule")))
    det = config.detectors["idle_with_demand"]
    series = _over(idle_with_demand_series, con, history_spans(window, det, config))
    hits = _judged(against_baseline(series, REGION_KEYS, det, config), window)
    found = episodes(hits, REGION_KEYS, det.persistence_min, window[1], delay_min=delay_min)
    frames.append(found.with_columns(pl.lit("idle_with_demand").alias("rule")))
    det = config.detectors["queue_wait"]
    series = _over(class_queue_series, con, history_spans(window, det, config))
    hits = _judged(against_baseline(series, CLASS_KEYS, det, config), window)
    found = episodes(hits, CLASS_KEYS, det.persistence_min, window[1], delay_min=delay_min)
    cohort = pl.concat_str(pl.lit("workload_class="), pl.col("workload_class").fill_null("unknown"))
    frames.append(found.with_columns(pl.lit("queue_wait").alias("rule"), cohort.alias("cohort")).drop("workload_class"))
    frames.extend(goodput_drops(con, config, window, delay_min))
    frames.append(outage_episodes(con, config, window, delay_min))
    frames.append(gap_episodes(con, config, window, delay_min))
    return pl.concat(frames, how="diagonal_relaxed")


def history_spans(window: tuple[datetime, datetime], det: Detector, config: DetectionConfig) -> list[tuple]:
    """What a detector reads to judge the minutes of `window`: the window with the trailing day its baseline needs
    (and the lag of its high, with `above_quantile`) and, for a weekly detector, the same hours in each of the
    `profile_weeks` weeks before, not the weeks between (a tick judging a day read four weeks). Spans that overlap
    are merged, so a replay of all the data reads it once."""
    back = timedelta(0)
    if det.above_quantile is not None:
        back = parse_span(config.baseline_window) + QUANTILE_LAG
    if det.weekly:
        back = max(back, parse_span(config.baseline_window))
    spans = [(window[0] - back, window[1])]
    if det.weekly:
        first_hour = window[0].replace(minute=0, second=0, microsecond=0)
        for weeks in range(1, config.profile_weeks + 1):
            back_then = timedelta(weeks=weeks)
            spans.append((first_hour - back_then, window[1] - back_then + timedelta(hours=1)))
    return _merged(spans)


def _merged(spans: list[tuple]) -> list[tuple]:
    merged: list[tuple] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _over(series, con, spans: list[tuple]) -> pl.DataFrame:
    return pl.concat([series(con, span) for span in spans], how="vertical_relaxed")


def _judged(hits: pl.DataFrame, window: tuple[datetime, datetime]) -> pl.DataFrame:
    """The hits inside the window: minutes read only as history are not judged (their own history was not read)."""
    return hits.filter(pl.col("minute_at") >= window[0])


def goodput_drops(con, config: DetectionConfig, window, delay_min: int) -> list[pl.DataFrame]:
    """`goodput_drop` for every scope in GOODPUT_SCOPES, from one read of the series."""
    spans = _merged([span for name in GOODPUT_SCOPES for span in history_spans(window, config.detectors[name], config)])
    parts = [goodput_series(con, span) for span in spans]
    series = {key: pl.concat([p[key] for p in parts], how="vertical_relaxed") for key in ("region", "sku")}
    return [goodput_drop(series[key], config, window, delay_min, name) for name, key in GOODPUT_SCOPES.items()]


def goodput_drop(series: pl.DataFrame, config: DetectionConfig, window, delay_min: int, name: str) -> pl.DataFrame:
    """The north star's loss per region (or per SKU across the fleet) per 5 minutes against its baseline; the family
    is the loss that grew most against the same baseline window."""
    det, key = config.detectors[name], GOODPUT_SCOPES[name]
    hits = _judged(against_baseline(series.select(key, "minute_at", "value"), [key], det, config), window)
    found = episodes(hits, [key], det.persistence_min, window[1], max_gap_min=5, delay_min=delay_min, span_min=5)
    if found.is_empty():
        return found.with_columns(pl.lit(name).alias("rule"), pl.lit(None, pl.String).alias("family"))
    growth = series.sort(key, "minute_at").with_columns(
        [
            (
                pl.col(f) - pl.col(f).rolling_median_by("minute_at", config.baseline_window, closed="left").over(key)
            ).alias(f)
            for f in LOSS_FAMILIES
        ]
    )
    at = found.join(growth, left_on=[key, "confirmed_at"], right_on=[key, "minute_at"], how="left")
    family = pl.concat_list([pl.col(f).fill_null(0) for f in LOSS_FAMILIES]).list.arg_max()
    names = dict(enumerate(LOSS_FAMILIES))
    at = at.with_columns(family.replace_strict(names, return_dtype=pl.String).alias("family"))
    found = at.select(*found.columns, "family").with_columns(pl.lit(name).alias("rule"))
    if key != "region":  # fleet-wide slices: one alert per slice, not one for every SKU whose loss overlaps
        found = found.with_columns(pl.concat_str(pl.lit(f"{key}="), pl.col(key)).alias("cohort"))
    return found


def outage_episodes(con, config: DetectionConfig, window, delay_min: int) -> pl.DataFrame:
    """A region that started no job while jobs waited and one of them would fit in the idle healthy GPUs of one
    node (a full region, or one whose free GPUs are scraps too small for any waiting job, cannot place anything:
    busy, not down), for long enough that its start rate of the hour before makes the silence
    improbable: at least `outage_min` minutes and OUTAGE_EXPECTED_STARTS starts' worth of time."""
    minutes = fetch(
        con,
        "select region, minute_at, pending_jobs::double as value, "
        "starts = 0 and pending_jobs >= $3 and idle_with_demand_gpus >= 1 and a_waiting_job_fits as is_silent, "
        "coalesce(sum(starts) over (partition by region order by minute_at "
        "range between interval 60 minute preceding and interval 1 minute preceding), 0) / 60.0 as rate "
        "from marts.fct_scheduler__region_minutes where minute_at >= $1 and minute_at < $2",
        [*window, config.outage_min_pending],
    )
    silent = minutes.sort("region", "minute_at").with_columns(
        (pl.col("is_silent") != pl.col("is_silent").shift(1)).fill_null(True).cum_sum().over("region").alias("_run")
    )
    silent = silent.filter(pl.col("is_silent")).with_columns(
        pl.col("minute_at").min().over("region", "_run").alias("started_at"),
        pl.col("rate").first().over("region", "_run").alias("baseline"),
    )
    needed = pl.max_horizontal(pl.lit(config.outage_min), (OUTAGE_EXPECTED_STARTS / pl.col("baseline")).ceil())
    elapsed = (pl.col("minute_at") - pl.col("started_at")).dt.total_minutes() + 1
    confirmed = (
        silent.filter(elapsed >= needed)
        .group_by("region", "_run")
        .agg(
            pl.col("started_at").first(),
            pl.col("minute_at").min().alias("confirmed_at"),
            pl.col("minute_at").max().alias("_last"),
            pl.col("value").sort_by("minute_at").first(),
            pl.col("baseline").first(),
        )
    )
    return confirmed.with_columns(
        next_tick(pl.col("confirmed_at") + timedelta(minutes=1 + delay_min)).alias("detected_at"),
        pl.when(pl.col("_last") + timedelta(minutes=1) < pl.lit(window[1]))
        .then(pl.col("_last") + timedelta(minutes=1))
        .otherwise(None)
        .alias("resolved_at"),
        pl.lit("scheduler_outage").alias("rule"),
    ).drop("_run", "_last")


def gap_episodes(con, config: DetectionConfig, window, delay_min: int) -> pl.DataFrame:
    """Node minutes where GPUs that exist sent nothing while the rest of the fleet reported: a data gap, never read
    as idle or healthy."""
    hits = fetch(
        con,
        "select node_id, region, sku, minute_at, (gpus - gpus_reporting)::double as value, gpus::double as baseline "
        "from marts.fct_health__node_minutes "
        "where gpus_reporting < gpus and not is_maintenance and minute_at >= $1 and minute_at < $2",
        list(window),
    )
    found = episodes(hits, NODE_KEYS, config.gap_min, window[1], delay_min=delay_min)
    return found.with_columns(pl.lit("telemetry_gap").alias("rule"))
