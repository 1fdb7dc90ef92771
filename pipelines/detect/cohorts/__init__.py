"""Deploy regressions by cohort: after a change lands, the cohort on the new version against the cohort still on
the old one in the same window (so time-of-day, load and the weekday surge cancel out). This is what makes 15
minutes reachable: the comparison needs a handful of faults or slow steps, not a shifted daily baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipelines.detect.cohorts.common import KEYS, changes
from pipelines.detect.cohorts.deploys import framework_cohort_hits, framework_first_jobs_hits, node_cohort_hits
from pipelines.detect.cohorts.placement import placement_cohort_hits, placement_spread_hits
from pipelines.detect.cohorts.queues import priority_inversion_hits, queue_jump_hits
from pipelines.detect.cohorts.rollouts import rollout_cohort_hits
from pipelines.detect.config import DetectionConfig
from pipelines.detect.episodes import episodes
from pipelines.detect.rules import RuleSpec

__all__ = [
    "cohort_episodes",
    "framework_cohort_hits",
    "framework_first_jobs_hits",
    "node_cohort_hits",
    "placement_cohort_hits",
    "placement_spread_hits",
    "priority_inversion_hits",
    "queue_jump_hits",
    "rollout_cohort_hits",
]


@dataclass(frozen=True)
class CohortRule:
    """One cohort rule: its name (the alert's rule, its runbook's file), the function giving its hits since each
    watched change, and what its alerts say and do. Its thresholds are `cohort` settings in detection.yml."""

    name: str
    hits: Callable[..., pl.DataFrame]
    spec: RuleSpec


RULES = (
    CohortRule(
        "deploy_fault_rate",
        node_cohort_hits,
        RuleSpec(
            "critical",
            "page",
            "software",
            "software faults {value:.3g}/GPU-h on the new version against {baseline:.3g}/GPU-h on the old",
        ),
    ),
    CohortRule(
        "deploy_step_time",
        framework_cohort_hits,
        RuleSpec(
            "critical",
            "page",
            "software",
            "step time {value:.2f}x slower on the new version than on the old",
        ),
    ),
    CohortRule(
        "deploy_step_time_first_jobs",
        framework_first_jobs_hits,
        RuleSpec(
            "warning",
            "ticket",
            "software",
            "the first jobs on the new version step {value:.2f}x slower than the other versions, far outside "
            "their spread; it pages as deploy_step_time once more of them confirm it",
        ),
    ),
    CohortRule(
        "placement_fragmentation",
        placement_cohort_hits,
        RuleSpec(
            "critical",
            "page",
            "scheduling",
            "{value:.1%} of healthy GPUs stranded on part-full nodes minute after minute since the policy "
            "change, against {baseline:.1%} in the unchanged scope and the hour before",
        ),
    ),
    CohortRule(
        "placement_spread",
        placement_spread_hits,
        RuleSpec(
            "warning",
            "ticket",
            "scheduling",
            "since a policy change {value:.0%} of small jobs went to a node while a fuller one that fitted them "
            "stayed untouched, against {baseline:.0%} before it and elsewhere: the scheduler now scatters small "
            "jobs, and big jobs will find no whole node",
        ),
    ),
    CohortRule(
        "queue_jump",
        queue_jump_hits,
        RuleSpec(
            "critical",
            "page",
            "scheduling",
            "the team's recent jobs waited {value:.1f}x less than the rest of their queue after a policy "
            "change for the team (the hour before it: {baseline:.1f}x)",
        ),
    ),
    CohortRule(
        "priority_inversion",
        priority_inversion_hits,
        RuleSpec(
            "warning",
            "ticket",
            "scheduling",
            "since a policy change the team's jobs queue at priority {value:.0f}, above the {baseline:.0f} of "
            "a class that outranked theirs the day before: that class will wait behind them once a queue "
            "forms",
        ),
    ),
    CohortRule(
        "storage_rollout_wait",
        rollout_cohort_hits("storage_rollout"),
        RuleSpec(
            "critical",
            "page",
            "data_io",
            "training waits on data {value:.0%} of step time since the storage rollout, against "
            "{baseline:.0%} in the other regions and the hour before",
        ),
    ),
    CohortRule(
        "network_change_sync",
        rollout_cohort_hits("network_change"),
        RuleSpec(
            "critical",
            "page",
            "network",
            "training waits on the all-reduce {value:.0%} of step time since the network change, against "
            "{baseline:.0%} in the other regions and the hour before",
        ),
    ),
)


def cohort_episodes(con, config: DetectionConfig, window: tuple[datetime, datetime], delay_min: int) -> pl.DataFrame:
    found = changes(con, window, config.cohort.horizon_h)
    frames = []
    for cohort_rule in RULES:
        rule = cohort_rule.name
        hits = cohort_rule.hits(con, found, config, window)
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
