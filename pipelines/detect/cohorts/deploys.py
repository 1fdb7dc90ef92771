"""Node and framework deploys: the nodes or jobs on the new version against those still on the old one."""

from __future__ import annotations

import polars as pl

from pipelines.detect.cohorts.common import NODE_CHANGES, against_the_rest, since_change, with_ends
from pipelines.detect.config import DetectionConfig
from pipelines.warehouse.connection import fetch


def node_cohort_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Software faults (application XIDs and software-caused failures) per GPU-minute on the changed nodes against
    every other node, since the change."""
    found = with_ends(found, config)
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
    cohort = scope.join(minutes, on="node_id").filter(since_change())
    sums = against_the_rest(cohort, minutes, ["exposure", "faults"])
    rate = pl.col("faults_cohort") / pl.col("exposure_cohort")
    rest = (pl.col("faults_rest") + 1) / pl.col("exposure_rest")  # one fault of slack: a quiet fleet is not zero
    return sums.filter(
        (pl.col("faults_cohort") >= config.cohort.min_events) & (rate >= config.cohort.fault_rate_ratio * rest)
    ).select("change_id", "minute_at", (rate * 60).alias("value"), (rest * 60).alias("baseline"))


def framework_cohort_hits(con, found: pl.DataFrame, config: DetectionConfig, window) -> pl.DataFrame:
    """Step time against the reference for workers on the new framework version against every other version, in
    the minutes the new version ran."""
    found = with_ends(found, config)
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
        .filter(since_change())
    )
    sums = against_the_rest(cohort, workers, ["worker_minutes", "step_s", "reference_s"])
    ratio = (pl.col("step_s_cohort") / pl.col("reference_s_cohort")) / (
        pl.col("step_s_rest") / pl.col("reference_s_rest")
    )
    return sums.filter(
        (pl.col("worker_minutes_cohort") >= config.cohort.min_worker_minutes) & (ratio >= config.cohort.step_time_ratio)
    ).select("change_id", "minute_at", ratio.alias("value"), pl.lit(1.0).alias("baseline"))
