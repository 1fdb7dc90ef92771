"""Deploy regressions by cohort: after a change lands, the cohort on the new version against the cohort still on
the old one in the same window (so time-of-day, load and the weekday surge cancel out). This is what makes 15
minutes reachable: the comparison needs a handful of faults or slow steps, not a shifted daily baseline."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipelines.detect.cohorts.common import KEYS, changes
from pipelines.detect.cohorts.deploys import framework_cohort_hits, node_cohort_hits
from pipelines.detect.cohorts.placement import placement_cohort_hits, placement_spread_hits
from pipelines.detect.cohorts.queues import priority_inversion_hits, queue_jump_hits
from pipelines.detect.cohorts.rollouts import rollout_cohort_hits
from pipelines.detect.config import DetectionConfig
from pipelines.detect.episodes import episodes

__all__ = [
    "cohort_episodes",
    "framework_cohort_hits",
    "node_cohort_hits",
    "placement_cohort_hits",
    "placement_spread_hits",
    "priority_inversion_hits",
    "queue_jump_hits",
    "rollout_cohort_hits",
]

# every cohort rule: its name (the alert's rule, its runbook's file, its thresholds' section of detection.yml) and
# the function giving its hits since each watched change
RULES = (
    ("deploy_fault_rate", node_cohort_hits),
    ("deploy_step_time", framework_cohort_hits),
    ("placement_fragmentation", placement_cohort_hits),
    ("placement_spread", placement_spread_hits),
    ("queue_jump", queue_jump_hits),
    ("priority_inversion", priority_inversion_hits),
    ("storage_rollout_wait", rollout_cohort_hits("storage_rollout")),
    ("network_change_sync", rollout_cohort_hits("network_change")),
)


def cohort_episodes(con, config: DetectionConfig, window: tuple[datetime, datetime], delay_min: int) -> pl.DataFrame:
    found = changes(con, window, config.cohort["horizon_h"])
    frames = []
    for rule, hits_of in RULES:
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
