"""Storage and network rollouts in a region: the share of step time training waits on data or on the all-reduce,
against the other regions and the region's own hour before."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from pipelines.detect.cohorts.common import region_cohorts, with_ends
from pipelines.detect.config import DetectionConfig
from pipelines.warehouse.connection import fetch

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
    few slow workers, is not blamed on the change. A change whose hour before is not in the data is not judged: a
    region's usual wait cannot be told from the change's then."""
    found = with_ends(found, config)
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
    _, sums = region_cohorts(rollouts, workers, ["worker_minutes", "step_s", "wait_s"], {"before": wait_share})
    share = pl.col("wait_s_cohort") / pl.col("step_s_cohort")
    rest = pl.when(pl.col("step_s_rest") > 0).then(pl.col("wait_s_rest") / pl.col("step_s_rest"))
    baseline = pl.max_horizontal(rest, pl.col("before"))
    return sums.filter(  # without the region's own hour before, its usual mix of jobs cannot be told from the change
        pl.col("before").is_not_null()
        & (pl.col("minutes_seen") >= settings.rollout_min_minutes)
        & (pl.col("worker_minutes_cohort") >= settings.min_worker_minutes)
        & (share >= settings.rollout_wait_ratio * baseline)
        & (share >= baseline + settings.rollout_wait_margin)
    ).select("change_id", "minute_at", share.alias("value"), baseline.alias("baseline"))
